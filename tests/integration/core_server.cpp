// pier::server on real loopback sockets: life cycle, graceful shutdown, the connection limit,
// deadlines, stats, an external io_context, socket and listener options, IPv6, a thousand
// simultaneous clients, and hostile input (garbage, half-closed streams).
//
// The clients are raw POSIX sockets with poll(2) deadlines, deliberately neither pier nor
// Asio, so that a bug cannot hide on both ends. Every wait is bounded; a watchdog fails a test
// case that hangs instead of letting it block the suite.
//
// pier-test: threads
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "loopback.hpp"
#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

using pier_test::client;
using pier_test::io;
using pier_test::round_trip;

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s)
        ch = static_cast<char>(rng() & 0xff);
    return s;
}

// --- handlers -----------------------------------------------------------------------------------

/// What the hooks saw, shared by a test and its server's handler.
struct probe {
    std::atomic<int> opened{0}, closed{0}, rejected{0};
    std::mutex m;
    std::vector<std::error_code> close_reasons, handler_errors, reject_reasons;
    std::vector<std::thread::id> threads;
    std::vector<asio::ip::tcp::endpoint> remotes;

    void error(std::error_code ec) {
        std::lock_guard l(m);
        handler_errors.push_back(ec);
    }
    std::vector<std::error_code> errors() {
        std::lock_guard l(m);
        return handler_errors;
    }
    std::vector<std::error_code> reasons() {
        std::lock_guard l(m);
        return close_reasons;
    }
};

struct hooks {
    probe* p;
    template <class C> void on_open(C& c) {
        std::lock_guard l(p->m);
        p->threads.push_back(std::this_thread::get_id());
        p->remotes.push_back(c.remote_endpoint());
        p->opened.fetch_add(1);
    }
    template <class C> void on_close(C&, std::error_code why) {
        std::lock_guard l(p->m);
        p->close_reasons.push_back(why);
        p->closed.fetch_add(1);
    }
    // The documented signature (concepts.hpp).
    void on_reject(pier::connection<pier::default_policies>::socket_type&, std::error_code why) {
        std::lock_guard l(p->m);
        p->reject_reasons.push_back(why);
        p->rejected.fetch_add(1);
    }
};

/// Echoes every byte; records the error that ended it.
struct echo : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (!ec)
                ec = co_await c.send(c.input());
            if (ec) {
                p->error(ec);
                co_return;
            }
            c.consume(c.input().size());
        }
    }
};

/// The data-handler style of echo.
struct data_echo : hooks {
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        c.try_send(in);
        return in.size();
    }
};

/// Answers each '\n'-terminated line with the line; waits for the rest of a partial one.
struct lines : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (ec) {
                p->error(ec);
                co_return;
            }
            for (auto nl = c.input().find('\n'); nl != std::string_view::npos;
                 nl = c.input().find('\n')) {
                c.try_send(c.input().substr(0, nl + 1));
                c.consume(nl + 1);
            }
        }
    }
};

auto no_listener_at(const asio::ip::tcp::endpoint& ep) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
    int err = errno;
    ::close(fd);
    return r != 0 && err == ECONNREFUSED;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(core_server, watchdog)

// --- life cycle ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lifecycle) {
    probe p;
    {
        pier::server<echo> never_started({.threads = 1}, echo{{&p}});
        BOOST_TEST(never_started.native_listener_handles().empty());
        never_started.stop(); // neither hangs nor throws
        never_started.wait();
    }

    pier::server<echo> srv({.threads = 2}, echo{{&p}});
    srv.start();
    srv.start(); // idempotent
    const auto ep = srv.local_endpoint();
    BOOST_TEST(ep.port() != 0);
    BOOST_TEST(ep.address().to_string() == "127.0.0.1");
    BOOST_TEST(srv.native_listener_handles().size() == 1u);

    client a(ep), idle(ep);
    BOOST_TEST(round_trip(a, "hello") == "hello");
    BOOST_TEST(round_trip(idle, "x") == "x");

    // The port is taken: a second server's start() throws instead of failing silently.
    pier::server<echo> clash({.port = ep.port(), .threads = 1}, echo{{&p}});
    BOOST_CHECK_THROW(clash.start(), std::system_error);
    pier::server<echo> bad_address({.address = "not-an-address", .threads = 1}, echo{{&p}});
    BOOST_CHECK_THROW(bad_address.start(), std::system_error);

    // stop() from another thread ends wait().
    // (Whichever of the two runs first, wait() must return.)
    std::thread stopper([&] { srv.stop(); });
    srv.wait();
    stopper.join();
    srv.stop(); // again: no-op

    // Idle connections were closed, cleanly, and the listener is gone.
    std::string rest;
    BOOST_TEST(idle.read_to_eof(rest) == io::eof);
    BOOST_TEST(no_listener_at(ep));
    const auto s = srv.stats();
    BOOST_TEST(s.accepted == 2u);
    BOOST_TEST(s.closed == 2u);
    BOOST_TEST(s.active == 0u);
    BOOST_TEST(p.closed.load() == 2);
    for (auto ec : p.errors())
        BOOST_TEST((ec == pier::error::shutting_down), ec.message());
}

// --- graceful shutdown --------------------------------------------------------------------------

namespace {

constexpr std::size_t request_size = 8;
constexpr std::size_t reply_part = 16384;
constexpr int reply_parts = 4;

struct replies_probe {
    std::atomic<int> sent{0}, send_errors{0};
};

/// Answers each 8-byte request with 4 × 16 KiB, pausing between the parts, so that a shutdown
/// lands in the middle of replies. Counts the replies it sent completely.
struct slow_replier {
    replies_probe* p;
    template <class C> asio::awaitable<void> operator()(C& c) {
        asio::steady_timer pause(c.get_executor());
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            while (c.input().size() >= request_size) {
                const std::string id(c.input().substr(0, request_size));
                c.consume(request_size);
                for (int part = 0; part < reply_parts; ++part) {
                    std::string body(reply_part, static_cast<char>('a' + part));
                    body.replace(0, request_size, id);
                    ec = co_await c.send(body);
                    if (ec) {
                        p->send_errors.fetch_add(1);
                        co_return;
                    }
                    if (part + 1 == reply_parts)
                        break;
                    pause.expires_after(2ms);
                    co_await pause.async_wait(pier::use_tuple);
                }
                p->sent.fetch_add(1);
            }
        }
    }
};

