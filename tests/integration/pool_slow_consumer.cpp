// pool_slow_consumer: a pool subscriber that stops reading while a producer thread publishes
// 2 MiB to its topic, under each backpressure policy. The slow connection's queued bytes stay
// within the write_options bounds (max_queued for suspend and close, which cut it off; about
// high_water for drop, drop_oldest and latest, which keep it and lose messages), the other
// subscriber of the topic gets every message in order, the publish reports say what happened,
// and a connection kept open by its policy works again once its client reads.
//
// The producer is a thread of its own: every publish crosses to the shards through their
// mailboxes (pier-test: threads, for the ThreadSanitizer tree).
//
// pier-test: threads
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include "pool_client.hpp"
#include "support.hpp"
#include "ws_client.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;
using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;
using namespace std::chrono_literals;

const std::string secret(40, 'k');
constexpr int messages = 2000;
constexpr std::size_t payload_size = 1024;

std::string token(const std::string& sub) {
    return pier_test::pool_token(secret, sub);
}

/// A pool client on the shared loopback client: joins with a token, reads envelopes.
struct pool_client : pier_test::ws_client {
    pool_client(const asio::ip::tcp::endpoint& ep, int rcvbuf = 0)
        : pier_test::ws_client(ep, rcvbuf) {}
    bool join(const std::string& user, std::string_view topics) {
        auto r = handshake("/ws?token=" + token(user) + "&topics=" + std::string(topics));
        return r && r->status_line == "HTTP/1.1 101 Switching Protocols";
    }
    /// The next envelope; nullopt at a Close (its code kept) or the end of the stream.
    std::optional<json> next(std::chrono::milliseconds limit = patience) {
        for (;;) {
            auto f = read_frame(limit);
            if (!f)
                return std::nullopt;
            if (f->op() == 0x9) {
                send(pier_test::wire(0x8a, f->payload));
                continue;
            }
            if (f->op() == 0x8) {
                close_code = f->code();
                return std::nullopt;
            }
            auto j = json::parse(f->payload, nullptr, false);
            if (j.is_object() && j["type"] == "heartbeat")
                continue;
            return j;
        }
    }
    unsigned close_code = 0;
};

struct app {};

struct outcome {
    std::vector<int> fast_got;    // sequence numbers the reading subscriber received
    std::vector<int> slow_got;    // ... and the slow one, once it read again
    unsigned slow_close = 0;      // the slow one's close code, 0 if it stayed open
    std::size_t max_buffered = 0; // the slow connection's queued bytes, sampled
    std::uint64_t delivered = 0, dropped = 0, backpressure = 0;
    std::uint32_t shards_refused = 0;
    pier::stats ws{};
    bool slow_works_after = false; // kept open: after what was kept, the pong to its ping
};

/// The server and pool of every test here: small write bounds, a small kernel send buffer (the
/// queue does the holding), and no send-failure limit (the backpressure policy alone decides).
std::pair<pier::server_options, pier::pool::pool_options> slow_options(std::size_t threads) {
    auto so = pier::server_options{.threads = threads};
    so.timeouts.resolution = 20ms;
    so.write.high_water = 32 << 10;
    so.write.low_water = 8 << 10;
    so.write.max_queued = 64 << 10;
    so.socket_buffers.send = 4096;
    pier::pool::pool_options po;
    po.keys.current = secret;
    po.limits.max_send_failures = 0;
    return {so, po};
}

int seq_of(const json& m) {
    return m.is_object() && m["type"] == "data" ? m["data"]["seq"].get<int>() : -1;
}

