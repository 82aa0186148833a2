// pool_core: pier::ws::pool on real loopback sockets: authentication (every token source,
// every refusal), the welcome, subscribe/unsubscribe/ping/data with the specification's
// envelopes, every limit with its documented answer, bad input (error envelopes, the error
// limit's close code), sends to topics, users and ids from other threads with exclusions and
// reports, admin-style disconnect and cleanup, token expiry, heartbeats, and stopping.
//
// pier-test: threads
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include "pool_client.hpp"
#include "support.hpp"
#include "ws_client.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::text_frame;
using pier_test::watchdog;
using client = pier_test::ws_client;
using nlohmann::json;

using namespace std::chrono_literals;

const std::string secret(40, 's');

std::string token(const std::string& sub, std::int64_t exp_in = 3600, json meta = nullptr) {
    return pier_test::pool_token(secret, sub, exp_in, std::move(meta));
}

struct app {
    std::atomic<int>* opened = nullptr;
    template <class C> bool authorize(C&, std::string_view topic) {
        return !topic.starts_with("secret.");
    }
    template <class C> void on_open(C&) {
        if (opened)
            ++*opened;
    }
};

using pool_t = pier::ws::pool<app>;

pier::pool::pool_options opts() {
    pier::pool::pool_options o;
    o.keys.current = secret;
    return o;
}

pier::server_options fast(std::size_t threads = 2) {
    pier::server_options o{.threads = threads};
    o.timeouts.resolution = 20ms;
    return o;
}

using pclient = pier_test::pool_client;

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_core, watchdog)

BOOST_AUTO_TEST_CASE(welcome_subscribe_ping_and_data) {
    pool_t pool(fast(), opts());
    pool.start();
    const auto ep = pool.local_endpoint();
    pclient a(ep), b(ep), c(ep);
    BOOST_TEST_REQUIRE(a.join(token("alice", 3600, json{{"plan", "pro"}}), "news,sport"));
    auto w = a.next_msg();
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST((*w)["type"] == "welcome");
    BOOST_TEST((*w)["data"]["user_id"] == "alice");
    BOOST_TEST((*w)["data"]["connection_id"].get<std::string>().size() == 16u);
    BOOST_TEST((*w)["data"]["topics"] == json::array({"news", "sport"}));
    const auto ts = (*w)["timestamp"].get<std::string>();
    BOOST_TEST(ts.size() == 24u);
    BOOST_TEST(ts.back() == 'Z');

    BOOST_TEST_REQUIRE(b.join(token("bob")));
    BOOST_TEST_REQUIRE(b.next_msg().has_value());
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "news"}}));
    auto ack = b.next_msg();
    BOOST_TEST_REQUIRE(ack.has_value());
    BOOST_TEST((*ack)["type"] == "subscribe");
    BOOST_TEST((*ack)["topic"] == "news");
    BOOST_TEST(ack->contains("timestamp"));
    BOOST_TEST_REQUIRE(c.join(token("carol"), "sport"));
    BOOST_TEST_REQUIRE(c.next_msg().has_value());

    BOOST_TEST_REQUIRE(b.say({{"type", "ping"}}));
    auto pong = b.next_msg();
    BOOST_TEST_REQUIRE(pong.has_value());
    BOOST_TEST((*pong)["type"] == "pong");

    // data from a subscriber goes to the topic's other subscribers, not back to it
    BOOST_TEST_REQUIRE(a.say({{"type", "data"}, {"topic", "news"}, {"data", {{"n", 1}}}}));
    auto got = b.next_msg();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST((*got)["type"] == "data");
    BOOST_TEST((*got)["topic"] == "news");
    BOOST_TEST((*got)["data"] == json({{"n", 1}}));
    BOOST_TEST(got->contains("timestamp"));
    // carol (sport only) got nothing: her next message is the marker below
    BOOST_TEST_REQUIRE(a.say({{"type", "data"}, {"topic", "sport"}, {"data", "marker"}}));
    auto cm = c.next_msg();
    BOOST_TEST_REQUIRE(cm.has_value());
    BOOST_TEST((*cm)["data"] == "marker");
    // ... and the sender got neither: its next message answers its ping
    BOOST_TEST_REQUIRE(a.say({{"type", "ping"}}));
    auto ap = a.next_msg();
    BOOST_TEST_REQUIRE(ap.has_value());
    BOOST_TEST((*ap)["type"] == "pong");

    // unsubscribe, then data to that topic is not delivered; not subscribed: error
    BOOST_TEST_REQUIRE(b.say({{"type", "unsubscribe"}, {"topic", "news"}}));
    auto un = b.next_msg();
    BOOST_TEST_REQUIRE(un.has_value());
    BOOST_TEST((*un)["type"] == "unsubscribe");
    BOOST_TEST_REQUIRE(b.say({{"type", "data"}, {"topic", "news"}, {"data", 2}}));
    auto ns = b.next_msg();
    BOOST_TEST_REQUIRE(ns.has_value());
    BOOST_TEST((*ns)["type"] == "error");
    BOOST_TEST((*ns)["error"] == "not_subscribed");
    BOOST_TEST((*ns)["topic"] == "news");

    const auto st = pool.stats();
    BOOST_TEST(st.active == 3u);
    BOOST_TEST(st.users == 3u);
    auto topics = pool.topics();
    BOOST_TEST(
        (topics == std::vector<std::pair<std::string, std::uint64_t>>{{"news", 1}, {"sport", 2}}));
}

