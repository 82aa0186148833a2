// Unit tests for pier/redis/protocol.hpp: RESP2 replies through hiredis's reader into `reply`
// values, with pier's bounds, and commands through hiredis's formatter.
#include <pier/redis/protocol.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace redis = pier::redis;
using redis::reply;
using redis::reply_kind;
using namespace std::literals;

namespace {

std::error_code code(redis::error e) {
    return redis::make_error_code(e);
}

/// Every reply in `bytes`, fed in pieces of `step` bytes (0: at once); `ec` is the parser's
/// final error.
std::vector<reply> parse_all(std::string_view bytes, std::error_code& ec, std::size_t step = 0,
                             redis::protocol_limits limits = {}) {
    redis::reply_parser p(limits);
    std::vector<reply> out;
    if (step == 0)
        step = bytes.empty() ? 1 : bytes.size();
    ec = {};
    for (std::size_t at = 0; at < bytes.size() && !ec; at += step) {
        ec = p.feed(bytes.substr(at, step));
        reply r;
        while (!ec && p.next(r, ec))
            out.push_back(std::move(r));
    }
    return out;
}

reply one(std::string_view bytes) {
    std::error_code ec;
    auto all = parse_all(bytes, ec);
    BOOST_TEST_REQUIRE(!ec, ec.message());
    BOOST_TEST_REQUIRE(all.size() == 1u);
    return all.front();
}

std::string formatted(std::initializer_list<std::string_view> args) {
    std::string out;
    BOOST_TEST_REQUIRE(!redis::format_command(args, out));
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_protocol)

BOOST_AUTO_TEST_CASE(every_kind) {
    auto r = one("+OK\r\n");
    BOOST_TEST((r.kind == reply_kind::status));
    BOOST_TEST(r.text() == "OK");
    r = one("-ERR wrong number of arguments\r\n");
    BOOST_TEST(r.is_error());
    BOOST_TEST(r.text() == "ERR wrong number of arguments");
    r = one(":-42\r\n");
    BOOST_TEST((r.kind == reply_kind::integer));
    BOOST_TEST(r.integer == -42);
    r = one("$6\r\nhe\0l\r\n\r\n"sv); // binary-safe: NUL and CRLF inside
    BOOST_TEST((r.kind == reply_kind::string));
    BOOST_TEST(r.str == "he\0l\r\n"sv);
    r = one("$0\r\n\r\n");
    BOOST_TEST((r.kind == reply_kind::string));
    BOOST_TEST(r.str.empty());
    BOOST_TEST(one("$-1\r\n").is_nil());
    BOOST_TEST(one("*-1\r\n").is_nil());
    r = one("*0\r\n");
    BOOST_TEST((r.kind == reply_kind::array));
    BOOST_TEST(r.elements.empty());
}

BOOST_AUTO_TEST_CASE(nested_arrays) {
    // A pub/sub message and a CLUSTER SLOTS entry.
    auto r = one("*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$5\r\nhello\r\n");
    BOOST_TEST_REQUIRE(r.elements.size() == 3u);
    BOOST_TEST(r.elements[0].str == "message");
    BOOST_TEST(r.elements[2].str == "hello");
    r = one("*1\r\n*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n");
    BOOST_TEST_REQUIRE(r.elements.size() == 1u);
    BOOST_TEST_REQUIRE(r.elements[0].elements.size() == 3u);
    BOOST_TEST(r.elements[0].elements[1].integer == 5460);
    BOOST_TEST(r.elements[0].elements[2].elements[0].str == "127.0.0.1");
    r = one("*3\r\n$-1\r\n*0\r\n-ERR x\r\n");
    BOOST_TEST(r.elements[0].is_nil());
    BOOST_TEST(r.elements[2].is_error());
}

BOOST_AUTO_TEST_CASE(any_split_gives_the_same_replies) {
    const std::string stream = "+OK\r\n:1\r\n$3\r\nabc\r\n*2\r\n*1\r\n:7\r\n$-1\r\n-ERR no\r\n"
                               "*3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$0\r\n\r\n";
    std::error_code ec;
    const auto whole = parse_all(stream, ec);
    BOOST_TEST_REQUIRE(!ec);
    BOOST_TEST_REQUIRE(whole.size() == 6u);
    for (std::size_t step = 1; step < stream.size(); ++step) {
        const auto pieces = parse_all(stream, ec, step);
        BOOST_TEST_REQUIRE(!ec);
        BOOST_TEST_REQUIRE(pieces.size() == whole.size());
        for (std::size_t i = 0; i < whole.size(); ++i)
            BOOST_TEST((pieces[i] == whole[i]), "step " << step << " reply " << i);
    }
}

BOOST_AUTO_TEST_CASE(bad_input_is_a_sticky_protocol_error) {
    std::error_code ec;
    auto r = parse_all("+OK\r\n?what\r\n:1\r\n", ec);
    BOOST_TEST(r.size() == 1u);
    BOOST_TEST(ec == code(redis::error::protocol_error));
    parse_all("$abc\r\n", ec);
    BOOST_TEST(ec == code(redis::error::protocol_error));
    parse_all("*-2\r\n", ec);
    BOOST_TEST(ec == code(redis::error::protocol_error));
    parse_all("*3000000000\r\n", ec); // beyond INT_MAX: hiredis's CVE-2021-32765 check
    BOOST_TEST(ec == code(redis::error::protocol_error));
    // Deeper than hiredis's 7 levels.
    parse_all("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", ec);
    BOOST_TEST(ec == code(redis::error::protocol_error));

    redis::reply_parser p;
    BOOST_TEST(!p.feed("!x\r\n"));
    reply out;
    BOOST_TEST(!p.next(out, ec));
    BOOST_TEST(ec == code(redis::error::protocol_error));
    BOOST_TEST(!p.error_text().empty());
    BOOST_TEST(p.feed("+OK\r\n") == code(redis::error::protocol_error));
    BOOST_TEST(!p.next(out, ec));
    BOOST_TEST(ec == code(redis::error::protocol_error));
}

BOOST_AUTO_TEST_CASE(element_bound_counts_nested_elements) {
    redis::protocol_limits limits;
    limits.max_reply_elements = 4;
    std::error_code ec;
    auto r = parse_all("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", ec, 0, limits); // 2 + 2 elements
    BOOST_TEST(!ec);
    BOOST_TEST(r.size() == 1u);
    parse_all("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n:4\r\n", ec, 0, limits); // 2 + 3
    BOOST_TEST(ec == code(redis::error::reply_too_large));
    // The bound is per reply: many replies of 4 elements each are fine.
    std::string many;
    for (int i = 0; i < 100; ++i)
        many += "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n";
    r = parse_all(many, ec, 7, limits);
    BOOST_TEST(!ec);
    BOOST_TEST(r.size() == 100u);
    // Refused from the header alone: 2e9 elements would be a 16 GB table in hiredis.
    parse_all("*2000000000\r\n", ec);
    BOOST_TEST(ec == code(redis::error::reply_too_large));
}

BOOST_AUTO_TEST_CASE(byte_bound_stops_a_runaway_reply) {
    redis::protocol_limits limits;
    limits.max_reply_bytes = 64;
    std::error_code ec;
    auto r = parse_all("$40\r\n" + std::string(40, 'x') + "\r\n", ec, 0, limits);
    BOOST_TEST(!ec);
    BOOST_TEST(r.size() == 1u);
    // 100 bytes of a bulk string that is not complete yet: refused before it completes.
    parse_all("$1000000000\r\n" + std::string(100, 'x'), ec, 10, limits);
    BOOST_TEST(ec == code(redis::error::reply_too_large));
    // Complete replies do not count, however many arrive in one read.
    std::string burst;
    for (int i = 0; i < 100; ++i)
        burst += "$10\r\n0123456789\r\n";
    r = parse_all(burst, ec, 0, limits);
    BOOST_TEST(!ec);
    BOOST_TEST(r.size() == 100u);
}

BOOST_AUTO_TEST_CASE(commands_are_resp_arrays_of_bulk_strings) {
    BOOST_TEST(formatted({"SET", "k", "v"}) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    BOOST_TEST(formatted({"PING"}) == "*1\r\n$4\r\nPING\r\n");
    BOOST_TEST(formatted({"SET", "", "a\0\r\nb"sv}) ==
               "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\0\r\nb\r\n"sv);
    std::string out = "kept";
    BOOST_TEST(redis::format_command(std::vector<std::string>{}, out) ==
               code(redis::error::invalid_argument));
    BOOST_TEST(out == "kept");
    // Appends, so a pipeline is built by formatting into one buffer.
    BOOST_TEST(!redis::format_command(std::vector<std::string>{"GET", "x"}, out));
    BOOST_TEST(out == "kept*2\r\n$3\r\nGET\r\n$1\r\nx\r\n");
}

BOOST_AUTO_TEST_CASE(formatted_commands_parse_back) {
    const std::vector<std::string> args = {"SPUBLISH", "room:{42}", std::string(5000, 'p'), ""};
    std::string bytes;
    BOOST_TEST_REQUIRE(!redis::format_command(args, bytes));
    const auto r = one(bytes);
    BOOST_TEST_REQUIRE(r.elements.size() == args.size());
    for (std::size_t i = 0; i < args.size(); ++i)
        BOOST_TEST(r.elements[i].str == args[i]);
}

BOOST_AUTO_TEST_CASE(error_codes_name_themselves) {
    const auto ec = code(redis::error::queue_full);
    BOOST_TEST(ec.category().name() == std::string("pier.redis"));
    for (int e = static_cast<int>(redis::error::server_error);
         e <= static_cast<int>(redis::error::unexpected_reply); ++e)
        BOOST_TEST(redis::make_error_code(static_cast<redis::error>(e)).message() !=
                   "unknown redis error");
}

BOOST_AUTO_TEST_SUITE_END()