struct client_tally {
    int complete = 0, partial = 0, corrupt = 0, clean_end = 0, reset_end = 0, stuck = 0;
};

} // namespace

BOOST_AUTO_TEST_CASE(graceful_shutdown_loses_no_reply) {
    replies_probe p;
    pier::server_options o{.threads = 2};
    o.timeouts.shutdown = 20s; // far beyond the test's bounds: the shutdown must not need it
    o.timeouts.resolution = 20ms;
    pier::server<slow_replier> srv(o, slow_replier{&p});
    srv.start();
    const auto ep = srv.local_endpoint();

    // Idle connections, served once before the shutdown.
    std::vector<client> idle;
    for (int i = 0; i < 5; ++i) {
        idle.emplace_back(ep);
        std::string reply;
        idle.back().send("idle-000");
        BOOST_TEST((idle.back().read_exact(reply, reply_part * reply_parts) == io::ok));
    }
    BOOST_TEST_REQUIRE(eventually([&] { return p.sent.load() == 5; }));
    const int warmup = 5;

    constexpr int nclients = 30;
    std::vector<client_tally> tallies(nclients);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < nclients; ++i)
        threads.emplace_back([&, i] {
            auto& t = tallies[i];
            client c(ep);
            while (!go.load())
                std::this_thread::yield();
            for (int seq = 0;; ++seq) {
                char id[16];
                std::snprintf(id, sizeof id, "%03d%05d", i, seq % 100000);
                if (!c.send(std::string_view(id, request_size))) {
                    ++t.clean_end; // the server ended the connection between replies
                    break;
                }
                std::string reply;
                auto st = c.read_exact(reply, reply_part * reply_parts);
                if (st == io::ok) {
                    bool good = true;
                    for (int part = 0; part < reply_parts; ++part)
                        good = good && reply.compare(part * reply_part, request_size, id) == 0 &&
                               reply[part * reply_part + reply_part - 1] == 'a' + part;
                    good ? ++t.complete : ++t.corrupt;
                    continue;
                }
                if (!reply.empty())
                    ++t.partial;
                else if (st == io::eof)
                    ++t.clean_end;
                else if (st == io::reset)
                    ++t.reset_end;
                else
                    ++t.stuck;
                break;
            }
        });
    go = true;
    BOOST_TEST(eventually([&] { return p.sent.load() >= warmup + 3 * nclients; }));

    const auto t0 = steady::now();
    srv.stop();
    // Idle connections are closed at once, not at the shutdown deadline.
    for (auto& c : idle) {
        std::string rest;
        BOOST_TEST((c.read_to_eof(rest, 5s) == io::eof));
        BOOST_TEST(rest.empty());
    }
    for (auto& t : threads)
        t.join();
    srv.wait();
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(steady::now() - t0).count() < 10000);

    client_tally sum;
    for (auto& t : tallies) {
        sum.complete += t.complete;
        sum.partial += t.partial;
        sum.corrupt += t.corrupt;
        sum.clean_end += t.clean_end;
        sum.reset_end += t.reset_end;
        sum.stuck += t.stuck;
    }
    BOOST_TEST_MESSAGE("replies: server sent " << p.sent.load() - warmup << ", clients got "
                                               << sum.complete << "; clean ends " << sum.clean_end
                                               << ", resets " << sum.reset_end);
    // Every reply the server sent arrived whole; none was cut off; no client hung.
    BOOST_TEST(sum.complete == p.sent.load() - warmup);
    BOOST_TEST(sum.partial == 0);
    BOOST_TEST(sum.corrupt == 0);
    BOOST_TEST(sum.stuck == 0);
    BOOST_TEST(sum.clean_end + sum.reset_end == nclients);
    BOOST_TEST(p.send_errors.load() == 0);
    const auto s = srv.stats();
    BOOST_TEST(s.active == 0u);
    BOOST_TEST(s.closed == s.accepted);
}

BOOST_AUTO_TEST_CASE(shutdown_deadline_ends_a_half_received_message) {
    probe p;
    pier::server_options o{.threads = 1};
    o.timeouts.shutdown = 300ms;
    o.timeouts.resolution = 20ms;
    pier::server<lines> srv(o, lines{{&p}});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST(round_trip(c, "whole\n") == "whole\n");
    BOOST_TEST(c.send("half a mess"));
    BOOST_TEST(eventually([&] { return srv.stats().bytes_in == 17u; }));
    srv.stop();
    // The handler is in the middle of a message, so it is not interrupted at once; the
    // deadline ends it.
    std::string rest;
    const auto st = c.read_to_eof(rest);
    BOOST_TEST((st == io::eof || st == io::reset));
    srv.wait();
    BOOST_TEST_REQUIRE(p.errors().size() == 1u);
    BOOST_TEST((p.errors()[0] == pier::error::shutting_down), p.errors()[0].message());
    BOOST_TEST_REQUIRE(p.reasons().size() == 1u);
    BOOST_TEST((p.reasons()[0] == pier::error::shutting_down), p.reasons()[0].message());
}