BOOST_AUTO_TEST_CASE(authentication_sources_and_refusals) {
    pool_t pool(fast(), opts());
    pool.start();
    const auto ep = pool.local_endpoint();
    const auto good = token("dave");
    struct row {
        std::string target, extra;
        std::string status;
    };
    const row rows[] = {
        {"/ws?token=" + good, "", "HTTP/1.1 101 Switching Protocols"},
        {"/ws", "Authorization: Bearer " + good + "\r\n", "HTTP/1.1 101 Switching Protocols"},
        {"/ws", "Sec-WebSocket-Protocol: pier.v1, bearer." + good + "\r\n",
         "HTTP/1.1 101 Switching Protocols"},
        {"/ws", "", "HTTP/1.1 401 Unauthorized"},                              // missing
        {"/ws?token=abc.def.ghi", "", "HTTP/1.1 401 Unauthorized"},            // malformed
        {"/ws?token=" + token("dave", -120), "", "HTTP/1.1 401 Unauthorized"}, // expired
        {"/ws?token=" +
             pier::pool::sign_hs256({{"sub", "x"}, {"exp", 9999999999}}, std::string(40, 'w')),
         "", "HTTP/1.1 401 Unauthorized"}, // another key
        {"/elsewhere?token=" + good, "", "HTTP/1.1 404 Not Found"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.target.substr(0, 40) << " " << r.extra.substr(0, 30)) {
            pclient c(ep);
            auto res = c.upgrade(r.target, r.extra);
            BOOST_TEST_REQUIRE(res.has_value());
            BOOST_TEST(res->status_line == r.status);
            if (r.status.find("101") != std::string::npos) {
                // the token never comes back: only pier.v1 when offered
                const auto proto = res->header("sec-websocket-protocol");
                BOOST_TEST((proto == "<absent>" || proto == "pier.v1"));
                BOOST_TEST(res->head.find(good) == std::string::npos);
            } else {
                BOOST_TEST(c.ended());
            }
        }
    }
    BOOST_TEST(pool.stats().auth_failures == 4u);
}

BOOST_AUTO_TEST_CASE(connection_limits_answer_503) {
    auto o = opts();
    o.limits.max_connections = 3;
    o.limits.max_per_user = 2;
    pool_t pool(fast(1), o);
    pool.start();
    const auto ep = pool.local_endpoint();
    std::vector<std::unique_ptr<pclient>> held;
    auto try_join = [&](const std::string& user) {
        held.push_back(std::make_unique<pclient>(ep));
        auto r = held.back()->upgrade("/ws?token=" + token(user));
        return r ? r->status_line : std::string("<none>");
    };
    BOOST_TEST(try_join("u1") == "HTTP/1.1 101 Switching Protocols");
    BOOST_TEST(try_join("u1") == "HTTP/1.1 101 Switching Protocols");
    BOOST_TEST(try_join("u1") == "HTTP/1.1 503 Service Unavailable"); // per user
    BOOST_TEST(try_join("u2") == "HTTP/1.1 101 Switching Protocols");
    BOOST_TEST(try_join("u3") == "HTTP/1.1 503 Service Unavailable"); // total
    const auto st = pool.stats();
    BOOST_TEST(st.refused.at("max_per_user") == 1u);
    BOOST_TEST(st.refused.at("max_connections") == 1u);
    // A connection leaving frees its place.
    held[0].reset();
    BOOST_TEST(eventually([&] { return pool.stats().active == 2u; }));
    BOOST_TEST(try_join("u3") == "HTTP/1.1 101 Switching Protocols");
}

