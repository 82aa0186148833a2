// ws_sessions: the WebSocket core as a million-connection pool needs it, on real loopback
// sockets: on_close exactly once for every on_open under every kind of ending, bounded
// delivery from foreign threads (the mailbox answers at once, memory stays flat), every
// slow-consumer policy against a peer that stops reading, the fragment slow-loris deadline,
// unguessable ids, admission before the handshake, hook exceptions, shards and their API.
//
// pier-test: threads
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"
#include "ws_client.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::text_frame;
using pier_test::watchdog;
using pier_test::wire;
using client = pier_test::ws_client;
using pier::ws::close_code;

using namespace std::chrono_literals;
using std::chrono::milliseconds;

/// Every on_open and on_close, with the session's id, so that pairs can be checked.
struct ledger {
    std::mutex m;
    std::map<std::uint64_t, int> opens, closes;
    std::vector<close_code> codes;
    std::vector<pier::ws::session_handle> handles;
    std::atomic<int> opened{0}, closed{0};

    bool balanced() {
        std::lock_guard l(m);
        if (opens.size() != closes.size())
            return false;
        for (auto [id, n] : opens)
            if (n != 1 || closes[id] != 1)
                return false;
        return true;
    }
    std::vector<close_code> all_codes() {
        std::lock_guard l(m);
        return codes;
    }
};

/// Echoes; "throw" throws from on_message; "close:<code>" closes with that code.
struct recorder {
    ledger* l;
    bool throw_on_open = false;
    template <class S> void on_open(S& s) {
        {
            std::lock_guard g(l->m);
            ++l->opens[s.id()];
            l->handles.push_back(s.handle());
        }
        ++l->opened;
        if (throw_on_open)
            throw std::runtime_error("on_open throws");
    }
    template <class S> void on_message(S& s, pier::ws::message m) {
        if (m.text() == "throw")
            throw std::runtime_error("on_message throws");
        s.send_text(m.data());
    }
    template <class S> void on_close(S& s, close_code c, std::string_view) {
        {
            std::lock_guard g(l->m);
            ++l->closes[s.id()];
            l->codes.push_back(c);
        }
        ++l->closed;
    }
    void on_hook_error(std::string_view, std::exception_ptr) { ++errors; }
    inline static std::atomic<int> errors{0};
};

pier::server_options fast(std::size_t threads = 2) {
    pier::server_options o{.threads = threads};
    o.timeouts.resolution = 20ms;
    return o;
}