template <class Policy> outcome run() {
    outcome out;
    const auto [so, po] = slow_options(2);
    pier::ws::pool<app, pier::policies<Policy>> pool(so, po);
    pool.start();
    const auto ep = pool.local_endpoint();

    pool_client slow(ep, 4096), fast(ep);
    BOOST_TEST_REQUIRE(slow.join("slow", "feed"));
    BOOST_TEST_REQUIRE(slow.next().has_value()); // the welcome; then it stops reading
    BOOST_TEST_REQUIRE(fast.join("fast", "feed"));
    BOOST_TEST_REQUIRE(fast.next().has_value());

    std::atomic<int> reported{0};
    std::atomic<std::uint64_t> delivered{0}, dropped{0}, backpressure{0};
    std::atomic<std::uint32_t> refused{0};
    std::atomic<std::size_t> max_buffered{0};
    auto sample = [&] {
        pool.for_each_connection([&](auto& c) {
            const auto b = c.buffered_amount();
            auto seen = max_buffered.load();
            while (b > seen && !max_buffered.compare_exchange_weak(seen, b)) {
            }
        });
    };
    // The producer keeps pace with the reading subscriber (at most `window` messages ahead of
    // it, well under high_water), as a real producer would; the slow one it does not wait for.
    constexpr int window = 16;
    std::atomic<int> fast_seen{0};
    std::jthread producer([&](std::stop_token stop) { // joined on every path
        std::string pad(payload_size, 'p');
        for (int i = 0; i < messages; ++i) {
            while (fast_seen.load() < i - window)
                if (stop.stop_requested())
                    return;
                else
                    std::this_thread::yield();
            const auto data = json{{"seq", i}, {"pad", pad}}.dump();
            pool.publish("feed", {.data = data}, {}, [&](const pier::pool::send_report& r) {
                delivered += r.delivered;
                dropped += r.dropped;
                backpressure += r.backpressure;
                refused += r.shards_refused;
                ++reported;
            });
            if (i % 50 == 0)
                sample();
        }
    });
    // The reading subscriber gets everything, whatever happens to the slow one.
    while (out.fast_got.size() < std::size_t(messages)) {
        auto m = fast.next();
        BOOST_TEST_REQUIRE(m.has_value(), "the reading subscriber lost its connection after "
                                              << out.fast_got.size() << " messages (close "
                                              << fast.close_code << ")");
        out.fast_got.push_back(seq_of(*m));
        fast_seen = int(out.fast_got.size());
    }
    producer.join();
    BOOST_TEST_REQUIRE(eventually([&] { return reported.load() == messages; }));
    // Every publish has reached every shard: the slow queue is as full as it gets.
    std::atomic<bool> sampled{false};
    pool.for_each_connection(
        [&](auto& c) {
            const auto b = c.buffered_amount();
            if (b > max_buffered.load())
                max_buffered = b;
        },
        [&] { sampled = true; });
    BOOST_TEST_REQUIRE(eventually([&] { return sampled.load(); }));
    out.max_buffered = max_buffered.load();
    out.delivered = delivered;
    out.dropped = dropped;
    out.backpressure = backpressure;
    out.shards_refused = refused;

    // The slow client reads again: what its policy kept (a count known from the reports and
    // the stats once every publish was delivered), then the close of a policy that cut it
    // off, or else the pong to its ping and nothing before it.
    constexpr auto action = Policy::action;
    std::size_t kept = messages;
    if (action == pier::backpressure_action::drop)
        kept = messages - std::size_t(out.dropped);
    else if (action == pier::backpressure_action::drop_oldest ||
             action == pier::backpressure_action::latest)
        kept = messages - std::size_t(pool.server().stats().dropped_messages);
    while (out.slow_got.size() < kept) {
        auto m = slow.next();
        if (!m) {
            out.slow_close = slow.close_code;
            break;
        }
        out.slow_got.push_back(seq_of(*m));
    }
    if (out.slow_close == 0 && out.slow_got.size() == kept) {
        BOOST_TEST_REQUIRE(slow.send(pier_test::text_frame(R"({"type":"ping"})")));
        auto m = slow.next();
        out.slow_works_after = m && (*m)["type"] == "pong";
    }
    out.ws = pool.server().stats();
    return out;
}

/// What every policy must keep: the other subscriber got all, in order; the reports add up.
void common_checks(const outcome& o) {
    std::vector<int> all(messages);
    for (int i = 0; i < messages; ++i)
        all[std::size_t(i)] = i;
    BOOST_TEST(o.fast_got == all, "the reading subscriber got every message, in order");
    BOOST_TEST(o.shards_refused == 0u);
    BOOST_TEST(o.delivered + o.dropped >= std::uint64_t(messages)); // fast: one each
    BOOST_TEST(o.delivered >= std::uint64_t(messages));
    BOOST_TEST(std::is_sorted(o.slow_got.begin(), o.slow_got.end()));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_slow_consumer, watchdog)

// What one message costs in the queue: the envelope (~1.1 KiB) and its frame header.
constexpr std::size_t one_message = payload_size + 256;

