// Unit tests for pier/pool/token.hpp: the three token sources, their precedence, the bearer
// subprotocol convention, percent-decoding, and each token_error.
#include <pier/pier.hpp>
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace pool = pier::pool;
namespace http = pier::http;
using pool::token_error;
using pool::token_source;

namespace {

constexpr std::string_view jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl-_";

struct extracted {
    std::string token;
    token_source source;
    token_error error;
};

extracted extract(std::string_view query, std::vector<http::header> headers,
                  const pool::token_options& o = {}) {
    std::string scratch;
    const auto r = pool::extract_token(query, headers, scratch, o);
    return {std::string(r.token), r.source, r.error};
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_token)

BOOST_AUTO_TEST_CASE(names_are_stable) {
    BOOST_TEST(to_string(token_source::none) == "none");
    BOOST_TEST(to_string(token_source::authorization) == "authorization");
    BOOST_TEST(to_string(token_source::subprotocol) == "subprotocol");
    BOOST_TEST(to_string(token_source::query) == "query");
    BOOST_TEST(to_string(token_error::none) == "none");
    BOOST_TEST(to_string(token_error::missing) == "missing");
    BOOST_TEST(to_string(token_error::ambiguous) == "ambiguous");
    BOOST_TEST(to_string(token_error::malformed) == "malformed");
    BOOST_TEST(to_string(token_error::too_large) == "too_large");
}

BOOST_AUTO_TEST_CASE(each_source) {
    const std::string bearer = "Bearer " + std::string(jwt);
    auto r = extract("", {{"Authorization", bearer}});
    BOOST_TEST(r.token == jwt);
    BOOST_TEST((r.source == token_source::authorization));
    BOOST_TEST((r.error == token_error::none));

    const std::string offer = "pier.v1, bearer." + std::string(jwt);
    r = extract("", {{"Sec-WebSocket-Protocol", offer}});
    BOOST_TEST(r.token == jwt);
    BOOST_TEST((r.source == token_source::subprotocol));

    r = extract("a=1&token=" + std::string(jwt) + "&b=2", {});
    BOOST_TEST(r.token == jwt);
    BOOST_TEST((r.source == token_source::query));

    r = extract("a=1", {{"Host", "x"}});
    BOOST_TEST(r.token.empty());
    BOOST_TEST((r.source == token_source::none));
    BOOST_TEST((r.error == token_error::missing));
}

BOOST_AUTO_TEST_CASE(views_point_into_the_request) {
    const std::string query = "token=" + std::string(jwt);
    std::vector<http::header> none;
    std::string scratch = "untouched";
    const auto r = pool::extract_token(query, none, scratch);
    BOOST_TEST(r.token.data() == query.data() + 6);
    BOOST_TEST(scratch == "untouched");
    const http::header h[] = {{"authorization", "Bearer abc"}};
    const auto a = pool::extract_token("", h, scratch);
    BOOST_TEST(a.token.data() == h[0].value.data() + 7);
}

BOOST_AUTO_TEST_CASE(precedence_header_then_subprotocol_then_query) {
    const std::vector<http::header> all = {{"Sec-WebSocket-Protocol", "pier.v1, bearer.from-sp"},
                                           {"Authorization", "Bearer from-header"}};
    auto r = extract("token=from-query", all);
    BOOST_TEST(r.token == "from-header");
    BOOST_TEST((r.source == token_source::authorization));

    r = extract("token=from-query", {all[0]});
    BOOST_TEST(r.token == "from-sp");
    BOOST_TEST((r.source == token_source::subprotocol));

    // A source turned off is not looked at.
    pool::token_options o;
    o.from_authorization = false;
    r = extract("token=from-query", all, o);
    BOOST_TEST(r.token == "from-sp");
    o.from_subprotocol = false;
    r = extract("token=from-query", all, o);
    BOOST_TEST(r.token == "from-query");
    o.from_query = false;
    r = extract("token=from-query", all, o);
    BOOST_TEST((r.error == token_error::missing));

    // A broken token in a stronger source is an error, not a reason to try the next one.
    r = extract("token=from-query", {{"Authorization", "Bearer"}});
    BOOST_TEST((r.error == token_error::malformed));
    BOOST_TEST((r.source == token_source::authorization));
    BOOST_TEST(r.token.empty());
}

BOOST_AUTO_TEST_CASE(authorization_header) {
    BOOST_TEST(extract("", {{"Authorization", "bearer abc.def"}}).token == "abc.def");
    BOOST_TEST(extract("", {{"AUTHORIZATION", "BEARER abc"}}).token == "abc");
    BOOST_TEST(extract("", {{"Authorization", "Bearer   abc"}}).token == "abc");
    BOOST_TEST(extract("", {{"Authorization", "  Bearer abc  "}}).token == "abc");
    BOOST_TEST(extract("", {{"Authorization", "Bearer a+b/c=="}}).token == "a+b/c==");
    BOOST_TEST(extract("", {{"Authorization", "Bearer A-Z_a~z.0"}}).token == "A-Z_a~z.0");
    // Other schemes are someone else's credentials: skipped.
    BOOST_TEST(
        (extract("", {{"Authorization", "Basic dXNlcjpwdw=="}}).error == token_error::missing));
    BOOST_TEST(extract("token=q", {{"Authorization", "Basic dXNlcjpwdw=="}}).token == "q");
    BOOST_TEST(extract("", {{"Authorization", "Basic x"}, {"Authorization", "Bearer b"}}).token ==
               "b");
    BOOST_TEST((extract("", {{"Authorization", "Bearerabc"}}).error == token_error::missing));

    for (std::string_view bad : {"Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer ==",
                                 "Bearer a=b", "Bearer \"abc\"", "Bearer a\tb", "Bearer \xc3\xa9"})
        BOOST_TEST((extract("", {{"Authorization", bad}}).error == token_error::malformed),
                   "value: " << bad);
    BOOST_TEST((extract("", {{"Authorization", "Bearer a"}, {"authorization", "Bearer a"}}).error ==
                token_error::ambiguous));
}

BOOST_AUTO_TEST_CASE(subprotocol_convention) {
    BOOST_TEST(pool::is_token_subprotocol("bearer.x"));
    BOOST_TEST(pool::is_token_subprotocol("bearer."));
    BOOST_TEST(!pool::is_token_subprotocol("pier.v1"));
    BOOST_TEST(!pool::is_token_subprotocol("Bearer.x"));
    BOOST_TEST(!pool::is_token_subprotocol("bearer"));

    // Any position, any number of fields.
    BOOST_TEST(extract("", {{"Sec-WebSocket-Protocol", "bearer.abc, pier.v1"}}).token == "abc");
    BOOST_TEST(extract("", {{"Sec-WebSocket-Protocol", "pier.v1"},
                            {"sec-websocket-protocol", "chat, bearer.abc"}})
                   .token == "abc");
    BOOST_TEST(extract("", {{"Sec-WebSocket-Protocol", "pier.v1,bearer.a.b.c"}}).token == "a.b.c");
    // Case-sensitive prefix, as subprotocol names are compared exactly.
    BOOST_TEST((extract("", {{"Sec-WebSocket-Protocol", "pier.v1, Bearer.abc"}}).error ==
                token_error::missing));
    BOOST_TEST(
        (extract("", {{"Sec-WebSocket-Protocol", "bearer."}}).error == token_error::malformed));
    // '/' and '=' are b64token characters but not token characters.
    BOOST_TEST(
        (extract("", {{"Sec-WebSocket-Protocol", "bearer.a/b"}}).error == token_error::malformed));
    BOOST_TEST(
        (extract("", {{"Sec-WebSocket-Protocol", "bearer.ab=="}}).error == token_error::malformed));
    BOOST_TEST((extract("", {{"Sec-WebSocket-Protocol", "bearer.a, bearer.b"}}).error ==
                token_error::ambiguous));
    BOOST_TEST((extract("", {{"Sec-WebSocket-Protocol", "bearer.a"},
                             {"Sec-WebSocket-Protocol", "bearer.a"}})
                    .error == token_error::ambiguous));
}

BOOST_AUTO_TEST_CASE(server_never_selects_the_token_subprotocol) {
    // What the pool does: select among its own protocols with ws::select_subprotocol. The
    // bearer element is never one of them, so it is never echoed.
    const std::string req_text = "GET /ws HTTP/1.1\r\nHost: x\r\n"
                                 "Sec-WebSocket-Protocol: bearer.secret, pier.v1\r\n\r\n";
    http::request_head req;
    BOOST_REQUIRE(http::parse_request(req_text, req).st == http::parse_result::complete);
    std::string scratch;
    const auto t = pool::extract_token(req, scratch);
    BOOST_TEST(t.token == "secret");
    const auto chosen = pier::ws::select_subprotocol(req, {"pier.v1"});
    BOOST_TEST(chosen.value() == "pier.v1");
    BOOST_TEST(!pool::is_token_subprotocol(*chosen));
}

BOOST_AUTO_TEST_CASE(query_parameter) {
    BOOST_TEST(extract("token=abc", {}).token == "abc");
    BOOST_TEST(extract("x=1&token=abc", {}).token == "abc");
    // Percent-encoded and form-encoded values are decoded into the scratch string.
    BOOST_TEST(extract("token=a%2Bb%2Fc%3D%3D", {}).token == "a+b/c==");
    BOOST_TEST(extract("token=%61bc", {}).token == "abc");
    std::string scratch;
    std::vector<http::header> none;
    const std::string q = "token=ab%2Ec";
    const auto r = pool::extract_token(q, none, scratch);
    BOOST_TEST(r.token == "ab.c");
    BOOST_TEST(r.token.data() == scratch.data());
    // '+' is a space in a query: no b64token has one.
    BOOST_TEST((extract("token=a+b", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=a%2", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=a%zz", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=", {}).error == token_error::malformed));
    BOOST_TEST((extract("token", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=a%20b", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=a%00b", {}).error == token_error::malformed));
    BOOST_TEST((extract("token=a&token=a", {}).error == token_error::ambiguous));
    // Names are exact.
    BOOST_TEST((extract("Token=a&tokens=b&xtoken=c", {}).error == token_error::missing));
}

BOOST_AUTO_TEST_CASE(size_limit) {
    pool::token_options o;
    o.max_size = 8;
    BOOST_TEST(extract("token=12345678", {}, o).token == "12345678");
    BOOST_TEST((extract("token=123456789", {}, o).error == token_error::too_large));
    BOOST_TEST(
        (extract("", {{"Authorization", "Bearer 123456789"}}, o).error == token_error::too_large));
    BOOST_TEST((extract("", {{"Sec-WebSocket-Protocol", "bearer.123456789"}}, o).error ==
                token_error::too_large));
    // Measured after decoding: 8 escaped bytes fit, 9 do not, however they are written.
    BOOST_TEST(extract("token=%31%32%33%34%35%36%37%38", {}, o).token == "12345678");
    BOOST_TEST(
        (extract("token=%31%32%33%34%35%36%37%38%39", {}, o).error == token_error::too_large));
    BOOST_TEST(
        (extract("token=" + std::string(100, 'a') + "%41", {}, o).error == token_error::too_large));
    // The default is 8 KiB.
    BOOST_TEST(extract("token=" + std::string(8192, 'a'), {}).token.size() == 8192u);
    BOOST_TEST((extract("token=" + std::string(8193, 'a'), {}).error == token_error::too_large));
}

BOOST_AUTO_TEST_SUITE_END()
