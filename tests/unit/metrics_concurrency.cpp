// Unit tests for pier/metrics/registry.hpp across threads: updates from several threads while
// another scrapes lose nothing, a counter never goes backwards between scrapes, and a
// histogram's _count always equals its +Inf bucket. Run under ThreadSanitizer.
//
// pier-test: threads
#include <pier/metrics/registry.hpp>

#include "support.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace metrics = pier::metrics;

namespace {

// The value of the sample line `prefix` (name and labels), or -1 when there is none. No
// Boost.Test assertion here: it is called from other threads, which Boost.Test does not allow.
double sample(const std::string& text, const std::string& prefix) {
    const auto at = text.find("\n" + prefix + " ");
    if (at == std::string::npos)
        return -1;
    return std::stod(text.substr(at + prefix.size() + 2));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(metrics_concurrency, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(updates_from_many_threads_while_scraping) {
    // More threads than cells, so that cells are shared and the atomics are what keeps
    // the counts exact.
    metrics::registry reg({.stripes = 2});
    auto& c = reg.add_counter_family("ops_total", "ops", {"kind"}).add({"a"});
    auto& g = reg.add_gauge("open", "open");
    auto& h = reg.add_histogram("lat_seconds", "lat", {0.5, 1.5});
    constexpr int threads = 4;
    constexpr int per_thread = 20000;

    std::atomic<bool> stop{false};
    std::atomic<int> scrapes{0};
    std::atomic<int> backwards{0}, inconsistent{0};
    std::thread scraper([&] {
        double last = 0;
        while (!stop.load()) {
            const std::string t = reg.text();
            const double now = sample(t, "ops_total{kind=\"a\"}");
            if (now < last)
                backwards.fetch_add(1);
            last = now;
            const double count = sample(t, "lat_seconds_count");
            if (count < 0 || count != sample(t, "lat_seconds_bucket{le=\"+Inf\"}"))
                inconsistent.fetch_add(1);
            scrapes.fetch_add(1);
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                c.inc();
                g.inc();
                h.observe(t % 2 == 0 ? 1.0 : 2.0); // even threads: bucket 1.5, odd: +Inf
                g.dec();
            }
        });
    for (auto& w : workers)
        w.join();
    // At least one scrape overlapped the updates or followed them.
    BOOST_TEST(pier_test::eventually([&] { return scrapes.load() > 0; }));
    stop = true;
    scraper.join();
    BOOST_TEST(backwards.load() == 0);
    BOOST_TEST(inconsistent.load() == 0);

    BOOST_TEST(c.value() == std::uint64_t{threads} * per_thread);
    BOOST_TEST(g.value() == 0.0);
    const auto s = h.collect();
    BOOST_TEST(s.count == std::uint64_t{threads} * per_thread);
    BOOST_TEST(s.cumulative.at(0) == 0u);
    BOOST_TEST(s.cumulative.at(1) == std::uint64_t{threads / 2} * per_thread);
    BOOST_TEST(s.sum == (threads / 2) * per_thread * 1.0 + (threads / 2) * per_thread * 2.0);
    const std::string t = reg.text();
    BOOST_TEST(sample(t, "ops_total{kind=\"a\"}") == threads * per_thread);
}

BOOST_AUTO_TEST_CASE(registering_while_others_update_and_scrape) {
    metrics::registry reg;
    auto& fam = reg.add_counter_family("events_total", "events", {"reason"});
    auto& first = fam.add({"r0"});
    std::atomic<bool> stop{false};
    std::thread updater([&] {
        while (!stop.load())
            first.inc();
    });
    std::thread scraper([&] {
        while (!stop.load())
            (void)reg.text();
    });
    for (int i = 1; i < 50; ++i)
        fam.add({"r" + std::to_string(i)}).inc(static_cast<std::uint64_t>(i));
    BOOST_TEST(pier_test::eventually([&] { return first.value() > 0; }));
    stop = true;
    updater.join();
    scraper.join();
    const std::string t = reg.text();
    BOOST_TEST(sample(t, "events_total{reason=\"r49\"}") == 49);
    BOOST_TEST(sample(t, "events_total{reason=\"r0\"}") == static_cast<double>(first.value()));
}

BOOST_AUTO_TEST_SUITE_END()