BOOST_AUTO_TEST_CASE(suspend_cuts_off_at_max_queued) {
    const auto o = run<pier::backpressure::suspend>();
    common_checks(o);
    BOOST_TEST(o.slow_close == 1008u); // the slow consumer's close (RFC 6455 §7.4.1)
    BOOST_TEST(o.ws.slow_consumers == 1u);
    BOOST_TEST(o.max_buffered <= std::size_t(64 << 10));
    BOOST_TEST(o.backpressure > 0u); // answered `backpressure` past high_water first
    BOOST_TEST(o.slow_got.size() < std::size_t(messages));
}

BOOST_AUTO_TEST_CASE(close_cuts_off_at_high_water) {
    const auto o = run<pier::backpressure::close>();
    common_checks(o);
    BOOST_TEST(o.slow_close == 1008u);
    BOOST_TEST(o.ws.slow_consumers == 1u);
    BOOST_TEST(o.max_buffered <= std::size_t(32 << 10) + one_message);
    BOOST_TEST(o.slow_got.size() < std::size_t(messages));
}

BOOST_AUTO_TEST_CASE(drop_keeps_the_oldest_and_the_connection) {
    const auto o = run<pier::backpressure::drop>();
    common_checks(o);
    BOOST_TEST(o.slow_close == 0u);
    BOOST_TEST(o.slow_works_after);
    BOOST_TEST(o.dropped > 0u);
    BOOST_TEST(o.max_buffered <= std::size_t(32 << 10) + one_message);
    BOOST_TEST_REQUIRE(!o.slow_got.empty());
    BOOST_TEST(o.slow_got.front() == 0); // the oldest kept, the newest refused
}

BOOST_AUTO_TEST_CASE(drop_oldest_keeps_the_newest_and_the_connection) {
    const auto o = run<pier::backpressure::drop_oldest>();
    common_checks(o);
    BOOST_TEST(o.slow_close == 0u);
    BOOST_TEST(o.slow_works_after);
    BOOST_TEST(o.ws.dropped_messages > 0u);
    BOOST_TEST(o.max_buffered <= std::size_t(32 << 10) + one_message);
    BOOST_TEST_REQUIRE(!o.slow_got.empty());
    BOOST_TEST(o.slow_got.back() == messages - 1); // the newest arrive
}

BOOST_AUTO_TEST_CASE(latest_keeps_the_newest_of_each_topic) {
    const auto o = run<pier::backpressure::latest>();
    common_checks(o);
    BOOST_TEST(o.slow_close == 0u);
    BOOST_TEST(o.slow_works_after);
    BOOST_TEST(o.ws.dropped_messages > 0u);
    BOOST_TEST(o.max_buffered <= std::size_t(32 << 10) + one_message);
    BOOST_TEST_REQUIRE(!o.slow_got.empty());
    BOOST_TEST(o.slow_got.back() == messages - 1);
}

