// Unit tests for pier/ws/deflate.hpp: permessage-deflate negotiation and codec (RFC 7692).
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ws = pier::ws;
namespace http = pier::http;
using bytes = std::vector<std::uint8_t>;

namespace {

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string response(const std::optional<ws::deflate_params>& p) {
    if (!p)
        return "(declined)";
    std::array<char, ws::max_deflate_response_size> buf;
    return std::string(buf.data(), ws::format_deflate_response(*p, buf));
}

std::string negotiate(std::string_view offer, const ws::deflate_options& o = {}) {
    return response(ws::negotiate_deflate(offer, o));
}

// The codec a client would need to read what `p`'s server writes, and vice versa.
ws::deflate_params mirror(const ws::deflate_params& p) {
    ws::deflate_params m;
    m.server_no_context_takeover = p.client_no_context_takeover;
    m.client_no_context_takeover = p.server_no_context_takeover;
    m.server_max_window_bits = p.client_max_window_bits;
    m.client_max_window_bits = p.server_max_window_bits;
    return m;
}

int st(ws::deflate_status s) {
    return static_cast<int>(s);
}
constexpr int ok = 0;

std::string compress(ws::deflate_codec& c, std::string_view msg) {
    std::string out;
    BOOST_TEST(st(c.compress(as_bytes(msg), out)) == ok);
    return out;
}

std::string decompress(ws::deflate_codec& c, const bytes& payload, int expect = ok) {
    std::string out;
    BOOST_TEST(st(c.decompress(payload, out, true)) == expect);
    return out;
}

bytes to_bytes(std::string_view s) {
    return bytes(s.begin(), s.end());
}

std::string json_message(int i) {
    return R"({"type":"update","id":)" + std::to_string(i) +
           R"(,"user":{"name":"alice","roles":["admin","dev"]},"payload":"lorem ipsum dolor sit amet"})";
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_deflate)

BOOST_AUTO_TEST_CASE(negotiates_browser_offers) {
    // Chromium and Python websockets offer client_max_window_bits without a value.
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    // Firefox offers no parameters: accepted, the client keeps its 32 KiB window...
    BOOST_TEST(negotiate("permessage-deflate") == "permessage-deflate; server_max_window_bits=12");
    // ...unless a strict memory bound is asked for.
    ws::deflate_options strict;
    strict.require_client_max_window_bits = true;
    BOOST_TEST(negotiate("permessage-deflate", strict) == "(declined)");
    // zlib's full defaults say nothing about windows.
    ws::deflate_options full;
    full.server_max_window_bits = full.client_max_window_bits = 15;
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits", full) ==
               "permessage-deflate");
    ws::deflate_options off;
    off.enabled = false;
    BOOST_TEST(negotiate("permessage-deflate", off) == "(declined)");
}

