// The multi-threaded paths: sending to connections from other threads (order per sender,
// completeness, close/abort from afar), and the adaptive worker pool of sched::workers behind
// a real server (growth under blocking work, retiring idle workers, refusing when full).
// Meant to run under ThreadSanitizer as well.
//
// pier-test: threads
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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

using pier_test::client;
using pier_test::io;

// --- sending from other threads -----------------------------------------------------------------

/// Connections register themselves for senders elsewhere; they only wait for the client to
/// leave. The test drops its shared_ptrs before the server is destroyed.
template <class Conn> struct registry {
    std::mutex m;
    std::map<int, std::shared_ptr<Conn>> conns; // by the index the client announced
    std::vector<std::error_code> reasons;
    std::atomic<int> closed{0};
};

/// Declared after the server: drops the registered connections before the server goes, also
/// when a REQUIRE ends the test early (no connection may outlive its server).
template <class Conn> struct release_at_exit {
    registry<Conn>& r;
    ~release_at_exit() {
        std::lock_guard l(r.m);
        r.conns.clear();
    }
};

template <class Conn> struct parked {
    registry<Conn>* r;
    asio::awaitable<void> operator()(Conn& c) {
        // The client announces its index: "<n>\n".
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            auto nl = c.input().find('\n');
            if (nl == std::string_view::npos)
                continue;
            const int index = std::stoi(std::string(c.input().substr(0, nl)));
            c.consume(nl + 1);
            std::lock_guard l(r->m);
            r->conns[index] = c.shared_from_this();
            break;
        }
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            c.consume(c.input().size());
        }
    }
    void on_close(Conn&, std::error_code why) {
        std::lock_guard l(r->m);
        r->reasons.push_back(why);
        r->closed.fetch_add(1);
    }
};

