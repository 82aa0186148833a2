// pool_admin: the pool's operator surface on its WebSocket port, over real loopback sockets:
// the admin API's paths and JSON shapes (stats, connection listing with every filter and
// paging, one connection, disconnect by user/ids/topic with the reason reaching the client,
// cleanup, broadcast by topic and by user), the admin token on every admin path (401 in
// constant time), 400 for malformed JSON, unknown fields and wrong types, 404/405, HEAD,
// keep-alive under the idle deadline, bodies and their 413, /healthz, /metrics, /admin, and
// the JSON log lines (with ids, never a token).
//
// pier-test: threads
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include "pool_client.hpp"
#include "support.hpp"
#include "ws_client.hpp"

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::text_frame;
using pier_test::watchdog;
using client = pier_test::ws_client;
using nlohmann::json;

using namespace std::chrono_literals;

const std::string secret(40, 'k');
const std::string admin = "admin-secret-token";

std::string token(const std::string& sub, json meta = nullptr) {
    return pier_test::pool_token(secret, sub, 3600, std::move(meta));
}

struct app {};
using pool_t = pier::ws::pool<app>;

struct log_lines {
    std::mutex m;
    std::vector<std::string> lines;
    std::vector<std::string> get() {
        std::lock_guard l(m);
        return lines;
    }
};

pier::pool::pool_options opts(log_lines& logs) {
    pier::pool::pool_options o;
    o.keys.current = secret;
    o.admin_token = admin;
    o.connection_timeout = 1h;
    o.log.out = [&logs](std::string_view line) {
        std::lock_guard l(logs.m);
        logs.lines.emplace_back(line);
    };
    return o;
}

pier::server_options fast() {
    pier::server_options o{.threads = 2};
    o.timeouts.resolution = 20ms;
    return o;
}

/// A keep-alive HTTP client for the admin API.
struct http_client : client {
    using pier_test::ws_client::ws_client;
    std::optional<pier_test::http_response> call(std::string_view method, std::string_view target,
                                                 std::string_view body = {},
                                                 std::string_view auth = admin) {
        std::string req =
            std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n";
        if (!auth.empty())
            req += "Authorization: Bearer " + std::string(auth) + "\r\n";
        if (!body.empty() || method == "POST")
            req +=
                "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n";
        req += "\r\n";
        req += body;
        if (!send(req))
            return std::nullopt;
        if (method == "HEAD") {
            // no body follows, whatever Content-Length says
            auto r = read_response_head();
            return r;
        }
        return read_response();
    }
    std::optional<pier_test::http_response> read_response_head() {
        std::size_t head_end;
        const auto until = std::chrono::steady_clock::now() + pier_test::patience;
        while ((head_end = in_.find("\r\n\r\n")) == std::string::npos)
            if (read_more(std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())) != pier_test::io::ok)
                return std::nullopt;
        pier_test::http_response r;
        r.head = in_.substr(0, head_end + 2);
        r.status_line = r.head.substr(0, r.head.find("\r\n"));
        in_.erase(0, head_end + 4);
        return r;
    }
    json get_json(std::string_view target) {
        auto r = call("GET", target);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
        BOOST_TEST(r->header("content-type") == "application/json");
        return json::parse(r->body);
    }
};

/// A WebSocket client of the pool.
struct member : client {
    using pier_test::ws_client::ws_client;
    std::string id;
    bool join(const std::string& tok, std::string_view topics = {}) {
        std::string target = "/ws?token=" + tok;
        if (!topics.empty())
            target += "&topics=" + std::string(topics);
        auto r = handshake(target);
        if (!r || r->status_line != "HTTP/1.1 101 Switching Protocols")
            return false;
        auto w = next();
        if (!w)
            return false;
        id = (*w)["data"]["connection_id"];
        return true;
    }
    unsigned code = 0;
    std::string reason;
    std::optional<json> next() {
        for (;;) {
            auto f = read_frame();
            if (!f)
                return std::nullopt;
            if (f->op() == 0x8) {
                code = f->code();
                reason = f->payload.size() > 2 ? f->payload.substr(2) : "";
                return std::nullopt;
            }
            if (f->op() == 0x9)
                continue;
            auto j = json::parse(f->payload, nullptr, false);
            if (j["type"] == "heartbeat")
                continue;
            return j;
        }
    }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_admin, watchdog)