BOOST_AUTO_TEST_CASE(negotiates_parameters) {
    ws::deflate_options full;
    full.server_max_window_bits = full.client_max_window_bits = 15;
    BOOST_TEST(negotiate("permessage-deflate; server_no_context_takeover", full) ==
               "permessage-deflate; server_no_context_takeover");
    BOOST_TEST(negotiate("permessage-deflate; client_no_context_takeover", full) ==
               "permessage-deflate; client_no_context_takeover");
    BOOST_TEST(negotiate("permessage-deflate; server_max_window_bits=10", full) ==
               "permessage-deflate; server_max_window_bits=10");
    BOOST_TEST(negotiate("permessage-deflate; server_max_window_bits=15") ==
               "permessage-deflate; server_max_window_bits=12"); // the same or smaller (§7.1.2.1)
    BOOST_TEST(negotiate("permessage-deflate; server_max_window_bits=9") ==
               "permessage-deflate; server_max_window_bits=9");
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits=10") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10");
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits=15") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits=15", full) ==
               "permessage-deflate");
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits=8") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=8");
    // Quoted values (RFC 6455 §9.1), with escapes.
    BOOST_TEST(negotiate(R"(permessage-deflate; client_max_window_bits="10")") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10");
    BOOST_TEST(negotiate(R"(permessage-deflate; server_max_window_bits="\1\0")") ==
               "permessage-deflate; server_max_window_bits=10");
    // Options ask for more than the client did.
    ws::deflate_options o;
    o.server_no_context_takeover = o.client_no_context_takeover = true;
    o.server_max_window_bits = 9;
    o.client_max_window_bits = 8;
    BOOST_TEST(negotiate("permessage-deflate; client_max_window_bits", o) ==
               "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
               "server_max_window_bits=9; client_max_window_bits=8");
    // Everything at once, in any order and case, with odd spacing.
    BOOST_TEST(
        negotiate("Permessage-Deflate ;Client_Max_Window_Bits = 11 ; server_no_context_takeover",
                  full) ==
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=11");
}

BOOST_AUTO_TEST_CASE(declines_invalid_offers_and_tries_the_next) {
    for (std::string_view bad : {
             "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
             "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
             "permessage-deflate; server_no_context_takeover=1",
             "permessage-deflate; client_no_context_takeover=true",
             "permessage-deflate; server_max_window_bits",
             "permessage-deflate; server_max_window_bits=8", // zlib cannot honour it
             "permessage-deflate; server_max_window_bits=7",
             "permessage-deflate; server_max_window_bits=16",
             "permessage-deflate; server_max_window_bits=010",
             "permessage-deflate; server_max_window_bits=1a",
             "permessage-deflate; client_max_window_bits=0",
             "permessage-deflate; client_max_window_bits=\"\"",
             "permessage-deflate; mystery",
             "permessage-deflate; a; b; c; d; e; f; g; h; i",
         }) {
        BOOST_TEST_INFO(bad);
        BOOST_TEST(negotiate(bad) == "(declined)");
        const std::string with_fallback =
            std::string(bad) + ", permessage-deflate; client_max_window_bits=9";
        BOOST_TEST(negotiate(with_fallback) ==
                   "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9");
    }
    // Other extensions are skipped; syntax errors end the field.
    BOOST_TEST(negotiate("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits") ==
               "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    BOOST_TEST(negotiate("foo; bar=\"a,b\", permessage-deflate") ==
               "permessage-deflate; server_max_window_bits=12");
    BOOST_TEST(negotiate("permessage-deflate; =1, permessage-deflate") == "(declined)");
    BOOST_TEST(negotiate("permessage-deflate garbage, permessage-deflate") == "(declined)");
    BOOST_TEST(negotiate("permessage-deflate; x=\"unterminated") == "(declined)");
    BOOST_TEST(negotiate("") == "(declined)");
    BOOST_TEST(negotiate(" , ,") == "(declined)");
}

