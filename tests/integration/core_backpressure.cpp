// Backpressure against a client that does not read: `suspend` makes `co_await send()` wait
// and keeps the queue bounded by the high-water mark, `drop` refuses messages while the queue
// is full, `close` ends the connection with error::slow_consumer, and `max_queued` is a hard
// limit for every policy. Small kernel socket buffers make "the client stopped reading"
// visible to pier within a few hundred kilobytes.
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "loopback.hpp"
#include "support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A slow reader: a small receive buffer, and it reads only when told to.
pier_test::client lazy_client(const asio::ip::tcp::endpoint& ep) {
    return pier_test::client(ep, 4096);
}
using pier_test::io;

constexpr std::size_t chunk = 16384;

/// A 16 KiB message whose every byte tells its index (mod 251), and whose first 8 bytes hold
/// the index in decimal, so a reader can tell which messages arrived and that none is torn.
std::string message(std::size_t i) {
    std::string m(chunk, static_cast<char>('!' + i % 90));
    char head[9];
    std::snprintf(head, sizeof head, "%08zu", i);
    std::memcpy(m.data(), head, 8);
    return m;
}

/// Splits a received stream into message indices; -1 for a torn or corrupt message.
std::vector<long> indices(const std::string& s) {
    std::vector<long> v;
    for (std::size_t off = 0; off + chunk <= s.size(); off += chunk) {
        const long i = std::strtol(s.substr(off, 8).c_str(), nullptr, 10);
        v.push_back(s.compare(off, chunk, message(static_cast<std::size_t>(i))) == 0 ? i : -1);
    }
    if (s.size() % chunk)
        v.push_back(-1);
    return v;
}

struct probe {
    std::atomic<std::size_t> produced{0}; // messages accepted by send/try_send
    std::atomic<std::size_t> max_queued{0};
    std::atomic<bool> done{false};
    std::atomic<bool> final_sent{false};
    std::mutex m;
    std::vector<pier::send_result> results;
    std::error_code send_error, close_reason;
    std::atomic<int> closed{0};

    void saw_queue(std::size_t q) {
        auto cur = max_queued.load();
        while (q > cur && !max_queued.compare_exchange_weak(cur, q)) {
        }
    }
};

struct hooks {
    probe* p;
    template <class C> void on_close(C&, std::error_code why) {
        {
            std::lock_guard l(p->m);
            p->close_reason = why;
        }
        p->closed.fetch_add(1);
    }
};