BOOST_AUTO_TEST_CASE(latest_conflates_per_topic) {
    // A subscriber of two topics stops reading. Once its queue holds messages (the kernel's
    // buffers are full), one message goes to topic "other", then a flood to "feed" overflows
    // the queue again and again. `latest` replaces queued "feed" messages with newer ones and
    // keeps the "other" one, which drop_oldest would have evicted first (it is older than
    // every "feed" message behind it).
    const auto [so, po] = slow_options(1);
    pier::ws::pool<app, pier::policies<pier::backpressure::latest>> pool(so, po);
    pool.start();
    pool_client slow(pool.local_endpoint(), 4096);
    BOOST_TEST_REQUIRE(slow.join("slow", "feed,other"));
    BOOST_TEST_REQUIRE(slow.next().has_value()); // the welcome; then it stops reading

    const std::string pad(payload_size, 'p');
    int seq = 0;
    std::atomic<int> reported{0};
    std::atomic<std::uint32_t> refused{0};
    auto publish = [&](const char* topic) {
        pool.publish(topic, {.data = json{{"seq", seq++}, {"pad", pad}}.dump()}, {},
                     [&](const pier::pool::send_report& r) {
                         refused += r.shards_refused;
                         ++reported;
                     });
    };
    auto queued = [&] { // the slow connection's queued bytes, once earlier publishes are in
        std::atomic<std::size_t> b{0};
        std::atomic<bool> done{false};
        pool.for_each_connection([&](auto& c) { b = c.buffered_amount(); }, [&] { done = true; });
        BOOST_TEST_REQUIRE(eventually([&] { return done.load(); }));
        return b.load();
    };
    while (queued() < std::size_t(8 << 10)) { // bounded: a full queue closes at max_queued
        BOOST_TEST_REQUIRE(seq < 1000);
        for (int i = 0; i < 4; ++i)
            publish("feed");
    }
    const int other_seq = seq;
    publish("other");
    for (int i = 0; i < 200; ++i) // many times high_water
        publish("feed");
    const int last = seq - 1;
    BOOST_TEST_REQUIRE(eventually([&] { return reported.load() == seq; }));
    BOOST_TEST_REQUIRE(refused.load() == 0u); // every publish reached the shard
    BOOST_TEST(pool.server().stats().dropped_messages > 0u);

    bool got_other = false;
    int feeds_after_other = 0;
    for (int got = -1; got != last;) {
        auto m = slow.next();
        BOOST_TEST_REQUIRE(m.has_value(), "closed (code " << slow.close_code << ")");
        got = seq_of(*m);
        if ((*m)["topic"] == "other") {
            BOOST_TEST(got == other_seq);
            got_other = true;
        } else if (got_other) {
            ++feeds_after_other;
        }
    }
    BOOST_TEST(got_other, "the queued message of the other topic was kept");
    // Behind "other", only what was queued at the last overflow (under high_water) remains.
    BOOST_TEST(feeds_after_other < 200 / 2);
}

BOOST_AUTO_TEST_CASE(a_send_that_closes_a_topics_last_subscriber) {
    // The `close` policy cuts a slow consumer off inside the send that overflows its queue, and
    // its on_close leaves its topics then, while the broadcast is still looping over the
    // topic's subscribers. When it was the topic's last one, the topic goes, and when the
    // shard already keeps its 64 spare topics, it is freed: the loop must not read it again
    // (the ASan tree catches a use after free here). One shard, so that every topic is on it.
    const auto [so, po] = slow_options(1);
    pier::ws::pool<app, pier::policies<pier::backpressure::close>> pool(so, po);
    pool.start();
    const auto ep = pool.local_endpoint();
    pool_client slow(ep, 4096);
    {
        // 64 topics that go after "solo" came: the shard's spare list is full afterwards.
        std::string topics;
        for (int i = 0; i < 64; ++i)
            topics += (i ? ",s" : "s") + std::to_string(i);
        pool_client filler(ep);
        BOOST_TEST_REQUIRE(filler.join("filler", topics));
        BOOST_TEST_REQUIRE(filler.next().has_value());
        BOOST_TEST_REQUIRE(slow.join("slow", "solo"));
        BOOST_TEST_REQUIRE(slow.next().has_value()); // the welcome; then it stops reading
        BOOST_TEST_REQUIRE(pool.topics().size() == 65u);
    }
    BOOST_TEST_REQUIRE(eventually([&] { return pool.topics().size() == 1u; }));

    const std::string pad(payload_size, 'p');
    std::atomic<int> reported{0};
    constexpr int flood = 400; // 400 KiB: far past high_water and the kernel's buffers
    for (int i = 0; i < flood; ++i)
        pool.publish("solo", {.data = json{{"seq", i}, {"pad", pad}}.dump()}, {},
                     [&](const pier::pool::send_report&) { ++reported; });
    BOOST_TEST_REQUIRE(eventually([&] { return reported.load() == flood; }));
    BOOST_TEST(pool.server().stats().slow_consumers == 1u);
    BOOST_TEST(pool.topics().empty());
    // The slow client finds its Close (1008) behind what it was sent.
    while (slow.next())
        ;
    BOOST_TEST(slow.close_code == 1008u);

    // The shard goes on: the topic comes back with a new subscriber, who gets what is sent.
    pool_client again(ep);
    BOOST_TEST_REQUIRE(again.join("again", "solo"));
    BOOST_TEST_REQUIRE(again.next().has_value());
    pool.publish("solo", {.data = json{{"seq", -1}}.dump()});
    auto m = again.next();
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(seq_of(*m) == -1);
}

BOOST_AUTO_TEST_SUITE_END()