pier::ws::options plain() {
    pier::ws::options o;
    o.deflate.enabled = false;
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(ws_sessions, watchdog)

BOOST_AUTO_TEST_CASE(on_close_once_per_on_open_for_every_ending) {
    ledger l;
    auto wo = plain();
    wo.ping_interval = 100ms;
    wo.pong_timeout = 100ms;
    wo.limits.max_message_size = 1024;
    wo.limits.max_frame_size = 1024;
    pier::ws::server<recorder> srv(fast(), wo, recorder{&l});
    srv.start();
    const auto ep = srv.local_endpoint();
    int expected = 0;

    { // the peer closes
        client c(ep);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST(c.round_trip("a") == "a");
        BOOST_TEST_REQUIRE(c.send(pier_test::close_frame(1000)));
        BOOST_TEST(c.ended());
        ++expected;
        // (Each ending is reported before the next starts, so that the codes come in order.)
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    }
    { // a protocol error
        client c(ep);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(wire(0x83, "x")));
        BOOST_TEST(c.ended());
        ++expected;
        // (Each ending is reported before the next starts, so that the codes come in order.)
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    }
    { // the TCP connection just ends
        client c(ep);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST(c.round_trip("b") == "b");
        c.abort();
        ++expected;
        // (Each ending is reported before the next starts, so that the codes come in order.)
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    }
    { // a deadline: the pings go unanswered
        client c(ep);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST(c.ended());
        ++expected;
        // (Each ending is reported before the next starts, so that the codes come in order.)
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    }
    { // a hook throws
        client c(ep);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(text_frame("throw")));
        auto f = c.read_close();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->code() == 1011u);
        BOOST_TEST(c.ended());
        ++expected;
        // (Each ending is reported before the next starts, so that the codes come in order.)
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    }
    BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == expected; }));
    // The server stops with sessions open: each gets its on_close too.
    std::vector<std::unique_ptr<client>> open;
    for (int i = 0; i < 3; ++i) {
        open.push_back(std::make_unique<client>(ep));
        BOOST_TEST_REQUIRE(open.back()->open());
    }
    BOOST_TEST_REQUIRE(eventually([&] { return l.opened.load() == expected + 3; }));
    srv.stop();
    for (auto& c : open) {
        auto f = c->read_close();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->code() == 1001u);
        BOOST_TEST(c->ended());
    }
    srv.wait();
    BOOST_TEST(l.opened.load() == expected + 3);
    BOOST_TEST(l.closed.load() == expected + 3);
    BOOST_TEST(l.balanced());
    const auto codes = l.all_codes();
    BOOST_TEST_REQUIRE(codes.size() == std::size_t(expected + 3));
    BOOST_TEST((codes[0] == close_code::normal));
    BOOST_TEST((codes[1] == close_code::protocol_error));
    BOOST_TEST((codes[2] == close_code::abnormal));
    BOOST_TEST((codes[3] == close_code::abnormal));
    BOOST_TEST((codes[4] == close_code::internal_error));
    BOOST_TEST(srv.stats().handler_errors == 1u);
    BOOST_TEST(recorder::errors.load() >= 1);
}

BOOST_AUTO_TEST_CASE(a_throwing_on_open_still_gets_on_close) {
    ledger l;
    recorder h{&l};
    h.throw_on_open = true;
    pier::ws::server<recorder> srv(fast(1), plain(), h);
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.open());
    auto f = c.read_close();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->code() == 1011u);
    BOOST_TEST(eventually([&] { return l.closed.load() == 1; }));
    BOOST_TEST(l.balanced());
}

BOOST_AUTO_TEST_CASE(ids_are_unique_random_and_not_sequential) {
    ledger l;
    pier::ws::server<recorder> srv(fast(), plain(), recorder{&l});
    srv.start();
    std::vector<std::unique_ptr<client>> cs;
    for (int i = 0; i < 64; ++i) {
        cs.push_back(std::make_unique<client>(srv.local_endpoint()));
        BOOST_TEST_REQUIRE(cs.back()->open());
    }
    BOOST_TEST_REQUIRE(eventually([&] { return l.opened.load() == 64; }));
    std::vector<std::uint64_t> ids;
    {
        std::lock_guard g(l.m);
        for (auto [id, n] : l.opens)
            ids.push_back(id);
    }
    BOOST_TEST(ids.size() == 64u);
    BOOST_TEST(std::set<std::uint64_t>(ids.begin(), ids.end()).size() == 64u);
    // Random 64-bit values: none small, no two adjacent, and about half the bits set.
    int adjacent = 0, bits = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        BOOST_TEST(ids[i] > (std::uint64_t{1} << 32));
        bits += __builtin_popcountll(ids[i]);
        for (std::size_t j = 0; j < ids.size(); ++j)
            adjacent += ids[i] + 1 == ids[j];
    }
    BOOST_TEST(adjacent == 0);
    BOOST_TEST(bits > 64 * 64 / 2 - 200);
    BOOST_TEST(bits < 64 * 64 / 2 + 200);
}

