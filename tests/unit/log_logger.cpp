// Unit tests for pier/log.hpp: exact JSON lines (escaping per RFC 8259, invalid UTF-8
// replaced per maximal subpart), level filtering, per-event rate limits with their
// "log.suppressed" summary lines, line and string bounds, and the lifecycle helpers.
#include <pier/log.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plog = pier::log;

// Named, not anonymous: the suite's test cases derive from it, and in a unity group
// (PIER_TEST_UNITY) GCC warns about a base class from an anonymous namespace of an included file.
namespace log_logger_fixture {

// A logger whose clocks the test moves and whose lines land in `lines`.
struct fixture {
    std::vector<std::string> lines;
    std::int64_t mono = 1'000'000;
    std::int64_t wall = 1'796'422'088'123; // 2026-12-04T22:08:08.123Z
    plog::options opts(plog::options o = {}) {
        o.out = [this](std::string_view l) { lines.emplace_back(l); };
        o.monotonic_ms = [this] { return mono; };
        o.wall_ms = [this] { return wall; };
        return o;
    }
    static constexpr std::string_view head = R"({"ts":"2026-12-04T22:08:08.123Z",)";
};

} // namespace log_logger_fixture

namespace {

using log_logger_fixture::fixture;

std::string escaped(std::string_view in, std::size_t budget = std::string::npos) {
    std::string out;
    pier::detail::append_json_escaped(out, in, budget);
    return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(log_logger, fixture)

BOOST_AUTO_TEST_CASE(one_exact_line_per_event) {
    plog::logger log(opts());
    log.info("ws.open").field("connection_id", std::uint64_t{42}).field("user_id", "ann");
    log.warn("x")
        .field("n", -7)
        .field("ok", false)
        .field("ratio", 0.25)
        .field("big", std::numeric_limits<std::int64_t>::min());
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0] == std::string(head) +
                               R"("level":"info","event":"ws.open","connection_id":42,)"
                               R"("user_id":"ann"})"
                               "\n");
    BOOST_TEST(lines[1] == std::string(head) +
                               R"("level":"warn","event":"x","n":-7,"ok":false,"ratio":0.25,)"
                               R"("big":-9223372036854775808})"
                               "\n");
}

BOOST_AUTO_TEST_CASE(rfc3339_timestamps) {
    auto ts = [](std::int64_t ms) {
        std::string s;
        plog::append_rfc3339(s, ms);
        return s;
    };
    BOOST_TEST(ts(0) == "1970-01-01T00:00:00.000Z");
    BOOST_TEST(ts(951782400999) == "2000-02-29T00:00:00.999Z");
    BOOST_TEST(ts(1796422088123) == "2026-12-04T22:08:08.123Z");
    BOOST_TEST(ts(-1) == "1969-12-31T23:59:59.999Z");
    BOOST_TEST(ts(253402300799000) == "9999-12-31T23:59:59.000Z");
}

