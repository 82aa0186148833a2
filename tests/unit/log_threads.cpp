// Unit tests for pier/log.hpp across threads: many threads logging at once produce whole,
// separate lines, the sink is never called concurrently (it is a plain vector here, which
// ThreadSanitizer would flag), and rate-limited events are either written or counted, never
// lost. Run under ThreadSanitizer.
//
// pier-test: threads
#include <pier/log.hpp>

#include "support.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace plog = pier::log;

BOOST_FIXTURE_TEST_SUITE(log_threads, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(concurrent_events_are_whole_lines_and_counted) {
    std::vector<std::string> lines; // unsynchronised on purpose: the logger serialises sinks
    plog::logger log({.out = [&](std::string_view l) { lines.emplace_back(l); },
                      .limit = {.per_second = 0, .burst = 50}});
    log.set_rate_limit("t.ok", plog::rate_limit::unlimited());
    constexpr int threads = 4;
    constexpr int per_thread = 2000;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                log.info("t.ok").field("thread", t).field("i", i).field("user_id", "u\n\"x");
                plog::auth_failure(log, "127.0.0.1:1", "invalid_token");
                if (i % 500 == 0)
                    log.set_level(plog::level::info); // concurrent with the loads
            }
        });
    for (auto& t : ts)
        t.join();
    log.flush_suppressed();

    std::size_t ok = 0, flood = 0, summaries = 0;
    std::uint64_t reported = 0;
    for (const auto& l : lines) {
        BOOST_REQUIRE(l.starts_with("{\"ts\":\""));
        BOOST_REQUIRE(l.ends_with("}\n"));
        BOOST_REQUIRE(l.find('\n') == l.size() - 1);
        if (l.find("\"event\":\"t.ok\"") != std::string::npos)
            ++ok;
        else if (l.find("\"event\":\"ws.auth_failure\"") != std::string::npos)
            ++flood;
        else if (const auto at = l.find("\"count\":"); at != std::string::npos) {
            ++summaries;
            reported += std::stoull(l.substr(at + 8));
        }
    }
    BOOST_TEST(ok == std::size_t{threads} * per_thread);
    BOOST_TEST(flood == 50u); // the burst, never refilled
    BOOST_TEST(summaries >= 1u);
    BOOST_TEST(flood + reported == std::uint64_t{threads} * per_thread);
    BOOST_TEST(log.suppressed_total() == reported);
}

BOOST_AUTO_TEST_CASE(sink_replaced_while_logging) {
    std::atomic<int> a{0}, b{0};
    plog::logger log(
        {.out = [&](std::string_view) { a.fetch_add(1); }, .limit = plog::rate_limit::unlimited()});
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        while (!stop.load())
            log.info("x").field("v", 1);
    });
    BOOST_TEST(pier_test::eventually([&] { return a.load() > 0; }));
    log.set_sink([&](std::string_view) { b.fetch_add(1); });
    BOOST_TEST(pier_test::eventually([&] { return b.load() > 0; }));
    stop = true;
    writer.join();
    const int a_after = a.load();
    log.info("y");
    BOOST_TEST(a.load() == a_after); // the old sink is no longer called
}

BOOST_AUTO_TEST_SUITE_END()
