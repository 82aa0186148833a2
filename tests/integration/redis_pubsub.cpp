// pier-test: serial
//
// pier::redis::subscriber and the standalone client's pub/sub against real redis-server
// processes: a burst of 100 subscribes is one SUBSCRIBE (and one SSUBSCRIBE), counted by the
// server's INFO commandstats; nothing is delivered after unsubscribe; kill -9 mid-stream, then
// reconnect, resubscribe (reported as `again`) and messages flowing again; the liveness probe
// finding a stopped server (SIGSTOP) and recovering after SIGCONT; a subscriber killed with
// CLIENT KILL coming back.
#include <pier/redis.hpp>

#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"
#include "support.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace redis = pier::redis;
using pier_test::redis::inbox;
using pier_test::redis::run_until;
using pier_test::redis::server;
using namespace std::chrono_literals;

namespace {

std::string channel(int i) {
    return "room:" + std::to_string(i);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(redis_pubsub, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(a_burst_of_subscribes_is_one_command) {
    server srv;
    asio::io_context io;
    redis::subscriber s(io.get_executor(), srv.url());
    inbox in;
    in.attach(s);
    for (int i = 0; i < 100; ++i) {
        BOOST_TEST_REQUIRE(!s.subscribe(channel(i)));
        BOOST_TEST_REQUIRE(!s.subscribe("shard:" + std::to_string(i), true));
    }
    BOOST_TEST(!s.subscribe(channel(0))); // wanting twice is wanting once
    BOOST_TEST(s.stats().channels == 200u);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 200u; }));
    auto a = srv.connect();
    BOOST_TEST(a->calls("subscribe") == 1);
    BOOST_TEST(a->calls("ssubscribe") == 1);
    BOOST_TEST(s.stats().subscribe_commands == 2u);
    BOOST_TEST(s.stats().subscriptions == 200u);
    BOOST_TEST(s.stats().resubscribes == 0u);

    for (int i = 0; i < 100; ++i) {
        BOOST_TEST(a->run({"PUBLISH", channel(i), "p" + std::to_string(i)}).integer == 1);
        BOOST_TEST(a->run({"SPUBLISH", "shard:" + std::to_string(i), "s"}).integer == 1);
    }
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 200u; }));
    BOOST_TEST(in.messages[channel(42)].at(0) == "p42");
    BOOST_TEST(s.stats().messages == 200u);
    BOOST_TEST(s.stats().last_message_us > 0u);

    // Leave half in one pass: one UNSUBSCRIBE. A channel joined and left in the same pass
    // costs nothing.
    for (int i = 0; i < 50; ++i)
        s.unsubscribe(channel(i));
    BOOST_TEST(!s.subscribe("fleeting"));
    s.unsubscribe("fleeting");
    BOOST_TEST(s.stats().channels == 150u);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return a->calls("unsubscribe") == 1; }));
    BOOST_TEST(a->calls("subscribe") == 1);

    // Nothing arrives for a channel after unsubscribe returned: publish to a left channel,
    // then to a kept one; the server keeps order, so once the second is here the first would be.
    in.total = 0;
    a->run({"PUBLISH", channel(7), "late"});
    a->run({"PUBLISH", channel(77), "marker"});
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 1u; }));
    BOOST_TEST(in.messages[channel(7)].size() == 1u); // only the one from before
    BOOST_TEST(in.messages[channel(77)].back() == "marker");
}

