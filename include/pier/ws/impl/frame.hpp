// pier/ws/impl/frame.hpp: out-of-line definitions for <pier/ws/frame.hpp>.
#pragma once

#include <pier/ws/frame.hpp>

#include <bit>
#include <cstring>

namespace pier::ws {

inline void frame_parser::reset() noexcept {
    in_message_ = false;
    compressed_ = false;
    msg_op_ = opcode::binary;
    failed_ = 0;
    msg_size_ = 0;
}

inline frame_result frame_parser::fail(close_code c) noexcept {
    failed_ = static_cast<std::uint16_t>(c);
    return {frame_result::error, 0, c};
}

[[gnu::always_inline]] inline frame_result frame_parser::parse(std::span<const std::uint8_t> in,
                                                               frame_header& out) noexcept {
    // The common case first, inlined into the read loop: a client's data frame (text, binary or
    // continuation) with a 7-bit length, no RSV bit, within the limits. It decides exactly as
    // parse_any would, and anything else goes there. (The general path was about 110 instructions
    // per frame of a 64-byte echo, a sixth of the server's user time per message.)
    if (in.size() >= 6 && failed_ == 0 && role_ == role::server) {
        const std::uint8_t b0 = in[0];
        const std::uint8_t b1 = in[1];
        const auto op = static_cast<opcode>(b0 & 0x0f);
        const std::uint64_t len = b1 & 0x7f;
        const bool continuation = op == opcode::continuation;
        if ((b0 & 0x70) == 0 && (b1 & 0x80) != 0 && len < 126 &&
            (op == opcode::text || op == opcode::binary || continuation) &&
            continuation == in_message_ && len <= lim_.max_frame_size) {
            const std::uint64_t before = continuation ? msg_size_ : 0;
            if (before <= lim_.max_message_size && len <= lim_.max_message_size - before) {
                const bool fin = (b0 & 0x80) != 0;
                std::memcpy(out.key.data(), in.data() + 2, 4);
                out.op = op;
                out.fin = fin;
                out.rsv1 = out.rsv2 = out.rsv3 = false;
                out.masked = true;
                out.size = 6;
                out.payload_size = len;
                if (!continuation) {
                    msg_op_ = op;
                    compressed_ = false;
                }
                msg_size_ = before + len;
                in_message_ = !fin;
                return {frame_result::complete, 6, close_code::normal};
            }
        }
    }
    return parse_any(in, out);
}

// Out of line, so that parse() stays small enough to be inlined.
[[gnu::noinline]] inline frame_result frame_parser::parse_any(std::span<const std::uint8_t> in,
                                                              frame_header& out) noexcept {
    if (failed_ != 0)
        return {frame_result::error, 0, static_cast<close_code>(failed_)};
    if (in.size() < 2)
        return {};
    const std::uint8_t b0 = in[0];
    const std::uint8_t b1 = in[1];
    const auto op = static_cast<opcode>(b0 & 0x0f);
    const bool fin = (b0 & 0x80) != 0;
    const bool rsv1 = (b0 & 0x40) != 0;
    const bool masked = (b1 & 0x80) != 0;
    const std::uint8_t len7 = b1 & 0x7f;

    switch (op) {
    case opcode::continuation:
    case opcode::text:
    case opcode::binary:
    case opcode::close:
    case opcode::ping:
    case opcode::pong:
        break;
    default:
        return fail(close_code::protocol_error); // §5.2: reserved opcode
    }
    const bool control = is_control(op);
    if ((b0 & 0x30) != 0)
        return fail(close_code::protocol_error); // RSV2/RSV3
    if (rsv1 && (!rsv1_ok_ || control || op == opcode::continuation))
        return fail(close_code::protocol_error); // RFC 7692 §6.1
    if (masked != (role_ == role::server))
        return fail(close_code::protocol_error); // §5.1
    if (control) {
        if (!fin || len7 > max_control_payload)
            return fail(close_code::protocol_error); // §5.5
    } else if ((op == opcode::continuation) != in_message_) {
        return fail(close_code::protocol_error); // §5.4
    }

    std::size_t hs = 2;
    std::uint64_t len = len7;
    if (len7 == 126) {
        hs = 4;
        if (in.size() < hs)
            return {};
        len = (std::uint64_t{in[2]} << 8) | in[3];
        if (len < 126)
            return fail(close_code::protocol_error);
    } else if (len7 == 127) {
        hs = 10;
        if (in.size() < hs)
            return {};
        len = 0;
        for (std::size_t i = 2; i < 10; ++i)
            len = (len << 8) | in[i];
        if ((len >> 63) != 0 || len <= 0xffff)
            return fail(close_code::protocol_error);
    }
    if (!control) {
        if (len > lim_.max_frame_size)
            return fail(close_code::message_too_big);
        const std::uint64_t before = op == opcode::continuation ? msg_size_ : 0;
        if (before > lim_.max_message_size || len > lim_.max_message_size - before)
            return fail(close_code::message_too_big);
    }
    if (masked) {
        if (in.size() < hs + 4)
            return {};
        std::memcpy(out.key.data(), in.data() + hs, 4);
        hs += 4;
    } else {
        out.key = {};
    }

    out.op = op;
    out.fin = fin;
    out.rsv1 = rsv1;
    out.rsv2 = out.rsv3 = false;
    out.masked = masked;
    out.size = static_cast<std::uint8_t>(hs);
    out.payload_size = len;
    if (!control) {
        if (op == opcode::continuation) {
            msg_size_ += len;
        } else {
            msg_op_ = op;
            compressed_ = rsv1;
            msg_size_ = len;
        }
        in_message_ = !fin;
    }
    return {frame_result::complete, hs, close_code::normal};
}

inline std::size_t apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                              std::size_t offset) noexcept {
    // The key rotated to `offset` and repeated to 8 bytes, built in a register: the byte at
    // the lowest address is key[offset % 4], whatever the byte order. (Built byte by byte in
    // memory and then loaded as one word, it cost a store-forwarding stall per call: a 64-byte
    // echo spent 2.6% of its CPU here.)
    std::uint32_t k4;
    std::memcpy(&k4, key.data(), 4);
    if (const int s = static_cast<int>(8 * (offset & 3)); s != 0)
        k4 = std::endian::native == std::endian::little ? std::rotr(k4, s) : std::rotl(k4, s);
    const std::uint64_t k8 = (std::uint64_t{k4} << 32) | k4;
    std::uint8_t* const p = data.data();
    const std::size_t n = data.size();
    std::size_t i = 0;
#if defined(__GNUC__) // and clang: 16-byte vectors (SSE2 on x86-64, NEON on arm64)
    // In vector variables rather than an array of words, which the compiler kept storing to
    // the stack after every round: 13 instructions per 32 bytes, against 9 here.
    using v16 = std::uint64_t __attribute__((vector_size(16)));
    const v16 kv = {k8, k8};
    for (; i + 64 <= n; i += 64) {
        v16 a, b, c, d;
        std::memcpy(&a, p + i, 16);
        std::memcpy(&b, p + i + 16, 16);
        std::memcpy(&c, p + i + 32, 16);
        std::memcpy(&d, p + i + 48, 16);
        a ^= kv;
        b ^= kv;
        c ^= kv;
        d ^= kv;
        std::memcpy(p + i, &a, 16);
        std::memcpy(p + i + 16, &b, 16);
        std::memcpy(p + i + 32, &c, 16);
        std::memcpy(p + i + 48, &d, 16);
    }
    for (; i + 16 <= n; i += 16) {
        v16 a;
        std::memcpy(&a, p + i, 16);
        a ^= kv;
        std::memcpy(p + i, &a, 16);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        w ^= k8;
        std::memcpy(p + i, &w, 8);
    }
    for (; i < n; ++i)
        p[i] ^= key[(offset + i) & 3];
    return (offset + n) & 3;
}