template <class Sched> void cross_thread_sends() {
    using P = pier::policies<Sched>;
    using conn = pier::connection<P>;
    registry<conn> reg;
    pier::server<parked<conn>, P> srv({.threads = 2}, parked<conn>{&reg});
    release_at_exit<conn> release{reg};
    srv.start();
    constexpr int nclients = 4, nsenders = 4, per_sender = 500;
    std::vector<client> clients;
    for (int i = 0; i < nclients; ++i) {
        clients.emplace_back(srv.local_endpoint());
        clients.back().send(std::to_string(i) + "\n");
    }
    BOOST_TEST_REQUIRE(eventually([&] {
        std::lock_guard l(reg.m);
        return reg.conns.size() == std::size_t{nclients};
    }));
    std::vector<std::shared_ptr<conn>> conns;
    {
        std::lock_guard l(reg.m);
        for (auto& [i, c] : reg.conns)
            conns.push_back(c);
    }

    // Each sender thread sends its numbered lines to every connection, alternating copied
    // and shared payloads.
    std::vector<std::thread> senders;
    std::atomic<int> refused{0};
    for (int t = 0; t < nsenders; ++t)
        senders.emplace_back([&, t] {
            for (int seq = 0; seq < per_sender; ++seq) {
                const std::string line = "s" + std::to_string(t) + " " + std::to_string(seq) + "\n";
                const pier::shared_buffer shared(line);
                for (auto& c : conns) {
                    const auto r = seq % 2 ? c->try_send(shared) : c->try_send(line);
                    refused.fetch_add(r != pier::send_result::queued);
                }
            }
        });

    // Meanwhile the clients read: every line arrives, each sender's in order.
    const std::size_t want_lines = nsenders * per_sender;
    std::vector<std::string> got(nclients);
    std::vector<std::thread> readers;
    for (int i = 0; i < nclients; ++i)
        readers.emplace_back([&, i] {
            clients[i].read_until_pred(
                got[i],
                [&](const std::string& s) {
                    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')) >=
                           want_lines;
                },
                30s);
        });
    for (auto& t : senders)
        t.join();
    for (auto& t : readers)
        t.join();
    BOOST_TEST(refused.load() == 0); // off the executor try_send posts and answers queued

    for (int i = 0; i < nclients; ++i) {
        std::map<int, int> next; // sender -> next expected seq
        bool ordered = true;
        std::size_t lines = 0;
        std::size_t pos = 0;
        while (pos < got[i].size()) {
            auto nl = got[i].find('\n', pos);
            if (nl == std::string::npos)
                break;
            int t = -1, seq = -1;
            std::sscanf(got[i].c_str() + pos, "s%d %d", &t, &seq);
            ordered = ordered && seq == next[t]++;
            ++lines;
            pos = nl + 1;
        }
        BOOST_TEST(ordered);
        BOOST_TEST(lines == want_lines);
        for (int t = 0; t < nsenders; ++t)
            BOOST_TEST(next[t] == per_sender);
    }

    // close() from another thread: queued output goes out, then a clean end.
    conns[0]->try_send("last words\n");
    conns[0]->close();
    {
        std::string rest;
        const auto st = clients[0].read_to_eof(rest, 5s);
        BOOST_TEST((st == io::eof || st == io::reset), st);
        BOOST_TEST(rest == "last words\n");
    }
    // abort() from another thread: immediate, with the reason given.
    conns[1]->abort(pier::error::overloaded);
    {
        std::string rest;
        const auto st = clients[1].read_to_eof(rest, 5s);
        BOOST_TEST((st == io::eof || st == io::reset), st);
    }
    BOOST_TEST(eventually([&] { return reg.closed.load() == 2; }));
    {
        std::lock_guard l(reg.m);
        BOOST_TEST((reg.reasons.size() == 2u));
        const bool aborted =
            std::find(reg.reasons.begin(), reg.reasons.end(),
                      std::error_code(pier::error::overloaded)) != reg.reasons.end();
        BOOST_TEST(aborted);
    }
    // A send to a closed connection, from afar, is harmless.
    BOOST_TEST((conns[0]->try_send("nobody listens") == pier::send_result::queued));

    for (auto& c : clients)
        c.close();
    BOOST_TEST(eventually([&] { return reg.closed.load() == nclients; }));
    conns.clear();
    std::lock_guard l(reg.m);
    reg.conns.clear(); // no connection may outlive its server
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(core_threads, watchdog)

BOOST_AUTO_TEST_CASE(cross_thread_sends_per_thread) {
    cross_thread_sends<pier::sched::per_thread>();
}

BOOST_AUTO_TEST_CASE(cross_thread_sends_shared_pool) {
    cross_thread_sends<pier::sched::shared_pool>();
}

BOOST_AUTO_TEST_CASE(broadcast_from_many_threads_shares_one_payload) {
    using P = pier::policies<>;
    using conn = pier::connection<P>;
    registry<conn> reg;
    pier::server<parked<conn>, P> srv({.threads = 2}, parked<conn>{&reg});
    release_at_exit<conn> release{reg};
    srv.start();
    constexpr int nclients = 16;
    std::vector<client> clients;
    for (int i = 0; i < nclients; ++i) {
        clients.emplace_back(srv.local_endpoint());
        clients.back().send(std::to_string(i) + "\n");
    }
    BOOST_TEST_REQUIRE(eventually([&] {
        std::lock_guard l(reg.m);
        return reg.conns.size() == std::size_t{nclients};
    }));
    const pier::shared_buffer payload(std::string(100000, 'b'));
    const auto refs = payload.owner().use_count();
    {
        std::lock_guard l(reg.m);
        std::vector<std::thread> ts;
        for (int t = 0; t < 4; ++t)
            ts.emplace_back([&, t] {
                for (int i = t; i < nclients; i += 4)
                    reg.conns[i]->try_send(payload);
            });
        for (auto& t : ts)
            t.join();
    }
    for (auto& c : clients) {
        std::string got;
        BOOST_TEST(c.read_until_pred(
                       got, [](const std::string& s) { return s.size() >= 100000; }) == io::ok);
        BOOST_TEST(got == payload.view());
    }
    // Every queue let go of the payload once written.
    BOOST_TEST(eventually([&] { return payload.owner().use_count() == refs; }));
    for (auto& c : clients)
        c.close();
    BOOST_TEST(eventually([&] { return reg.closed.load() == nclients; }));
    std::lock_guard l(reg.m);
    reg.conns.clear();
}

// --- the worker pool behind a server ------------------------------------------------------------

namespace {
struct pool_probe {
    std::atomic<int> running{0}, peak{0}, served{0};
    std::mutex m;
    std::vector<std::error_code> offload_errors;
};

/// data_handler that blocks for 300 ms per line: runs on the worker pool.
struct blocking_lines {
    pool_probe* p;
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        auto nl = in.find('\n');
        if (nl == std::string_view::npos)
            return 0;
        const int now = p->running.fetch_add(1) + 1;
        int peak = p->peak.load();
        while (now > peak && !p->peak.compare_exchange_weak(peak, now)) {
        }
        std::this_thread::sleep_for(300ms);
        p->running.fetch_sub(1);
        c.try_send(in.substr(0, nl + 1));
        p->served.fetch_add(1);
        return nl + 1;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(worker_pool_grows_then_retires) {
    pool_probe p;
    pier::server_options o{.threads = 1};
    o.workers = {.min_workers = 0, .max_workers = 16, .idle_timeout = 1s};
    pier::server<blocking_lines, pier::policies<pier::sched::workers<>>> srv(o, blocking_lines{&p});
    srv.start();
    BOOST_TEST(srv.scheduler().pool().workers() == 0u);
    constexpr int n = 8;
    std::vector<client> clients;
    for (int i = 0; i < n; ++i)
        clients.emplace_back(srv.local_endpoint());
    for (int i = 0; i < n; ++i)
        BOOST_TEST(clients[i].send("job " + std::to_string(i) + "\n"));
    for (int i = 0; i < n; ++i) {
        std::string got;
        const std::string want = "job " + std::to_string(i) + "\n";
        BOOST_TEST(clients[i].read_until_pred(got, [&](const std::string& s) {
            return s.size() >= want.size();
        }) == io::ok);
        BOOST_TEST(got == want);
    }
    // Eight blocking calls ran at once on one event loop: the pool grew a thread for each.
    BOOST_TEST(p.peak.load() == n);
    BOOST_TEST(srv.scheduler().pool().workers() >= std::size_t{n});
    // Idle for idle_timeout: every worker retires (min_workers = 0).
    BOOST_TEST(eventually([&] { return srv.scheduler().pool().workers() == 0u; }));
    // And the pool grows again on demand.
    BOOST_TEST(clients[0].send("again\n"));
    std::string got;
    BOOST_TEST(clients[0].read_until_pred(
                   got, [](const std::string& s) { return s == "again\n"; }) == io::ok);
}

namespace {
/// stream_handler that offloads a 400 ms job per line and answers "ok" or the refusal.
struct offloader {
    pool_probe* p;
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            if (c.input().find('\n') == std::string_view::npos)
                continue;
            c.consume(c.input().size());
            std::string reply = "ok\n";
            auto job = [p = p] {
                p->running.fetch_add(1);
                std::this_thread::sleep_for(400ms);
            };
            try {
                co_await c.offload(job);
                p->served.fetch_add(1);
            } catch (const std::system_error& e) {
                {
                    std::lock_guard l(p->m);
                    p->offload_errors.push_back(e.code());
                }
                reply = "busy\n";
            }
            ec = co_await c.send(reply);
            if (ec)
                co_return;
        }
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(worker_pool_refuses_when_its_queue_is_full) {
    pool_probe p;
    pier::server_options o{.threads = 1};
    o.workers = {.min_workers = 0, .max_workers = 1, .max_queue = 1};
    pier::server<offloader, pier::policies<pier::sched::workers<>>> srv(o, offloader{&p});
    srv.start();
    std::vector<client> clients;
    for (int i = 0; i < 3; ++i)
        clients.emplace_back(srv.local_endpoint());
    // One runs, one waits in the queue, the third is refused.
    auto& pool = srv.scheduler().pool();
    BOOST_TEST(clients[0].send("work\n"));
    BOOST_TEST_REQUIRE(eventually([&] { return p.running.load() == 1; }));
    BOOST_TEST(clients[1].send("work\n"));
    BOOST_TEST_REQUIRE(eventually([&] { return pool.queued() == 1u; }));
    BOOST_TEST(clients[2].send("work\n"));
    std::map<std::string, int> replies;
    for (auto& c : clients) {
        std::string got;
        c.read_until_pred(got,
                          [](const std::string& s) { return s.find('\n') != std::string::npos; });
        ++replies[got];
    }
    BOOST_TEST(replies["ok\n"] == 2);
    BOOST_TEST(replies["busy\n"] == 1);
    BOOST_TEST(pool.workers() <= 1u); // max_workers
    std::lock_guard l(p.m);
    BOOST_TEST_REQUIRE(p.offload_errors.size() == 1u);
    BOOST_TEST((p.offload_errors[0] == pier::error::overloaded), p.offload_errors[0].message());
}

BOOST_AUTO_TEST_CASE(data_handler_refused_by_a_full_pool_is_closed) {
    pool_probe p;
    pier::server_options o{.threads = 1};
    o.workers = {.min_workers = 0, .max_workers = 1, .max_queue = 0};
    pier::server<blocking_lines, pier::policies<pier::sched::workers<>>> srv(o, blocking_lines{&p});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST(c.send("never runs\n"));
    std::string got;
    const auto st = c.read_to_eof(got, 5s);
    BOOST_TEST((st == io::eof || st == io::reset), st); // closed rather than left waiting
    BOOST_TEST(got.empty());
    BOOST_TEST(p.served.load() == 0);
    // The server carries on.
    BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }));
}

BOOST_AUTO_TEST_SUITE_END()
