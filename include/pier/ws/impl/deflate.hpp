// pier/ws/impl/deflate.hpp: out-of-line definitions for <pier/ws/deflate.hpp>.
#pragma once

#include <pier/ws/deflate.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pier::ws {

namespace detail {

// zlib's documented costs (zconf.h) plus its state structs, measured on x86-64 with zlib
// 1.2.13 (deflate_state ≈ 5.8 KiB, inflate_state ≈ 7.0 KiB), rounded up.
inline constexpr std::size_t deflate_state_bytes = 6 * 1024;
inline constexpr std::size_t inflate_state_bytes = 7 * 1024 + 256;

constexpr std::size_t deflate_memory(int window_bits, int mem_level) noexcept {
    return (std::size_t{1} << (window_bits + 2)) + (std::size_t{1} << (mem_level + 9)) +
           deflate_state_bytes;
}

constexpr std::size_t inflate_memory(int window_bits) noexcept {
    return (std::size_t{1} << window_bits) + inflate_state_bytes;
}

// zlib cannot compress raw deflate with a 256-byte window (deflateInit2 refuses -8), and
// decompressing with a window of at least 512 bytes is always safe.
constexpr int clamp_deflate_bits(int b) noexcept {
    return std::clamp(b, 9, 15);
}
constexpr int clamp_inflate_bits(int b) noexcept {
    return std::clamp(b, 8, 15);
}

struct ext_param {
    std::string_view name;
    std::string_view value; // without the quotes of a quoted-string, escapes not removed
    bool has_value = false;
    bool quoted = false;
};

// qdtext (RFC 9110 §5.6.4): any field byte but DQUOTE and backslash.
constexpr bool is_qdtext(char c) noexcept {
    return http::detail::is_field_char(c) && c != '"' && c != '\\';
}

// Calls on_offer(name, params, overflow) for each element of an extension-list (RFC 6455
// §9.1): extension-token *( ";" token [ "=" ( token / quoted-string ) ] ). Stops at the
// first syntax error (the rest cannot be split reliably) or when on_offer returns false.
template <class F> void for_each_offer(std::string_view s, F&& on_offer) {
    using http::detail::is_ows;
    using http::detail::is_tchar;
    std::size_t i = 0;
    const std::size_t n = s.size();
    const auto skip_ows = [&] {
        while (i < n && is_ows(s[i]))
            ++i;
    };
    const auto token = [&] {
        const std::size_t start = i;
        while (i < n && is_tchar(s[i]))
            ++i;
        return s.substr(start, i - start);
    };
    for (;;) {
        skip_ows();
        while (i < n && s[i] == ',') {
            ++i;
            skip_ows();
        }
        if (i == n)
            return;
        const std::string_view name = token();
        if (name.empty())
            return;
        std::array<ext_param, 8> params;
        std::size_t count = 0;
        bool overflow = false;
        skip_ows();
        while (i < n && s[i] == ';') {
            ++i;
            skip_ows();
            ext_param p;
            p.name = token();
            if (p.name.empty())
                return;
            skip_ows();
            if (i < n && s[i] == '=') {
                ++i;
                skip_ows();
                p.has_value = true;
                if (i < n && s[i] == '"') {
                    const std::size_t start = ++i;
                    for (;;) {
                        if (i == n)
                            return;
                        if (s[i] == '"')
                            break;
                        if (s[i] == '\\') {
                            if (i + 1 == n || !http::detail::is_field_char(s[i + 1]))
                                return;
                            i += 2;
                        } else if (is_qdtext(s[i])) {
                            ++i;
                        } else {
                            return;
                        }
                    }
                    p.value = s.substr(start, i - start);
                    p.quoted = true;
                    ++i;
                } else {
                    p.value = token();
                    if (p.value.empty())
                        return;
                }
                skip_ows();
            }
            if (count < params.size())
                params[count++] = p;
            else
                overflow = true;
        }
        if (i < n && s[i] != ',')
            return;
        if (!on_offer(name, std::span<const ext_param>(params.data(), count), overflow))
            return;
    }
}

// A window-bits value: 8–15 without leading zeros (RFC 7692 §7.1.2.1), after removing the
// quoted-pair escapes of a quoted-string (RFC 6455 §9.1 allows "10" and even "\1\0").
constexpr int parse_window_bits(const ext_param& p) noexcept {
    char digits[2];
    std::size_t n = 0;
    for (std::size_t i = 0; i < p.value.size(); ++i) {
        char c = p.value[i];
        if (p.quoted && c == '\\')
            c = p.value[++i]; // the parser guaranteed a next byte
        if (c < '0' || c > '9' || n == 2)
            return -1;
        digits[n++] = c;
    }
    if (n == 1)
        return digits[0] >= '8' ? digits[0] - '0' : -1;
    if (n == 2 && digits[0] == '1' && digits[1] <= '5')
        return 10 + (digits[1] - '0');
    return -1;
}

inline std::optional<deflate_params> accept_offer(std::span<const ext_param> ps, bool overflow,
                                                  const deflate_options& o) noexcept {
    using http::detail::iequals;
    if (overflow)
        return std::nullopt;
    bool snct = false, cnct = false;
    int smwb = -2, cmwb = -2; // -2 absent, -1 present without value
    for (const ext_param& p : ps) {
        if (iequals(p.name, "server_no_context_takeover")) {
            if (snct || p.has_value)
                return std::nullopt;
            snct = true;
        } else if (iequals(p.name, "client_no_context_takeover")) {
            if (cnct || p.has_value)
                return std::nullopt;
            cnct = true;
        } else if (iequals(p.name, "server_max_window_bits")) {
            if (smwb != -2 || !p.has_value)
                return std::nullopt;
            smwb = parse_window_bits(p);
            if (smwb < 0)
                return std::nullopt;
        } else if (iequals(p.name, "client_max_window_bits")) {
            if (cmwb != -2)
                return std::nullopt;
            cmwb = p.has_value ? parse_window_bits(p) : -1;
            if (p.has_value && cmwb < 0)
                return std::nullopt;
        } else {
            return std::nullopt; // RFC 7692 §7.1: unknown parameter
        }
    }
    deflate_params r;
    r.server_no_context_takeover = snct || o.server_no_context_takeover;
    const int ours = clamp_deflate_bits(o.server_max_window_bits);
    if (smwb >= 0) {
        if (smwb < 9)
            return std::nullopt; // zlib cannot honour a 256-byte window
        r.server_max_window_bits = static_cast<std::uint8_t>(std::min(smwb, ours));
    } else if (ours < 15) {
        r.server_max_window_bits = static_cast<std::uint8_t>(ours); // §7.1.2.1 allows it
    }
    // The client announced it will not take context over: saying so in the response costs
    // nothing and lets the decompressor be reset and freed between messages.
    r.client_no_context_takeover = cnct || o.client_no_context_takeover;
    const int theirs = clamp_inflate_bits(o.client_max_window_bits);
    if (cmwb == -2) {
        // §7.1.2.2: a client that did not offer the parameter cannot be limited.
        if (theirs < 15 && o.require_client_max_window_bits)
            return std::nullopt;
    } else {
        const int v = std::min(cmwb == -1 ? 15 : cmwb, theirs);
        if (v < 15)
            r.client_max_window_bits = static_cast<std::uint8_t>(v);
    }
    return r;
}

inline voidpf counting_alloc(voidpf opaque, uInt items, uInt size) noexcept;
inline void counting_free(voidpf opaque, voidpf address) noexcept;

} // namespace detail

