// Unit tests for pier/http/router.hpp, reply.hpp and auth.hpp: matching with parameters and
// percent-decoding, 404 vs 405 (with Allow) vs 400, HEAD through GET routes, specificity,
// route validation; whole JSON replies byte for byte; the bearer-token check.
#include <pier/http/auth.hpp>
#include <pier/http/reply.hpp>
#include <pier/http/router.hpp>

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>

// pier-test: no-unity (an operator<< in pier::http, found by argument-dependent lookup)
namespace pier::http {
// For Boost.Test's failure messages.
inline std::ostream& operator<<(std::ostream& o, route_error e) {
    return o << to_string(e);
}
} // namespace pier::http

namespace http = pier::http;

namespace {

enum class api { stats, list, one, count, disconnect, cleanup, broadcast, root, head_only };

http::router<api> admin_routes() {
    http::router<api> r;
    const auto add = [&](std::string_view m, std::string_view p, api a) {
        BOOST_REQUIRE(r.add(m, p, a) == http::route_error::none);
    };
    add("GET", "/api/admin/websockets/stats", api::stats);
    add("GET", "/api/admin/websockets/connections", api::list);
    add("GET", "/api/admin/websockets/connections/{id}", api::one);
    add("GET", "/api/admin/websockets/connections/count", api::count); // after {id}: still wins
    add("POST", "/api/admin/websockets/disconnect", api::disconnect);
    add("POST", "/api/admin/websockets/cleanup", api::cleanup);
    add("PUT", "/api/admin/websockets/cleanup", api::cleanup);
    add("POST", "/api/admin/websockets/broadcast", api::broadcast);
    add("GET", "/", api::root);
    add("HEAD", "/head", api::head_only);
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_router)

BOOST_AUTO_TEST_CASE(literal_and_parameter_routes) {
    const auto r = admin_routes();
    auto m = r.match("GET", "/api/admin/websockets/stats");
    BOOST_TEST((m.status == http::route_status::found));
    BOOST_TEST((*m.target == api::stats));
    BOOST_TEST(m.param_count == 0u);
    BOOST_TEST(!m.head);

    m = r.match("GET", "/api/admin/websockets/connections/42");
    BOOST_TEST((*m.target == api::one));
    BOOST_TEST(m.param("id").value() == "42");
    BOOST_TEST(!m.param("other").has_value());

    m = r.match("GET", "/");
    BOOST_TEST((*m.target == api::root));
}

BOOST_AUTO_TEST_CASE(parameters_are_percent_decoded_without_plus_rule) {
    const auto r = admin_routes();
    auto m = r.match("GET", "/api/admin/websockets/connections/a%20b%2Fc+d%C3%A9");
    BOOST_TEST((m.status == http::route_status::found));
    BOOST_TEST(m.param("id").value() == "a b/c+d\xc3\xa9");
    // Literal segments compare after decoding too.
    m = r.match("GET", "/api/%61dmin/websockets/stats");
    BOOST_TEST((*m.target == api::stats));
}

BOOST_AUTO_TEST_CASE(literal_beats_parameter_whatever_the_order) {
    const auto r = admin_routes();
    auto m = r.match("GET", "/api/admin/websockets/connections/count");
    BOOST_TEST((*m.target == api::count));
    BOOST_TEST(m.param_count == 0u);
}

BOOST_AUTO_TEST_CASE(not_found_vs_method_not_allowed) {
    const auto r = admin_routes();
    BOOST_TEST(
        (r.match("GET", "/api/admin/websockets/nothing").status == http::route_status::not_found));
    BOOST_TEST((r.match("GET", "/api/admin/websockets/stats/").status ==
                http::route_status::not_found)); // trailing slash is another path
    BOOST_TEST(
        (r.match("GET", "/api/admin//websockets/stats").status == http::route_status::not_found));
    BOOST_TEST((r.match("GET", "/api/admin/websockets/connections/").status ==
                http::route_status::not_found)); // {id} needs a non-empty segment
    BOOST_TEST((r.match("get", "/api/admin/websockets/stats").status ==
                http::route_status::method_not_allowed)); // methods are case-sensitive

    auto m = r.match("GET", "/api/admin/websockets/cleanup");
    BOOST_TEST((m.status == http::route_status::method_not_allowed));
    BOOST_TEST(m.allow == "POST, PUT");
    BOOST_TEST(m.target == nullptr);

    m = r.match("DELETE", "/api/admin/websockets/stats");
    BOOST_TEST(m.allow == "GET, HEAD");
}

BOOST_AUTO_TEST_CASE(head_is_answered_by_get_routes) {
    const auto r = admin_routes();
    auto m = r.match("HEAD", "/api/admin/websockets/connections/7");
    BOOST_TEST((m.status == http::route_status::found));
    BOOST_TEST((*m.target == api::one));
    BOOST_TEST(m.head);
    BOOST_TEST(m.param("id").value() == "7");
    // An explicit HEAD route is itself, not a GET.
    m = r.match("HEAD", "/head");
    BOOST_TEST((*m.target == api::head_only));
    BOOST_TEST(!m.head);
    // HEAD where only POST exists: 405.
    m = r.match("HEAD", "/api/admin/websockets/disconnect");
    BOOST_TEST((m.status == http::route_status::method_not_allowed));
    BOOST_TEST(m.allow == "POST");
}

BOOST_AUTO_TEST_CASE(unreadable_paths_are_400_with_a_reason) {
    const auto r = admin_routes();
    const auto bad = [&](std::string_view path) {
        const auto m = r.match("GET", path);
        return m.status == http::route_status::bad_request ? std::string(m.error) : "not 400";
    };
    BOOST_TEST(bad("") == "invalid_path");
    BOOST_TEST(bad("*") == "invalid_path");
    BOOST_TEST(bad("api/admin") == "invalid_path");
    BOOST_TEST(bad("/api/admin/websockets/connections/%zz") == "invalid_escape");
    BOOST_TEST(bad("/api/admin/websockets/connections/%4") == "invalid_escape");
    BOOST_TEST(bad("/api/admin/websockets/connections/a%00b") == "invalid_escape");
    BOOST_TEST(bad("/api/admin/websockets/connections/" + std::string(1025, 'x')) ==
               "param_too_long");
    BOOST_TEST(bad("/api/admin/websockets/connections/" + std::string(1024, 'x')) == "not 400");
}

BOOST_AUTO_TEST_CASE(very_deep_paths_are_not_found_without_decoding) {
    const auto r = admin_routes();
    std::string deep;
    for (int i = 0; i < 40; ++i)
        deep += "/%zz";
    BOOST_TEST((r.match("GET", deep).status == http::route_status::not_found));
    http::router<int> small({.max_segments = 2});
    BOOST_TEST(small.add("GET", "/a/{b}", 1) == http::route_error::none);
    BOOST_TEST((small.match("GET", "/a/x").status == http::route_status::found));
    BOOST_TEST((small.match("GET", "/a/x/y").status == http::route_status::not_found));
}

BOOST_AUTO_TEST_CASE(routes_are_validated) {
    http::router<int> r;
    BOOST_TEST(r.add("", "/a", 1) == http::route_error::bad_method);
    BOOST_TEST(r.add("G T", "/a", 1) == http::route_error::bad_method);
    BOOST_TEST(r.add("GET", "", 1) == http::route_error::bad_pattern);
    BOOST_TEST(r.add("GET", "a", 1) == http::route_error::bad_pattern);
    BOOST_TEST(r.add("GET", "/a{b}", 1) == http::route_error::bad_pattern);
    BOOST_TEST(r.add("GET", "/a%20", 1) == http::route_error::bad_pattern);
    BOOST_TEST(r.add("GET", "/a?x", 1) == http::route_error::bad_pattern);
    BOOST_TEST(r.add("GET", "/{}", 1) == http::route_error::bad_param_name);
    BOOST_TEST(r.add("GET", "/{1x}", 1) == http::route_error::bad_param_name);
    BOOST_TEST(r.add("GET", "/{a}/{a}", 1) == http::route_error::duplicate_param);
    BOOST_TEST(r.add("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", 1) ==
               http::route_error::too_many_params);
    BOOST_TEST(r.add("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", 1) == http::route_error::none);
    BOOST_TEST(r.add("GET", "/x/{id}", 1) == http::route_error::none);
    BOOST_TEST(r.add("GET", "/x/{other}", 2) == http::route_error::duplicate_route);
    BOOST_TEST(r.add("POST", "/x/{other}", 2) == http::route_error::none);
    BOOST_TEST(r.size() == 3u);
    BOOST_TEST(http::to_string(http::route_error::duplicate_route) == "duplicate_route");
}

BOOST_AUTO_TEST_CASE(the_router_can_hold_callables) {
    http::router<std::string (*)(std::string_view)> r;
    BOOST_TEST(r.add("GET", "/echo/{v}", [](std::string_view v) {
        return "echo " + std::string(v);
    }) == http::route_error::none);
    const auto m = r.match("GET", "/echo/hi");
    BOOST_TEST((*m.target)(*m.param("v")) == "echo hi");
}

// --- replies ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(json_reply_exact_bytes) {
    std::string out;
    BOOST_TEST((http::append_json_reply(out, 200, R"({"removed":3})") == http::format_error::none));
    BOOST_TEST(out == "HTTP/1.1 200 OK\r\n"
                      "Content-Type: application/json\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "Content-Length: 13\r\n"
                      "\r\n"
                      R"({"removed":3})");
}

