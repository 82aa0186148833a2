// pier-test: serial
//
// pier::redis::connection and the standalone client against real redis-server processes:
// pipelining order under 10k commands in flight, the per-command deadline (CLIENT PAUSE
// WRITE), the connect deadline (a stopped server), the bounded queue, AUTH (password and ACL user)
// and SELECT, TLS, error replies, EVALSHA with the NOSCRIPT fallback, any completion token, and a
// server killed with -9: fail fast while down (counted), recover when it is back.
#include <pier/redis.hpp>

#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"
#include "support.hpp"

#include <chrono>
#include <string>
#include <system_error>
#include <vector>

namespace redis = pier::redis;
using pier_test::redis::exec;
using pier_test::redis::result;
using pier_test::redis::run_until;
using pier_test::redis::server;
using namespace std::chrono_literals;

namespace {

std::error_code code(redis::error e) {
    return redis::make_error_code(e);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(redis_connection, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(ten_thousand_pipelined_commands_complete_in_order) {
    server srv;
    asio::io_context io;
    redis::connection c(io.get_executor(), srv.url());
    constexpr int n = 10000;
    std::vector<long long> got;
    std::vector<int> order;
    for (int i = 0; i < n; ++i)
        c.command({"INCR", "counter"}, [&, i](std::error_code ec, redis::reply r) {
            BOOST_TEST_REQUIRE(!ec);
            got.push_back(r.integer);
            order.push_back(i);
        });
    // All issued before any reply could be read: 10k in flight on one connection.
    BOOST_TEST(c.pending() == std::size_t(n));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return got.size() == std::size_t(n); }));
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(got[i] == i + 1);
        BOOST_TEST_REQUIRE(order[i] == i);
    }
    BOOST_TEST(c.stats().commands == std::uint64_t(n));
    BOOST_TEST(c.stats().replies == std::uint64_t(n));
    BOOST_TEST(c.stats().pending == 0u);
    BOOST_TEST(c.stats().connects == 1u);
    // The server saw them as one stream: every INCR, and one connection.
    BOOST_TEST(srv.connect()->calls("incr") == n);
}

BOOST_AUTO_TEST_CASE(a_late_reply_fails_the_command_and_the_connection) {
    server srv;
    asio::io_context io;
    redis::connection_options o;
    o.command_timeout = 300ms;
    o.reconnect_min = 10ms;
    o.reconnect_max = 50ms;
    o.connect_timeout = 500ms;
    redis::connection c(io.get_executor(), srv.url(), o);
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", "k", "v"}).ec);

    // WRITE pauses writes only: the admin connection can still UNPAUSE, and a reconnecting
    // client's handshake PING is answered.
    auto a = srv.connect();
    BOOST_TEST_REQUIRE(a->run({"CLIENT", "PAUSE", "60000", "WRITE"}).str == "OK");
    result first, second;
    const auto start = std::chrono::steady_clock::now();
    c.command({"SET", "k", "w1"}, first.handler());
    c.command({"SET", "k", "w2"}, second.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return first.done && second.done; }));
    const auto waited = std::chrono::steady_clock::now() - start;
    BOOST_TEST(first.ec == code(redis::error::command_timeout));
    BOOST_TEST(second.ec == code(redis::error::connection_lost));
    BOOST_TEST(waited >= 300ms);
    BOOST_TEST(c.stats().timeouts == 1u);
    BOOST_TEST(c.stats().disconnects == 1u);

    // It reconnects at once (PING is not paused); after UNPAUSE writes go through.
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.connected(); }));
    BOOST_TEST_REQUIRE(a->run({"CLIENT", "UNPAUSE"}).str == "OK");
    BOOST_TEST(!exec(io, c, {"SET", "k", "w3"}).ec);
    const auto r = exec(io, c, {"GET", "k"});
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.r.str == "w3");
}

BOOST_AUTO_TEST_CASE(connect_deadline) {
    // A stopped server: the kernel completes the TCP handshake, nobody answers the PING.
    server srv;
    srv.pause();
    asio::io_context io;
    redis::connection_options o;
    o.connect_timeout = 300ms;
    o.reconnect = false;
    redis::connection c(io.get_executor(), srv.url(), o);
    const auto start = std::chrono::steady_clock::now();
    const auto r = exec(io, c, {"PING"});
    BOOST_TEST(r.ec == code(redis::error::connect_timeout));
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 300ms));
    BOOST_TEST(c.stats().connect_failures == 1u);
    BOOST_TEST(c.stats().connects == 0u);
    srv.resume();
}