BOOST_AUTO_TEST_CASE(per_address_and_connect_rate_limits) {
    auto o = opts();
    o.limits.max_per_ip = 2;
    o.limits.connect_rate_per_ip = 1000; // not the limit tested first
    auto so = fast(1);
    so.address = "0.0.0.0";
    pool_t pool(so, o);
    pool.start();
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"),
                                     pool.local_endpoint().port());
    auto from = [&](const char* src) {
        auto c = std::make_unique<pclient>();
        c->connect(ep, 0, asio::ip::make_address(src));
        return c;
    };
    std::vector<std::unique_ptr<pclient>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(from("127.0.0.2"));
        auto r = held.back()->upgrade("/ws?token=" + token("p" + std::to_string(i)));
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == (i < 2 ? "HTTP/1.1 101 Switching Protocols"
                                            : "HTTP/1.1 503 Service Unavailable"));
    }
    auto other = from("127.0.0.3");
    auto r = other->upgrade("/ws?token=" + token("q"));
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 101 Switching Protocols");
    BOOST_TEST(pool.stats().refused.at("max_per_ip") == 1u);
}

BOOST_AUTO_TEST_CASE(topic_limits_and_authorization) {
    auto o = opts();
    o.limits.max_per_topic = 1;
    o.limits.max_topics_per_connection = 2;
    pool_t pool(fast(), o);
    pool.start();
    const auto ep = pool.local_endpoint();
    pclient a(ep), b(ep);
    BOOST_TEST_REQUIRE(a.join(token("a"), "t1"));
    BOOST_TEST_REQUIRE(a.next_msg().has_value());
    BOOST_TEST_REQUIRE(b.join(token("b")));
    BOOST_TEST_REQUIRE(b.next_msg().has_value());
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "t1"}}));
    auto full = b.next_msg();
    BOOST_TEST_REQUIRE(full.has_value());
    BOOST_TEST(*full == json({{"type", "error"},
                              {"topic", "t1"},
                              {"error", "topic_full"},
                              {"timestamp", (*full)["timestamp"]}}));
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "secret.x"}}));
    auto forbidden = b.next_msg();
    BOOST_TEST_REQUIRE(forbidden.has_value());
    BOOST_TEST((*forbidden)["error"] == "forbidden");
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "t2"}}));
    BOOST_TEST((*b.next_msg())["type"] == "subscribe");
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "t3"}}));
    BOOST_TEST((*b.next_msg())["type"] == "subscribe");
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "t4"}}));
    auto many = b.next_msg();
    BOOST_TEST_REQUIRE(many.has_value());
    BOOST_TEST((*many)["error"] == "too_many_topics");
    // still open
    BOOST_TEST_REQUIRE(b.say({{"type", "ping"}}));
    BOOST_TEST((*b.next_msg())["type"] == "pong");
    // when a leaves, t1 has room again
    a.close();
    BOOST_TEST(eventually([&] { return pool.stats().active == 1u; }));
    BOOST_TEST_REQUIRE(b.say({{"type", "unsubscribe"}, {"topic", "t3"}}));
    BOOST_TEST((*b.next_msg())["type"] == "unsubscribe");
    BOOST_TEST_REQUIRE(b.say({{"type", "subscribe"}, {"topic", "t1"}}));
    BOOST_TEST((*b.next_msg())["type"] == "subscribe");
}