namespace {
/// Ignores everything, including the shutdown: only the last-resort deadline ends it.
struct stubborn {
    std::atomic<int>* started;
    template <class C> asio::awaitable<void> operator()(C& c) {
        started->fetch_add(1);
        asio::steady_timer t(c.get_executor());
        t.expires_after(std::chrono::hours(1));
        co_await t.async_wait(pier::use_tuple);
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(shutdown_survives_a_handler_that_never_returns) {
    std::atomic<int> started{0};
    pier::server_options o{.threads = 2};
    o.timeouts.shutdown = 200ms;
    o.timeouts.resolution = 20ms;
    auto srv = std::make_unique<pier::server<stubborn>>(o, stubborn{&started});
    srv->start();
    client c(srv->local_endpoint());
    BOOST_TEST(eventually([&] { return started.load() == 1; }));
    const auto t0 = steady::now();
    srv->stop();
    std::string rest;
    const auto st = c.read_to_eof(rest);
    BOOST_TEST((st == io::eof || st == io::reset)); // the connection was closed at the deadline
    srv->wait();
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(steady::now() - t0).count() < 10000);
    srv.reset(); // destroys the suspended handler's frame with the server: ASan checks this
}

// --- the connection limit -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(connection_limit) {
    probe p;
    pier::server<echo> srv({.threads = 2, .max_connections = 3}, echo{{&p}});
    srv.start();
    const auto ep = srv.local_endpoint();
    std::vector<client> in;
    for (int i = 0; i < 3; ++i) {
        in.emplace_back(ep);
        BOOST_TEST(round_trip(in.back(), "in" + std::to_string(i)) == "in" + std::to_string(i));
    }
    // Over the limit: accepted and closed at once, cleanly (FIN, not a hang or RST).
    for (int i = 0; i < 2; ++i) {
        client extra(ep);
        std::string got;
        BOOST_TEST((extra.read_to_eof(got) == io::eof));
        BOOST_TEST(got.empty());
    }
    BOOST_TEST(eventually([&] { return p.rejected.load() == 2; }));
    {
        std::lock_guard l(p.m);
        for (auto ec : p.reject_reasons)
            BOOST_TEST((ec == pier::error::connection_limit));
    }
    // The counter is bumped after the hook ran.
    BOOST_TEST(eventually([&] { return srv.stats().rejected == 2u; }));
    auto s = srv.stats();
    BOOST_TEST(s.rejected == 2u);
    BOOST_TEST(s.accepted == 3u);
    BOOST_TEST(s.active == 3u);
    // Existing connections are unaffected, and a slot freed is a slot usable again.
    BOOST_TEST(round_trip(in[1], "still here") == "still here");
    in[0].close();
    BOOST_TEST(eventually([&] { return srv.stats().active == 2u; }));
    client again(ep);
    BOOST_TEST(round_trip(again, "welcome back") == "welcome back");
    BOOST_TEST(srv.stats().rejected == 2u);
}

// --- deadlines ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(idle_timeout) {
    probe p;
    pier::server_options o{.threads = 1};
    o.timeouts.idle = 300ms;
    o.timeouts.resolution = 20ms;
    pier::server<echo> srv(o, echo{{&p}});
    srv.start();
    client chatty(srv.local_endpoint()), quiet(srv.local_endpoint());
    BOOST_TEST(round_trip(quiet, "once") == "once");
    // Activity keeps a connection alive past the idle timeout: it measures silence, not age.
    for (int i = 0; i < 10; ++i) {
        BOOST_TEST(round_trip(chatty, "ping") == "ping");
        std::this_thread::sleep_for(100ms);
    }
    std::string rest;
    BOOST_TEST((quiet.read_to_eof(rest) == io::eof));  // closed long ago, cleanly
    BOOST_TEST((chatty.read_to_eof(rest) == io::eof)); // now silent too
    BOOST_TEST(eventually([&] { return p.closed.load() == 2; }));
    for (auto ec : p.reasons())
        BOOST_TEST((ec == pier::error::idle_timeout), ec.message());
    for (auto ec : p.errors())
        BOOST_TEST((ec == pier::error::idle_timeout), ec.message());
    BOOST_TEST(srv.stats().timeouts == 2u);
}

BOOST_AUTO_TEST_CASE(read_timeout_ends_a_stalled_message) {
    probe p;
    pier::server_options o{.threads = 1};
    o.timeouts.idle = 20s;
    o.timeouts.read = 300ms;
    o.timeouts.resolution = 20ms;
    pier::server<lines> srv(o, lines{{&p}});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST(round_trip(c, "complete lines are fine\n") == "complete lines are fine\n");
    std::this_thread::sleep_for(500ms); // waiting between messages is not a read timeout
    BOOST_TEST(round_trip(c, "still fine\n") == "still fine\n");
    BOOST_TEST(c.send("GET /never-finished"));
    std::string rest;
    const auto st = c.read_to_eof(rest, 5s);
    BOOST_TEST((st == io::eof || st == io::reset));
    BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
    BOOST_TEST_REQUIRE(p.errors().size() == 1u);
    BOOST_TEST((p.errors()[0] == pier::error::read_timeout), p.errors()[0].message());
    BOOST_TEST((p.reasons()[0] == pier::error::read_timeout), p.reasons()[0].message());
    BOOST_TEST(srv.stats().timeouts == 1u);
}

BOOST_AUTO_TEST_CASE(read_timeout_ends_a_slow_loris) {
    // One byte every 50 ms never lets a single wait reach the read timeout, but the message
    // as a whole does: the deadline must count from the start of the pending message.
    probe p;
    pier::server_options o{.threads = 1};
    o.timeouts.idle = 20s;
    o.timeouts.read = 300ms;
    o.timeouts.resolution = 20ms;
    pier::server<lines> srv(o, lines{{&p}});
    srv.start();
    client c(srv.local_endpoint());
    bool closed = false;
    for (int i = 0; i < 100 && !closed; ++i) { // 5 s at most
        if (!c.send("x"))
            break;
        std::string got;
        auto st = c.wait_event(got, 50ms);
        closed = st == io::eof || st == io::reset;
    }
    BOOST_TEST(closed);
    BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
    BOOST_TEST_REQUIRE(p.errors().size() == 1u);
    BOOST_TEST((p.errors()[0] == pier::error::read_timeout), p.errors()[0].message());
}