BOOST_AUTO_TEST_CASE(the_queue_is_bounded) {
    server srv;
    asio::io_context io;
    redis::connection_options o;
    o.max_pending = 100;
    o.max_queued_bytes = 64 * 1024;
    redis::connection c(io.get_executor(), srv.url(), o);
    int ok = 0, refused = 0, inline_calls = 0;
    bool issuing = true;
    for (int i = 0; i < 150; ++i)
        c.command({"PING"}, [&](std::error_code ec, redis::reply) {
            inline_calls += issuing;
            if (!ec)
                ++ok;
            else if (ec == code(redis::error::queue_full))
                ++refused;
        });
    issuing = false;
    BOOST_TEST_REQUIRE(run_until(io, [&] { return ok + refused == 150; }));
    BOOST_TEST(ok == 100);
    BOOST_TEST(refused == 50);
    BOOST_TEST(inline_calls == 0); // refusals too arrive through the executor
    BOOST_TEST(c.stats().refused_queue_full == 50u);

    // Bytes: one value larger than the byte bound is refused, a smaller one goes.
    result big, small;
    c.command({"SET", "big", std::string(70 * 1024, 'x')}, big.handler());
    c.command({"SET", "small", std::string(10 * 1024, 'x')}, small.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return big.done && small.done; }));
    BOOST_TEST(big.ec == code(redis::error::queue_full));
    BOOST_TEST(!small.ec);
}

BOOST_AUTO_TEST_CASE(auth_and_select) {
    server::options so;
    so.password = "s3cr:t@";
    server srv(so);
    asio::io_context io;
    const auto port = std::to_string(srv.port());
    {
        redis::connection c(io.get_executor(), "redis://:s3cr%3At%40@127.0.0.1:" + port + "/3");
        BOOST_TEST_REQUIRE(!exec(io, c, {"SET", "where", "db3"}).ec);
        auto a = srv.connect();
        BOOST_TEST(a->run({"GET", "where"}).is_nil());
        BOOST_TEST(a->run({"SELECT", "3"}).str == "OK");
        BOOST_TEST(a->run({"GET", "where"}).str == "db3");
    }
    {
        // Redis 6 ACL: user and password.
        auto a = srv.connect();
        BOOST_TEST_REQUIRE(
            a->run({"ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@all"}).str == "OK");
        redis::connection c(io.get_executor(), "redis://alice:pw@127.0.0.1:" + port);
        const auto r = exec(io, c, {"ACL", "WHOAMI"});
        BOOST_TEST(!r.ec);
        BOOST_TEST(r.r.str == "alice");
    }
    {
        redis::connection_options o;
        o.reconnect = false;
        redis::connection c(io.get_executor(), "redis://:wrong@127.0.0.1:" + port, o);
        const auto r = exec(io, c, {"PING"});
        BOOST_TEST(r.ec == code(redis::error::handshake_failed));
        BOOST_TEST(c.stats().connect_failures == 1u);
        BOOST_TEST(!c.connected());
    }
    {
        // No password at all: the handshake's PING is refused (NOAUTH), so the connection
        // never counts as up and the command learns why.
        redis::connection c(io.get_executor(), "redis://127.0.0.1:" + port);
        const auto r = exec(io, c, {"GET", "x"});
        BOOST_TEST(r.ec == code(redis::error::handshake_failed));
        BOOST_TEST(!c.connected());
    }
}

BOOST_AUTO_TEST_CASE(tls) {
    server::options so;
    so.tls = true;
    server srv(so);
    asio::io_context io;
    const auto port = std::to_string(srv.tls_port());
    {
        redis::connection_options o;
        o.tls.ca_file = srv.tls_cert();
        redis::connection c(io.get_executor(), "rediss://127.0.0.1:" + port, o);
        BOOST_TEST(!exec(io, c, {"SET", "t", "over tls"}).ec);
        BOOST_TEST(exec(io, c, {"GET", "t"}).r.str == "over tls");
        redis::connection by_name(io.get_executor(), "rediss://localhost:" + port, o);
        BOOST_TEST(exec(io, by_name, {"GET", "t"}).r.str == "over tls");
    }
    {
        // The system trust store does not know the self-signed certificate.
        redis::connection_options o;
        o.reconnect = false;
        redis::connection c(io.get_executor(), "rediss://127.0.0.1:" + port, o);
        const auto r = exec(io, c, {"PING"});
        BOOST_TEST(r.ec);
        BOOST_TEST((r.ec.category() != redis::error_category()));
        BOOST_TEST(c.stats().connect_failures == 1u);
    }
    {
        // Plain RESP to a TLS port gets no answer a client would accept.
        redis::connection_options o;
        o.reconnect = false;
        o.connect_timeout = 1s;
        redis::connection c(io.get_executor(), "redis://127.0.0.1:" + port, o);
        BOOST_TEST(exec(io, c, {"PING"}).ec);
    }
}