BOOST_AUTO_TEST_CASE(bad_input_gets_error_envelopes_then_a_close) {
    auto o = opts();
    o.limits.max_errors = 4;
    o.limits.max_message_size = 1024;
    pool_t pool(fast(1), o);
    pool.start();
    const auto ep = pool.local_endpoint();
    pclient c(ep), bystander(ep);
    BOOST_TEST_REQUIRE(c.join(token("x"), "t"));
    BOOST_TEST_REQUIRE(c.next_msg().has_value());
    BOOST_TEST_REQUIRE(bystander.join(token("y"), "t"));
    BOOST_TEST_REQUIRE(bystander.next_msg().has_value());
    const std::pair<std::string, std::string> bad[] = {
        {"{not json", "malformed_json"},
        {R"({"type":"dance"})", "unknown_type"},
        {R"({"type":"subscribe"})", "missing_topic"},
    };
    for (auto& [text, name] : bad) {
        BOOST_TEST_REQUIRE(c.send(text_frame(text)));
        auto e = c.next_msg();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST((*e)["type"] == "error");
        BOOST_TEST((*e)["error"] == name);
    }
    // the fourth error closes it with the pool's own code
    BOOST_TEST_REQUIRE(c.send(text_frame("[]")));
    auto e = c.next_msg();
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST((*e)["error"] == "not_an_object");
    BOOST_TEST(!c.next_msg().has_value());
    BOOST_TEST(c.close_code == pier::pool::close_codes::too_many_errors);
    // an oversized message fails the connection with 1009
    pclient big(ep);
    BOOST_TEST_REQUIRE(big.join(token("z")));
    BOOST_TEST_REQUIRE(big.next_msg().has_value());
    BOOST_TEST_REQUIRE(big.send(text_frame(std::string(2000, 'x'))));
    BOOST_TEST(!big.next_msg().has_value());
    BOOST_TEST(big.close_code == 1009u);
    // nobody else noticed
    BOOST_TEST_REQUIRE(bystander.say({{"type", "ping"}}));
    BOOST_TEST((*bystander.next_msg())["type"] == "pong");
    BOOST_TEST(pool.stats().errors >= 4u);
}

BOOST_AUTO_TEST_CASE(message_rate_limit) {
    auto o = opts();
    o.limits.message_rate = 5;
    o.limits.message_burst = 5;
    o.limits.max_errors = 0;
    pool_t pool(fast(1), o);
    pool.start();
    pclient c(pool.local_endpoint());
    BOOST_TEST_REQUIRE(c.join(token("r")));
    BOOST_TEST_REQUIRE(c.next_msg().has_value());
    std::string burst;
    for (int i = 0; i < 20; ++i)
        burst += text_frame(R"({"type":"ping"})");
    BOOST_TEST_REQUIRE(c.send(burst)); // one write: far faster than 5 a second
    int pongs = 0, limited = 0;
    for (int i = 0; i < 20; ++i) {
        auto m = c.next_msg();
        BOOST_TEST_REQUIRE(m.has_value());
        if ((*m)["type"] == "pong")
            ++pongs;
        else if ((*m)["error"] == "rate_limited")
            ++limited;
    }
    BOOST_TEST(pongs >= 5);
    BOOST_TEST(pongs <= 7); // the burst, and what refilled meanwhile
    BOOST_TEST(pongs + limited == 20);
    BOOST_TEST(pool.stats().refused.at("message_rate") == std::uint64_t(limited));
}

BOOST_AUTO_TEST_CASE(sends_from_other_threads_with_reports_and_exclusions) {
    pool_t pool(fast(2), opts());
    pool.start();
    const auto ep = pool.local_endpoint();
    std::vector<std::unique_ptr<pclient>> cs;
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        cs.push_back(std::make_unique<pclient>(ep));
        BOOST_TEST_REQUIRE(
            cs.back()->join(token(i < 3 ? "team" : "u" + std::to_string(i)), "room"));
        auto w = cs.back()->next_msg();
        BOOST_TEST_REQUIRE(w.has_value());
        ids.push_back((*w)["data"]["connection_id"]);
    }
    const auto excluded = *pool_t::parse_id(ids[0]);
    std::promise<pier::pool::send_report> rep;
    std::thread([&] {
        const std::uint64_t ex[] = {excluded};
        pool.publish("room",
                     pier::pool::outbound{.type = pier::pool::message_type::data,
                                          .data = R"({"from":"thread"})"},
                     ex, [&](const pier::pool::send_report& r) { rep.set_value(r); });
    }).join();
    auto f = rep.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(patience) == std::future_status::ready));
    const auto r = f.get();
    BOOST_TEST(r.delivered == 5u);
    BOOST_TEST(r.dropped == 0u);
    BOOST_TEST(r.shards_refused == 0u);
    for (int i = 1; i < 6; ++i) {
        auto m = cs[i]->next_msg();
        BOOST_TEST_REQUIRE(m.has_value());
        BOOST_TEST((*m)["data"]["from"] == "thread");
        BOOST_TEST((*m)["topic"] == "room");
    }
    // to a user: its three connections
    std::promise<pier::pool::send_report> rep2;
    pool.send_to_user("team", pier::pool::outbound{.data = "7"}, {},
                      [&](const pier::pool::send_report& r) { rep2.set_value(r); });
    auto f2 = rep2.get_future();
    BOOST_TEST_REQUIRE((f2.wait_for(patience) == std::future_status::ready));
    BOOST_TEST(f2.get().delivered == 3u);
    for (int i = 0; i < 3; ++i)
        BOOST_TEST((*cs[i]->next_msg())["data"] == 7);
    // to a list of ids
    const std::uint64_t two[] = {*pool_t::parse_id(ids[4]), *pool_t::parse_id(ids[5])};
    std::promise<pier::pool::send_report> rep3;
    pool.send_to(two, pier::pool::outbound{.data = "8"},
                 [&](const pier::pool::send_report& r) { rep3.set_value(r); });
    auto f3 = rep3.get_future();
    BOOST_TEST_REQUIRE((f3.wait_for(patience) == std::future_status::ready));
    BOOST_TEST(f3.get().delivered == 2u);
    BOOST_TEST((*cs[5]->next_msg())["data"] == 8);
    // (The excluded connection got nothing from the publish: its first message after the
    // welcome was the user send's 7, checked above.)
}

