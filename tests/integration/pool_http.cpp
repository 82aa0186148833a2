// pool_http: a pool handler's on_http hook on real loopback sockets: plain HTTP requests on
// the pool's port reach it (a page, a JSON endpoint, keep-alive between them), what it
// declines gets the WebSocket layer's 426, the WebSocket endpoint works beside it, and a pool
// whose handler has no such hook answers every plain request with 426 as before.
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include "pool_client.hpp"
#include "support.hpp"
#include "ws_client.hpp"

#include <atomic>
#include <chrono>
#include <string>

namespace {

using pier_test::watchdog;
using namespace std::chrono_literals;

const std::string secret(40, 'h');

std::string token(const std::string& sub) {
    return pier_test::pool_token(secret, sub);
}

struct with_pages {
    std::atomic<int>* calls = nullptr;
    template <class C> bool on_http(C& c, const pier::http::request_view& r) {
        ++*calls;
        if (r.path() != "/hello")
            return false;
        std::string out;
        pier::http::append_json_reply(out, 200, R"({"hello":"pool"})",
                                      pier::http::reply_options::for_request(r));
        c.send_http(out);
        return true;
    }
};

struct without_pages {};

pier::pool::pool_options opts() {
    pier::pool::pool_options o;
    o.keys.current = secret;
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_http, watchdog)

BOOST_AUTO_TEST_CASE(on_http_answers_plain_requests_beside_the_websocket_endpoint) {
    std::atomic<int> calls{0};
    pier::ws::pool<with_pages> pool({.threads = 1}, opts(), with_pages{&calls});
    pool.start();
    const auto ep = pool.local_endpoint();
    pier_test::ws_client c(ep);
    BOOST_TEST_REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
    BOOST_TEST(r->header("content-type") == "application/json");
    BOOST_TEST(r->body == R"({"hello":"pool"})");
    // The same connection, kept alive: a request the hook declines gets 426.
    BOOST_TEST_REQUIRE(c.send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.read_response();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 426 Upgrade Required");
    BOOST_TEST(calls.load() == 2);
    // The WebSocket endpoint is unchanged.
    pier_test::ws_client w(ep);
    auto up = w.handshake("/ws?token=" + token("u"));
    BOOST_TEST_REQUIRE(up.has_value());
    BOOST_TEST(up->status_line == "HTTP/1.1 101 Switching Protocols");
    auto welcome = w.read_frame();
    BOOST_TEST_REQUIRE(welcome.has_value());
    BOOST_TEST(welcome->payload.find(R"("type":"welcome")") != std::string::npos);
    BOOST_TEST(calls.load() == 2); // upgrades never reach on_http
}

BOOST_AUTO_TEST_CASE(without_the_hook_plain_requests_get_426) {
    pier::ws::pool<without_pages> pool({.threads = 1}, opts());
    pool.start();
    pier_test::ws_client c(pool.local_endpoint());
    BOOST_TEST_REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 426 Upgrade Required");
}

BOOST_AUTO_TEST_SUITE_END()
