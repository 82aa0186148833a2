// Unit tests for pier/ws/frame.hpp: frame headers, fragmentation, masking and Close payloads
// (RFC 6455 §5, §7.4).
// pier-test: smoke
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ws = pier::ws;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr int code(ws::close_code c) {
    return static_cast<int>(c);
}
constexpr int protocol_error = 1002;
constexpr int too_big = 1009;

struct outcome {
    ws::frame_result r;
    ws::frame_header h;
};

outcome parse(ws::frame_parser& p, const bytes& in) {
    outcome o;
    o.r = p.parse(std::span<const std::uint8_t>(in), o.h);
    return o;
}

// The close code a single frame (after `prefix` frames) fails with, 0 if it parses.
int error_code(const bytes& in, const ws::frame_limits& lim = {}, ws::role role = ws::role::server,
               bool rsv1 = false, const std::vector<bytes>& prefix = {}) {
    ws::frame_parser p(lim, role);
    p.allow_rsv1(rsv1);
    for (const bytes& f : prefix) {
        const auto o = parse(p, f);
        BOOST_TEST(o.r.st == ws::frame_result::complete);
    }
    const auto o = parse(p, in);
    if (o.r.st == ws::frame_result::complete)
        return 0;
    if (o.r.st == ws::frame_result::incomplete)
        return -1;
    return code(o.r.err);
}

// A masked client frame header (the payload is not included) for parser tests.
bytes client_header(std::uint8_t b0, std::uint64_t len) {
    bytes out(14);
    const std::size_t n = ws::write_masked_frame_header(
        std::span<std::uint8_t, 14>(out.data(), 14), static_cast<ws::opcode>(b0 & 0x0f), len,
        {1, 2, 3, 4}, (b0 & 0x80) != 0, (b0 & 0x40) != 0);
    out.resize(n);
    out[0] = b0; // keep RSV2/RSV3 and reserved opcodes as given
    return out;
}

bytes server_header(ws::opcode op, std::uint64_t len, bool fin = true, bool rsv1 = false) {
    std::array<std::uint8_t, 10> buf;
    const std::size_t n = ws::write_frame_header(buf, op, len, fin, rsv1);
    return bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_frame)

