// Unit tests for pier/ws/negotiate.hpp: the opening handshake's decisions as pure functions,
// without a socket: screening (RFC 6455 §4.2.1, the Origin allow-list), the handler's
// refusal, subprotocol selection (§4.2.2) and permessage-deflate (RFC 7692).
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace http = pier::http;
namespace ws = pier::ws;

namespace {

struct parsed {
    std::string text;
    http::request_head head;
    explicit parsed(std::string s) : text(std::move(s)) {
        const auto r = http::parse_request(text, head);
        BOOST_TEST_REQUIRE(r.st == http::parse_result::complete);
    }
};

std::string request(std::string_view extra = {}, std::string_view method = "GET") {
    std::string r(method);
    r += " /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    r += extra;
    r += "\r\n";
    return r;
}

bool has(std::string_view text, std::string_view needle) {
    return text.find(needle) != std::string_view::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_negotiate)

BOOST_AUTO_TEST_CASE(screening_refuses_invalid_upgrades_and_origins) {
    ws::options o;
    {
        parsed p(request());
        BOOST_TEST(!ws::screen_upgrade(p.head, o).has_value());
    }
    {
        parsed p(request({}, "POST"));
        auto no = ws::screen_upgrade(p.head, o);
        BOOST_TEST_REQUIRE(no.has_value());
        BOOST_TEST(no->status == 405u);
        BOOST_TEST(no->response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        BOOST_TEST(has(no->response, "Allow: GET\r\n"));
    }
    o.allowed_origins = {"https://good.example"};
    o.allow_missing_origin = false;
    {
        parsed p(request("Origin: https://good.example\r\n"));
        BOOST_TEST(!ws::screen_upgrade(p.head, o).has_value());
    }
    {
        parsed p(request("Origin: https://evil.example\r\n"));
        auto no = ws::screen_upgrade(p.head, o);
        BOOST_TEST_REQUIRE(no.has_value());
        BOOST_TEST(no->status == 403u);
        BOOST_TEST(has(no->response, "\r\n\r\norigin not allowed\n"));
        BOOST_TEST(has(no->response, "Connection: close\r\n"));
    }
    {
        parsed p(request());
        BOOST_TEST(ws::screen_upgrade(p.head, o).has_value()); // missing, not allowed here
    }
}

BOOST_AUTO_TEST_CASE(the_handler_refusal_becomes_the_response) {
    parsed p(request());
    auto r = ws::negotiate(p.head, {}, ws::accept_result::reject(401, "token required"));
    auto* no = std::get_if<ws::handshake_refusal>(&r);
    BOOST_TEST_REQUIRE(no != nullptr);
    BOOST_TEST(no->status == 401u);
    BOOST_TEST(no->response.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    BOOST_TEST(has(no->response, "Content-Type: text/plain; charset=utf-8\r\n"));
    BOOST_TEST(no->response.ends_with("\r\n\r\ntoken required\n"));
    // A status no HTTP response can carry is answered 500, never malformed.
    auto bad = ws::negotiate(p.head, {}, ws::accept_result::reject(42));
    BOOST_TEST_REQUIRE(std::holds_alternative<ws::handshake_refusal>(bad));
    BOOST_TEST(std::get<ws::handshake_refusal>(bad).response.starts_with("HTTP/1.1 500 "));
}

BOOST_AUTO_TEST_CASE(accepted_plan_carries_the_101_subprotocol_and_deflate) {
    ws::options o;
    o.subprotocols = {"chat.v2", "chat.v1"};
    {
        parsed p(request("Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate; "
                         "client_max_window_bits\r\n"));
        auto r = ws::negotiate(p.head, o, ws::accept_result::accept());
        auto* plan = std::get_if<ws::handshake_plan>(&r);
        BOOST_TEST_REQUIRE(plan != nullptr);
        const auto res = plan->response();
        BOOST_TEST(res.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        BOOST_TEST(has(res, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        BOOST_TEST(has(res, "Sec-WebSocket-Protocol: chat.v2\r\n")); // the server's order
        BOOST_TEST(has(res, "Sec-WebSocket-Extensions: permessage-deflate"));
        BOOST_TEST(plan->subprotocol_index == 0u);
        BOOST_TEST(plan->deflate.has_value());
    }
    {
        // No overlap: no field; the handler's own choice wins but is not in the list.
        parsed p(request("Sec-WebSocket-Protocol: other\r\n"));
        auto r = ws::negotiate(p.head, o, ws::accept_result::accept());
        const auto& plan = std::get<ws::handshake_plan>(r);
        BOOST_TEST(!has(plan.response(), "Sec-WebSocket-Protocol"));
        BOOST_TEST(plan.subprotocol_index == 0xffu);
        auto r2 = ws::negotiate(p.head, o, ws::accept_result::accept("other"));
        const auto& plan2 = std::get<ws::handshake_plan>(r2);
        BOOST_TEST(has(plan2.response(), "Sec-WebSocket-Protocol: other\r\n"));
        BOOST_TEST(plan2.subprotocol_index == 0xffu);
    }
    {
        o.deflate.enabled = false;
        parsed p(request("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        const auto r = ws::negotiate(p.head, o, ws::accept_result::accept());
        const auto& plan = std::get<ws::handshake_plan>(r); // r outlives the reference
        BOOST_TEST(!plan.deflate.has_value());
        BOOST_TEST(!has(plan.response(), "Sec-WebSocket-Extensions"));
    }
}

BOOST_AUTO_TEST_SUITE_END()