inline deflate_options deflate_options::for_memory_budget(std::size_t bytes) noexcept {
    deflate_options o;
    for (int wb = 15; wb >= 9; --wb) {
        // memLevel tracks the window as in zlib's defaults (15 with 8).
        const int ml = std::clamp(wb - 7, 1, 8);
        if (detail::deflate_memory(wb, ml) + detail::inflate_memory(wb) <= bytes) {
            o.server_max_window_bits = static_cast<std::uint8_t>(wb);
            o.client_max_window_bits = static_cast<std::uint8_t>(wb);
            o.mem_level = static_cast<std::uint8_t>(ml);
            o.require_client_max_window_bits = wb < 15;
            return o;
        }
    }
    o.enabled = false;
    return o;
}

inline std::size_t deflate_options::memory_per_connection() const noexcept {
    return detail::deflate_memory(detail::clamp_deflate_bits(server_max_window_bits),
                                  std::clamp<int>(mem_level, 1, 9)) +
           detail::inflate_memory(
               require_client_max_window_bits
                   ? std::max(9, detail::clamp_inflate_bits(client_max_window_bits))
                   : 15);
}

inline std::optional<deflate_params> negotiate_deflate(std::string_view extensions,
                                                       const deflate_options& options) noexcept {
    std::optional<deflate_params> result;
    if (!options.enabled)
        return result;
    detail::for_each_offer(extensions, [&](std::string_view name,
                                           std::span<const detail::ext_param> ps, bool overflow) {
        if (!http::detail::iequals(name, "permessage-deflate"))
            return true;
        result = detail::accept_offer(ps, overflow, options);
        return !result;
    });
    return result;
}