BOOST_AUTO_TEST_CASE(error_replies_and_scripts) {
    server srv;
    asio::io_context io;
    redis::client c(io.get_executor(), srv.url());
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", "s", "text"}).ec);
    auto r = exec(io, c, {"INCR", "s"});
    BOOST_TEST(r.ec == code(redis::error::server_error));
    BOOST_TEST(r.r.is_error());
    BOOST_TEST(r.r.str == "ERR value is not an integer or out of range");
    BOOST_TEST(c.stats().error_replies == 1u);

    const redis::script incr_by{"return redis.call('INCRBY', KEYS[1], ARGV[1])"};
    BOOST_TEST(incr_by.sha1().size() == 40u);
    auto a = srv.connect();
    BOOST_TEST_REQUIRE(a->run({"SCRIPT", "FLUSH"}).str == "OK");
    // Pipelined calls on a connection that has not used the script yet: one SCRIPT LOAD goes
    // ahead of them, none meets NOSCRIPT, and they run in the order they were made (a NOSCRIPT
    // retry would let later calls overtake the first ones).
    constexpr int burst = 20;
    std::vector<result> rs(burst);
    for (auto& r : rs)
        c.script(incr_by, {"n"}, {"1"}, r.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return rs.back().done; }));
    for (int i = 0; i < burst; ++i) {
        BOOST_TEST_REQUIRE(rs[std::size_t(i)].done);
        BOOST_TEST(!rs[std::size_t(i)].ec);
        BOOST_TEST(rs[std::size_t(i)].r.integer == i + 1);
    }
    BOOST_TEST(a->calls("script|load") == 1);
    BOOST_TEST(a->calls("evalsha") == burst);
    BOOST_TEST(a->calls("eval") == 0);

    // A SCRIPT FLUSH under a live connection: the next EVALSHA meets NOSCRIPT and falls back
    // to EVAL, which caches the script again.
    BOOST_TEST_REQUIRE(a->run({"SCRIPT", "FLUSH"}).str == "OK");
    for (int i = 1; i <= 3; ++i) {
        result s;
        c.script(incr_by, {"n"}, {"5"}, s.handler());
        BOOST_TEST_REQUIRE(run_until(io, [&] { return s.done; }));
        BOOST_TEST(!s.ec);
        BOOST_TEST(s.r.integer == burst + 5 * i);
    }
    BOOST_TEST(a->calls("evalsha") == burst + 3);
    BOOST_TEST(a->calls("eval") == 1);
    BOOST_TEST(a->run({"SCRIPT", "EXISTS", incr_by.sha1()}).elements.at(0).integer == 1);

    result bad;
    c.script(redis::script("return redis.call('NOSUCHCOMMAND')"), {}, {}, bad.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return bad.done; }));
    BOOST_TEST(bad.ec == code(redis::error::server_error));
}

BOOST_AUTO_TEST_CASE(completion_tokens) {
    server srv;
    asio::io_context io;
    redis::client c(io.get_executor(), srv.url());
    std::string got;
    bool finished = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            // Named argument arrays: GCC 12 rejects a braced list inside co_await ("array
            // used as initializer").
            const std::vector<std::string> set = {"SET", "co", "routine"}, get = {"GET", "co"};
            auto [ec, r] = co_await c.command(set, pier::use_tuple);
            BOOST_TEST(!ec);
            std::tie(ec, r) = co_await c.command(get, pier::use_tuple);
            got = r.str;
            std::tie(ec, r) = co_await c.publish("nobody", "x", false, pier::use_tuple);
            BOOST_TEST(!ec);
            BOOST_TEST(r.integer == 0);
            finished = true;
        },
        asio::detached);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return finished; }));
    BOOST_TEST(got == "routine");
    BOOST_TEST(c.stats().publishes == 1u);
}

BOOST_AUTO_TEST_CASE(server_killed_fail_fast_then_recover) {
    server srv;
    asio::io_context io;
    redis::client_options o;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 100ms;
    redis::client c(io.get_executor(), srv.url(), o);
    BOOST_TEST_REQUIRE(!exec(io, c, {"PING"}).ec);
    BOOST_TEST(c.stats().connected());

    srv.kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().connections_up == 0u; }));
    // Down: commands and publishes fail at once with not_connected, counted, nothing queues.
    int refused = 0;
    for (int i = 0; i < 50 && refused == 0; ++i) {
        // The first attempts may still be under way (refused by the kernel, then backoff):
        // try until one finds the connection waiting.
        result r = exec(io, c, {"PING"});
        refused += r.ec == code(redis::error::not_connected);
    }
    BOOST_TEST(refused == 1);
    const auto before = c.stats().publish_errors.load();
    c.publish("ch", "lost", false);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().publish_errors > before; }));
    BOOST_TEST(c.stats().refused_not_connected >= 1u);
    BOOST_TEST(c.stats().pending == 0u);
    // Attempts go on (and fail) while it is down.
    BOOST_TEST(run_until(io, [&] { return c.stats().connect_failures >= 2u; }));

    srv.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().connected(); }));
    BOOST_TEST(!exec(io, c, {"PING"}).ec);
    BOOST_TEST(c.stats().connects == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
