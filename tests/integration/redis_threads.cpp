// pier-test: threads
//
// The client's thread-safety contract, under ThreadSanitizer: the client lives on an
// io_context run by its own thread; other threads reach it only with asio::post, and read its
// stats() directly while it works.
#include <pier/redis.hpp>

#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"
#include "support.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

namespace redis = pier::redis;
using pier_test::eventually;
using pier_test::redis::server;

BOOST_FIXTURE_TEST_SUITE(redis_threads, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(post_to_the_client_read_stats_from_anywhere) {
    server srv;
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread loop([&] { io.run(); });

    // Boost.Test is not thread-safe: other threads only record, this one checks.
    std::unique_ptr<redis::client> c;
    std::atomic<int> received{0};
    std::atomic<int> subscribed{0};
    std::atomic<bool> refused{false};
    asio::post(io, [&] {
        c = std::make_unique<redis::client>(io.get_executor(), srv.url());
        c->on_message([&](const redis::message&) { received.fetch_add(1); });
        c->on_subscribed([&](std::string_view, bool, bool) { subscribed.fetch_add(1); });
        refused = static_cast<bool>(c->subscribe("t", true));
    });
    BOOST_TEST_REQUIRE(eventually([&] { return subscribed.load() == 1; }));
    BOOST_TEST(!refused.load());

    // Publishers on two threads, each posting batches; a third thread reads the counters.
    std::atomic<bool> stop{false};
    std::atomic<bool> went_back{false};
    std::atomic<int> reads{0};
    const redis::stats& stats = c->stats();
    std::thread reader([&] {
        std::uint64_t last = 0;
        while (!stop.load()) {
            const std::uint64_t now = stats.messages.load();
            if (now < last) // a counter never goes back
                went_back = true;
            last = now;
            (void)stats.connected();
            reads.fetch_add(1);
            std::this_thread::yield();
        }
    });
    auto publisher = [&] {
        for (int batch = 0; batch < 20; ++batch)
            asio::post(io, [&] {
                for (int i = 0; i < 10; ++i)
                    c->publish("t", "m", true);
            });
    };
    std::thread p1(publisher), p2(publisher);
    p1.join();
    p2.join();
    BOOST_TEST_REQUIRE(eventually([&] { return received.load() == 400; }));
    stop = true;
    reader.join();
    BOOST_TEST(!went_back.load());
    BOOST_TEST(reads.load() > 0);
    BOOST_TEST(c->stats().messages == 400u);
    BOOST_TEST(c->stats().publishes == 400u);
    BOOST_TEST(c->stats().publish_errors == 0u);

    // A command's completion, waited for from this thread through a future.
    std::promise<std::string> got;
    asio::post(io, [&] {
        c->command({"ECHO", "across"}, [&](std::error_code ec, redis::reply r) {
            got.set_value(ec ? ec.message() : r.str);
        });
    });
    auto f = got.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(pier_test::patience) == std::future_status::ready));
    BOOST_TEST(f.get() == "across");

    // The client is destroyed on its own thread; then the loop drains and ends.
    asio::post(io, [&] { c.reset(); });
    guard.reset();
    loop.join();
    BOOST_TEST(!c);
}

BOOST_AUTO_TEST_SUITE_END()