BOOST_AUTO_TEST_CASE(strings_are_escaped_per_rfc_8259) {
    BOOST_TEST(escaped("plain text") == "plain text");
    BOOST_TEST(escaped("quote \" backslash \\ slash /") == R"(quote \" backslash \\ slash /)");
    BOOST_TEST(escaped("\b\f\n\r\t") == R"(\b\f\n\r\t)");
    BOOST_TEST(escaped(std::string_view("\x00\x01\x1f\x7f", 4)) == R"(\u0000\u0001\u001f\u007f)");
    // Well-formed UTF-8 passes through: 2, 3 and 4 bytes.
    BOOST_TEST(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
               "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    // U+2028 needs no escape in JSON (only in JavaScript source).
    BOOST_TEST(escaped("\xe2\x80\xa8") == "\xe2\x80\xa8");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_one_replacement_per_maximal_subpart) {
    const std::string fffd = "\xef\xbf\xbd";
    BOOST_TEST(escaped("\xff") == fffd);               // never valid
    BOOST_TEST(escaped("a\x80z") == "a" + fffd + "z"); // stray continuation
    BOOST_TEST(escaped("\xc0\xaf") == fffd + fffd);    // overlong lead: each byte
    BOOST_TEST(escaped("\xe2\x82") == fffd);           // truncated 3-byte: one
    BOOST_TEST(escaped("\xe2\x82z") == fffd + "z");
    BOOST_TEST(escaped("\xf0\x9f\x98") == fffd);               // truncated 4-byte: one
    BOOST_TEST(escaped("\xed\xa0\x80") == fffd + fffd + fffd); // surrogate: ED then 2 strays
    BOOST_TEST(escaped("\xe0\x80\x80") == fffd + fffd + fffd); // overlong 3-byte
    BOOST_TEST(escaped("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd); // above U+10FFFF
    BOOST_TEST(escaped("\xf5") == fffd);
    // The same input always gives the same output, and the output is valid UTF-8 JSON.
    BOOST_TEST(escaped("\xc3\x28") == fffd + "(");
}

BOOST_AUTO_TEST_CASE(strings_are_cut_at_a_character_with_an_ellipsis) {
    const std::string ell = "\xe2\x80\xa6";
    BOOST_TEST(escaped("abcdef", 4) == "abcd" + ell);
    BOOST_TEST(escaped("abcd", 4) == "abcd");
    BOOST_TEST(escaped("ab\"cd", 3) == "ab" + ell);       // the escape does not fit whole
    BOOST_TEST(escaped("a\xc3\xa9", 2) == "a" + ell);     // nor the 2-byte character
    BOOST_TEST(escaped("\x01xyz", 5) == ell);             // nor \u0001
    BOOST_TEST(escaped("\x01xyz", 6) == "\\u0001" + ell); // now it does

    plog::logger log(opts({.max_string_bytes = 8}));
    log.info("e").field("user_id", std::string(1'000'000, 'u'));
    BOOST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0] == std::string(head) + R"("level":"info","event":"e","user_id":"uuuuuuuu)" +
                               ell + "\"}\n");
}

BOOST_AUTO_TEST_CASE(fields_past_the_line_limit_are_dropped_and_flagged) {
    plog::logger log(opts({.max_line_bytes = 256, .max_string_bytes = 100}));
    {
        auto e = log.info("e");
        for (int i = 0; i < 10; ++i)
            e.field("k", std::string(50, 'x'));
        e.field("last", 1);
    }
    BOOST_REQUIRE(lines.size() == 1u);
    const std::string& l = lines[0];
    BOOST_TEST(l.size() <= 256u);
    BOOST_TEST(l.ends_with(",\"truncated\":true}\n"));
    BOOST_TEST(l.find("\"last\"") == std::string::npos);
    BOOST_TEST(l.find(R"("k":")" + std::string(50, 'x') + "\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(levels_filter_events) {
    plog::logger log(opts({.min_level = plog::level::warn}));
    BOOST_TEST(!log.enabled(plog::level::info));
    BOOST_TEST(log.enabled(plog::level::warn));
    BOOST_TEST(!log.enabled(plog::level::off)); // "off" is not a level to log at
    BOOST_TEST(!static_cast<bool>(log.info("dropped")));
    log.debug("dropped").field("x", 1);
    log.error("kept");
    log.set_level(plog::level::trace);
    log.trace("kept too");
    log.set_level(plog::level::off);
    log.error("dropped");
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0].find(R"("level":"error","event":"kept")") != std::string::npos);
    BOOST_TEST(lines[1].find(R"("level":"trace","event":"kept too")") != std::string::npos);
    BOOST_TEST((plog::parse_level("warn") == plog::level::warn));
    BOOST_TEST(!plog::parse_level("WARN").has_value());
    BOOST_TEST(plog::to_string(plog::level::debug) == "debug");
}