namespace {
struct gatekeeper : recorder {
    std::atomic<int>* asked;
    bool on_accept(const asio::ip::tcp::endpoint& peer) {
        ++*asked;
        return peer.address().to_string() != "127.0.0.2";
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(admission_refuses_before_any_handshake_and_counts_it) {
    ledger l;
    std::atomic<int> asked{0};
    pier::server_options o = fast(1);
    o.address = "0.0.0.0";
    pier::ws::server<gatekeeper> srv(o, plain(), gatekeeper{{&l}, &asked});
    srv.start();
    const auto port = srv.local_endpoint().port();
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    client refused;
    BOOST_TEST_REQUIRE(refused.connect(ep, 0, asio::ip::make_address("127.0.0.2")));
    BOOST_TEST(refused.ended()); // closed at once, not a byte of HTTP
    BOOST_TEST(refused.in_.empty());
    client fine(ep);
    BOOST_TEST_REQUIRE(fine.open());
    BOOST_TEST(fine.round_trip("in") == "in");
    BOOST_TEST(asked.load() == 2);
    BOOST_TEST(srv.stats().refused == 1u);
    BOOST_TEST(srv.stats().accepted == 1u);
    BOOST_TEST(l.opened.load() == 1);
}

BOOST_AUTO_TEST_CASE(fragment_slow_loris_is_closed_at_its_deadline) {
    ledger l;
    auto wo = plain();
    wo.message_timeout = 300ms;
    pier::ws::server<recorder> srv(fast(1), wo, recorder{&l});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.open());
    const auto t0 = std::chrono::steady_clock::now();
    // A fragment now and then, each well inside any idle deadline, never the last one.
    BOOST_TEST_REQUIRE(c.send(wire(0x01, "part")));
    std::optional<pier_test::frame> f;
    for (int i = 0; i < 100 && !f; ++i) {
        c.send(wire(0x00, "more"));
        f = c.read_frame(50ms);
    }
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->op() == 0x8);
    BOOST_TEST(f->code() == 1008u);
    BOOST_TEST(f->payload.substr(2) == "message timeout");
    const auto waited = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(waited >= 250ms); // not before its time (coarse clock, 20 ms sweeps)
    BOOST_TEST(c.ended());
    BOOST_TEST(eventually([&] { return l.closed.load() == 1; }));
    BOOST_TEST((l.all_codes().at(0) == close_code::policy_violation));
    BOOST_TEST(srv.stats().timeouts == 1u);
}

BOOST_AUTO_TEST_CASE(foreign_thread_sends_are_bounded_by_the_mailbox) {
    ledger l;
    auto wo = plain();
    wo.mailbox_budget = 256 << 10;
    auto o = fast(1);
    o.write.high_water = 64 << 10;
    o.write.max_queued = 128 << 10;
    pier::ws::server<recorder, pier::policies<pier::backpressure::drop>> srv(o, wo, recorder{&l});
    srv.start();
    client reader(srv.local_endpoint());
    client sleeper(srv.local_endpoint(), 4096); // stops reading
    BOOST_TEST_REQUIRE(reader.open());
    BOOST_TEST_REQUIRE(sleeper.open());
    BOOST_TEST_REQUIRE(eventually([&] { return l.opened.load() == 2; }));
    pier::ws::session_handle slow;
    {
        std::lock_guard g(l.m);
        slow = l.handles.at(1);
    }
    // A producer thread far faster than the shard: every answer is synchronous, and the
    // mailbox refuses once its budget is used; nothing is buffered beyond it.
    const auto frame = pier::ws::prepare(pier::ws::opcode::binary, std::string(4096, 'x'));
    std::map<pier::send_result, int> answers;
    std::thread([&] {
        for (int i = 0; i < 20000; ++i)
            ++answers[slow.send(frame)];
    }).join();
    BOOST_TEST(answers[pier::send_result::dropped] > 0);
    BOOST_TEST(answers[pier::send_result::queued] > 0);
    BOOST_TEST(answers[pier::send_result::closed] == 0);
    // The slow session's queue obeys the drop policy; the process stays within the budgets.
    BOOST_TEST(eventually([&] { return srv.stats().dropped_messages > 0u; }));
    BOOST_TEST(reader.round_trip("unaffected") == "unaffected");
}

namespace {
/// Sends `n` keyed 1 KiB messages to itself when told "go:<n>"; the slow consumer's queue
/// answers by the policy.
template <class Policies> struct producer {
    std::atomic<int>* dropped;
    std::atomic<std::size_t>* max_buffered;
    template <class S> void on_message(S& s, pier::ws::message m) {
        if (!m.text().starts_with("go:")) {
            s.send_text(m.data());
            return;
        }
        const int n = std::stoi(std::string(m.text().substr(3)));
        for (int i = 0; i < n; ++i) {
            std::string msg(1024, 'm');
            const auto head = std::to_string(i) + ":";
            msg.replace(0, head.size(), head);
            const auto r = s.send_binary(msg, static_cast<std::uint32_t>(1 + i % 4));
            if (r == pier::send_result::dropped)
                ++*dropped;
            *max_buffered = std::max<std::size_t>(*max_buffered, s.buffered_amount());
        }
        s.close(close_code::normal, "end"); // a control frame: past every policy
    }
};

template <class Policies> struct policy_run {
    std::atomic<int> dropped{0};
    std::atomic<std::size_t> max_buffered{0};
    std::vector<int> received; // message numbers that arrived, in order
    bool ended = false;        // cut off by the policy (1008), rather than "end" (1000)
    pier::stats stats{};

    policy_run() {
        auto o = fast(1);
        o.write.high_water = 32 << 10;
        o.write.low_water = 8 << 10;
        o.write.max_queued = 64 << 10;
        o.socket_buffers.send = 4096;
        pier::ws::server<producer<Policies>, Policies> srv(
            o, plain(), producer<Policies>{&dropped, &max_buffered});
        srv.start();
        client c(srv.local_endpoint(), 4096);
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(text_frame("go:2000"))); // 2 MiB into a 64 KiB queue
        for (;;) {
            auto f = c.read_frame();
            BOOST_TEST_REQUIRE(f.has_value());
            if (f->op() == 0x8) {
                BOOST_TEST((f->code() == 1000u || f->code() == 1008u), f->code());
                ended = f->code() == 1008u;
                break;
            }
            received.push_back(std::stoi(f->payload.substr(0, f->payload.find(':'))));
        }
        c.send(pier_test::close_frame(1000));
        BOOST_TEST(c.ended());
        stats = srv.stats();
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(slow_consumer_policies) {
    using pier::backpressure::close;
    using pier::backpressure::drop;
    using pier::backpressure::drop_oldest;
    using pier::backpressure::latest;
    using pier::backpressure::suspend;
    const std::size_t bound = (64 << 10);
    {
        policy_run<pier::policies<close>> r;
        BOOST_TEST(r.ended); // cut off
        BOOST_TEST(r.stats.slow_consumers == 1u);
        BOOST_TEST(r.max_buffered.load() <= std::size_t(32 << 10));
    }
    {
        policy_run<pier::policies<suspend>> r; // a producer that ignores backpressure
        BOOST_TEST(r.ended);                   // cut off at max_queued
        BOOST_TEST(r.stats.slow_consumers == 1u);
        BOOST_TEST(r.max_buffered.load() <= bound);
    }
    {
        policy_run<pier::policies<drop>> r; // newest refused, oldest kept, in order
        BOOST_TEST(!r.ended);
        BOOST_TEST(r.dropped.load() > 0);
        BOOST_TEST(r.received.size() + r.dropped.load() == 2000u);
        BOOST_TEST(std::is_sorted(r.received.begin(), r.received.end()));
        BOOST_TEST_REQUIRE(!r.received.empty());
        BOOST_TEST(r.received.front() == 0);
        BOOST_TEST(r.max_buffered.load() <= std::size_t(32 << 10));
    }
    {
        policy_run<pier::policies<drop_oldest>> r; // oldest evicted: the newest arrive
        BOOST_TEST(!r.ended);
        BOOST_TEST_REQUIRE(!r.received.empty());
        BOOST_TEST(r.received.back() == 1999);
        BOOST_TEST(std::is_sorted(r.received.begin(), r.received.end()));
        BOOST_TEST(r.stats.dropped_messages > 0u);
        BOOST_TEST(r.received.size() + r.stats.dropped_messages == 2000u);
        BOOST_TEST(r.max_buffered.load() <= std::size_t(32 << 10));
    }
    {
        policy_run<pier::policies<latest>> r; // per key (4 keys), the latest survives
        BOOST_TEST(!r.ended);
        BOOST_TEST_REQUIRE(r.received.size() >= 4u);
        std::set<int> last_four(r.received.end() - 4, r.received.end());
        BOOST_TEST((last_four == std::set<int>{1996, 1997, 1998, 1999}));
        BOOST_TEST(std::is_sorted(r.received.begin(), r.received.end()));
        BOOST_TEST(r.max_buffered.load() <= std::size_t(32 << 10));
    }
}

BOOST_AUTO_TEST_CASE(sessions_live_in_the_lot_idle_or_busy) {
    ledger l;
    {
        pier::ws::server<recorder> srv(fast(1), plain(), recorder{&l});
        srv.start();
        constexpr std::uint64_t n = 40;
        std::vector<std::unique_ptr<client>> cs;
        for (std::uint64_t i = 0; i < n; ++i) {
            cs.push_back(std::make_unique<client>(srv.local_endpoint()));
            BOOST_TEST_REQUIRE(cs.back()->open());
        }
        // Quiet after the handshake: every session is idle in the lot, out of Asio's reactor.
        auto all_parked = [&] { return srv.stats().parked == n; };
        BOOST_TEST_REQUIRE(eventually(all_parked));
        // The lot reports input, the reply is written from outside the reactor.
        for (auto& c : cs)
            BOOST_TEST(c->round_trip("hello") == "hello");
        BOOST_TEST_REQUIRE(eventually(all_parked));
        // Sends from a foreign thread reach parked sessions.
        std::vector<pier::ws::session_handle> handles;
        {
            std::lock_guard g(l.m);
            handles = l.handles;
        }
        for (auto& h : handles)
            BOOST_TEST((h.send_text("news") == pier::send_result::queued));
        for (auto& c : cs) {
            auto f = c->read_frame();
            BOOST_TEST_REQUIRE(f.has_value());
            BOOST_TEST(f->payload == "news");
        }
        // A message many reads long makes its session busy (it keeps its buffer between
        // reads); its echo is larger than the socket takes at once, so the session waits for
        // the lot to report room to write.
        const std::string big(600 << 10, 'x');
        BOOST_TEST_REQUIRE(cs[0]->send(text_frame(big)));
        auto echo = cs[0]->read_frame();
        BOOST_TEST_REQUIRE(echo.has_value());
        BOOST_TEST((echo->payload == big));
        // ... and once quiet again, it is idle again.
        BOOST_TEST_REQUIRE(eventually(all_parked));
        // A Close from a parked peer: answered, the connection ended, on_close reported.
        for (std::uint64_t i = 0; i < n / 2; ++i) {
            BOOST_TEST_REQUIRE(cs[i]->send(pier_test::close_frame(1000)));
            auto c = cs[i]->read_close();
            BOOST_TEST_REQUIRE(c.has_value());
            BOOST_TEST(c->code() == 1000u);
            BOOST_TEST(cs[i]->ended()); // the server's FIN; it lingers for ours
            cs[i].reset();
        }
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == int(n / 2); }));
        BOOST_TEST_REQUIRE(eventually([&] { return srv.stats().parked == n / 2; }));
        // A peer that vanishes while parked: its FIN is read from the lot.
        cs[n / 2].reset();
        BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == int(n / 2 + 1); }));
        BOOST_TEST_REQUIRE(eventually([&] { return srv.stats().parked == n / 2 - 1; }));
        // The rest are parked when the server stops: each gets its 1001 and the loops end.
        srv.stop();
        for (std::uint64_t i = n / 2 + 1; i < n; ++i) {
            auto c = cs[i]->read_close();
            BOOST_TEST_REQUIRE(c.has_value());
            BOOST_TEST(c->code() == 1001u);
        }
        srv.wait();
        BOOST_TEST(srv.stats().parked == 0u);
    }
    BOOST_TEST(l.balanced());
    BOOST_TEST(l.closed.load() == 40);
}