pier::server_options small_buffers() {
    pier::server_options o{.threads = 1};
    o.socket_buffers.send = 4096;
    o.write.high_water = 256 * 1024;
    o.write.low_water = 64 * 1024;
    o.write.max_queued = 1024 * 1024;
    o.timeouts.write = 60s; // not what these tests are about
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(core_backpressure, watchdog)

// --- suspend ------------------------------------------------------------------------------------

namespace {
constexpr std::size_t total_messages = 200; // 3.2 MiB, far more than the queue may hold

/// Sends `total_messages` with co_await send(), recording the queue after each.
struct suspending_producer : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (std::size_t i = 0; i < total_messages; ++i) {
            auto ec = co_await c.send(message(i));
            p->saw_queue(c.queued_bytes());
            if (ec) {
                std::lock_guard l(p->m);
                p->send_error = ec;
                co_return;
            }
            p->produced.fetch_add(1);
        }
        p->done = true;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(suspend_waits_and_bounds_the_queue) {
    probe p;
    const auto o = small_buffers();
    pier::server<suspending_producer, pier::policies<pier::backpressure::suspend>> srv(
        o, suspending_producer{{&p}});
    srv.start();
    auto c = lazy_client(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.connected());

    // The client does not read: the producer gets stuck, with the queue near the high-water
    // mark, instead of buffering all 3.2 MiB. The event: what was accepted but not yet handed
    // to the kernel has reached the high-water mark (less the message in flight). Without
    // suspension the producer would have finished, and the queue have passed the mark.
    const auto queued = [&] {
        return static_cast<long long>(p.produced.load() * chunk) -
               static_cast<long long>(srv.stats().bytes_out);
    };
    BOOST_TEST_REQUIRE(eventually(
        [&] { return queued() >= static_cast<long long>(o.write.high_water - chunk); }, 20s));
    BOOST_TEST(p.produced.load() < total_messages);
    BOOST_TEST(!p.done.load());
    BOOST_TEST(queued() <= static_cast<long long>(o.write.high_water));
    BOOST_TEST(p.max_queued.load() <= o.write.high_water);

    // Once the client reads, the producer resumes and everything arrives, in order, whole.
    std::string all;
    BOOST_TEST(c.read_exact(all, total_messages * chunk, 30s) == io::ok);
    auto got = indices(all);
    bool in_order = got.size() == total_messages;
    for (std::size_t i = 0; in_order && i < got.size(); ++i)
        in_order = got[i] == static_cast<long>(i);
    BOOST_TEST(in_order);
    BOOST_TEST(eventually([&] { return p.done.load(); }));
    BOOST_TEST(!p.send_error);
    BOOST_TEST(srv.stats().slow_consumers == 0u);
}

// --- try_send under suspend: the hard limit -----------------------------------------------------

namespace {
/// try_send() cannot wait: it keeps queuing until the hard limit closes the connection.
struct impatient_producer : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (std::size_t i = 0; i < 1000; ++i) {
            const auto r = c.try_send(message(i));
            p->saw_queue(c.queued_bytes());
            {
                std::lock_guard l(p->m);
                p->results.push_back(r);
            }
            if (r == pier::send_result::closed)
                break;
        }
        p->done = true;
        co_return;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(max_queued_is_a_hard_limit) {
    probe p;
    const auto o = small_buffers();
    pier::server<impatient_producer> srv(o, impatient_producer{{&p}});
    srv.start();
    auto c = lazy_client(srv.local_endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load() && p.closed.load() == 1; }));
    std::lock_guard l(p.m);
    BOOST_TEST_REQUIRE(!p.results.empty());
    // queued ... backpressure ... then closed, never more than max_queued held.
    BOOST_TEST((p.results.back() == pier::send_result::closed));
    BOOST_TEST(
        (std::count(p.results.begin(), p.results.end(), pier::send_result::backpressure) > 0));
    BOOST_TEST(p.results.size() < 1000u);
    BOOST_TEST(p.max_queued.load() <= o.write.max_queued);
    BOOST_TEST(p.max_queued.load() > o.write.high_water);
    BOOST_TEST((p.close_reason == pier::error::slow_consumer), p.close_reason.message());
    BOOST_TEST(srv.stats().slow_consumers == 1u);
}

// --- drop ---------------------------------------------------------------------------------------

namespace {
/// try_send() until five messages were dropped; then waits for the queue to drain and sends
/// one more (the connection lives on), then an end marker.
struct dropping_producer : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        int drops = 0;
        std::size_t i = 0;
        for (; drops < 5 && i < 1000; ++i) {
            const auto r = c.try_send(message(i));
            p->saw_queue(c.queued_bytes());
            {
                std::lock_guard l(p->m);
                p->results.push_back(r);
            }
            drops += r == pier::send_result::dropped;
        }
        // co_await send() of a refused message reports it without closing.
        // (The index moves on in its own statement: clang sees two modifications of i in an
        // argument of co_await.)
        auto ec = co_await c.send(message(i));
        ++i;
        {
            std::lock_guard l(p->m);
            p->send_error = ec;
        }
        p->done = true;
        ec = co_await c.flush_all();
        if (ec)
            co_return;
        // Drained: accepted again.
        const auto r = c.try_send(message(i));
        {
            std::lock_guard l(p->m);
            p->results.push_back(r);
        }
        p->final_sent = true;
        ec = co_await c.read(); // stay connected until the client leaves
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(drop_refuses_while_full_and_keeps_the_connection) {
    probe p;
    const auto o = small_buffers();
    pier::server<dropping_producer, pier::policies<pier::backpressure::drop>> srv(
        o, dropping_producer{{&p}});
    srv.start();
    auto c = lazy_client(srv.local_endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    {
        std::lock_guard l(p.m);
        BOOST_TEST((p.send_error == pier::error::slow_consumer), p.send_error.message());
    }
    BOOST_TEST(p.max_queued.load() <= o.write.high_water); // drop never queues beyond it
    BOOST_TEST(srv.stats().dropped_messages == 6u);        // five try_send + one send
    BOOST_TEST(srv.stats().slow_consumers == 0u);

    // The messages accepted before the producer paused; then, once the queue drained (the
    // client reads them), the one it sends after. The refused send() used one index.
    std::vector<long> expected;
    {
        std::lock_guard l(p.m);
        for (std::size_t i = 0; i < p.results.size(); ++i)
            if (p.results[i] != pier::send_result::dropped)
                expected.push_back(static_cast<long>(i));
    }
    std::string all;
    BOOST_TEST(c.read_exact(all, expected.size() * chunk, 30s) == io::ok);
    BOOST_TEST_REQUIRE(eventually([&] { return p.final_sent.load(); }));
    {
        std::lock_guard l(p.m);
        BOOST_TEST((p.results.back() == pier::send_result::queued));
        expected.push_back(static_cast<long>(p.results.size()));
    }
    BOOST_TEST(c.read_exact(all, expected.size() * chunk, 30s) == io::ok);
    BOOST_TEST(p.closed.load() == 0); // still connected
    // Nothing more follows: the client leaves, the handler returns, and the stream ends.
    c.shutdown_write();
    const auto st = c.read_to_eof(all);
    BOOST_TEST((st == io::eof), st);
    // Exactly the accepted messages arrived, whole and in order; the dropped ones are gaps.
    const auto got = indices(all);
    BOOST_TEST(got == expected, boost::test_tools::per_element());
}

// --- close --------------------------------------------------------------------------------------

namespace {
struct closing_producer : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (std::size_t i = 0; i < 1000; ++i) {
            auto ec = co_await c.send(message(i));
            p->saw_queue(c.queued_bytes());
            if (ec) {
                std::lock_guard l(p->m);
                p->send_error = ec;
                break;
            }
            p->produced.fetch_add(1);
        }
        p->done = true;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(close_ends_a_slow_consumer) {
    probe p;
    const auto o = small_buffers();
    pier::server<closing_producer, pier::policies<pier::backpressure::close>> srv(
        o, closing_producer{{&p}});
    srv.start();
    auto c = lazy_client(srv.local_endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load() && p.closed.load() == 1; }));
    {
        std::lock_guard l(p.m);
        BOOST_TEST((p.send_error == pier::error::slow_consumer), p.send_error.message());
        BOOST_TEST((p.close_reason == pier::error::slow_consumer), p.close_reason.message());
    }
    BOOST_TEST(p.max_queued.load() <= o.write.high_water);
    BOOST_TEST(p.produced.load() < 1000u);
    BOOST_TEST(srv.stats().slow_consumers == 1u);
    // The client sees its connection end (after whatever the kernel already held).
    std::string rest;
    const auto st = c.read_to_eof(rest, 30s);
    BOOST_TEST((st == io::eof || st == io::reset), st);
}

// --- deferred flushes coalesce ------------------------------------------------------------------

namespace {
struct burst : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        auto ec = co_await c.read();
        if (ec)
            co_return;
        // Many small messages in one event-loop pass leave in one gather write.
        for (int i = 0; i < 1000; ++i)
            c.try_send("msg " + std::to_string(i) + "\n", pier::flush::deferred);
        p->saw_queue(c.queued_bytes());
        ec = co_await c.flush_all();
        p->done = true;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(deferred_sends_arrive_complete_and_in_order) {
    probe p;
    pier::server<burst> srv({.threads = 1}, burst{{&p}});
    srv.start();
    auto c = lazy_client(srv.local_endpoint());
    BOOST_TEST(c.send("go"));
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    std::string want;
    for (int i = 0; i < 1000; ++i)
        want += "msg " + std::to_string(i) + "\n";
    // Nothing was written before the pass ended: all 1000 were queued.
    BOOST_TEST(p.max_queued.load() == want.size());
    std::string got;
    BOOST_TEST(c.read_exact(got, want.size()) == io::ok);
    BOOST_TEST(got == want);
}

BOOST_AUTO_TEST_SUITE_END()