BOOST_AUTO_TEST_CASE(rate_limit_suppresses_and_reports_counts) {
    plog::logger log(opts(
        {.limit = {.per_second = 1, .burst = 3}, .summary_interval = std::chrono::seconds(10)}));
    for (int i = 0; i < 10; ++i)
        plog::auth_failure(log, "10.0.0.1:5", "invalid_token");
    log.info("other.kind"); // its own bucket: not suppressed
    BOOST_TEST(lines.size() == 4u);
    BOOST_TEST(log.suppressed_total() == 7u);
    // One second refills one token.
    mono += 1000;
    plog::auth_failure(log, "10.0.0.1:5", "invalid_token");
    plog::auth_failure(log, "10.0.0.1:5", "invalid_token");
    BOOST_TEST(lines.size() == 5u);
    BOOST_TEST(log.suppressed_total() == 8u);
    // After summary_interval, the next event of any kind first writes the summary.
    mono += 10'000;
    log.info("other.kind");
    BOOST_REQUIRE(lines.size() == 7u);
    BOOST_TEST(lines[5] == std::string(head) + R"("level":"warn","event":"log.suppressed",)"
                                               R"("suppressed_event":"ws.auth_failure","count":8})"
                                               "\n");
    BOOST_TEST(lines[6].find(R"("event":"other.kind")") != std::string::npos);
    // Counts restart after a summary; flush_suppressed() reports without waiting.
    for (int i = 0; i < 20; ++i)
        plog::auth_failure(log, "10.0.0.1:5", "invalid_token");
    const auto before = lines.size();
    log.flush_suppressed();
    BOOST_REQUIRE(lines.size() == before + 1);
    BOOST_TEST(lines.back().find(R"("suppressed_event":"ws.auth_failure","count":17})") !=
               std::string::npos);
    log.flush_suppressed(); // nothing new: no line
    BOOST_TEST(lines.size() == before + 1);
}

BOOST_AUTO_TEST_CASE(destructor_reports_what_was_suppressed) {
    {
        plog::logger log(opts({.limit = {.per_second = 0, .burst = 1}}));
        plog::limit_refused(log, "max_connections", "1.2.3.4:1");
        plog::limit_refused(log, "max_connections", "1.2.3.4:2");
        plog::limit_refused(log, "max_connections", "1.2.3.4:3");
        BOOST_TEST(lines.size() == 1u);
    }
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[1].find(R"("suppressed_event":"ws.limit_refused","count":2})") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(per_event_overrides_and_the_shared_bucket) {
    plog::logger log(opts({.limit = {.per_second = 0, .burst = 1}, .max_event_kinds = 2}));
    log.set_rate_limit("admin.action", plog::rate_limit::unlimited());
    for (int i = 0; i < 5; ++i)
        plog::admin_action(log, "disconnect", "user_id=ann", 1, "127.0.0.1:9");
    BOOST_TEST(lines.size() == 5u);
    // Kinds past max_event_kinds share the "log.other" bucket.
    log.info("k1");
    log.info("k2"); // third kind: log.other, burst 1
    log.info("k3"); // log.other again: suppressed
    BOOST_TEST(lines.size() == 7u);
    log.flush_suppressed();
    BOOST_TEST(lines.back().find(R"("suppressed_event":"log.other","count":1})") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(lifecycle_events_have_fixed_names_and_fields) {
    plog::logger log(opts({.min_level = plog::level::trace}));
    plog::connection_open(log, 7, "ann", "127.0.0.1:40000");
    plog::connection_close(log, 7, "ann", 1001, "going away", "client");
    plog::auth_failure(log, "127.0.0.1:40001", "missing_token");
    plog::auth_failure(log, "127.0.0.1:40001", "invalid_token", 9);
    plog::limit_refused(log, "max_connections_per_user", "127.0.0.1:40002", "bob");
    plog::cleanup(log, 3, 1.5);
    plog::admin_action(log, "broadcast", "topic=news", 12, "127.0.0.1:9");
    BOOST_REQUIRE(lines.size() == 7u);
    const std::string h(head);
    BOOST_TEST(lines[0] ==
               h + R"("level":"info","event":"ws.open","connection_id":"0000000000000007",)"
                   R"("user_id":"ann","remote":"127.0.0.1:40000"})"
                   "\n");
    BOOST_TEST(lines[1] ==
               h + R"("level":"info","event":"ws.close","connection_id":"0000000000000007",)"
                   R"("user_id":"ann","code":1001,"reason":"going away",)"
                   R"("cause":"client"})"
                   "\n");
    BOOST_TEST(lines[2] == h + R"("level":"warn","event":"ws.auth_failure",)"
                               R"("remote":"127.0.0.1:40001","why":"missing_token"})"
                               "\n");
    BOOST_TEST(lines[3] == h + R"("level":"warn","event":"ws.auth_failure",)"
                               R"("remote":"127.0.0.1:40001","why":"invalid_token",)"
                               R"("connection_id":"0000000000000009"})"
                               "\n");
    BOOST_TEST(lines[4] == h + R"("level":"warn","event":"ws.limit_refused",)"
                               R"("limit":"max_connections_per_user",)"
                               R"("remote":"127.0.0.1:40002","user_id":"bob"})"
                               "\n");
    BOOST_TEST(lines[5] == h + R"("level":"info","event":"ws.cleanup","removed":3,)"
                               R"("duration_ms":1.5})"
                               "\n");
    BOOST_TEST(lines[6] == h + R"("level":"info","event":"admin.action","action":"broadcast",)"
                               R"("target":"topic=news","affected":12,"remote":"127.0.0.1:9"})"
                               "\n");
}

BOOST_AUTO_TEST_CASE(hostile_values_stay_inside_their_string) {
    plog::logger log(opts());
    plog::connection_open(log, 1, "evil\",\"level\":\"error\"}\n{\"x\":\"", "r");
    BOOST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0] ==
               std::string(head) +
                   R"("level":"info","event":"ws.open","connection_id":"0000000000000001",)"
                   R"("user_id":"evil\",\"level\":\"error\"}\n{\"x\":\"","remote":"r"})"
                   "\n");
    // Exactly one newline: the one ending the line.
    BOOST_TEST(lines[0].find('\n') == lines[0].size() - 1);
}