namespace {
/// Sends 64 KiB blocks until sending fails; the peer never reads.
struct flooder : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        const std::string block(65536, 'f');
        for (;;) {
            auto ec = co_await c.send(block);
            if (ec) {
                p->error(ec);
                co_return;
            }
        }
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(write_timeout_ends_a_peer_that_stopped_reading) {
    probe p;
    pier::server_options o{.threads = 1};
    o.timeouts.write = 300ms;
    o.timeouts.resolution = 20ms;
    o.socket_buffers.send = 8192;
    pier::server<flooder> srv(o, flooder{{&p}});
    srv.start();
    client c(srv.local_endpoint(), 8192);
    BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
    BOOST_TEST_REQUIRE(p.errors().size() == 1u);
    BOOST_TEST((p.errors()[0] == pier::error::write_timeout), p.errors()[0].message());
    BOOST_TEST((p.reasons()[0] == pier::error::write_timeout), p.reasons()[0].message());
    const auto s = srv.stats();
    BOOST_TEST(s.timeouts == 1u);
    BOOST_TEST(s.slow_consumers == 0u); // the queue limit was not what ended it
    std::string rest;
    const auto st = c.read_to_eof(rest);
    BOOST_TEST((st == io::eof || st == io::reset));
}

// --- stats --------------------------------------------------------------------------------------

namespace {
struct thrower : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        auto ec = co_await c.read();
        if (!ec)
            throw std::runtime_error("handler bug");
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(stats_counters) {
    probe p;
    pier::server<echo> srv({.threads = 2}, echo{{&p}});
    srv.start();
    auto s = srv.stats();
    BOOST_TEST(s.accepted == 0u);
    {
        std::vector<client> cs;
        for (int i = 0; i < 3; ++i) {
            cs.emplace_back(srv.local_endpoint());
            const std::string msg(1000 + i, 'a' + i);
            BOOST_TEST(round_trip(cs.back(), msg) == msg);
        }
        // Counters are bumped right after the syscall, which may be after the client saw
        // the bytes.
        BOOST_TEST(eventually([&] { return srv.stats().bytes_out == 3003u; }));
        s = srv.stats();
        BOOST_TEST(s.accepted == 3u);
        BOOST_TEST(s.active == 3u);
        BOOST_TEST(s.closed == 0u);
        BOOST_TEST(s.bytes_in == 3003u);
        BOOST_TEST(s.bytes_out == 3003u);
    }
    BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }));
    s = srv.stats();
    BOOST_TEST(s.closed == 3u);
    BOOST_TEST(s.rejected == 0u);
    BOOST_TEST(s.timeouts == 0u);
    BOOST_TEST(s.handler_errors == 0u);
    BOOST_TEST(s.accept_errors == 0u);
    BOOST_TEST(s.slow_consumers == 0u);
    BOOST_TEST(s.dropped_messages == 0u);

    // An exception escaping a handler closes its connection, is counted, and harms nobody else.
    probe tp;
    pier::server<thrower> bad({.threads = 1}, thrower{{&tp}});
    bad.start();
    client victim(bad.local_endpoint()), bystander(bad.local_endpoint());
    BOOST_TEST(victim.send("boom"));
    std::string rest;
    const auto st = victim.read_to_eof(rest);
    BOOST_TEST((st == io::eof || st == io::reset));
    BOOST_TEST(eventually([&] { return bad.stats().handler_errors == 1u; }));
    BOOST_TEST(eventually([&] { return tp.closed.load() == 1; }));
    BOOST_TEST((tp.reasons()[0] == pier::error::closed), tp.reasons()[0].message());
    BOOST_TEST(bad.stats().active == 1u); // the bystander
}

// --- an external io_context ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(external_io_context) {
    probe p;
    asio::io_context ctx;
    pier::server<echo> srv(ctx, {}, echo{{&p}});
    srv.start();
    std::atomic<bool> returned{false};
    std::thread::id runner_id;
    std::thread runner([&] {
        ctx.run();
        returned = true;
    });
    runner_id = runner.get_id();
    client c(srv.local_endpoint());
    BOOST_TEST(round_trip(c, "on your loop") == "on your loop");
    BOOST_TEST(!returned.load());
    {
        std::lock_guard l(p.m);
        BOOST_TEST_REQUIRE(p.threads.size() == 1u);
        BOOST_TEST((p.threads[0] == runner_id)); // the handler ran on the caller's thread
    }
    srv.stop();
    // The server owns no thread; once stopped it leaves nothing behind, so run() returns.
    const bool ran_out = eventually([&] { return returned.load(); });
    BOOST_TEST(ran_out);
    if (!ran_out)
        ctx.stop();
    runner.join();
    std::string rest;
    BOOST_TEST((c.read_to_eof(rest) == io::eof));
    BOOST_TEST(srv.stats().closed == 1u);
}

// An idle connection holds no read buffer (buffer::pooled): once its input is consumed, the
// block is back in the thread's pool before the connection waits again. Checked on the loop's
// own thread, where the pool's free list is, for both the coroutine and the data-handler path.
template <class Handler> void idle_connections_hold_no_block() {
    using pool = pier::buffer::pooled<>::pool;
    probe p;
    asio::io_context ctx;
    pier::server<Handler> srv(ctx, {}, Handler{{&p}});
    srv.start();
    std::thread runner([&] { ctx.run(); });
    auto retained = [&] {
        std::promise<std::size_t> n;
        asio::post(ctx, [&] { n.set_value(pool::retained()); });
        return n.get_future().get();
    };
    const auto before = retained();
    {
        std::vector<std::unique_ptr<client>> cs;
        for (int i = 0; i < 8; ++i) {
            cs.push_back(std::make_unique<client>(srv.local_endpoint()));
            BOOST_TEST(round_trip(*cs.back(), "hello " + std::to_string(i)) ==
                       "hello " + std::to_string(i));
        }
        // All eight are open and idle now: every block they used is back in the pool.
        BOOST_TEST(eventually([&] { return retained() >= before + 1; }));
        BOOST_TEST(srv.stats().active == 8u);
    }
    srv.stop();
    runner.join();
}

BOOST_AUTO_TEST_CASE(idle_connections_hold_no_read_buffer) {
    idle_connections_hold_no_block<echo>();
    idle_connections_hold_no_block<data_echo>();
}

// --- socket options -----------------------------------------------------------------------------