BOOST_AUTO_TEST_CASE(a_message_and_the_fin_reported_together_are_both_read) {
    // The lot is edge-triggered: a read shorter than its buffer ends the reads until the
    // next report. When the peer's last message and its FIN are in before the shard looks,
    // one report carries both, and no other comes: the reads must go on to the FIN.
    ledger l;
    pier::ws::server<recorder> srv(fast(1), plain(), recorder{&l});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.open());
    BOOST_TEST_REQUIRE(eventually([&] { return srv.stats().parked == 1u; }));
    std::promise<void> go;
    auto held = go.get_future().share();
    std::atomic<bool> holding{false};
    srv.post_to_shard(0, [&holding, held] {
        holding = true;
        held.wait();
    });
    BOOST_TEST_REQUIRE(eventually([&] { return holding.load(); }));
    BOOST_TEST_REQUIRE(c.send(text_frame("last")));
    BOOST_TEST_REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    go.set_value();
    auto echo = c.read_frame();
    BOOST_TEST_REQUIRE(echo.has_value());
    BOOST_TEST(echo->payload == "last");
    // Closed on the FIN, not by the keep-alive's Ping 30 s later.
    BOOST_TEST_REQUIRE(eventually([&] { return l.closed.load() == 1; }));
    BOOST_TEST(srv.stats().timeouts == 0u);
    srv.stop();
    srv.wait();
    BOOST_TEST(l.balanced());
}