inline std::optional<deflate_params> negotiate_deflate(const http::request_view& req,
                                                       const deflate_options& options) noexcept {
    for (const http::header& h : req.headers()) {
        if (!http::detail::iequals(h.name, "sec-websocket-extensions"))
            continue;
        if (auto r = negotiate_deflate(h.value, options))
            return r;
    }
    return std::nullopt;
}

inline std::size_t
format_deflate_response(const deflate_params& p,
                        std::span<char, max_deflate_response_size> out) noexcept {
    char* w = out.data();
    const auto put = [&](std::string_view s) noexcept {
        std::memcpy(w, s.data(), s.size());
        w += s.size();
    };
    const auto put_bits = [&](std::uint8_t bits) noexcept {
        if (bits >= 10)
            *w++ = '1';
        *w++ = static_cast<char>('0' + bits % 10);
    };
    put("permessage-deflate");
    if (p.server_no_context_takeover)
        put("; server_no_context_takeover");
    if (p.client_no_context_takeover)
        put("; client_no_context_takeover");
    if (p.server_max_window_bits != 0) {
        put("; server_max_window_bits=");
        put_bits(p.server_max_window_bits);
    }
    if (p.client_max_window_bits != 0) {
        put("; client_max_window_bits=");
        put_bits(p.client_max_window_bits);
    }
    return static_cast<std::size_t>(w - out.data());
}

// A z_stream together with the bytes zlib allocated for it: zlib's state points back at
// the z_stream, so it lives on the heap where moving the codec cannot move it.
struct deflate_codec::zstream {
    z_stream z{};
    std::size_t bytes = 0;
    std::unique_ptr<Bytef[]> dictionary; // see inflate_stream_end
};

namespace detail {

inline voidpf counting_alloc(voidpf opaque, uInt items, uInt size) noexcept {
    constexpr std::size_t header = alignof(std::max_align_t);
    if (size != 0 && items > (SIZE_MAX - header) / size)
        return Z_NULL;
    const std::size_t n = std::size_t{items} * size;
    void* p = std::malloc(n + header);
    if (p == nullptr)
        return Z_NULL;
    std::memcpy(p, &n, sizeof n);
    *static_cast<std::size_t*>(opaque) += n;
    return static_cast<char*>(p) + header;
}

inline void counting_free(voidpf opaque, voidpf address) noexcept {
    constexpr std::size_t header = alignof(std::max_align_t);
    char* p = static_cast<char*>(address) - header;
    std::size_t n;
    std::memcpy(&n, p, sizeof n);
    *static_cast<std::size_t*>(opaque) -= n;
    std::free(p);
}

} // namespace detail

inline void deflate_codec::zstream_deleter::operator()(zstream* s) const noexcept {
    if (deflater)
        deflateEnd(&s->z);
    else
        inflateEnd(&s->z);
    delete s;
}

inline deflate_codec::deflate_codec(const deflate_params& agreed,
                                    const deflate_options& options) noexcept
    : params_(agreed), level_(std::clamp(options.level, -1, 9)),
      mem_level_(std::clamp<int>(options.mem_level, 1, 9)),
      deflate_bits_(detail::clamp_deflate_bits(
          std::min<int>(agreed.server_max_window_bits == 0 ? 15 : agreed.server_max_window_bits,
                        options.server_max_window_bits))),
      inflate_bits_(std::max(9, detail::clamp_inflate_bits(agreed.client_max_window_bits == 0
                                                               ? 15
                                                               : agreed.client_max_window_bits))),
      max_message_size_(options.max_message_size) {}