namespace detail {

// Writes all 10 bytes of `out` (the header, then bytes that the payload or the mask key
// overwrites): the header is built in registers and stored as one 8-byte and one 2-byte word.
// A caller copies it on as whole words (out_queue::push_frame), and a word loaded right after
// byte stores to the same place waits for them to reach the cache (a failed store forward):
// a 64-byte echo's copy of its header into the write queue was a quarter of the queue's CPU.
[[gnu::always_inline]] inline std::size_t put_frame_header(std::uint8_t* out, opcode op,
                                                           std::uint64_t len, bool fin, bool rsv1,
                                                           bool masked) noexcept {
    // The bytes as a little-endian number: byte i of the header is bits 8i..8i+7.
    const std::uint64_t b0 = (fin ? 0x80u : 0u) | (rsv1 ? 0x40u : 0u) | static_cast<unsigned>(op);
    const std::uint64_t m = masked ? 0x80 : 0;
    std::uint64_t lo;
    std::uint16_t hi = 0;
    std::size_t n;
    if (len < 126) {
        lo = b0 | (m | len) << 8;
        n = 2;
    } else if (len <= 0xffff) {
        lo = b0 | (m | 126) << 8 | (len >> 8) << 16 | (len & 0xff) << 24;
        n = 4;
    } else {
        // The length in network byte order: its first byte is the lowest of `be`.
        const std::uint64_t be = __builtin_bswap64(len);
        lo = b0 | (m | 127) << 8 | be << 16;
        hi = static_cast<std::uint16_t>(be >> 48);
        n = 10;
    }
    if constexpr (std::endian::native == std::endian::big) {
        lo = __builtin_bswap64(lo);
        hi = __builtin_bswap16(hi);
    }
    std::memcpy(out, &lo, 8);
    std::memcpy(out + 8, &hi, 2);
    return n;
}

} // namespace detail