BOOST_AUTO_TEST_CASE(non_finite_numbers_are_null) {
    plog::logger log(opts());
    log.info("n")
        .field("a", std::numeric_limits<double>::quiet_NaN())
        .field("b", std::numeric_limits<double>::infinity());
    BOOST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0].ends_with(R"("a":null,"b":null})"
                                  "\n"));
}

BOOST_AUTO_TEST_CASE(sinks_can_be_replaced_and_may_throw) {
    plog::logger log(opts());
    std::vector<std::string> other;
    log.set_sink([&](std::string_view l) { other.emplace_back(l); });
    log.info("to.other");
    BOOST_TEST(lines.empty());
    BOOST_TEST(other.size() == 1u);
    log.set_sink([](std::string_view) { throw std::runtime_error("disk full"); });
    log.info("lost"); // must not throw
    log.set_sink([&](std::string_view l) { other.emplace_back(l); });
    log.info("back");
    BOOST_TEST(other.size() == 2u);
}

BOOST_AUTO_TEST_CASE(nested_events_do_not_share_a_buffer) {
    plog::logger log(opts());
    auto inner = [&] {
        log.info("inner").field("v", 1);
        return 2;
    };
    log.info("outer").field("a", 1).field("b", inner()).field("c", 3);
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0].ends_with(R"("event":"inner","v":1})"
                                  "\n"));
    BOOST_TEST(lines[1].ends_with(R"("event":"outer","a":1,"b":2,"c":3})"
                                  "\n"));
}

BOOST_AUTO_TEST_CASE(default_sink_is_stderr) {
    plog::logger log;
    BOOST_TEST((log.min_level() == plog::level::info));
    BOOST_TEST(log.config().limit.per_second > 0);
    BOOST_TEST(log.config().max_line_bytes == 4096u);
    // Writes one line to the test's stderr; the test cannot read it back, only that it
    // returns.
    log.debug("filtered.out");
}

BOOST_AUTO_TEST_SUITE_END()