inline deflate_codec::~deflate_codec() = default;

inline bool deflate_codec::ensure_deflate() noexcept {
    if (deflater_)
        return true;
    auto* s = new (std::nothrow) zstream;
    if (s == nullptr)
        return false;
    s->z.zalloc = detail::counting_alloc;
    s->z.zfree = detail::counting_free;
    s->z.opaque = &s->bytes;
    if (deflateInit2(&s->z, level_, Z_DEFLATED, -deflate_bits_, mem_level_, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        delete s;
        return false;
    }
    deflater_.reset(s);
    return true;
}

inline bool deflate_codec::ensure_inflate() noexcept {
    if (inflater_)
        return true;
    auto* s = new (std::nothrow) zstream;
    if (s == nullptr)
        return false;
    s->z.zalloc = detail::counting_alloc;
    s->z.zfree = detail::counting_free;
    s->z.opaque = &s->bytes;
    if (inflateInit2(&s->z, -inflate_bits_) != Z_OK) {
        delete s;
        return false;
    }
    inflater_.reset(s);
    return true;
}

inline void deflate_codec::release_idle() noexcept {
    if (params_.server_no_context_takeover && !deflate_mid_)
        deflater_.reset();
    if (params_.client_no_context_takeover && !inflate_mid_)
        inflater_.reset();
}

inline std::size_t deflate_codec::memory_in_use() const noexcept {
    std::size_t n = 0;
    if (deflater_)
        n += sizeof(zstream) + deflater_->bytes;
    if (inflater_)
        n += sizeof(zstream) + inflater_->bytes +
             (inflater_->dictionary ? std::size_t{1} << inflate_bits_ : 0);
    return n;
}

template <deflate_buffer Buffer>
deflate_status deflate_codec::compress(std::span<const std::uint8_t> in, Buffer& out, bool fin) {
    if (!ensure_deflate())
        return deflate_status::out_of_memory;
    z_stream& z = deflater_->z;
    const std::uint8_t* p = in.data();
    std::size_t left = in.size();
    for (;;) {
        const auto take = static_cast<uInt>(std::min<std::size_t>(left, std::size_t{1} << 30));
        z.next_in = const_cast<Bytef*>(p);
        z.avail_in = take;
        const int flush = (take == left && fin) ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            const std::size_t room = std::clamp<std::size_t>(deflateBound(&z, z.avail_in) + 16, 64,
                                                             std::size_t{1} << 20);
            const std::size_t old = out.size();
            out.resize(old + room);
            z.next_out = reinterpret_cast<Bytef*>(out.data()) + old;
            z.avail_out = static_cast<uInt>(room);
            const int r = deflate(&z, flush);
            const std::size_t got = room - z.avail_out;
            out.resize(old + got);
            deflated_ += got;
            // Z_BUF_ERROR only means "nothing to do" (e.g. a second flush in a row).
            if (r == Z_STREAM_ERROR) {
                deflateReset(&z);
                deflated_ = 0;
                deflate_mid_ = false;
                return deflate_status::out_of_memory;
            }
        } while (z.avail_out == 0);
        p += take;
        left -= take;
        if (left == 0)
            break;
    }
    if (!fin) {
        deflate_mid_ = true;
        return deflate_status::ok;
    }
    static constexpr std::uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    const auto* end = reinterpret_cast<const std::uint8_t*>(out.data()) + out.size();
    if (deflated_ >= 4 && std::memcmp(end - 4, tail, 4) == 0) {
        out.resize(out.size() - 4); // §7.2.1
    } else if (deflated_ == 0) {
        // zlib writes no second sync marker after one with no input between: an empty
        // message right after another message. A lone 0x00 (the 3-bit header of an empty
        // stored block, padded) becomes that empty block once the receiver appends the tail.
        out.resize(out.size() + 1);
        out.data()[out.size() - 1] = 0;
    }
    deflated_ = 0;
    deflate_mid_ = false;
    if (params_.server_no_context_takeover)
        deflateReset(&z);
    return deflate_status::ok;
}