BOOST_AUTO_TEST_CASE(shards_run_their_own_work) {
    ledger l;
    pier::ws::server<recorder> srv(fast(2), plain(), recorder{&l});
    srv.start();
    BOOST_TEST(srv.shard_count() == 2u);
    BOOST_TEST(pier::this_shard() == pier::no_shard);
    pier::sharded<std::size_t> seen(srv.shard_count());
    std::atomic<int> ran{0}, on_own_shard{0};
    pier::on_every_shard(srv, [&](std::size_t i) {
        // No Boost.Test macro here: this is a loop thread, and Boost.Test is not thread-safe.
        seen.local() = pier::this_shard() + 100;
        if (pier::this_shard() == i)
            ++on_own_shard;
        ++ran;
    });
    BOOST_TEST_REQUIRE(eventually([&] { return ran.load() == 2; }));
    BOOST_TEST(on_own_shard.load() == 2);
    std::promise<std::vector<std::size_t>> all;
    pier::gather(
        srv, [&](std::size_t i) { return seen[i]; },
        [&](std::vector<std::size_t> v) { all.set_value(std::move(v)); });
    auto fut = all.get_future();
    BOOST_TEST_REQUIRE((fut.wait_for(patience) == std::future_status::ready));
    BOOST_TEST((fut.get() == std::vector<std::size_t>{100, 101}));
}

BOOST_AUTO_TEST_CASE(cancelled_read_leaves_the_connection_usable) {
    // co_await (c.read() || timer): the timer wins, the read is cancelled, and the next read
    // still gets the data (a pier::connection stream handler).
    struct h {
        std::atomic<int>* cancelled;
        asio::awaitable<void> operator()(pier::connection<pier::default_policies>& c) {
            using namespace asio::experimental::awaitable_operators;
            asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
            auto r = co_await (c.read() || t.async_wait(asio::use_awaitable));
            if (r.index() == 1)
                ++*cancelled;
            for (;;) {
                auto ec = co_await c.read();
                if (ec)
                    co_return;
                c.try_send(c.input());
                c.consume(c.input().size());
            }
        }
    };
    std::atomic<int> cancelled{0};
    pier::server<h> srv(fast(1), h{&cancelled});
    srv.start();
    pier_test::client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(eventually([&] { return cancelled.load() == 1; }));
    BOOST_TEST(pier_test::round_trip(c, "after") == "after");
}

BOOST_AUTO_TEST_SUITE_END()