BOOST_AUTO_TEST_CASE(stats_listing_and_one_connection) {
    log_lines logs;
    pool_t pool(fast(), opts(logs));
    pool.start();
    const auto ep = pool.local_endpoint();
    member a(ep), b(ep), c(ep);
    BOOST_TEST_REQUIRE(a.join(token("ann", json{{"plan", "pro"}}), "news,sport"));
    BOOST_TEST_REQUIRE(b.join(token("ben"), "news"));
    BOOST_TEST_REQUIRE(c.join(token("ann")));
    http_client h(ep);

    auto st = h.get_json("/api/admin/websockets/stats");
    BOOST_TEST(st["active_connections"] == 3);
    BOOST_TEST(st["total_connections"] == 3);
    BOOST_TEST(st["users"] == 2);
    BOOST_TEST(st["topics"] == json({{"news", 2}, {"sport", 1}}));
    BOOST_TEST(st["states"]["open"] == 3);
    BOOST_TEST(st["states"].contains("connecting"));
    BOOST_TEST(st["states"].contains("closing"));
    BOOST_TEST(st["cleanup"].contains("runs"));
    BOOST_TEST(st["cleanup"].contains("removed"));
    BOOST_TEST(st["limits"]["max_connections"]["limit"] == 10000);
    BOOST_TEST(st["limits"]["max_connections"]["refused"] == 0);
    for (auto k : {"messages_sent", "messages_failed", "messages_received"})
        BOOST_TEST(st.contains(k));

    auto all = h.get_json("/api/admin/websockets/connections");
    BOOST_TEST(all["total"] == 3);
    BOOST_TEST_REQUIRE(all["connections"].size() == 3u);
    const auto& e = all["connections"][0];
    for (auto k : {"connection_id", "user_id", "topics", "state", "remote_address", "connected_at",
                   "last_activity", "messages_sent", "messages_received", "errors", "metadata"})
        BOOST_TEST(e.contains(k), k);
    BOOST_TEST(e["connection_id"] == c.id); // newest first
    BOOST_TEST(all["connections"][2]["connection_id"] == a.id);
    BOOST_TEST(all["connections"][2]["metadata"] == json({{"plan", "pro"}}));
    BOOST_TEST(e["state"] == "open");
    BOOST_TEST(e["remote_address"].get<std::string>().starts_with("127.0.0.1:"));

    BOOST_TEST(h.get_json("/api/admin/websockets/connections?user_id=ann")["total"] == 2);
    BOOST_TEST(h.get_json("/api/admin/websockets/connections?topic=news")["total"] == 2);
    BOOST_TEST(h.get_json("/api/admin/websockets/connections?state=closing")["total"] == 0);
    BOOST_TEST(h.get_json("/api/admin/websockets/connections?idle_over_ms=3600000")["total"] == 0);
    auto page = h.get_json("/api/admin/websockets/connections?limit=1&offset=1");
    BOOST_TEST(page["total"] == 3);
    BOOST_TEST_REQUIRE(page["connections"].size() == 1u);
    BOOST_TEST(page["connections"][0]["connection_id"] == b.id);

    auto one = h.get_json("/api/admin/websockets/connections/" + b.id);
    BOOST_TEST(one["user_id"] == "ben");
    BOOST_TEST(one["topics"] == json::array({"news"}));
    auto missing = h.call("GET", "/api/admin/websockets/connections/0123456789abcdef");
    BOOST_TEST_REQUIRE(missing.has_value());
    BOOST_TEST(missing->status_line == "HTTP/1.1 404 Not Found");

    // Bad queries are named.
    for (auto [q, err] :
         {std::pair{"limit=0", "bad_limit"}, std::pair{"limit=1001", "bad_limit"},
          std::pair{"state=asleep", "bad_state"}, std::pair{"idle_over_ms=-1", "bad_idle_over_ms"},
          std::pair{"color=red", "unknown_parameter"}}) {
        auto r = h.call("GET", std::string("/api/admin/websockets/connections?") + q);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 400 Bad Request", q);
        BOOST_TEST(json::parse(r->body)["error"] == err, q);
    }
    // The log has the lifecycle, with ids, never a token.
    const auto lines = logs.get();
    bool opened = false;
    for (auto& l : lines) {
        BOOST_TEST(l.find(token("ann").substr(0, 20)) == std::string::npos);
        auto j = json::parse(l, nullptr, false);
        BOOST_TEST_REQUIRE(!j.is_discarded());
        if (j["event"] == "ws.open" && j["connection_id"].is_string())
            opened = true;
        if (j["event"] == "ws.open" && j["connection_id"].is_number())
            opened = true;
    }
    BOOST_TEST(opened);
}

