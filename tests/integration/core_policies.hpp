// Shared by tests/integration/core_policies_*.cpp: every combination of accept × scheduler ×
// buffer policy serves real loopback clients, with both handler styles (a coroutine
// stream_handler and an on_data data_handler). The 18 policy sets × 2 handlers are split by
// accept policy over three sources, so that the suite's largest compile runs on every core
// (one source took a fifth of the ASan tree's compile time on its own).
#pragma once
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "loopback.hpp"
#include "support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace core_policies_test {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A blocking loopback client with poll(2) deadlines.
using pier_test::client;

struct probe {
    std::atomic<int> opened{0}, closed{0}, offloaded{0};
    std::mutex m;
    std::set<std::thread::id> threads;
    std::vector<std::error_code> reasons;
};

struct hooks {
    probe* p;
    template <class C> void on_open(C&) {
        std::lock_guard l(p->m);
        p->threads.insert(std::this_thread::get_id());
        p->opened.fetch_add(1);
    }
    template <class C> void on_close(C&, std::error_code why) {
        std::lock_guard l(p->m);
        p->reasons.push_back(why);
        p->closed.fetch_add(1);
    }
};

/// stream_handler: echoes; with an offloading scheduler the copy is made on a worker.
struct stream_echo : hooks {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            if constexpr (C::scheduler_type::offloads) {
                // Named, not a temporary in the co_await expression: g++ 12 destroys a
                // temporary lambda with a non-trivial capture there twice.
                auto job = [in = std::string(c.input())] { return in; };
                auto copy = co_await c.offload(std::move(job));
                p->offloaded.fetch_add(1);
                ec = co_await c.send(copy);
            } else {
                ec = co_await c.send(c.input());
            }
            if (ec)
                co_return;
            c.consume(c.input().size());
        }
    }
};

/// data_handler: echoes up to the last complete line; a short partial line waits for more
/// (returns 0), a long one streams through (a line may be larger than the read buffer).
struct data_lines : hooks {
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        auto nl = in.rfind('\n');
        const std::size_t n = nl != std::string_view::npos ? nl + 1
                              : in.size() >= 1024          ? in.size()
                                                           : 0;
        if (n > 0)
            c.try_send(in.substr(0, n));
        return n;
    }
};

constexpr int clients = 4;

/// Serves `clients` concurrent clients, each sending messages small and larger than a read
/// buffer, and a line split across two writes. Checks the replies, the hooks and the stats.
template <class Handler, class Policies> void serve_real_clients() {
    probe p;
    {
        pier::server<Handler, Policies> srv({.threads = 2}, Handler{{&p}});
        srv.start();
        const auto ep = srv.local_endpoint();
        std::vector<std::thread> threads;
        std::atomic<int> good{0};
        for (int i = 0; i < clients; ++i)
            threads.emplace_back([&, i] {
                client c(ep);
                bool ok = true;
                for (std::size_t size : {std::size_t{10}, std::size_t{6000}, std::size_t{40000}}) {
                    std::string line(size, static_cast<char>('a' + i));
                    line += '\n';
                    ok = ok && c.send(line) && c.read(line.size()) == line;
                }
                // A line in two pieces: the data handler must wait for the rest.
                // (Two writes; Nagle holds the second until the first is acknowledged, so
                // the server usually reads them apart. Either way the reply must be whole.)
                ok = ok && c.send("split ");
                ok = ok && c.send("line\n") && c.read(11) == "split line\n";
                good.fetch_add(ok);
            });
        for (auto& t : threads)
            t.join();
        BOOST_TEST(good.load() == clients);
        BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }));
        const auto s = srv.stats();
        BOOST_TEST(s.accepted == std::uint64_t{clients});
        BOOST_TEST(s.closed == std::uint64_t{clients});
        BOOST_TEST(s.bytes_in == s.bytes_out);
        BOOST_TEST(s.handler_errors == 0u);
        if constexpr (Policies::scheduler::offloads &&
                      pier::stream_handler<Handler, pier::connection<Policies>>)
            BOOST_TEST(p.offloaded.load() > 0);
        // The default accept policy deals connections round-robin over the event loops.
        if constexpr (std::is_same_v<typename Policies::accept, pier::accept::single> &&
                      !std::is_same_v<typename Policies::scheduler, pier::sched::shared_pool>) {
            std::lock_guard l(p.m);
            BOOST_TEST(p.threads.size() == 2u);
        }
    }
    BOOST_TEST(p.opened.load() == clients);
    BOOST_TEST(p.closed.load() == clients);
    std::lock_guard l(p.m);
    for (auto ec : p.reasons)
        BOOST_TEST((!ec || ec == asio::error::eof), ec.message());
}

template <class Accept, class Sched>
using with_buffers = std::tuple<pier::policies<Accept, Sched, pier::buffer::fixed<4096>>,
                                pier::policies<Accept, Sched, pier::buffer::pooled<4096>>>;

// pier::policies<...> are empty types: tuple_cat of value-initialised tuples gives the list.
template <class Accept>
using with_scheds = decltype(std::tuple_cat(with_buffers<Accept, pier::sched::per_thread>{},
                                            with_buffers<Accept, pier::sched::shared_pool>{},
                                            with_buffers<Accept, pier::sched::workers<>>{}));

} // namespace core_policies_test