[[gnu::always_inline]] inline std::size_t
write_frame_header(std::span<std::uint8_t, max_server_frame_header_size> out, opcode op,
                   std::uint64_t payload_size, bool fin, bool rsv1) noexcept {
    return detail::put_frame_header(out.data(), op, payload_size, fin, rsv1, false);
}

inline std::size_t write_masked_frame_header(std::span<std::uint8_t, max_frame_header_size> out,
                                             opcode op, std::uint64_t payload_size,
                                             const std::array<std::uint8_t, 4>& key, bool fin,
                                             bool rsv1) noexcept {
    const std::size_t n = detail::put_frame_header(out.data(), op, payload_size, fin, rsv1, true);
    std::memcpy(out.data() + n, key.data(), 4);
    return n + 4;
}

inline close_payload_result parse_close_payload(std::span<const std::uint8_t> payload) noexcept {
    close_payload_result r;
    if (payload.empty()) {
        r.ok = true;
        return r;
    }
    if (payload.size() == 1 || payload.size() > max_control_payload) {
        r.err = close_code::protocol_error;
        return r;
    }
    r.code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
    if (!is_valid_close_code(r.code)) {
        r.err = close_code::protocol_error;
        return r;
    }
    r.reason = {reinterpret_cast<const char*>(payload.data() + 2), payload.size() - 2};
    if (!is_valid_utf8(r.reason)) {
        r.reason = {};
        r.err = close_code::invalid_payload;
        return r;
    }
    r.ok = true;
    return r;
}

inline std::size_t write_close_payload(std::span<std::uint8_t, max_control_payload> out,
                                       close_code code, std::string_view reason) noexcept {
    const auto c = static_cast<std::uint16_t>(code);
    if (!is_valid_close_code(c))
        return 0;
    out[0] = static_cast<std::uint8_t>(c >> 8);
    out[1] = static_cast<std::uint8_t>(c);
    if (!is_valid_utf8(reason))
        return 2;
    std::size_t n = reason.size();
    if (n > max_control_payload - 2) {
        n = max_control_payload - 2;
        // Back up to the start of the code point that straddles the cut.
        while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xc0) == 0x80)
            --n;
    }
    if (n != 0)
        std::memcpy(out.data() + 2, reason.data(), n);
    return 2 + n;
}

} // namespace pier::ws