BOOST_AUTO_TEST_CASE(negotiates_across_header_fields) {
    const std::string req =
        "GET / HTTP/1.1\r\nHost: h\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        "\r\n";
    http::request_head h;
    BOOST_TEST(http::parse_request(req, h).st == http::parse_result::complete);
    BOOST_TEST(response(ws::negotiate_deflate(h)) ==
               "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
}

BOOST_AUTO_TEST_CASE(rfc7692_examples) {
    const ws::deflate_params defaults; // zlib's full windows, context takeover
    // §7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00.
    ws::deflate_codec server(defaults, [] {
        ws::deflate_options o;
        o.server_max_window_bits = 15;
        return o;
    }());
    BOOST_TEST(to_bytes(compress(server, "Hello")) ==
               (bytes{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    // §7.2.3.2: the second "Hello" on the same context refers back to the first.
    BOOST_TEST(to_bytes(compress(server, "Hello")) == (bytes{0xf2, 0x00, 0x11, 0x00, 0x00}));

    ws::deflate_codec reader(defaults);
    BOOST_TEST(decompress(reader, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) == "Hello");
    BOOST_TEST(decompress(reader, {0xf2, 0x00, 0x11, 0x00, 0x00}) == "Hello");
    // §7.2.3.1 fragmented: the payloads of two frames.
    std::string out;
    BOOST_TEST(st(reader.decompress(bytes{0xf2, 0x48, 0xcd}, out, false)) == ok);
    BOOST_TEST(st(reader.decompress(bytes{0xc9, 0xc9, 0x07, 0x00}, out, true)) == ok);
    BOOST_TEST(out == "Hello");
    // §7.2.3.3: a stored (uncompressed) block.
    ws::deflate_codec fresh(defaults);
    BOOST_TEST(decompress(fresh, {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                  0x00}) == "Hello");
    // §7.2.3.4: a block with BFINAL set.
    BOOST_TEST(decompress(fresh, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}) == "Hello");
    // ...after which the context still carries over: the §7.2.3.2 back-reference works.
    BOOST_TEST(decompress(fresh, {0xf2, 0x00, 0x11, 0x00, 0x00}) == "Hello");
    // §7.2.3.5: two DEFLATE blocks in one message.
    BOOST_TEST(decompress(fresh, {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9,
                                  0x07, 0x00}) == "Hello");
    // The RFC's frame for §7.2.3.1 parses with RSV1 once deflate is negotiated.
    ws::frame_parser client({}, ws::role::client);
    client.allow_rsv1(true);
    ws::frame_header fh;
    const std::uint8_t frame[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    BOOST_TEST(client.parse(std::span<const std::uint8_t>(frame), fh).st ==
               ws::frame_result::complete);
    BOOST_TEST(fh.rsv1);
    BOOST_TEST(client.message_compressed());
}

BOOST_AUTO_TEST_CASE(empty_messages) {
    ws::deflate_codec c({});
    ws::deflate_codec r({});
    for (int i = 0; i < 3; ++i) {
        const std::string empty = compress(c, "");
        BOOST_TEST(to_bytes(empty) == bytes{0x00});
        BOOST_TEST(decompress(r, to_bytes(empty)) == "");
        const std::string hello = compress(c, "hello");
        BOOST_TEST(decompress(r, to_bytes(hello)) == "hello");
    }
    // A message sent in pieces whose last piece is empty.
    std::string wire;
    BOOST_TEST(st(c.compress(as_bytes("abc"), wire, false)) == ok);
    BOOST_TEST(st(c.compress({}, wire, true)) == ok);
    BOOST_TEST(decompress(r, to_bytes(wire)) == "abc");
    BOOST_TEST(decompress(r, {}) == ""); // an empty payload is an empty message
}

BOOST_AUTO_TEST_CASE(round_trips_with_every_option) {
    std::mt19937 rng(7692);
    std::string random_text(3000, ' ');
    for (char& ch : random_text)
        ch = static_cast<char>('a' + rng() % 26);
    std::string binary(70000, '\0');
    for (char& ch : binary)
        ch = static_cast<char>(rng());
    std::string repetitive;
    for (int i = 0; i < 500; ++i)
        repetitive += json_message(i);
    const std::vector<std::string> messages = {
        "", "x", json_message(1), json_message(2), random_text, repetitive, binary, json_message(3),
        ""};

    for (int snct = 0; snct < 2; ++snct)
        for (int cnct = 0; cnct < 2; ++cnct)
            for (int bits : {9, 12, 15}) {
                ws::deflate_options o;
                o.server_no_context_takeover = snct != 0;
                o.client_no_context_takeover = cnct != 0;
                o.server_max_window_bits = static_cast<std::uint8_t>(bits);
                o.client_max_window_bits = static_cast<std::uint8_t>(bits);
                const auto agreed =
                    ws::negotiate_deflate("permessage-deflate; client_max_window_bits", o);
                BOOST_TEST_REQUIRE(agreed.has_value());
                BOOST_TEST_INFO("snct " << snct << " cnct " << cnct << " bits " << bits);
                ws::deflate_codec server(*agreed, o);
                BOOST_TEST(server.deflate_window_bits() == bits);
                BOOST_TEST(server.inflate_window_bits() == bits);
                ws::deflate_options big;
                big.max_message_size = 1 << 24;
                ws::deflate_codec client(mirror(*agreed), big);
                for (int pass = 0; pass < 2; ++pass)
                    for (const std::string& m : messages) {
                        // server -> client
                        const std::string wire = compress(server, m);
                        BOOST_TEST((decompress(client, to_bytes(wire)) == m));
                        // client -> server, fed in three pieces
                        std::string up;
                        BOOST_TEST(st(client.compress(as_bytes(m), up)) == ok);
                        std::string back;
                        const std::size_t a = up.size() / 3, b = 2 * up.size() / 3;
                        const auto piece = [&](std::size_t from, std::size_t to, bool fin) {
                            return st(server.decompress(
                                as_bytes(std::string_view(up).substr(from, to - from)), back, fin));
                        };
                        BOOST_TEST(piece(0, a, false) == ok);
                        BOOST_TEST(piece(a, b, false) == ok);
                        if (m.size() <= (1u << 20)) {
                            BOOST_TEST(piece(b, up.size(), true) == ok);
                            BOOST_TEST((back == m));
                        }
                    }
                // Without context takeover, equal messages compress equally; with it, the
                // second copy shrinks to back-references.
                std::string m(200, ' '); // within reach of a 512-byte window
                for (char& ch : m)
                    ch = static_cast<char>('a' + rng() % 26);
                const std::string first = compress(server, m), second = compress(server, m);
                if (snct != 0)
                    BOOST_TEST(first == second);
                else
                    BOOST_TEST(second.size() < first.size() / 2);
            }
}

BOOST_AUTO_TEST_CASE(compressor_honours_its_window) {
    // 400 random bytes repeated 1000 bytes later: a 512-byte window cannot reach back that
    // far, so zlib's own inflate with windowBits 9 must accept the output.
    std::mt19937 rng(1);
    std::string block(400, '\0');
    for (char& ch : block)
        ch = static_cast<char>(rng());
    const std::string filler(600, 'f');
    const std::string msg = block + filler + block + filler + block;
    ws::deflate_options o;
    o.server_max_window_bits = 9;
    ws::deflate_codec c(*ws::negotiate_deflate("permessage-deflate; server_max_window_bits=9", o),
                        o);
    BOOST_TEST(c.deflate_window_bits() == 9);
    std::string wire = compress(c, msg);
    wire += std::string("\x00\x00\xff\xff", 4);
    z_stream z{};
    BOOST_TEST_REQUIRE(inflateInit2(&z, -9) == Z_OK);
    std::string out(msg.size() + 16, '\0');
    z.next_in = reinterpret_cast<Bytef*>(wire.data());
    z.avail_in = static_cast<uInt>(wire.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    BOOST_TEST(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
    out.resize(out.size() - z.avail_out);
    inflateEnd(&z);
    BOOST_TEST((out == msg));
}

BOOST_AUTO_TEST_CASE(decompression_limit_stops_bombs) {
    ws::deflate_options o;
    o.server_max_window_bits = 15;
    ws::deflate_codec bomb_maker({}, o);
    const std::string zeros(10 << 20, '\0');
    const std::string bomb = compress(bomb_maker, zeros);
    BOOST_TEST(bomb.size() < 20000u);

    ws::deflate_codec victim({}); // default limit: 1 MiB
    std::string out;
    const auto s = victim.decompress(as_bytes(bomb), out, true);
    BOOST_TEST(st(s) == st(ws::deflate_status::too_big));
    BOOST_TEST(static_cast<int>(ws::close_code_for(s)) == 1009);
    BOOST_TEST(out.size() <= (1u << 20) + 1);

    // Fed in small pieces, the limit still holds across them.
    ws::deflate_codec victim2({});
    std::string out2;
    ws::deflate_status last = ws::deflate_status::ok;
    for (std::size_t i = 0; i < bomb.size() && last == ws::deflate_status::ok; i += 100)
        last = victim2.decompress(as_bytes(std::string_view(bomb).substr(i, 100)), out2,
                                  i + 100 >= bomb.size());
    BOOST_TEST(st(last) == st(ws::deflate_status::too_big));

    // Exactly at the limit is fine, one byte over is not.
    ws::deflate_options lim;
    lim.max_message_size = 5000;
    ws::deflate_codec maker({}, o);
    ws::deflate_codec exact({}, lim);
    BOOST_TEST(decompress(exact, to_bytes(compress(maker, std::string(5000, 'a')))).size() ==
               5000u);
    decompress(exact, to_bytes(compress(maker, std::string(5001, 'a'))),
               st(ws::deflate_status::too_big));
    // After a failure the codec starts the next message from a clean state.
    ws::deflate_codec fresh_maker({}, o);
    BOOST_TEST(decompress(exact, to_bytes(compress(fresh_maker, "again"))) == "again");
}

BOOST_AUTO_TEST_CASE(corrupt_input) {
    ws::deflate_codec c({});
    decompress(c, {0xff, 0xff, 0xff, 0xff}, st(ws::deflate_status::corrupt));
    decompress(c, {0x07}, st(ws::deflate_status::corrupt)); // reserved block type
    // Two final blocks in one message (allowed once).
    decompress(c, {0x03, 0x00, 0x03, 0x00}, st(ws::deflate_status::corrupt));
    BOOST_TEST(decompress(c, {0x03, 0x00}) == "");
    BOOST_TEST(static_cast<int>(ws::close_code_for(ws::deflate_status::out_of_memory)) == 1011);
}

BOOST_AUTO_TEST_CASE(split_input_at_every_byte) {
    ws::deflate_options o;
    ws::deflate_codec maker({}, o);
    const std::string msg = json_message(7) + json_message(8);
    const std::string wire = compress(maker, msg);
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        ws::deflate_codec c({}, o);
        std::string out;
        BOOST_TEST(st(c.decompress(as_bytes(std::string_view(wire).substr(0, cut)), out, false)) ==
                   ok);
        BOOST_TEST(st(c.decompress(as_bytes(std::string_view(wire).substr(cut)), out, true)) == ok);
        BOOST_TEST_INFO("cut " << cut);
        BOOST_TEST((out == msg));
    }
}

BOOST_AUTO_TEST_CASE(memory_is_lazy_and_freed_when_idle) {
    ws::deflate_options o;
    o.server_no_context_takeover = o.client_no_context_takeover = true;
    const auto agreed = ws::negotiate_deflate("permessage-deflate; client_max_window_bits", o);
    BOOST_TEST_REQUIRE(agreed.has_value());
    ws::deflate_codec c(*agreed, o);
    BOOST_TEST(c.memory_in_use() == 0u);
    const std::string wire = compress(c, json_message(1));
    const std::size_t after_deflate = c.memory_in_use();
    BOOST_TEST(after_deflate > 30000u); // 4 KiB window: 16 KiB + 16 KiB hash + state
    ws::deflate_codec peer(mirror(*agreed));
    std::string up;
    BOOST_TEST(st(peer.compress(as_bytes(json_message(2)), up)) == ok);
    std::string out;
    // Half a message: the decompressor must survive release_idle.
    BOOST_TEST(st(c.decompress(as_bytes(std::string_view(up).substr(0, 10)), out, false)) == ok);
    c.release_idle();
    BOOST_TEST(c.memory_in_use() > 0u);
    BOOST_TEST(st(c.decompress(as_bytes(std::string_view(up).substr(10)), out, true)) == ok);
    BOOST_TEST(out == json_message(2));
    BOOST_TEST(c.memory_in_use() <= o.memory_per_connection());
    c.release_idle();
    BOOST_TEST(c.memory_in_use() == 0u);
    // And it comes back on demand.
    BOOST_TEST(decompress(peer, to_bytes(compress(c, "again"))) == "again");

    // With context takeover nothing can be freed.
    ws::deflate_codec keep({});
    (void)compress(keep, "x");
    keep.release_idle();
    BOOST_TEST(keep.memory_in_use() > 0u);

    // The codec moves without losing its streams.
    ws::deflate_codec moved = std::move(keep);
    BOOST_TEST(moved.memory_in_use() > 0u);
    ws::deflate_codec reader({});
    BOOST_TEST(decompress(reader, to_bytes(compress(moved, "after move"))) == "after move");
}

BOOST_AUTO_TEST_CASE(memory_budget) {
    const auto big = ws::deflate_options::for_memory_budget(1 << 20);
    BOOST_TEST(big.enabled);
    BOOST_TEST(big.server_max_window_bits == 15);
    BOOST_TEST(big.mem_level == 8);
    BOOST_TEST(big.memory_per_connection() <= std::size_t{1} << 20);
    for (std::size_t budget : {std::size_t{40000}, std::size_t{64} << 10, std::size_t{100000}}) {
        const auto o = ws::deflate_options::for_memory_budget(budget);
        BOOST_TEST_INFO("budget " << budget);
        BOOST_TEST(o.enabled);
        BOOST_TEST(o.require_client_max_window_bits);
        BOOST_TEST(o.memory_per_connection() <= budget);
        // The estimate holds for real streams that have done real work.
        const auto agreed = ws::negotiate_deflate("permessage-deflate; client_max_window_bits", o);
        BOOST_TEST_REQUIRE(agreed.has_value());
        ws::deflate_codec c(*agreed, o);
        ws::deflate_codec peer(mirror(*agreed));
        std::string big_msg;
        for (int i = 0; i < 2000; ++i)
            big_msg += json_message(i);
        (void)compress(c, big_msg);
        std::string up;
        BOOST_TEST(st(peer.compress(as_bytes(big_msg), up)) == ok);
        std::string out;
        ws::deflate_options roomy = o;
        roomy.max_message_size = 1 << 24;
        ws::deflate_codec c2(*agreed, roomy);
        (void)compress(c2, big_msg);
        BOOST_TEST(st(c2.decompress(as_bytes(up), out, true)) == ok);
        BOOST_TEST(c2.memory_in_use() <= o.memory_per_connection());
    }
    BOOST_TEST(!ws::deflate_options::for_memory_budget(10000).enabled);
    // The defaults cost about 50 KiB with both streams, against ~300 KiB for zlib's.
    const ws::deflate_options d;
    ws::deflate_options strict = d;
    strict.require_client_max_window_bits = true;
    BOOST_TEST(strict.memory_per_connection() < 60000u);
    ws::deflate_options z;
    z.server_max_window_bits = z.client_max_window_bits = 15;
    z.mem_level = 8;
    BOOST_TEST(z.memory_per_connection() > 290000u);
}

BOOST_AUTO_TEST_SUITE_END()