namespace {
struct option_probe {
    std::atomic<bool> done{false};
    int sndbuf = 0, rcvbuf = 0, sndbuf_after = 0, kernel_sndbuf = 0, kernel_rcvbuf = 0;
    bool no_delay = false;
};
struct option_reader {
    option_probe* p;
    template <class C> asio::awaitable<void> operator()(C& c) {
        p->sndbuf = c.send_buffer_size();
        p->rcvbuf = c.receive_buffer_size();
        socklen_t len = sizeof(int);
        ::getsockopt(c.socket().native_handle(), SOL_SOCKET, SO_SNDBUF, &p->kernel_sndbuf, &len);
        ::getsockopt(c.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &p->kernel_rcvbuf, &len);
        asio::ip::tcp::no_delay nd;
        c.socket().get_option(nd);
        p->no_delay = nd.value();
        if (!c.set_send_buffer_size(50000))
            p->sndbuf_after = c.send_buffer_size();
        p->done = true;
        co_return;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(socket_buffers_set_and_read_back) {
    option_probe p;
    pier::server_options o{.threads = 1};
    o.socket_buffers = {.send = 100000, .receive = 120000};
    pier::server<option_reader> srv(o, option_reader{&p});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    // The accepted socket inherited the listener's sizes; pier reads back what was set ...
    BOOST_TEST(p.sndbuf == 100000);
    BOOST_TEST(p.rcvbuf == 120000);
    BOOST_TEST(p.sndbuf_after == 50000);
    // ... while the kernel itself reports twice that (its bookkeeping overhead).
    BOOST_TEST(p.kernel_sndbuf == 200000);
    BOOST_TEST(p.kernel_rcvbuf == 240000);
}

BOOST_AUTO_TEST_CASE(no_delay_is_inherited_by_accepted_sockets) {
    for (bool want : {true, false}) {
        option_probe p;
        pier::server_options o{.threads = 1};
        o.listen.no_delay = want;
        pier::server<option_reader> srv(o, option_reader{&p});
        srv.start();
        client c(srv.local_endpoint());
        BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
        BOOST_TEST(p.no_delay == want);
    }
}

namespace {
struct kernel_probe {
    std::atomic<bool> measured{false};
    std::size_t unread = 0, unread_after_read = 0, unsent = 0, queued = 0;
};
/// Looks at the kernel's queues: the client's 100 bytes before reading them, then 1 MiB of
/// output the client does not read.
struct kernel_view {
    kernel_probe* p;
    template <class C> asio::awaitable<void> operator()(C& c) {
        asio::steady_timer t(c.get_executor());
        for (int i = 0; i < 250 && c.kernel_unread_bytes() < 100; ++i) {
            t.expires_after(20ms);
            co_await t.async_wait(pier::use_tuple);
        }
        p->unread = c.kernel_unread_bytes();
        auto ec = co_await c.read();
        if (ec)
            co_return;
        p->unread_after_read = c.kernel_unread_bytes();
        c.consume(c.input().size());
        c.try_send(std::string(std::size_t{1} << 20, 'k'));
        t.expires_after(200ms);
        co_await t.async_wait(pier::use_tuple);
        p->unsent = c.kernel_unsent_bytes();
        p->queued = c.queued_bytes();
        p->measured = true;
        co_await c.flush_all();
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(kernel_queues_are_observable) {
    kernel_probe p;
    pier::server<kernel_view> srv({.threads = 1}, kernel_view{&p});
    srv.start();
    client c(srv.local_endpoint(), 65536);
    BOOST_TEST(c.send(std::string(100, 'q')));
    BOOST_TEST_REQUIRE(eventually([&] { return p.measured.load(); }));
    BOOST_TEST(p.unread == 100u); // SIOCINQ: received, not yet read
    BOOST_TEST(p.unread_after_read == 0u);
    BOOST_TEST(p.unsent > 0u); // SIOCOUTQ: the client is not reading
    BOOST_TEST(p.unsent + p.queued <= std::size_t{1} << 20);
    std::string all;
    BOOST_TEST((c.read_to_eof(all) == io::eof));
    BOOST_TEST(all.size() == std::size_t{1} << 20);
}

// --- listener options ---------------------------------------------------------------------------

namespace {
int sockopt(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (::getsockopt(fd, level, name, &v, &len) != 0)
        return -1;
    return v;
}
unsigned listen_backlog(int fd) {
    // For a listening socket, TCP_INFO reports the accept queue's limit in tcpi_sacked.
    tcp_info ti{};
    socklen_t len = sizeof ti;
    ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
    return ti.tcpi_sacked;
}
ino_t inode(int fd) {
    struct stat st {};
    ::fstat(fd, &st);
    return st.st_ino;
}
} // namespace

BOOST_AUTO_TEST_CASE(listener_options_visible_on_the_handles) {
    probe p;
    pier::server_options o{.threads = 2};
    o.listen.fast_open = 16;
    o.listen.backlog = 77;
    o.listen.defer_accept = 3s;
    pier::server<echo> srv(o, echo{{&p}});
    srv.start();
    auto handles = srv.native_listener_handles();
    BOOST_TEST_REQUIRE(handles.size() == 1u);
    const int fd = handles[0];
    BOOST_TEST(sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1);
    BOOST_TEST(sockopt(fd, IPPROTO_TCP, TCP_FASTOPEN) == 16);
    BOOST_TEST(listen_backlog(fd) == 77u);
    BOOST_TEST(sockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT) > 0); // the kernel rounds it up
    BOOST_TEST(sockopt(fd, SOL_SOCKET, SO_REUSEADDR) == 1);
    BOOST_TEST(sockopt(fd, SOL_SOCKET, SO_REUSEPORT) == 0);

    // Defaults: the system's maximum backlog, no TFO, no deferred accept.
    pier::server<echo> plain({.threads = 1}, echo{{&p}});
    plain.start();
    const int pfd = plain.native_listener_handles().at(0);
    int somaxconn = 0;
    std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;
    BOOST_TEST(listen_backlog(pfd) == static_cast<unsigned>(somaxconn));
    BOOST_TEST(sockopt(pfd, IPPROTO_TCP, TCP_FASTOPEN) == 0);
    BOOST_TEST(sockopt(pfd, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0);
}

BOOST_AUTO_TEST_CASE(listener_layout_per_accept_policy) {
    probe p;
    pier::server<echo, pier::policies<pier::accept::multi<>>> multi({.threads = 2}, echo{{&p}});
    multi.start();
    auto mh = multi.native_listener_handles();
    BOOST_TEST_REQUIRE(mh.size() == 2u); // one accept loop per thread ...
    BOOST_TEST(mh[0] != mh[1]);
    BOOST_TEST(inode(mh[0]) == inode(mh[1])); // ... on one socket (dup'ed)
    BOOST_TEST(sockopt(mh[0], SOL_SOCKET, SO_REUSEPORT) == 0);

    pier::server<echo, pier::policies<pier::accept::reuseport>> rp({.threads = 2}, echo{{&p}});
    rp.start();
    auto rh = rp.native_listener_handles();
    BOOST_TEST_REQUIRE(rh.size() == 2u); // one socket per thread
    BOOST_TEST(inode(rh[0]) != inode(rh[1]));
    for (int fd : rh)
        BOOST_TEST(sockopt(fd, SOL_SOCKET, SO_REUSEPORT) == 1);

    for (auto ep : {multi.local_endpoint(), rp.local_endpoint()}) {
        client c(ep);
        BOOST_TEST(round_trip(c, "layout") == "layout");
    }
}

BOOST_AUTO_TEST_CASE(defer_accept_holds_back_silent_clients) {
    probe p;
    pier::server_options o{.threads = 1};
    o.listen.defer_accept = 5s;
    pier::server<echo> srv(o, echo{{&p}});
    srv.start();
    client silent(srv.local_endpoint());
    client talker(srv.local_endpoint());
    BOOST_TEST(round_trip(talker, "data first") == "data first");
    // Only the client that sent something reached the handler. No wait is needed to know: the
    // silent client connected first, so had the kernel handed it over, the one accept loop
    // would have taken it (and opened it on the same thread) before the talker.
    BOOST_TEST(p.opened.load() == 1);
    BOOST_TEST(srv.stats().accepted == 1u);

    // The control: without the option, a silent client is handed over at once.
    probe q;
    pier::server<echo> eager({.threads = 1}, echo{{&q}});
    eager.start();
    client silent2(eager.local_endpoint());
    BOOST_TEST(eventually([&] { return q.opened.load() == 1; }));
}

// --- IPv6 ---------------------------------------------------------------------------------------

namespace {
boost::test_tools::assertion_result has_ipv6_loopback(boost::unit_test::test_unit_id) {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return boost::test_tools::assertion_result(false);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    boost::test_tools::assertion_result r(ok);
    if (!ok)
        r.message() << "no IPv6 loopback on this host";
    return r;
}
} // namespace

BOOST_AUTO_TEST_CASE(ipv6_loopback, *boost::unit_test::precondition(has_ipv6_loopback)) {
    probe p;
    pier::server<echo> srv({.address = "::1", .threads = 1}, echo{{&p}});
    srv.start();
    const auto ep = srv.local_endpoint();
    BOOST_TEST(ep.address().is_v6());
    BOOST_TEST(ep.address().to_string() == "::1");
    client c(ep);
    BOOST_TEST_REQUIRE(c.connected());
    BOOST_TEST(round_trip(c, "over v6") == "over v6");
    std::lock_guard l(p.m);
    BOOST_TEST(p.remotes.at(0).address().is_v6());
    BOOST_TEST(p.remotes.at(0).address().is_loopback());
}

BOOST_AUTO_TEST_CASE(dual_stack_accepts_ipv4, *boost::unit_test::precondition(has_ipv6_loopback)) {
    probe p;
    pier::server<echo> srv({.address = "::", .threads = 1}, echo{{&p}});
    srv.start();
    const asio::ip::tcp::endpoint v4(asio::ip::make_address("127.0.0.1"),
                                     srv.local_endpoint().port());
    const asio::ip::tcp::endpoint v6(asio::ip::make_address("::1"), srv.local_endpoint().port());
    client c4(v4), c6(v6);
    BOOST_TEST(round_trip(c4, "from v4") == "from v4");
    BOOST_TEST(round_trip(c6, "from v6") == "from v6");
    {
        std::lock_guard l(p.m);
        BOOST_TEST_REQUIRE(p.remotes.size() == 2u);
        std::set<std::string> seen;
        for (auto& r : p.remotes)
            seen.insert(r.address().to_string());
        BOOST_TEST(seen.count("::ffff:127.0.0.1") == 1u); // the IPv4 client, mapped
        BOOST_TEST(seen.count("::1") == 1u);
    }

    // The control: v6_only refuses IPv4.
    pier::server_options o{.address = "::", .threads = 1};
    o.listen.v6_only = true;
    pier::server<echo> only6(o, echo{{&p}});
    only6.start();
    BOOST_TEST(
        no_listener_at({asio::ip::make_address("127.0.0.1"), only6.local_endpoint().port()}));
    client c6b({asio::ip::make_address("::1"), only6.local_endpoint().port()});
    BOOST_TEST(round_trip(c6b, "v6 only") == "v6 only");
}

// --- many clients -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_thousand_simultaneous_clients) {
    constexpr int n = 1000;
    BOOST_TEST_REQUIRE(pier::raise_fd_limit() >= std::size_t{n} + 200);
    probe p;
    pier::server<echo> srv({.threads = 2}, echo{{&p}});
    srv.start();
    const auto ep = srv.local_endpoint();

    std::vector<int> fds;
    for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        BOOST_TEST_REQUIRE(fd >= 0);
        int r = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
        BOOST_TEST_REQUIRE((r == 0 || errno == EINPROGRESS));
        fds.push_back(fd);
    }
    // All connected and all accepted: a thousand connections open at once.
    BOOST_TEST_REQUIRE(eventually([&] { return srv.stats().active == std::uint64_t{n}; }, 30s));

    std::vector<std::string> want(n), got(n);
    for (int i = 0; i < n; ++i) {
        want[i] = "client " + std::to_string(i) + " says hello\n";
        pollfd pf{fds[i], POLLOUT, 0};
        ::poll(&pf, 1, 5000);
        BOOST_TEST_REQUIRE(::send(fds[i], want[i].data(), want[i].size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(want[i].size()));
    }
    int complete = 0;
    const auto until = steady::now() + 30s;
    std::vector<pollfd> pfds(n);
    while (complete < n && steady::now() < until) {
        for (int i = 0; i < n; ++i)
            pfds[i] = {got[i].size() < want[i].size() ? fds[i] : -1, POLLIN, 0};
        if (::poll(pfds.data(), n, 100) <= 0)
            continue;
        for (int i = 0; i < n; ++i) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[256];
            auto r = ::recv(fds[i], buf, sizeof buf, 0);
            if (r <= 0) {
                got[i] += "<closed>";
                ++complete;
                continue;
            }
            got[i].append(buf, static_cast<std::size_t>(r));
            if (got[i].size() >= want[i].size())
                ++complete;
        }
    }
    int right = 0;
    for (int i = 0; i < n; ++i)
        right += got[i] == want[i];
    BOOST_TEST(right == n);
    BOOST_TEST(srv.stats().accepted == std::uint64_t{n});
    BOOST_TEST(srv.stats().rejected == 0u);
    for (int fd : fds)
        ::close(fd);
    BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }, 30s));
    BOOST_TEST(srv.stats().closed == std::uint64_t{n});
}

// --- hostile input ------------------------------------------------------------------------------

namespace {
/// A minimal HTTP/1.1 server in the data style, as the examples' http_hello: 200 for a valid
/// request, the parser's 4xx/5xx and close for anything else.
struct http_like : hooks {
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        pier::http::request_head req;
        auto r = pier::http::parse_request(in, req);
        if (r.st == pier::http::parse_result::incomplete)
            return 0;
        if (r.st == pier::http::parse_result::error) {
            const unsigned status = pier::http::status_for(r.err);
            c.try_send("HTTP/1.1 " + std::to_string(status) + " " +
                       std::string(pier::http::reason_phrase(status)) +
                       "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            c.close();
            return in.size();
        }
        c.try_send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        return r.head_size;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(garbage_gets_a_4xx_and_close) {
    probe p;
    pier::server<http_like> srv({.threads = 2}, http_like{{&p}});
    srv.start();
    const auto ep = srv.local_endpoint();
    std::mt19937 rng(20261122);
    int answered = 0;
    for (int i = 0; i < 60; ++i) {
        client c(ep);
        const auto junk = random_bytes(rng, 16 + rng() % 3000);
        c.send(junk); // may fail half-way: the server closes after its answer
        std::string reply;
        const auto st = c.read_to_eof(reply);
        BOOST_TEST((st == io::eof || st == io::reset), "seed " << i << ": " << st);
        BOOST_TEST(reply.substr(0, 10) == "HTTP/1.1 4",
                   "seed " << i << ": " << reply.substr(0, 40));
        answered += reply.substr(0, 10) == "HTTP/1.1 4";
    }
    BOOST_TEST(answered == 60);
    // Peers that vanish abruptly (RST) in the middle of garbage.
    for (int i = 0; i < 30; ++i) {
        client c(ep);
        c.send(random_bytes(rng, 1 + rng() % 200));
        c.abort();
    }
    // The server is unharmed and nothing leaked.
    client good(ep);
    BOOST_TEST(good.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string reply;
    BOOST_TEST((good.read_until(reply, "\r\n\r\nok") == io::ok));
    BOOST_TEST(reply.substr(0, 12) == "HTTP/1.1 200");
    good.close();
    BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }));
    const auto s = srv.stats();
    BOOST_TEST(s.accepted == 91u);
    BOOST_TEST(s.closed == 91u);
    BOOST_TEST(s.handler_errors == 0u);
    BOOST_TEST(p.closed.load() == 91);
}

BOOST_AUTO_TEST_CASE(half_closed_input_is_answered_then_eof) {
    probe p, q;
    pier::server<echo> stream_srv({.threads = 2}, echo{{&p}});
    pier::server<data_echo> data_srv({.threads = 2}, data_echo{{&q}});
    stream_srv.start();
    data_srv.start();
    std::mt19937 rng(7);
    for (auto ep : {stream_srv.local_endpoint(), data_srv.local_endpoint()}) {
        for (std::size_t size : {std::size_t{1}, std::size_t{5000}, std::size_t{300000}}) {
            client c(ep);
            const auto msg = random_bytes(rng, size);
            BOOST_TEST(c.send(msg));
            c.shutdown_write();
            std::string back;
            BOOST_TEST((c.read_to_eof(back) == io::eof)); // everything, then a clean end
            BOOST_TEST(back.size() == msg.size());
            BOOST_TEST((back == msg));
        }
    }
    BOOST_TEST(eventually([&] { return p.closed.load() == 3 && q.closed.load() == 3; }));
    for (auto ec : p.errors())
        BOOST_TEST((ec == asio::error::eof), ec.message());
    BOOST_TEST(stream_srv.stats().active == 0u);
    BOOST_TEST(data_srv.stats().active == 0u);
}

// --- data handlers in the loop's lot (detail/loop_lot.hpp) --------------------------------------

namespace {
/// How many sockets this process watches in a lot: entries of its epoll sets (fdinfo's "tfd"
/// lines) with the lot's events, EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET (and the ERR|HUP the
/// kernel adds). Asio's reactor registers other events (EPOLLPRI, no EPOLLRDHUP).
int sockets_in_a_lot() {
    std::set<std::string> sockets; // by inode: a lot on a strand has a dup in Asio's reactor
    for (int fd = 0; fd < 4096; ++fd) {
        char link[64] = {};
        const auto path = "/proc/self/fd/" + std::to_string(fd);
        if (::readlink(path.c_str(), link, sizeof link - 1) <= 0 ||
            std::string_view(link) != "anon_inode:[eventpoll]")
            continue;
        std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
        for (std::string line; std::getline(info, line);)
            if (line.starts_with("tfd:") && line.find("events: 8000201d") != std::string::npos)
                sockets.insert(line.substr(line.find(" ino:")));
    }
    return static_cast<int>(sockets.size());
}

/// The data-style echo that also remembers its connection, and on "take the socket" asks for
/// Asio's socket (which takes the connection out of the lot) before it answers.
struct lot_echo : hooks {
    std::atomic<pier::connection<pier::default_policies>*>* conn;
    template <class C> void on_open(C& c) {
        hooks::on_open(c);
        conn->store(&c);
    }
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        if (in == "take the socket") {
            c.socket().set_option(asio::ip::tcp::no_delay(true));
            c.try_send("taken");
            return in.size();
        }
        c.try_send(in);
        return in.size();
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(data_handler_reads_a_message_and_the_fin_reported_together) {
    // The lot is edge-triggered: when the peer's FIN comes in the same report as its data, no
    // other report follows, so the reads must go on to the end of the stream.
    probe p;
    std::atomic<pier::connection<pier::default_policies>*> conn{nullptr};
    pier::server<lot_echo> srv({.threads = 1}, lot_echo{{&p}, &conn});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST(round_trip(c, "first") == "first"); // open and waiting in the lot
    // It enters the lot when it waits for input after its first read.
    BOOST_TEST(eventually([] { return sockets_in_a_lot() == 1; }));
    std::promise<void> sent;
    std::promise<void> holding;
    srv.post_to_shard(0, [&holding, f = sent.get_future()]() mutable {
        holding.set_value();
        f.wait(); // the loop is held while the message and the FIN arrive
    });
    holding.get_future().wait();
    const std::string msg(5000, 'm');
    BOOST_TEST(c.send(msg));
    c.shutdown_write();
    sent.set_value();
    std::string back;
    BOOST_TEST((c.read_to_eof(back) == io::eof));
    BOOST_TEST(back == msg);
    BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
    BOOST_TEST((p.reasons().at(0) == asio::error::eof), p.reasons().at(0).message());
}

BOOST_AUTO_TEST_CASE(a_flood_of_reports_is_taken_in_turns_and_none_is_lost) {
    // One readiness of the lot is at most 4 batches of 64 reports; the rest wait in the lot,
    // whose descriptor becomes readable again only when a socket reports anew. The loop must
    // still come back for them (a posted look), or these clients would wait for good.
    constexpr int n = 300;
    BOOST_TEST_REQUIRE(pier::raise_fd_limit() >= std::size_t{2 * n} + 200);
    probe p;
    std::atomic<pier::connection<pier::default_policies>*> conn{nullptr};
    pier::server<lot_echo> srv({.threads = 1}, lot_echo{{&p}, &conn});
    srv.start();
    std::vector<client> clients(n);
    for (auto& c : clients) {
        BOOST_TEST_REQUIRE(c.connect(srv.local_endpoint()));
        BOOST_TEST_REQUIRE(round_trip(c, "in") == "in");
    }
    BOOST_TEST_REQUIRE(eventually([] { return sockets_in_a_lot() == n; }));
    std::promise<void> sent;
    std::promise<void> holding;
    srv.post_to_shard(0, [&holding, f = sent.get_future()]() mutable {
        holding.set_value();
        f.wait(); // the loop is held while every client's message arrives
    });
    holding.get_future().wait();
    for (auto& c : clients)
        BOOST_TEST_REQUIRE(c.send("again"));
    sent.set_value(); // n reports wait in the lot now
    int answered = 0;
    for (auto& c : clients) {
        std::string back;
        answered += c.read_exact(back, 5) == io::ok && back == "again";
    }
    BOOST_TEST(answered == n);
    BOOST_TEST(p.closed.load() == 0);
}

BOOST_AUTO_TEST_CASE(data_handler_deadlines_closes_and_shutdown_reach_the_lot) {
    // No report comes for a deadline, a close() from another thread or a server's stop: each
    // must still end a connection that waits in the lot, and on_close runs once for each.
    probe p;
    std::atomic<pier::connection<pier::default_policies>*> conn{nullptr};
    {
        pier::server_options o{.threads = 1};
        o.timeouts.idle = 300ms;
        o.timeouts.resolution = 20ms;
        pier::server<lot_echo> srv(o, lot_echo{{&p}, &conn});
        srv.start();
        client quiet(srv.local_endpoint());
        BOOST_TEST(round_trip(quiet, "once") == "once");
        std::string rest;
        BOOST_TEST((quiet.read_to_eof(rest) == io::eof));
        BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
        BOOST_TEST((p.reasons().at(0) == pier::error::idle_timeout), p.reasons().at(0).message());
        BOOST_TEST(srv.stats().timeouts == 1u);
    }
    {
        pier::server<lot_echo> srv({.threads = 1}, lot_echo{{&p}, &conn});
        srv.start();
        client c(srv.local_endpoint());
        BOOST_TEST(round_trip(c, "hello") == "hello");
        conn.load()->close(); // from this thread: posted to the connection's loop
        std::string rest;
        BOOST_TEST((c.read_to_eof(rest) == io::eof));
        BOOST_TEST(eventually([&] { return p.closed.load() == 2; }));
        client waiting(srv.local_endpoint());
        BOOST_TEST(round_trip(waiting, "hello") == "hello");
        srv.stop();
        srv.wait();
        BOOST_TEST((waiting.read_to_eof(rest) == io::eof));
        BOOST_TEST(p.closed.load() == 3);
        BOOST_TEST(p.opened.load() == 3);
        BOOST_TEST(srv.stats().active == 0u);
    }
}

BOOST_AUTO_TEST_CASE(a_data_handler_that_takes_the_socket_goes_on_in_asio) {
    probe p;
    std::atomic<pier::connection<pier::default_policies>*> conn{nullptr};
    pier::server<lot_echo> srv({.threads = 1}, lot_echo{{&p}, &conn});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST(round_trip(c, "in the lot") == "in the lot");
    // It enters the lot when it waits for input after its first read.
    BOOST_TEST(eventually([] { return sockets_in_a_lot() == 1; }));
    BOOST_TEST(c.send("take the socket"));
    std::string taken;
    BOOST_TEST((c.read_exact(taken, 5) == io::ok));
    BOOST_TEST(taken == "taken");
    BOOST_TEST(sockets_in_a_lot() == 0);
    BOOST_TEST(round_trip(c, "in Asio's reactor") == "in Asio's reactor");
    // A large echo, which fills the socket's buffers: writes wait for room in Asio now.
    std::mt19937 rng(11);
    const auto big = random_bytes(rng, 300000);
    BOOST_TEST(c.send(big));
    std::string back;
    BOOST_TEST((c.read_exact(back, big.size()) == io::ok));
    BOOST_TEST((back == big));
    c.shutdown_write();
    std::string rest;
    BOOST_TEST((c.read_to_eof(rest) == io::eof));
    BOOST_TEST(eventually([&] { return p.closed.load() == 1; }));
    BOOST_TEST((p.reasons().at(0) == asio::error::eof), p.reasons().at(0).message());
    BOOST_TEST(srv.stats().handler_errors == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