BOOST_AUTO_TEST_CASE(kill_9_mid_stream_then_resubscribe_and_flow) {
    server srv;
    asio::io_context io;
    redis::client_options o;
    o.subscriber.connection.reconnect_min = 20ms;
    o.subscriber.connection.reconnect_max = 100ms;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 100ms;
    redis::client c(io.get_executor(), srv.url(), o);
    inbox in;
    in.attach(c);
    BOOST_TEST_REQUIRE(!c.subscribe("plain"));
    BOOST_TEST_REQUIRE(!c.subscribe("sharded:{1}", true));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 2u; }));

    // A stream of publishes through the client itself, the server killed in the middle.
    int sent = 0;
    auto pump = [&](int n) {
        for (int i = 0; i < n; ++i, ++sent) {
            c.publish("plain", std::to_string(sent), false);
            c.publish("sharded:{1}", std::to_string(sent), true);
        }
    };
    pump(200);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total >= 100u; }));
    srv.kill();
    pump(200); // some fail (counted), some may have gone before the kill was noticed
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().subscribers_up == 0u; }));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().publish_errors > 0u; }));

    srv.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.again.size() == 2u; }));
    BOOST_TEST(in.again["plain"] == 1);
    BOOST_TEST(in.again["sharded:{1}"] == 1);
    BOOST_TEST(c.stats().resubscribes == 2u);
    BOOST_TEST(c.stats().disconnects >= 2u); // the command and the subscriber connection
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().connected(); }));

    const auto before = in.total;
    auto a = srv.connect();
    BOOST_TEST(a->run({"PUBLISH", "plain", "after"}).integer == 1);
    BOOST_TEST(a->run({"SPUBLISH", "sharded:{1}", "after"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == before + 2; }));
    BOOST_TEST(in.messages["plain"].back() == "after");
    BOOST_TEST(in.messages["sharded:{1}"].back() == "after");
}

BOOST_AUTO_TEST_CASE(probe_finds_a_stopped_server) {
    server srv;
    asio::io_context io;
    redis::subscriber_options o;
    o.probe_interval = 100ms;
    o.probe_timeout = 300ms;
    o.connection.connect_timeout = 300ms;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 100ms;
    redis::subscriber s(io.get_executor(), srv.url(), o);
    inbox in;
    in.attach(s);
    BOOST_TEST_REQUIRE(!s.subscribe("alive"));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 1u; }));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return s.stats().probes >= 2u; }));
    BOOST_TEST(s.stats().probe_timeouts == 0u);
    BOOST_TEST(s.stats().probe_rtt_us > 0u);

    // Stopped, the server's kernel still holds the connection open: only the probe can tell.
    srv.pause();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return s.stats().probe_timeouts == 1u; }));
    BOOST_TEST(!s.connected());
    BOOST_TEST(s.stats().disconnects == 1u);
    srv.resume();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.again["alive"] == 1; }));
    BOOST_TEST(s.connected());
    auto a = srv.connect();
    BOOST_TEST(a->run({"PUBLISH", "alive", "again"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 1u; }));
}

BOOST_AUTO_TEST_CASE(client_kill_reconnects) {
    server srv;
    asio::io_context io;
    redis::subscriber_options o;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 100ms;
    redis::subscriber s(io.get_executor(), srv.url(), o);
    inbox in;
    in.attach(s);
    BOOST_TEST_REQUIRE(!s.subscribe("k", true));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 1u; }));
    auto a = srv.connect();
    BOOST_TEST(a->run({"CLIENT", "KILL", "TYPE", "pubsub"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.again["k"] == 1; }));
    BOOST_TEST(s.stats().disconnects == 1u);
    BOOST_TEST(s.stats().probe_timeouts == 0u);
    BOOST_TEST(a->run({"SPUBLISH", "k", "v"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 1u; }));
}

BOOST_AUTO_TEST_CASE(bad_channels_are_refused) {
    server srv;
    asio::io_context io;
    redis::subscriber_options o;
    o.max_channels = 2;
    redis::subscriber s(io.get_executor(), srv.url(), o);
    BOOST_TEST(s.subscribe("") == redis::make_error_code(redis::error::invalid_argument));
    BOOST_TEST(!s.subscribe("a"));
    BOOST_TEST(!s.subscribe("b", true));
    BOOST_TEST(s.subscribe("c") == redis::make_error_code(redis::error::too_many_channels));
    s.unsubscribe("a");
    BOOST_TEST(!s.subscribe("c"));
    BOOST_TEST(s.stats().channels == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