template <deflate_buffer Buffer>
deflate_status deflate_codec::decompress(std::span<const std::uint8_t> in, Buffer& out, bool fin) {
    if (!ensure_inflate())
        return deflate_status::out_of_memory;
    inflate_mid_ = true;
    deflate_status st = in.empty() ? deflate_status::ok : inflate_piece(in.data(), in.size(), out);
    if (st == deflate_status::ok && fin) {
        static constexpr std::uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
        st = inflate_piece(tail, 4, out); // §7.2.2
    }
    if (fin || st != deflate_status::ok) {
        inflated_ = 0;
        stream_ends_ = 0;
        inflate_mid_ = false;
        if (st != deflate_status::ok || params_.client_no_context_takeover)
            inflateReset(&inflater_->z);
    }
    return st;
}

template <deflate_buffer Buffer>
deflate_status deflate_codec::inflate_piece(const std::uint8_t* data, std::size_t size,
                                            Buffer& out) {
    z_stream& z = inflater_->z;
    const std::size_t start = out.size();
    for (;;) {
        const auto take = static_cast<uInt>(std::min<std::size_t>(size, std::size_t{1} << 30));
        z.next_in = const_cast<Bytef*>(data);
        z.avail_in = take;
        for (;;) {
            // Never offer more room than the limit plus one byte: a bomb stops right there.
            const std::uint64_t allowance =
                max_message_size_ - inflated_ + (max_message_size_ == UINT64_MAX ? 0 : 1);
            // Room grows with the input and with what this call produced (geometrically
            // across rounds); it starts small because resize() zero-fills it: a fixed 16 KiB
            // made memset most of a small message's inflate cost. 1 KiB keeps zlib on its
            // fast path (it needs 258 bytes of room).
            const std::size_t old = out.size();
            const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(
                allowance,
                std::clamp<std::size_t>(std::max(std::size_t{z.avail_in} * 4, old - start), 1024,
                                        std::size_t{1} << 20)));
            out.resize(old + room);
            z.next_out = reinterpret_cast<Bytef*>(out.data()) + old;
            z.avail_out = static_cast<uInt>(room);
            const int r = inflate(&z, Z_SYNC_FLUSH);
            const std::size_t got = room - z.avail_out;
            out.resize(old + got);
            inflated_ += got;
            if (inflated_ > max_message_size_)
                return deflate_status::too_big;
            if (r == Z_STREAM_END) {
                if (!inflate_stream_end())
                    return deflate_status::corrupt;
                if (z.avail_in == 0)
                    break;
                continue;
            }
            if (r == Z_MEM_ERROR)
                return deflate_status::out_of_memory;
            if (r != Z_OK && r != Z_BUF_ERROR)
                return deflate_status::corrupt;
            if (z.avail_out != 0) {
                if (z.avail_in != 0)
                    return deflate_status::corrupt; // no progress possible
                break;
            }
        }
        data += take;
        size -= take;
        if (size == 0)
            return deflate_status::ok;
    }
}

// The peer ended a DEFLATE stream (a block with BFINAL set, RFC 7692 §7.2.3.4) and may go on
// with a new one. With context takeover the new stream may refer to the old one's window,
// so it is carried over as a preset dictionary. Allowed once per message: each restart
// copies the window, and a peer sending nothing but 2-byte final blocks would otherwise buy
// kilobytes of copying per byte.
inline bool deflate_codec::inflate_stream_end() {
    if (++stream_ends_ > 1)
        return false;
    z_stream& z = inflater_->z;
    if (params_.client_no_context_takeover)
        return inflateReset(&z) == Z_OK;
    auto& dict = inflater_->dictionary;
    if (!dict)
        dict.reset(new Bytef[std::size_t{1} << inflate_bits_]);
    uInt len = 0;
    if (inflateGetDictionary(&z, dict.get(), &len) != Z_OK || inflateReset(&z) != Z_OK)
        return false;
    return len == 0 || inflateSetDictionary(&z, dict.get(), len) == Z_OK;
}

} // namespace pier::ws