BOOST_AUTO_TEST_CASE(disconnect_cleanup_expiry_and_heartbeats) {
    auto o = opts();
    o.connection_timeout = 300ms;
    o.cleanup_interval = 1h; // run by hand below
    o.heartbeat_interval = 200ms;
    pool_t pool(fast(1), o);
    pool.start();
    const auto ep = pool.local_endpoint();
    // disconnect by user, with the reason
    pclient a(ep), b(ep);
    BOOST_TEST_REQUIRE(a.join(token("gone")));
    BOOST_TEST_REQUIRE(b.join(token("stays")));
    BOOST_TEST_REQUIRE(a.next_msg().has_value());
    BOOST_TEST_REQUIRE(b.next_msg().has_value());
    std::promise<std::size_t> n;
    pool.disconnect([](auto& c) { return c.data().user_id == "gone"; },
                    pier::pool::close_codes::disconnected, "bye now",
                    [&](std::size_t k) { n.set_value(k); });
    BOOST_TEST(n.get_future().get() == 1u);
    BOOST_TEST(!a.next_msg().has_value());
    BOOST_TEST(a.close_code == pier::pool::close_codes::disconnected);
    BOOST_TEST(a.close_reason == "bye now");
    // a heartbeat envelope arrives (and a protocol ping, answered by the client)
    bool heartbeat = false;
    for (int i = 0; i < 10 && !heartbeat; ++i) {
        auto m = b.next(2s);
        BOOST_TEST_REQUIRE(m.has_value());
        heartbeat = (*m)["type"] == "heartbeat";
    }
    BOOST_TEST(heartbeat);
    // stale: b sends nothing for connection_timeout; the cleanup pass closes it
    pclient quiet(ep);
    BOOST_TEST_REQUIRE(quiet.join(token("quiet")));
    BOOST_TEST_REQUIRE(quiet.next_msg().has_value());
    std::size_t removed = 0;
    BOOST_TEST(eventually([&] {
        std::promise<std::size_t> p;
        pool.cleanup([&](std::size_t k) { p.set_value(k); });
        removed += p.get_future().get();
        return removed >= 2;
    }));
    BOOST_TEST(!quiet.next_msg().has_value());
    BOOST_TEST(quiet.close_code == pier::pool::close_codes::stale);
    BOOST_TEST(pool.stats().cleanup_removed >= 2u);
    // a token that expires while connected closes its connection
    pclient brief(ep);
    BOOST_TEST_REQUIRE(brief.join(token("brief", 1)));
    BOOST_TEST_REQUIRE(brief.next_msg().has_value());
    for (;;) {
        auto m = brief.next(5s);
        if (!m)
            break;
    }
    BOOST_TEST(brief.close_code == pier::pool::close_codes::token_expired);
}

BOOST_AUTO_TEST_CASE(stop_sends_1001_with_a_reason) {
    pool_t pool(fast(), opts());
    pool.start();
    pclient c(pool.local_endpoint());
    BOOST_TEST_REQUIRE(c.join(token("s")));
    BOOST_TEST_REQUIRE(c.next_msg().has_value());
    pool.stop();
    BOOST_TEST(!c.next_msg().has_value());
    BOOST_TEST(c.close_code == 1001u);
    BOOST_TEST(c.close_reason == "server shutting down");
    pool.wait();
}

BOOST_AUTO_TEST_SUITE_END()