BOOST_AUTO_TEST_CASE(head_replies_keep_the_length_and_drop_the_body) {
    std::string out;
    http::reply_options o;
    o.head = true;
    o.version_minor = 0;
    BOOST_TEST((http::append_json_reply(out, 200, R"({"a":1})", o) == http::format_error::none));
    BOOST_TEST(out == "HTTP/1.0 200 OK\r\n"
                      "Content-Type: application/json\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "Content-Length: 7\r\n"
                      "Connection: keep-alive\r\n"
                      "\r\n");
}

BOOST_AUTO_TEST_CASE(reply_options_follow_the_request) {
    http::request_head req;
    const std::string raw = "HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    BOOST_REQUIRE(http::parse_request(raw, req).st == http::parse_result::complete);
    const auto o = http::reply_options::for_request(req);
    BOOST_TEST(o.head);
    BOOST_TEST(o.version_minor == 1u);
    BOOST_TEST((o.connection == http::connection_mode::close));
    std::string out;
    BOOST_TEST(
        (http::append_reply(out, 200, "text/plain", "hello", o) == http::format_error::none));
    BOOST_TEST(out.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"));
}

BOOST_AUTO_TEST_CASE(json_errors_escape_their_parts) {
    BOOST_TEST(http::json_error_body("connection_not_found", "no \"x\"\n") ==
               R"({"error":"connection_not_found","detail":"no \"x\"\n"})");
    std::string out;
    BOOST_TEST((http::append_json_error(out, 404, "connection_not_found", "no connection 42") ==
                http::format_error::none));
    BOOST_TEST(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
    BOOST_TEST(out.ends_with(R"({"error":"connection_not_found","detail":"no connection 42"})"));
}

BOOST_AUTO_TEST_CASE(route_failures_become_404_405_400) {
    const auto r = admin_routes();
    std::string out;
    BOOST_TEST(
        (http::append_route_failure(out, r.match("GET", "/nope")) == http::format_error::none));
    BOOST_TEST(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
    BOOST_TEST(out.ends_with(R"({"error":"not_found","detail":"no such endpoint"})"));

    out.clear();
    BOOST_TEST((http::append_route_failure(out, r.match("GET", "/api/admin/websockets/cleanup")) ==
                http::format_error::none));
    BOOST_TEST(out ==
               "HTTP/1.1 405 Method Not Allowed\r\n"
               "Content-Type: application/json\r\n"
               "Cache-Control: no-store\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "Allow: POST, PUT\r\n"
               "Content-Length: 72\r\n"
               "\r\n"
               R"({"error":"method_not_allowed","detail":"this endpoint allows POST, PUT"})");

    out.clear();
    BOOST_TEST(
        (http::append_route_failure(out, r.match("GET", "/a/%zz")) == http::format_error::none));
    BOOST_TEST(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    BOOST_TEST(out.find(R"({"error":"invalid_escape",)") != std::string::npos);

    out.clear();
    BOOST_TEST((http::append_route_failure(out, r.match("GET", "/")) ==
                http::format_error::invalid_argument));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(unauthorized_carries_a_bearer_challenge) {
    std::string out;
    BOOST_TEST((http::append_unauthorized(out, "missing_token") == http::format_error::none));
    BOOST_TEST(out == "HTTP/1.1 401 Unauthorized\r\n"
                      "Content-Type: application/json\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "WWW-Authenticate: Bearer realm=\"pier\"\r\n"
                      "Content-Length: 49\r\n"
                      "\r\n"
                      R"({"error":"unauthorized","detail":"missing_token"})");
    out.clear();
    BOOST_TEST(
        (http::append_unauthorized(out, "x", {}, "a\"b") == http::format_error::invalid_argument));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(header_values_cannot_split_a_reply) {
    std::string out = "keep";
    const http::header evil[] = {{"X-Evil", "a\r\nSet-Cookie: x=1"}};
    http::reply_options o;
    o.headers = evil;
    BOOST_TEST((http::append_json_reply(out, 200, "{}", o) == http::format_error::invalid_field));
    BOOST_TEST(out == "keep");
}

// --- bearer tokens ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(bearer_token_check) {
    const http::bearer_token t("s3cr3t-Token_1.~+/=");
    const auto check = [&](std::string_view v) { return t.check(std::optional(v)); };
    BOOST_TEST((check("Bearer s3cr3t-Token_1.~+/=") == http::auth_result::ok));
    BOOST_TEST((check("bearer s3cr3t-Token_1.~+/=") == http::auth_result::ok)); // scheme: any case
    BOOST_TEST((check("BEARER   s3cr3t-Token_1.~+/=") == http::auth_result::ok));
    BOOST_TEST((check("Bearer s3cr3t-Token_1.~+/") == http::auth_result::invalid));   // prefix
    BOOST_TEST((check("Bearer s3cr3t-Token_1.~+/==") == http::auth_result::invalid)); // longer
    BOOST_TEST((check("Bearer S3cr3t-Token_1.~+/=") == http::auth_result::invalid));  // case
    BOOST_TEST((check("Bearer") == http::auth_result::malformed));
    BOOST_TEST((check("Bearer ") == http::auth_result::malformed));
    BOOST_TEST((check("Basic dXNlcjpwYXNz") == http::auth_result::malformed));
    BOOST_TEST((check("Bearer a b") == http::auth_result::malformed));
    BOOST_TEST((check("Bearer =abc") == http::auth_result::malformed));
    BOOST_TEST((check("Bearer ab=c") == http::auth_result::malformed));
    BOOST_TEST((check("Bearertoken") == http::auth_result::malformed));
    BOOST_TEST((t.check(std::nullopt) == http::auth_result::missing));
    BOOST_TEST(http::to_string(http::auth_result::invalid) == "invalid_token");
}

BOOST_AUTO_TEST_CASE(no_secret_lets_nobody_in) {
    const http::bearer_token t("");
    BOOST_TEST(!t.enabled());
    BOOST_TEST(
        (t.check(std::optional<std::string_view>("Bearer ")) == http::auth_result::disabled));
    BOOST_TEST(
        (t.check(std::optional<std::string_view>("Bearer x")) == http::auth_result::disabled));
    BOOST_TEST((t.check(std::nullopt) == http::auth_result::disabled));
}

BOOST_AUTO_TEST_CASE(bearer_token_from_a_request) {
    const http::bearer_token t("abc");
    const auto from = [&](const std::string& raw) {
        http::request_head req;
        BOOST_REQUIRE(http::parse_request(raw, req).st == http::parse_result::complete);
        return t.check(req);
    };
    BOOST_TEST((from("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc\r\n\r\n") ==
                http::auth_result::ok));
    BOOST_TEST((from("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == http::auth_result::missing));
    BOOST_TEST((from("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc\r\n"
                     "Authorization: Bearer abc\r\n\r\n") == http::auth_result::malformed));
}

BOOST_AUTO_TEST_SUITE_END()
