// Unit tests for pier/ws/handshake.hpp: the server's opening handshake (RFC 6455 §4.2).
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <string>
#include <string_view>

namespace http = pier::http;
namespace ws = pier::ws;

namespace {

// RFC 6455 §1.2's client handshake.
const std::string rfc_request = "GET /chat HTTP/1.1\r\n"
                                "Host: server.example.com\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Origin: http://example.com\r\n"
                                "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "\r\n";

// Holds the buffer the head's views point into.
struct parsed {
    std::string text;
    http::request_head head;
    explicit parsed(std::string s) : text(std::move(s)) {
        const auto r = http::parse_request(text, head);
        BOOST_TEST(r.st == http::parse_result::complete);
    }
};

std::string replace(std::string s, std::string_view from, std::string_view to) {
    const auto at = s.find(from);
    BOOST_TEST(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

std::string_view check(const std::string& request) {
    parsed p(request);
    return ws::to_string(ws::check_upgrade(p.head));
}

constexpr std::string_view S(ws::handshake_error e) {
    return ws::to_string(e);
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_handshake)

BOOST_AUTO_TEST_CASE(rfc6455_accept_value) {
    // RFC 6455 §1.3: dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    std::array<char, ws::accept_key_size> accept;
    BOOST_TEST(ws::make_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept));
    BOOST_TEST(std::string_view(accept.data(), accept.size()) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // A second pair, computed independently (Python hashlib + base64).
    BOOST_TEST(ws::make_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", accept));
    BOOST_TEST(std::string_view(accept.data(), accept.size()) == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

BOOST_AUTO_TEST_CASE(accepts_the_rfc_request) {
    parsed p(rfc_request);
    BOOST_TEST(S(ws::check_upgrade(p.head)) == S(ws::handshake_error::none));
    BOOST_TEST(ws::select_subprotocol(p.head, {"superchat", "chat"}).value_or("") == "superchat");
    BOOST_TEST(ws::select_subprotocol(p.head, {"chat"}).value_or("") == "chat");
    BOOST_TEST(!ws::select_subprotocol(p.head, {"Chat", "mqtt"})); // names are case-sensitive
    BOOST_TEST(!ws::select_subprotocol(p.head, {}));
    BOOST_TEST(ws::origin_allowed(p.head, {"http://example.com"}));
    BOOST_TEST(ws::origin_allowed(p.head, {"https://other", "HTTP://EXAMPLE.COM"}));
    BOOST_TEST(!ws::origin_allowed(p.head, {"https://example.com"}));
    BOOST_TEST(!ws::origin_allowed(p.head, {"http://example.com.evil"}));

    std::array<char, 512> buf;
    const auto r = ws::format_accept_response(*p.head.find("sec-websocket-key"), buf, "chat");
    BOOST_TEST(r.ok());
    BOOST_TEST(std::string_view(buf.data(), r.size) ==
               "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
               "Sec-WebSocket-Protocol: chat\r\n"
               "Connection: Upgrade\r\n"
               "\r\n");
}

BOOST_AUTO_TEST_CASE(accept_response_with_extensions_and_extra_fields) {
    std::array<char, 512> buf;
    const http::header extra[] = {{"Set-Cookie", "a=1"}};
    const auto r =
        ws::format_accept_response("dGhlIHNhbXBsZSBub25jZQ==", buf, {},
                                   "permessage-deflate; server_max_window_bits=12", extra);
    BOOST_TEST(r.ok());
    BOOST_TEST(std::string_view(buf.data(), r.size) ==
               "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n"
               "Set-Cookie: a=1\r\n"
               "Connection: Upgrade\r\n"
               "\r\n");
    // Bad key, injection attempts and a small buffer are refused without writing.
    BOOST_TEST(static_cast<int>(ws::format_accept_response("short", buf).err) ==
               static_cast<int>(http::format_error::invalid_argument));
    BOOST_TEST(static_cast<int>(
                   ws::format_accept_response("dGhlIHNhbXBsZSBub25jZQ==", buf, "a\r\nb").err) ==
               static_cast<int>(http::format_error::invalid_field));
    const auto small =
        ws::format_accept_response("dGhlIHNhbXBsZSBub25jZQ==", std::span<char>(buf.data(), 10));
    BOOST_TEST(static_cast<int>(small.err) ==
               static_cast<int>(http::format_error::buffer_too_small));
    BOOST_TEST(small.size == 129u);
}

BOOST_AUTO_TEST_CASE(refusals) {
    using e = ws::handshake_error;
    BOOST_TEST(check(replace(rfc_request, "GET", "POST")) == S(e::not_get));
    BOOST_TEST(check(replace(rfc_request, "HTTP/1.1", "HTTP/1.0")) == S(e::bad_http_version));
    BOOST_TEST(check(replace(rfc_request, "Upgrade: websocket\r\n", "")) == S(e::not_upgrade));
    BOOST_TEST(check(replace(rfc_request, "Upgrade: websocket", "Upgrade: h2c")) ==
               S(e::not_upgrade));
    BOOST_TEST(check(replace(rfc_request, "Connection: Upgrade", "Connection: keep-alive")) ==
               S(e::not_upgrade));
    BOOST_TEST(check(replace(rfc_request, "Sec-WebSocket-Version: 13",
                             "Sec-WebSocket-Version: 8")) == S(e::bad_version));
    BOOST_TEST(check(replace(rfc_request, "Sec-WebSocket-Version: 13\r\n", "")) ==
               S(e::bad_version));
    BOOST_TEST(check(replace(rfc_request, "Sec-WebSocket-Version: 13",
                             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13")) ==
               S(e::bad_version));
    BOOST_TEST(check(replace(rfc_request, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")) ==
               S(e::missing_key));
    for (std::string_view key :
         {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=A", "dGhlIHNhbXBs=SBub25jZQ==",
          "dGhlIHNhbXBsZSBub25jZ===", "dGhlIHNhbXBsZSBub25j*Q==", "dGhlIHNhbXBsZSBub25jZQ==dGhl",
          "dGhlIHNhbXBsZSBub25jZHNhbXA="}) {
        BOOST_TEST_INFO("key '" << key << "'");
        BOOST_TEST(check(replace(rfc_request, "dGhlIHNhbXBsZSBub25jZQ==", key)) == S(e::bad_key));
    }
    BOOST_TEST(
        check(replace(rfc_request, "Sec-WebSocket-Version",
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version")) ==
        S(e::bad_key));
    // Case-insensitive field names and tokens are fine.
    std::string mixed = replace(rfc_request, "Upgrade: websocket", "upgrade: WebSocket");
    mixed = replace(mixed, "Connection: Upgrade", "connection: keep-alive, UPGRADE");
    BOOST_TEST(check(mixed) == S(e::none));

    BOOST_TEST(ws::status_for(e::none) == 101u);
    BOOST_TEST(ws::status_for(e::not_get) == 405u);
    BOOST_TEST(ws::status_for(e::bad_http_version) == 400u);
    BOOST_TEST(ws::status_for(e::not_upgrade) == 426u);
    BOOST_TEST(ws::status_for(e::bad_version) == 426u);
    BOOST_TEST(ws::status_for(e::missing_key) == 400u);
    BOOST_TEST(ws::status_for(e::bad_key) == 400u);
    BOOST_TEST(ws::status_for(e::origin_not_allowed) == 403u);
}

BOOST_AUTO_TEST_CASE(error_responses) {
    std::array<char, 512> buf;
    const auto text = [&](ws::handshake_error e) {
        const auto r = ws::format_handshake_error(e, buf);
        BOOST_TEST(r.ok());
        return std::string(buf.data(), r.size);
    };
    BOOST_TEST(text(ws::handshake_error::bad_version) ==
               "HTTP/1.1 426 Upgrade Required\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Upgrade: websocket\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "Content-Length: 33\r\n"
               "Connection: close\r\n"
               "\r\n"
               "Sec-WebSocket-Version must be 13\n");
    const std::string not_get = text(ws::handshake_error::not_get);
    BOOST_TEST(not_get.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    BOOST_TEST(not_get.find("\r\nAllow: GET\r\n") != std::string::npos);
    const std::string not_upgrade = text(ws::handshake_error::not_upgrade);
    BOOST_TEST(not_upgrade.starts_with("HTTP/1.1 426 "));
    BOOST_TEST(not_upgrade.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
    BOOST_TEST(not_upgrade.find("Sec-WebSocket-Version") == std::string::npos);
    BOOST_TEST(
        text(ws::handshake_error::origin_not_allowed).starts_with("HTTP/1.1 403 Forbidden\r\n"));
    BOOST_TEST(text(ws::handshake_error::bad_key).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    // The head's Content-Length matches the body it carries.
    for (int i = 1; i <= static_cast<int>(ws::handshake_error::origin_not_allowed); ++i) {
        const std::string t = text(static_cast<ws::handshake_error>(i));
        const auto body = t.substr(t.find("\r\n\r\n") + 4);
        BOOST_TEST(t.find("Content-Length: " + std::to_string(body.size()) + "\r\n") !=
                   std::string::npos);
    }
    // Too small: nothing written, the size needed reported.
    buf.fill('#');
    const auto small =
        ws::format_handshake_error(ws::handshake_error::bad_key, std::span<char>(buf.data(), 100));
    BOOST_TEST(static_cast<int>(small.err) ==
               static_cast<int>(http::format_error::buffer_too_small));
    BOOST_TEST(small.size == text(ws::handshake_error::bad_key).size());
    buf.fill('#');
    (void)ws::format_handshake_error(ws::handshake_error::bad_key,
                                     std::span<char>(buf.data(), 100));
    BOOST_TEST(buf[0] == '#');
}

BOOST_AUTO_TEST_CASE(origin_rules) {
    parsed none(replace(rfc_request, "Origin: http://example.com\r\n", ""));
    BOOST_TEST(ws::origin_allowed(none.head, {"http://example.com"}));
    BOOST_TEST(!ws::origin_allowed(none.head, {"http://example.com"}, false));
    parsed two(replace(rfc_request, "Origin: http://example.com",
                       "Origin: http://example.com\r\nOrigin: http://example.com"));
    BOOST_TEST(!ws::origin_allowed(two.head, {"http://example.com"}));
    parsed null_origin(replace(rfc_request, "Origin: http://example.com", "Origin: null"));
    BOOST_TEST(!ws::origin_allowed(null_origin.head, {"http://example.com"}));
}

BOOST_AUTO_TEST_CASE(subprotocols_across_fields) {
    parsed p(replace(rfc_request, "Sec-WebSocket-Protocol: chat, superchat",
                     "Sec-WebSocket-Protocol: a,, b\r\nSec-WebSocket-Protocol: v2.json"));
    BOOST_TEST(ws::select_subprotocol(p.head, {"v2.json", "b"}).value_or("") == "v2.json");
    BOOST_TEST(ws::select_subprotocol(p.head, {"x", "b"}).value_or("") == "b");
    BOOST_TEST(!ws::select_subprotocol(p.head, {"v2"}));
    parsed q(replace(rfc_request, "Sec-WebSocket-Protocol: chat, superchat\r\n", ""));
    BOOST_TEST(!ws::select_subprotocol(q.head, {"chat"}));
}

BOOST_AUTO_TEST_SUITE_END()