BOOST_AUTO_TEST_CASE(rfc6455_section_5_7_examples) {
    // A single-frame masked text message "Hello".
    bytes masked = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws::frame_parser server;
    auto o = parse(server, masked);
    BOOST_TEST(o.r.st == ws::frame_result::complete);
    BOOST_TEST(o.r.header_size == 6u);
    BOOST_TEST(o.h.size == 6u);
    BOOST_TEST(o.h.fin);
    BOOST_TEST(o.h.masked);
    BOOST_TEST((o.h.op == ws::opcode::text));
    BOOST_TEST(o.h.payload_size == 5u);
    BOOST_TEST((o.h.key == std::array<std::uint8_t, 4>{0x37, 0xfa, 0x21, 0x3d}));
    std::span<std::uint8_t> payload(masked.data() + 6, 5);
    ws::apply_mask(payload, o.h.key);
    BOOST_TEST(std::string(payload.begin(), payload.end()) == "Hello");
    BOOST_TEST(!server.in_message());
    BOOST_TEST((server.message_opcode() == ws::opcode::text));

    // The unmasked examples are server-to-client frames: parse them as a client.
    ws::frame_parser client({}, ws::role::client);
    o = parse(client, {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    BOOST_TEST(o.r.st == ws::frame_result::complete);
    BOOST_TEST(o.h.payload_size == 5u);
    BOOST_TEST(!o.h.masked);
    // A fragmented unmasked text message: "Hel" then "lo".
    o = parse(client, {0x01, 0x03, 0x48, 0x65, 0x6c});
    BOOST_TEST(o.r.st == ws::frame_result::complete);
    BOOST_TEST(!o.h.fin);
    BOOST_TEST(client.in_message());
    o = parse(client, {0x80, 0x02, 0x6c, 0x6f});
    BOOST_TEST(o.r.st == ws::frame_result::complete);
    BOOST_TEST((o.h.op == ws::opcode::continuation));
    BOOST_TEST(!client.in_message());
    BOOST_TEST(client.message_size() == 5u);
    BOOST_TEST((client.message_opcode() == ws::opcode::text));
    // Unmasked Ping and masked Pong.
    o = parse(client, {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    BOOST_TEST((o.h.op == ws::opcode::ping));
    o = parse(server, {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    BOOST_TEST((o.h.op == ws::opcode::pong));
    // 256 bytes binary in a single unmasked frame; 64 KiB likewise.
    o = parse(client, {0x82, 0x7e, 0x01, 0x00});
    BOOST_TEST(o.r.header_size == 4u);
    BOOST_TEST(o.h.payload_size == 256u);
    o = parse(client, {0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00});
    BOOST_TEST(o.r.header_size == 10u);
    BOOST_TEST(o.h.payload_size == 65536u);
}

BOOST_AUTO_TEST_CASE(server_header_writer) {
    BOOST_TEST((server_header(ws::opcode::text, 5) == bytes{0x81, 0x05}));
    BOOST_TEST((server_header(ws::opcode::text, 3, false) == bytes{0x01, 0x03}));
    BOOST_TEST((server_header(ws::opcode::continuation, 2) == bytes{0x80, 0x02}));
    BOOST_TEST((server_header(ws::opcode::binary, 125) == bytes{0x82, 125}));
    BOOST_TEST((server_header(ws::opcode::binary, 126) == bytes{0x82, 0x7e, 0x00, 0x7e}));
    BOOST_TEST((server_header(ws::opcode::binary, 256) == bytes{0x82, 0x7e, 0x01, 0x00}));
    BOOST_TEST((server_header(ws::opcode::binary, 65535) == bytes{0x82, 0x7e, 0xff, 0xff}));
    BOOST_TEST((server_header(ws::opcode::binary, 65536) ==
                bytes{0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
    BOOST_TEST(
        (server_header(ws::opcode::text, 7, true, true) == bytes{0xc1, 0x07})); // RFC 7692 §7.2.3.1
    BOOST_TEST((server_header(ws::opcode::close, 0) == bytes{0x88, 0x00}));
    // Every byte of a 64-bit length in its place (the header is built in a register).
    BOOST_TEST((server_header(ws::opcode::binary, 0x0102030405060708ull) ==
                bytes{0x82, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8}));
    BOOST_TEST((server_header(ws::opcode::binary, 0xa1b2) == bytes{0x82, 0x7e, 0xa1, 0xb2}));
    // Masked: the key right after the header, at each of the three sizes.
    BOOST_TEST((client_header(0x82, 5) == bytes{0x82, 0x85, 1, 2, 3, 4}));
    BOOST_TEST((client_header(0x82, 0xa1b2) == bytes{0x82, 0xfe, 0xa1, 0xb2, 1, 2, 3, 4}));
    BOOST_TEST((client_header(0x82, 0x0102030405060708ull) ==
                bytes{0x82, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4}));
    // Every header the writer produces parses back (as a client) to the same values.
    for (std::uint64_t len :
         {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 1ull << 32, (1ull << 63) - 1}) {
        ws::frame_parser client(ws::frame_limits{UINT64_MAX, UINT64_MAX}, ws::role::client);
        const auto o = parse(client, server_header(ws::opcode::binary, len));
        BOOST_TEST(o.r.st == ws::frame_result::complete);
        BOOST_TEST(o.h.payload_size == len);
    }
}

BOOST_AUTO_TEST_CASE(masked_writer_round_trip) {
    const std::array<std::uint8_t, 4> key{0xde, 0xad, 0xbe, 0xef};
    std::string text = "a masked payload that is more than eight bytes long";
    std::array<std::uint8_t, 14> hdr;
    const std::size_t n = ws::write_masked_frame_header(hdr, ws::opcode::text, text.size(), key);
    bytes frame(hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(n));
    frame.insert(frame.end(), text.begin(), text.end());
    ws::apply_mask(std::span<std::uint8_t>(frame.data() + n, text.size()), key);
    ws::frame_parser server;
    const auto o = parse(server, frame);
    BOOST_TEST(o.r.st == ws::frame_result::complete);
    BOOST_TEST((o.h.key == key));
    std::span<std::uint8_t> payload(frame.data() + o.r.header_size, o.h.payload_size);
    ws::apply_mask(payload, o.h.key);
    BOOST_TEST(std::string(payload.begin(), payload.end()) == text);
}

BOOST_AUTO_TEST_CASE(masking_in_pieces_at_any_alignment) {
    std::mt19937 rng(5);
    const std::array<std::uint8_t, 4> key{0x11, 0x22, 0x44, 0x88};
    for (std::size_t len = 0; len < 80; ++len) {
        bytes plain(len + 8);
        for (auto& b : plain)
            b = static_cast<std::uint8_t>(rng());
        for (std::size_t align = 0; align < 8; ++align) {
            bytes expect(plain.begin() + static_cast<std::ptrdiff_t>(align),
                         plain.begin() + static_cast<std::ptrdiff_t>(align + len));
            for (std::size_t i = 0; i < len; ++i)
                expect[i] ^= key[i % 4];
            for (std::size_t cut = 0; cut <= len; ++cut) {
                bytes buf = plain;
                std::uint8_t* p = buf.data() + align;
                std::size_t off = ws::apply_mask({p, cut}, key);
                off = ws::apply_mask({p + cut, len - cut}, key, off);
                BOOST_TEST(off == len % 4);
                BOOST_TEST_INFO("len " << len << " align " << align << " cut " << cut);
                BOOST_TEST((bytes(p, p + len) == expect));
            }
        }
    }
    // A start offset rotates the key.
    bytes b = {0, 0, 0, 0, 0};
    BOOST_TEST(ws::apply_mask(b, key, 6) == 3u);
    BOOST_TEST((b == bytes{0x44, 0x88, 0x11, 0x22, 0x44}));
}

BOOST_AUTO_TEST_CASE(protocol_errors) {
    // §5.1: a server must fail an unmasked frame; a client a masked one.
    BOOST_TEST(error_code({0x81, 0x00}) == protocol_error);
    BOOST_TEST(error_code(client_header(0x81, 0), {}, ws::role::client) == protocol_error);
    // §5.2: reserved opcodes.
    for (std::uint8_t op : {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf}) {
        BOOST_TEST_INFO("opcode " << int(op));
        BOOST_TEST(error_code(client_header(0x80 | op, 0)) == protocol_error);
    }
    // RSV bits: RSV1 only with permessage-deflate and only on a message's first frame.
    BOOST_TEST(error_code(client_header(0xc1, 0)) == protocol_error);
    BOOST_TEST(error_code(client_header(0xc1, 0), {}, ws::role::server, true) == 0);
    BOOST_TEST(error_code(client_header(0xc2, 0), {}, ws::role::server, true) == 0);
    BOOST_TEST(error_code(client_header(0xc9, 0), {}, ws::role::server, true) == protocol_error);
    BOOST_TEST(error_code(client_header(0xc0, 0), {}, ws::role::server, true,
                          {client_header(0x41, 0)}) == protocol_error);
    BOOST_TEST(error_code(client_header(0xa1, 0), {}, ws::role::server, true) == protocol_error);
    BOOST_TEST(error_code(client_header(0x91, 0), {}, ws::role::server, true) == protocol_error);
    // §5.5: control frames are never fragmented and carry at most 125 bytes.
    BOOST_TEST(error_code(client_header(0x09, 0)) == protocol_error);
    BOOST_TEST(error_code(client_header(0x88, 126)) == protocol_error);
    BOOST_TEST(error_code(client_header(0x8a, 125)) == 0);
    BOOST_TEST(error_code(client_header(0x89, 65536)) == protocol_error);
    // §5.2: lengths in the minimal encoding, and the 64-bit length's top bit clear.
    BOOST_TEST(error_code({0x82, 0xfe, 0x00, 0x7d, 1, 2, 3, 4}) == protocol_error);
    BOOST_TEST(error_code({0x82, 0xfe, 0x00, 0x7e, 1, 2, 3, 4}) == 0);
    BOOST_TEST(error_code({0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}) ==
               protocol_error);
    BOOST_TEST(error_code({0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x7d, 1, 2, 3, 4}) == protocol_error);
    BOOST_TEST(error_code({0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
                          {UINT64_MAX, UINT64_MAX}) == protocol_error);
    BOOST_TEST(error_code({0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}) == 0);
    // §5.4: fragmentation.
    BOOST_TEST(error_code(client_header(0x80, 0)) == protocol_error); // continuation first
    BOOST_TEST(error_code(client_header(0x00, 0)) == protocol_error);
    BOOST_TEST(error_code(client_header(0x81, 0), {}, ws::role::server, false,
                          {client_header(0x01, 3)}) == protocol_error);
    BOOST_TEST(error_code(client_header(0x02, 0), {}, ws::role::server, false,
                          {client_header(0x01, 3)}) == protocol_error);
    // Control frames between fragments are fine.
    BOOST_TEST(error_code(client_header(0x80, 2), {}, ws::role::server, false,
                          {client_header(0x01, 3), client_header(0x89, 1), client_header(0x8a, 0),
                           client_header(0x00, 0)}) == 0);
    BOOST_TEST(error_code(client_header(0x81, 0), {}, ws::role::server, false,
                          {client_header(0x01, 3), client_header(0x80, 2)}) == 0);
}

BOOST_AUTO_TEST_CASE(errors_are_found_as_early_as_possible) {
    ws::frame_header h;
    ws::frame_parser p;
    const std::uint8_t two[2] = {0x83, 0x80};
    BOOST_TEST(p.parse(std::span<const std::uint8_t>(two, 2), h).st == ws::frame_result::error);
    ws::frame_parser q;
    const std::uint8_t one[1] = {0x83};
    BOOST_TEST(q.parse(std::span<const std::uint8_t>(one, 1), h).st ==
               ws::frame_result::incomplete);
    // A non-minimal length is refused before the masking key arrives.
    ws::frame_parser r;
    const std::uint8_t nonmin[4] = {0x82, 0xfe, 0x00, 0x10};
    BOOST_TEST(r.parse(std::span<const std::uint8_t>(nonmin, 4), h).st == ws::frame_result::error);
    // Errors are sticky; reset() clears them.
    const bytes good = client_header(0x81, 0);
    BOOST_TEST(p.parse(std::span<const std::uint8_t>(good), h).st == ws::frame_result::error);
    p.reset();
    BOOST_TEST(p.parse(std::span<const std::uint8_t>(good), h).st == ws::frame_result::complete);
}

BOOST_AUTO_TEST_CASE(size_limits) {
    const ws::frame_limits lim{.max_frame_size = 1000, .max_message_size = 2500};
    BOOST_TEST(error_code(client_header(0x82, 1000), lim) == 0);
    BOOST_TEST(error_code(client_header(0x82, 1001), lim) == too_big);
    // Fragments add up: 1000 + 1000 + 500 fits, one byte more does not.
    const std::vector<bytes> two = {client_header(0x02, 1000), client_header(0x00, 1000)};
    BOOST_TEST(error_code(client_header(0x80, 500), lim, ws::role::server, false, two) == 0);
    BOOST_TEST(error_code(client_header(0x80, 501), lim, ws::role::server, false, two) == too_big);
    // Control frames are not counted; a new message starts from zero.
    const std::vector<bytes> done = {client_header(0x02, 1000), client_header(0x89, 100),
                                     client_header(0x80, 1000), client_header(0x82, 1000)};
    BOOST_TEST(error_code(client_header(0x8a, 125), lim, ws::role::server, false, done) == 0);
    // Defaults: 1 MiB.
    BOOST_TEST(error_code(client_header(0x82, 1 << 20)) == 0);
    BOOST_TEST(error_code(client_header(0x82, (1 << 20) + 1)) == too_big);
    BOOST_TEST(error_code({0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
                           4}) == too_big);
}

BOOST_AUTO_TEST_CASE(split_at_every_byte) {
    // A stream of frames, parsed from one buffer and parsed byte by byte through an
    // accumulator the way a transport would: the same headers, the same final error.
    bytes stream;
    const auto add = [&](std::uint8_t b0, std::uint64_t len) {
        const bytes h = client_header(b0, len);
        stream.insert(stream.end(), h.begin(), h.end());
        stream.insert(stream.end(), len, 0x5a);
    };
    add(0x81, 5);
    add(0x02, 200);
    add(0x89, 125);
    add(0x80, 70000);
    add(0x88, 2);
    add(0x01, 0);
    add(0x01, 3); // protocol error: a new message while one is open

    struct seen {
        ws::frame_result::status st;
        int err;
        std::uint8_t op;
        std::uint64_t len;
        bool operator==(const seen&) const = default;
    };
    const auto run = [&](std::size_t step) {
        std::vector<seen> out;
        ws::frame_parser p;
        bytes acc;
        std::size_t pos = 0, skip = 0;
        while (pos < stream.size()) {
            const std::size_t n = std::min(step, stream.size() - pos);
            for (std::size_t i = 0; i < n; ++i, ++pos) {
                if (skip > 0) {
                    --skip;
                    continue;
                }
                acc.push_back(stream[pos]);
                ws::frame_header h;
                const auto r = p.parse(std::span<const std::uint8_t>(acc), h);
                if (r.st == ws::frame_result::incomplete)
                    continue;
                out.push_back({r.st, code(r.err), static_cast<std::uint8_t>(h.op), h.payload_size});
                if (r.st == ws::frame_result::error)
                    return out;
                BOOST_TEST(r.header_size == acc.size()); // decided at the last header byte
                skip = h.payload_size;
                acc.clear();
            }
        }
        return out;
    };
    const auto whole = run(stream.size());
    BOOST_TEST(whole.size() == 7u);
    BOOST_TEST(whole.back().err == protocol_error);
    BOOST_TEST((run(1) == whole));
    BOOST_TEST((run(7) == whole));
}

BOOST_AUTO_TEST_CASE(close_payloads) {
    const auto parse_close = [](const bytes& b) { return ws::parse_close_payload(b); };
    auto r = parse_close({});
    BOOST_TEST(r.ok);
    BOOST_TEST(r.code == 1005);
    const bytes bye = {0x03, 0xe8, 'b', 'y', 'e'};
    r = parse_close(bye);
    BOOST_TEST(r.ok);
    BOOST_TEST(r.code == 1000);
    BOOST_TEST(r.reason == "bye");
    r = parse_close({0x03});
    BOOST_TEST(!r.ok);
    BOOST_TEST(code(r.err) == protocol_error);
    for (int c : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        BOOST_TEST_INFO("code " << c);
        r = parse_close({static_cast<std::uint8_t>(c >> 8), static_cast<std::uint8_t>(c)});
        BOOST_TEST(!r.ok);
        BOOST_TEST(code(r.err) == protocol_error);
    }
    for (int c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                  3999, 4000, 4999}) {
        BOOST_TEST_INFO("code " << c);
        BOOST_TEST(
            parse_close({static_cast<std::uint8_t>(c >> 8), static_cast<std::uint8_t>(c)}).ok);
    }
    r = parse_close({0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd, 0xb9}); // κό
    BOOST_TEST(r.ok);
    r = parse_close({0x03, 0xe8, 0xed, 0xa0, 0x80}); // a surrogate
    BOOST_TEST(!r.ok);
    BOOST_TEST(code(r.err) == 1007);
    r = parse_close({0x03, 0xe8, 0xe2, 0x82}); // truncated
    BOOST_TEST(code(r.err) == 1007);
    BOOST_TEST(code(parse_close(bytes(126, 0x41)).err) == protocol_error);
}

BOOST_AUTO_TEST_CASE(writing_close_payloads) {
    std::array<std::uint8_t, 125> buf;
    std::size_t n = ws::write_close_payload(buf, ws::close_code::going_away, "bye");
    BOOST_TEST(n == 5u);
    BOOST_TEST((bytes(buf.begin(), buf.begin() + 5) == bytes{0x03, 0xe9, 'b', 'y', 'e'}));
    BOOST_TEST(ws::write_close_payload(buf, ws::close_code::no_status) == 0u);
    BOOST_TEST(ws::write_close_payload(buf, ws::close_code::abnormal, "x") == 0u);
    BOOST_TEST(ws::write_close_payload(buf, static_cast<ws::close_code>(4321), "x") == 3u);
    BOOST_TEST(ws::write_close_payload(buf, ws::close_code::normal, "\xff") == 2u);
    // A reason that does not fit is cut at a code point boundary: 61 two-byte characters.
    std::string long_reason;
    for (int i = 0; i < 100; ++i)
        long_reason += "\xc3\xa9";
    n = ws::write_close_payload(buf, ws::close_code::normal, long_reason);
    BOOST_TEST(n == 2u + 122u);
    const auto back = ws::parse_close_payload(std::span<const std::uint8_t>(buf.data(), n));
    BOOST_TEST(back.ok);
    BOOST_TEST(back.reason.size() == 122u);
    n = ws::write_close_payload(buf, ws::close_code::normal, std::string(200, 'a'));
    BOOST_TEST(n == 125u);
}

BOOST_AUTO_TEST_CASE(close_code_helpers) {
    BOOST_TEST(ws::is_valid_close_code(1000));
    BOOST_TEST(!ws::is_valid_close_code(1005));
    BOOST_TEST(ws::to_string(ws::close_code::message_too_big) == "message too big");
    BOOST_TEST(ws::is_control(ws::opcode::ping));
    BOOST_TEST(!ws::is_control(ws::opcode::binary));
}

// parse() decides its common case (a client's small data frame) inline. For the headers below
// it must give what the general path gives (the same result, header and message state): in
// and out of a fragmented message, under default limits and under limits where the frame
// size and where the message size decides, for both roles, with and without RSV1 allowed.
BOOST_AUTO_TEST_CASE(inline_common_case_decides_as_the_general_path) {
    // Every first byte; second bytes masked and not, with the 7-bit lengths at the limits'
    // edges (10 and 90 bytes before; 40 and 100 bytes allowed) and the extended lengths.
    std::vector<std::uint8_t> second_bytes;
    for (const int mask : {0, 0x80})
        for (const int len :
             {0, 1, 9, 10, 11, 39, 40, 41, 89, 90, 91, 99, 100, 101, 124, 125, 126, 127})
            second_bytes.push_back(static_cast<std::uint8_t>(mask | len));
    const ws::frame_limits limits[] = {
        {},
        {.max_frame_size = 40, .max_message_size = 100},  // the frame's size decides
        {.max_frame_size = 100, .max_message_size = 100}, // the message's size decides
    };
    std::size_t compared = 0, inline_complete = 0;
    const auto compare = [&](const ws::frame_limits& lim, ws::role role, bool rsv1, int before,
                             const bytes& in) {
        ws::frame_parser a(lim, role), b(lim, role);
        a.allow_rsv1(rsv1);
        b.allow_rsv1(rsv1);
        ws::frame_header ha, hb;
        if (before > 0) { // a first, non-final binary fragment of `before` bytes
            const auto m = static_cast<std::uint8_t>(role == ws::role::server ? 0x80 : 0);
            const bytes first{0x02, static_cast<std::uint8_t>(m | before), 1, 2, 3, 4};
            a.parse(std::span<const std::uint8_t>(first), ha);
            b.parse(std::span<const std::uint8_t>(first), hb);
        }
        const auto ra = a.parse(std::span<const std::uint8_t>(in), ha);
        const auto rb =
            ws::detail::frame_parser_access::parse_any(b, std::span<const std::uint8_t>(in), hb);
        ++compared;
        BOOST_TEST_INFO("b0 " << int(in[0]) << " b1 " << int(in[1]) << " size " << in.size()
                              << " before " << before << " rsv1 " << rsv1);
        BOOST_TEST_REQUIRE(static_cast<int>(ra.st) == static_cast<int>(rb.st));
        BOOST_TEST_REQUIRE(ra.header_size == rb.header_size);
        BOOST_TEST_REQUIRE(code(ra.err) == code(rb.err));
        BOOST_TEST_REQUIRE(a.in_message() == b.in_message());
        BOOST_TEST_REQUIRE(a.message_size() == b.message_size());
        BOOST_TEST_REQUIRE(static_cast<int>(a.message_opcode()) ==
                           static_cast<int>(b.message_opcode()));
        BOOST_TEST_REQUIRE(a.message_compressed() == b.message_compressed());
        if (ra.st != ws::frame_result::complete)
            return;
        BOOST_TEST_REQUIRE(static_cast<int>(ha.op) == static_cast<int>(hb.op));
        BOOST_TEST_REQUIRE(ha.fin == hb.fin);
        BOOST_TEST_REQUIRE(ha.rsv1 == hb.rsv1);
        BOOST_TEST_REQUIRE(ha.masked == hb.masked);
        BOOST_TEST_REQUIRE(ha.size == hb.size);
        BOOST_TEST_REQUIRE(ha.payload_size == hb.payload_size);
        BOOST_TEST_REQUIRE((ha.key == hb.key));
        if (role == ws::role::server && ha.size == 6)
            ++inline_complete;
    };
    for (const auto& lim : limits)
        for (const ws::role role : {ws::role::server, ws::role::client})
            for (const bool rsv1 : {false, true})
                for (const int before : {0, 10, 90})
                    for (int b0 = 0; b0 < 256; ++b0)
                        for (const std::uint8_t b1 : second_bytes)
                            for (const std::size_t size : {5, 6, 14}) {
                                bytes in(size, 0x5a);
                                in[0] = static_cast<std::uint8_t>(b0);
                                in[1] = b1;
                                compare(lim, role, rsv1, before, in);
                            }
    BOOST_TEST(compared == 3u * 2 * 2 * 3 * 256 * second_bytes.size() * 3);
    BOOST_TEST(inline_complete > 500u); // the inline path was taken, and agreed
}

BOOST_AUTO_TEST_SUITE_END()