BOOST_AUTO_TEST_CASE(every_admin_path_needs_the_token) {
    log_lines logs;
    pool_t pool(fast(), opts(logs));
    pool.start();
    http_client h(pool.local_endpoint());
    for (auto [method, path] :
         {std::pair{"GET", "/api/admin/websockets/stats"},
          std::pair{"GET", "/api/admin/websockets/connections"},
          std::pair{"GET", "/api/admin/websockets/connections/0123456789abcdef"},
          std::pair{"POST", "/api/admin/websockets/disconnect"},
          std::pair{"POST", "/api/admin/websockets/cleanup"},
          std::pair{"POST", "/api/admin/websockets/broadcast"}, std::pair{"GET", "/metrics"}}) {
        for (std::string_view auth : {"", "wrong-token", "admin-secret-tokeN"}) {
            auto r = h.call(method, path, method == std::string_view("POST") ? "{}" : "", auth);
            BOOST_TEST_REQUIRE(r.has_value());
            BOOST_TEST(r->status_line == "HTTP/1.1 401 Unauthorized", path << " " << auth);
            BOOST_TEST(r->header("www-authenticate").starts_with("Bearer"));
        }
    }
    // Unauthenticated: the health check and the page (which asks for the token itself).
    auto hz = h.call("GET", "/healthz", {}, "");
    BOOST_TEST_REQUIRE(hz.has_value());
    BOOST_TEST(hz->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(json::parse(hz->body)["status"] == "ok");
    auto page = h.call("GET", "/admin", {}, "");
    BOOST_TEST_REQUIRE(page.has_value());
    BOOST_TEST(page->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(page->header("content-type").starts_with("text/html"));
    BOOST_TEST(page->header("content-security-policy") != "<absent>");
    // 404, 405 with Allow, HEAD.
    auto nf = h.call("GET", "/api/admin/websockets/nothing");
    BOOST_TEST(nf->status_line == "HTTP/1.1 404 Not Found");
    auto na = h.call("DELETE", "/api/admin/websockets/stats");
    BOOST_TEST(na->status_line == "HTTP/1.1 405 Method Not Allowed");
    BOOST_TEST(na->header("allow").find("GET") != std::string::npos);
    auto head = h.call("HEAD", "/healthz", {}, "");
    BOOST_TEST_REQUIRE(head.has_value());
    BOOST_TEST(head->status_line == "HTTP/1.1 200 OK");
    // All of it on one kept-alive connection.
    BOOST_TEST(h.connected());
}

BOOST_AUTO_TEST_CASE(disconnect_cleanup_and_broadcast) {
    log_lines logs;
    pool_t pool(fast(), opts(logs));
    pool.start();
    const auto ep = pool.local_endpoint();
    member a(ep), b(ep), c(ep), d(ep);
    BOOST_TEST_REQUIRE(a.join(token("ann"), "news"));
    BOOST_TEST_REQUIRE(b.join(token("ben"), "news"));
    BOOST_TEST_REQUIRE(c.join(token("cid"), "sport"));
    BOOST_TEST_REQUIRE(d.join(token("dee"), "sport"));
    http_client h(ep);

    // broadcast to a topic: {"type":<message_type>,"topic","data","timestamp"}
    auto r = h.call("POST", "/api/admin/websockets/broadcast",
                    R"({"topic":"news","message_type":"announcement","data":{"x":1}})");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(json::parse(r->body) == json({{"delivered", 2}}));
    for (auto* m : {&a, &b}) {
        auto j = m->next();
        BOOST_TEST_REQUIRE(j.has_value());
        BOOST_TEST((*j)["type"] == "announcement");
        BOOST_TEST((*j)["topic"] == "news");
        BOOST_TEST((*j)["data"] == json({{"x", 1}}));
        BOOST_TEST(j->contains("timestamp"));
    }
    // ... and to a user
    r = h.call("POST", "/api/admin/websockets/broadcast",
               R"({"user_id":"cid","message_type":"data","data":"hi"})");
    BOOST_TEST(json::parse(r->body) == json({{"delivered", 1}}));
    BOOST_TEST((*c.next())["data"] == "hi");

    // disconnect by ids, by user, by topic: each client gets a close frame with the reason
    r = h.call("POST", "/api/admin/websockets/disconnect",
               json{{"connection_ids", {a.id}}, {"reason", "maintenance"}}.dump());
    BOOST_TEST(json::parse(r->body) == json({{"disconnected", 1}}));
    BOOST_TEST(!a.next().has_value());
    BOOST_TEST(a.code == 4005u);
    BOOST_TEST(a.reason == "maintenance");
    r = h.call("POST", "/api/admin/websockets/disconnect", R"({"user_id":"ben","reason":"bye"})");
    BOOST_TEST(json::parse(r->body) == json({{"disconnected", 1}}));
    BOOST_TEST(!b.next().has_value());
    BOOST_TEST(b.reason == "bye");
    r = h.call("POST", "/api/admin/websockets/disconnect", R"({"topic":"sport","reason":"r"})");
    BOOST_TEST(json::parse(r->body) == json({{"disconnected", 2}}));
    BOOST_TEST(!c.next().has_value());
    BOOST_TEST(!d.next().has_value());

    // cleanup: nothing stale here
    r = h.call("POST", "/api/admin/websockets/cleanup");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(json::parse(r->body) == json({{"removed", 0}}));

    // Malformed JSON, unknown fields and wrong types: 400 naming the problem.
    const std::pair<std::string, std::string> bad[] = {
        {"{nope", "malformed_json"},
        {"[]", "not_an_object"},
        {R"({"user_id":"x","color":1})", "unknown_field"},
        {R"({"user_id":7})", "bad_field_type"},
        {R"({"reason":"x"})", "missing_selector"},
        {R"({"user_id":"x","topic":"y"})", "too_many_selectors"},
        {R"({"connection_ids":["XYZ"]})", "bad_connection_id"},
        {R"({"connection_ids":"abc"})", "bad_field_type"},
    };
    for (auto& [body, err] : bad) {
        r = h.call("POST", "/api/admin/websockets/disconnect", body);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 400 Bad Request", body);
        BOOST_TEST(json::parse(r->body)["error"] == err, body);
    }
    r = h.call("POST", "/api/admin/websockets/broadcast", R"({"topic":"t","message_type":"a b"})");
    BOOST_TEST(json::parse(r->body)["error"] == "bad_message_type");
    // A body over the limit: 413.
    r = h.call("POST", "/api/admin/websockets/broadcast", std::string(9000, ' '));
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 413 Content Too Large");

    // The admin actions are logged, with what they applied to.
    BOOST_TEST(eventually([&] {
        int n = 0;
        for (auto& l : logs.get())
            n += l.find("\"admin.action\"") != std::string::npos;
        return n >= 5;
    }));
}

BOOST_AUTO_TEST_CASE(metrics_and_keep_alive_under_the_idle_deadline) {
    log_lines logs;
    auto so = fast();
    pier::ws::options wo = pool_t::default_ws_options();
    wo.handshake_timeout = 300ms;
    pool_t pool(so, opts(logs), {}, wo);
    pool.start();
    const auto ep = pool.local_endpoint();
    member a(ep);
    BOOST_TEST_REQUIRE(a.join(token("ann"), "news"));
    http_client h(ep);
    auto r = h.call("GET", "/metrics");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(r->header("content-type").starts_with("text/plain; version=0.0.4"));
    BOOST_TEST(r->body.find("pier_ws_connections 1") != std::string::npos);
    BOOST_TEST(r->body.find("pier_ws_subscriptions 1") != std::string::npos);
    BOOST_TEST(r->body.find("pier_ws_connections_accepted_total 1") != std::string::npos);
    // The kept-alive admin connection outlives the handshake deadline (300 ms here): it is
    // under the idle deadline now.
    const auto until = std::chrono::steady_clock::now() + 800ms;
    while (std::chrono::steady_clock::now() < until) {
        auto hz = h.call("GET", "/healthz", {}, "");
        BOOST_TEST_REQUIRE(hz.has_value());
        std::this_thread::sleep_for(100ms); // a client pausing between requests
    }
    std::this_thread::sleep_for(400ms); // silent beyond the handshake deadline
    auto again = h.call("GET", "/healthz", {}, "");
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(pool.server().stats().handshake_failures == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
