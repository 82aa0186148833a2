// Unit tests for pier/http/request.hpp: the HTTP/1.1 request-head parser (RFC 9112).
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace http = pier::http;
using namespace std::string_view_literals;
using namespace std::string_literals;

namespace {

http::parse_result parse(std::string_view in, http::request_head& h, const http::limits& lim = {}) {
    return http::parse_request(in, h, lim);
}

// Errors are compared by name so that a failure prints something readable.
constexpr std::string_view S(http::parse_error e) {
    return http::to_string(e);
}

std::string_view error_of(std::string_view in, const http::limits& lim = {}) {
    http::request_head h;
    const auto r = parse(in, h, lim);
    BOOST_TEST_INFO("input: " << std::string(in.substr(0, 200)));
    BOOST_TEST(r.st == http::parse_result::error);
    return S(r.err);
}

// Every strict prefix of a valid head is incomplete, and the whole is complete.
void check_prefixes(std::string_view in, std::size_t head_size) {
    http::request_head h;
    for (std::size_t n = 0; n < head_size; ++n) {
        const auto r = parse(in.substr(0, n), h);
        BOOST_TEST_INFO("prefix " << n);
        BOOST_TEST(r.st == http::parse_result::incomplete);
    }
    const auto r = parse(in, h);
    BOOST_TEST(r.st == http::parse_result::complete);
    BOOST_TEST(r.head_size == head_size);
}

std::string with_host(std::string_view line, std::string_view fields = {}) {
    return std::string(line) + "\r\nHost: example.com\r\n" + std::string(fields) + "\r\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_request)

BOOST_AUTO_TEST_CASE(parses_a_simple_get) {
    const std::string in = "GET /a/b?x=1&y=2 HTTP/1.1\r\n"
                           "Host: example.com\r\n"
                           "User-Agent: test/1.0\r\n"
                           "Accept:  */* \t\r\n"
                           "X-Empty:\r\n"
                           "\r\n"
                           "BODY";
    http::request_head h;
    const auto r = parse(in, h);
    BOOST_TEST(r.st == http::parse_result::complete);
    BOOST_TEST(r.head_size == in.size() - 4);
    BOOST_TEST(h.method() == "GET");
    BOOST_TEST(h.target() == "/a/b?x=1&y=2");
    BOOST_TEST(h.path() == "/a/b");
    BOOST_TEST(h.query() == "x=1&y=2");
    BOOST_TEST(h.version_minor() == 1u);
    BOOST_TEST(h.headers().size() == 4u);
    BOOST_TEST(h.headers()[0].name == "Host");
    BOOST_TEST(h.headers()[2].value == "*/*"); // OWS trimmed on both sides
    BOOST_TEST(h.headers()[3].value == "");
    BOOST_TEST(h.host() == "example.com");
    BOOST_TEST(h.find("user-agent").value_or("") == "test/1.0");
    BOOST_TEST(h.find("USER-AGENT").value_or("") == "test/1.0");
    BOOST_TEST(!h.find("cookie"));
    BOOST_TEST(h.count("host") == 1u);
    BOOST_TEST(h.keep_alive());
    BOOST_TEST(!h.content_length());
    BOOST_TEST(!h.chunked());
    BOOST_TEST(!h.has_body());
    BOOST_TEST(!h.is_upgrade());
    // Views point into the caller's buffer.
    BOOST_TEST((h.method().data() == in.data()));
}

BOOST_AUTO_TEST_CASE(incomplete_until_the_blank_line) {
    check_prefixes("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", 33);
    check_prefixes("GET / HTTP/1.0\r\n\r\n", 18);
    check_prefixes("\r\nGET / HTTP/1.0\r\n\r\n", 20);
}

BOOST_AUTO_TEST_CASE(empty_lines_before_the_request_line_are_skipped) {
    http::request_head h;
    const auto r = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", h);
    BOOST_TEST(r.st == http::parse_result::complete);
    BOOST_TEST(r.head_size == 31u);
    BOOST_TEST(h.method() == "GET");
}

BOOST_AUTO_TEST_CASE(keep_alive_rules) {
    const auto ka = [](std::string_view version, std::string_view conn) {
        std::string in = "GET / HTTP/1." + std::string(version) + "\r\nHost: a\r\n";
        if (!conn.empty())
            in += "Connection: " + std::string(conn) + "\r\n";
        in += "\r\n";
        http::request_head h;
        BOOST_TEST(http::parse_request(in, h).st == http::parse_result::complete);
        return h.keep_alive();
    };
    BOOST_TEST(ka("1", ""));
    BOOST_TEST(!ka("1", "close"));
    BOOST_TEST(!ka("1", "Keep-Alive, CLOSE"));
    BOOST_TEST(ka("1", "keep-alive"));
    BOOST_TEST(!ka("0", ""));
    BOOST_TEST(ka("0", "keep-alive"));
    BOOST_TEST(ka("0", " Keep-Alive "));
    BOOST_TEST(!ka("0", "keep-alive, close"));
    BOOST_TEST(ka("1", "closed")); // a different token
}

BOOST_AUTO_TEST_CASE(higher_minor_versions_read_as_1_1) {
    http::request_head h;
    BOOST_TEST(parse(with_host("GET / HTTP/1.7"), h).st == http::parse_result::complete);
    BOOST_TEST(h.version_minor() == 1u);
    BOOST_TEST(parse("GET / HTTP/1.0\r\n\r\n", h).st == http::parse_result::complete);
    BOOST_TEST(h.version_minor() == 0u);
    BOOST_TEST(h.host() == "");
}

BOOST_AUTO_TEST_CASE(body_framing) {
    http::request_head h;
    BOOST_TEST(parse(with_host("POST /p HTTP/1.1", "Content-Length: 0123\r\n"), h).st ==
               http::parse_result::complete);
    BOOST_TEST(h.content_length().value_or(0) == 123u);
    BOOST_TEST(h.has_body());
    BOOST_TEST(parse(with_host("POST /p HTTP/1.1", "Content-Length: 0\r\n"), h).st ==
               http::parse_result::complete);
    BOOST_TEST(h.content_length().value_or(1) == 0u);
    BOOST_TEST(!h.has_body());
    BOOST_TEST(
        parse(with_host("POST /p HTTP/1.1", "Content-Length: 18446744073709551615\r\n"), h).st ==
        http::parse_result::complete);
    BOOST_TEST(h.content_length().value_or(0) == 18446744073709551615ull);
    BOOST_TEST(parse(with_host("POST /p HTTP/1.1", "Transfer-Encoding: Chunked\r\n"), h).st ==
               http::parse_result::complete);
    BOOST_TEST(h.chunked());
    BOOST_TEST(!h.content_length());
    BOOST_TEST(h.has_body());
    BOOST_TEST(parse(with_host("POST /p HTTP/1.1", "Transfer-Encoding: ,chunked,\r\n"), h).st ==
               http::parse_result::complete);
    BOOST_TEST(h.chunked());
}

BOOST_AUTO_TEST_CASE(tokens_and_upgrade) {
    http::request_head h;
    const std::string in = with_host("GET /chat HTTP/1.1", "Connection: keep-alive\r\n"
                                                           "Connection: Upgrade\r\n"
                                                           "Upgrade: h2c, WebSocket/13\r\n");
    BOOST_TEST(parse(in, h).st == http::parse_result::complete);
    BOOST_TEST(h.has_token("connection", "upgrade"));
    BOOST_TEST(h.has_token("Connection", "KEEP-ALIVE"));
    BOOST_TEST(!h.has_token("connection", "close"));
    BOOST_TEST(h.is_upgrade("websocket"));
    BOOST_TEST(h.is_upgrade("h2c"));
    BOOST_TEST(!h.is_upgrade("web"));
    BOOST_TEST(http::has_token(h.headers(), "upgrade", "h2c"));
    BOOST_TEST(http::find_header(h.headers(), "UPGRADE").value_or("") == "h2c, WebSocket/13");

    // Upgrade without "Connection: upgrade", and HTTP/1.0 (RFC 9110 §7.8), are not upgrades.
    BOOST_TEST(parse(with_host("GET / HTTP/1.1", "Upgrade: websocket\r\n"), h).st ==
               http::parse_result::complete);
    BOOST_TEST(!h.is_upgrade());
    BOOST_TEST(parse("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", h).st ==
               http::parse_result::complete);
    BOOST_TEST(!h.is_upgrade());
}

BOOST_AUTO_TEST_CASE(target_forms) {
    struct expect {
        std::string line;
        std::string_view path, query;
    };
    const std::vector<expect> cases = {
        {"GET http://example.com:8080/x/y?q=1 HTTP/1.1", "/x/y", "q=1"},
        {"GET https://example.com HTTP/1.1", "/", ""},
        {"GET http://example.com?a HTTP/1.1", "/", "a"},
        {"OPTIONS * HTTP/1.1", "*", ""},
        {"CONNECT example.com:443 HTTP/1.1", "", ""},
        {"GET /a?b?c HTTP/1.1", "/a", "b?c"},
        {"GET /a? HTTP/1.1", "/a", ""},
        {"PURGE /{odd}|chars^ HTTP/1.1", "/{odd}|chars^", ""}, // any VCHAR; unknown methods pass
    };
    for (const expect& c : cases) {
        const std::string in = with_host(c.line);
        http::request_head h;
        BOOST_TEST_INFO(c.line);
        BOOST_TEST(parse(in, h).st == http::parse_result::complete);
        BOOST_TEST(h.path() == c.path);
        BOOST_TEST(h.query() == c.query);
        BOOST_TEST(h.method() == std::string_view(c.line).substr(0, c.line.find(' ')));
    }
}

BOOST_AUTO_TEST_CASE(field_values) {
    http::request_head h;
    const std::string in =
        with_host("GET / HTTP/1.1", "X-Tab: a\tb\r\n"
                                    "X-Long: 0123456789abcdef0123456789\tabcdef0123456789xyz \r\n"
                                    "X-Obs-Text: caf\xc3\xa9\r\n"
                                    "X-Quote: \"a, b\"\r\n");
    BOOST_TEST(parse(in, h).st == http::parse_result::complete);
    BOOST_TEST(h.find("x-tab").value_or("") == "a\tb");
    BOOST_TEST(h.find("x-long").value_or("") == "0123456789abcdef0123456789\tabcdef0123456789xyz");
    BOOST_TEST(h.find("x-obs-text").value_or("") == "caf\xc3\xa9");
}

BOOST_AUTO_TEST_CASE(request_line_errors) {
    BOOST_TEST(error_of("G(T / HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_method));
    BOOST_TEST(error_of("GET\t/ HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv) ==
               S(http::parse_error::bad_request_line)); // a TLS ClientHello on a plain port
    BOOST_TEST(error_of(" GET / HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_request_line));
    // An empty method (found by the fuzzer).
    BOOST_TEST(error_of(" /chat HTTP/1.1\r\nHost: a\r\n\r\n") ==
               S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET  / HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET /a b HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET /\r\n\r\n") == S(http::parse_error::bad_request_line)); // HTTP/0.9
    BOOST_TEST(error_of("GET / http/1.1\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET / HTTP/1.x\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET / HTTP/1.1 \r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET / HTTP/11\r\n\r\n") == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET / HTTP/2.0\r\n\r\n") == S(http::parse_error::bad_version));
    BOOST_TEST(error_of("GET / HTTP/0.9\r\n\r\n") == S(http::parse_error::bad_version));
    BOOST_TEST(error_of("GET /\xff HTTP/1.1\r\n\r\n"sv) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of("GET /\x01 HTTP/1.1\r\n\r\n"sv) == S(http::parse_error::bad_request_line));
    BOOST_TEST(error_of("GET / HTTP/1.1\n\n") == S(http::parse_error::bad_line_ending));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\r\n") == S(http::parse_error::bad_line_ending));
    BOOST_TEST(error_of("\r\rGET / HTTP/1.1\r\n\r\n") == S(http::parse_error::bad_line_ending));
    BOOST_TEST(error_of("GET\n") == S(http::parse_error::bad_line_ending));
    // Errors are reported before the head is complete.
    BOOST_TEST(error_of("G(T") == S(http::parse_error::bad_method));
    BOOST_TEST(error_of("GET / HTTPS") == S(http::parse_error::bad_request_line));
}

BOOST_AUTO_TEST_CASE(target_errors) {
    BOOST_TEST(error_of(with_host("GET /a#frag HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("GET * HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("CONNECT /x HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("CONNECT host HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("CONNECT host:x HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("CONNECT u@host:1 HTTP/1.1")) ==
               S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("GET foo HTTP/1.1")) == S(http::parse_error::bad_target));
    BOOST_TEST(error_of(with_host("GET 1http://a/ HTTP/1.1")) == S(http::parse_error::bad_target));
}

BOOST_AUTO_TEST_CASE(header_errors) {
    using e = http::parse_error;
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X : a\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X\t: a\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", ": a\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X a\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X(y): a\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\x00z\r\n"s)) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\x7fz\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: 0123456789\x0b"
                                                    "abcdefgh\r\n")) == S(e::bad_header));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\rb\r\n")) == S(e::bad_line_ending));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\r\r\n")) == S(e::bad_line_ending));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n") == S(e::bad_line_ending));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a\r\n\n") == S(e::bad_line_ending));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\r\n b\r\n")) == S(e::obs_fold));
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "X: a\r\n\tb\r\n")) == S(e::obs_fold));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\n Host: a\r\n\r\n") == S(e::bad_header));
    // Bare LF is found while waiting for the end of the head.
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a\nX") == S(e::bad_line_ending));
}

BOOST_AUTO_TEST_CASE(content_length_errors) {
    using e = http::parse_error;
    for (std::string_view v : {"", "abc", "-1", "+5", "1 2", "5,5", "5, 5", "0x10", "1.0",
                               "18446744073709551616", "99999999999999999999999"}) {
        BOOST_TEST_INFO("Content-Length: " << v);
        BOOST_TEST(error_of(with_host("POST / HTTP/1.1", "Content-Length: " + std::string(v) +
                                                             "\r\n")) == S(e::bad_content_length));
    }
    BOOST_TEST(
        error_of(with_host("POST / HTTP/1.1", "Content-Length: 5\r\nContent-Length: 5\r\n")) ==
        S(e::bad_content_length));
    BOOST_TEST(
        error_of(with_host("POST / HTTP/1.1", "Content-Length: 5\r\ncontent-length: 6\r\n")) ==
        S(e::bad_content_length));
}

BOOST_AUTO_TEST_CASE(transfer_encoding_errors) {
    using e = http::parse_error;
    const auto te = [](std::string_view fields) {
        return error_of(with_host("POST / HTTP/1.1", fields));
    };
    BOOST_TEST(te("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") ==
               S(e::conflicting_length));
    BOOST_TEST(te("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") ==
               S(e::conflicting_length));
    BOOST_TEST(te("Transfer-Encoding: gzip\r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: chunked, gzip\r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: chunked, chunked\r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") ==
               S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: \r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: chunked;x=1\r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: xchunked\r\n") == S(e::bad_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: gzip, chunked\r\n") == S(e::unsupported_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") ==
               S(e::unsupported_transfer_encoding));
    BOOST_TEST(te("Transfer-Encoding : chunked\r\n") == S(e::bad_header));
    BOOST_TEST(error_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") ==
               S(e::bad_transfer_encoding));
}

BOOST_AUTO_TEST_CASE(host_rules) {
    using e = http::parse_error;
    BOOST_TEST(error_of("GET / HTTP/1.1\r\n\r\n") == S(e::missing_host));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nX: y\r\n\r\n") == S(e::missing_host));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == S(e::bad_host));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == S(e::bad_host));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n") == S(e::bad_host));
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == S(e::bad_host));
    http::request_head h;
    for (std::string_view host : {"[::1]:8080", "", "127.0.0.1", "xn--bcher-kva.example:80"}) {
        const std::string in = "GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
        BOOST_TEST(parse(in, h).st == http::parse_result::complete);
        BOOST_TEST(h.host() == host);
    }
}

BOOST_AUTO_TEST_CASE(size_limits) {
    using e = http::parse_error;
    // Request line: 414 when the target is long, 501 when the method is.
    const std::string long_target =
        "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    BOOST_TEST(error_of(long_target) == S(e::uri_too_long));
    BOOST_TEST(error_of(std::string_view(long_target).substr(0, 8200)) == S(e::uri_too_long));
    BOOST_TEST(error_of(std::string(9000, 'A')) == S(e::method_too_long));
    BOOST_TEST(error_of(std::string(9000, '\r')) == S(e::bad_line_ending));
    // Exactly at the limit is fine: "GET /" + path + " HTTP/1.1" = 8192 bytes.
    const std::string at_limit =
        "GET /" + std::string(8192 - 14, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    http::request_head h;
    BOOST_TEST(parse(at_limit, h).st == http::parse_result::complete);
    const std::string over = "GET /" + std::string(8192 - 13, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    BOOST_TEST(error_of(over) == S(e::uri_too_long));
    // A version that pushes the line over the limit still blames the target.
    BOOST_TEST(error_of("GET /aaaa HTTP/1.1\r\n\r\n", {.max_request_line = 12}) ==
               S(e::uri_too_long));

    // Header count: the limit, and the head's capacity.
    std::string fields;
    for (int i = 0; i < 64; ++i)
        fields += "X-" + std::to_string(i) + ": v\r\n";
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", fields)) == S(e::too_many_headers));
    std::string few;
    for (int i = 0; i < 63; ++i)
        few += "X-" + std::to_string(i) + ": v\r\n";
    BOOST_TEST(parse(with_host("GET / HTTP/1.1", few), h).st == http::parse_result::complete);
    BOOST_TEST(h.headers().size() == 64u);
    BOOST_TEST(error_of(with_host("GET / HTTP/1.1", "A: 1\r\nB: 2\r\n"), {.max_header_count = 2}) ==
               S(e::too_many_headers));
    http::basic_request_head<2> small;
    BOOST_TEST(http::parse_request(with_host("GET / HTTP/1.1", "A: 1\r\n"), small).st ==
               http::parse_result::complete);
    const auto r = http::parse_request(with_host("GET / HTTP/1.1", "A: 1\r\nB: 2\r\n"), small);
    BOOST_TEST(r.st == http::parse_result::error);
    BOOST_TEST(S(r.err) == S(e::too_many_headers));

    // Head size: complete but too big, and incomplete at the limit.
    const std::string big = with_host("GET / HTTP/1.1", "X: " + std::string(17000, 'v') + "\r\n");
    BOOST_TEST(error_of(big) == S(e::head_too_large));
    BOOST_TEST(error_of(std::string_view(big).substr(0, 16384)) == S(e::head_too_large));
    BOOST_TEST(parse(std::string_view(big).substr(0, 16383), h).st ==
               http::parse_result::incomplete);
    // A head of exactly max_head_size is accepted.
    const std::string base = with_host("GET / HTTP/1.1", "X: \r\n");
    const std::string exact =
        with_host("GET / HTTP/1.1", "X: " + std::string(16384 - base.size(), 'v') + "\r\n");
    BOOST_TEST(exact.size() == 16384u);
    const auto rx = parse(exact, h);
    BOOST_TEST(rx.st == http::parse_result::complete);
    BOOST_TEST(rx.head_size == 16384u);
}

BOOST_AUTO_TEST_CASE(status_codes) {
    using e = http::parse_error;
    BOOST_TEST(http::status_for(e::none) == 200u);
    for (e x : {e::bad_request_line, e::bad_method, e::bad_target, e::bad_line_ending,
                e::bad_header, e::obs_fold, e::bad_content_length, e::conflicting_length,
                e::bad_transfer_encoding, e::missing_host, e::bad_host})
        BOOST_TEST(http::status_for(x) == 400u);
    BOOST_TEST(http::status_for(e::uri_too_long) == 414u);
    BOOST_TEST(http::status_for(e::too_many_headers) == 431u);
    BOOST_TEST(http::status_for(e::head_too_large) == 431u);
    BOOST_TEST(http::status_for(e::method_too_long) == 501u);
    BOOST_TEST(http::status_for(e::unsupported_transfer_encoding) == 501u);
    BOOST_TEST(http::status_for(e::bad_version) == 505u);
    BOOST_TEST(http::to_string(e::obs_fold) == "obsolete line folding");
}

BOOST_AUTO_TEST_CASE(copies_keep_their_own_headers) {
    const std::string in = with_host("GET /x HTTP/1.1", "A: 1\r\n");
    http::request_head a;
    BOOST_TEST(parse(in, a).st == http::parse_result::complete);
    http::request_head b = a;
    BOOST_TEST(parse("GET / HTTP/1.0\r\n\r\n", a).st == http::parse_result::complete);
    BOOST_TEST(b.headers().size() == 2u);
    BOOST_TEST(b.find("a").value_or("") == "1");
    BOOST_TEST(b.path() == "/x");
    http::request_head c;
    c = b;
    BOOST_TEST(c.find("host").value_or("") == "example.com");
    const http::request_view v = c;
    BOOST_TEST(v.headers().size() == 2u);
    c.clear();
    BOOST_TEST(c.headers().empty());
    BOOST_TEST(c.method().empty());
}

BOOST_AUTO_TEST_CASE(split_input_gives_the_same_answer) {
    // For every prefix the answer is either "incomplete" or the answer for the whole input.
    const std::vector<std::string> inputs = {
        with_host("GET /a HTTP/1.1", "A: 1\r\nB: 2\r\n"),
        "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
        with_host("POST / HTTP/1.1", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
        "GET / HTTP/1.1\r\nX : y\r\n\r\n",
        "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n\r\n",
        with_host("GET / HTTP/1.1", "X: " + std::string(300, 'v') + "\r\n"),
    };
    const http::limits lim{.max_request_line = 100, .max_header_count = 3, .max_head_size = 200};
    for (const std::string& in : inputs) {
        http::request_head h;
        const auto whole = parse(in, h, lim);
        for (std::size_t n = 0; n <= in.size(); ++n) {
            const auto r = parse(std::string_view(in).substr(0, n), h, lim);
            if (r.st == http::parse_result::incomplete)
                continue;
            BOOST_TEST_INFO("input " << in.substr(0, 40) << " prefix " << n);
            BOOST_TEST(r.st == whole.st);
            BOOST_TEST((r.err == whole.err));
            BOOST_TEST(r.head_size == whole.head_size);
        }
    }
}

// The framing fields are recognised in any case, and only by their exact names (name_is
// compares a token's letters with their 0x20 bit set); a target is split at its first '?'
// and refused with a '#', short (one pass) or long (the general path).
BOOST_AUTO_TEST_CASE(field_names_any_case_and_targets_short_or_long) {
    http::request_head h;
    const std::string mixed = "GET / HTTP/1.1\r\nhOsT: a.example\r\nCONNECTION: Close\r\n"
                              "cOnTeNt-LeNgTh: 3\r\n\r\n";
    BOOST_TEST(parse(mixed, h).st == http::parse_result::complete);
    BOOST_TEST(h.host() == "a.example");
    BOOST_TEST(!h.keep_alive());
    BOOST_TEST(h.content_length().value_or(0) == 3u);
    // Near misses are other fields: no Host (so HTTP/1.1 refuses), no framing.
    BOOST_TEST(error_of("GET / HTTP/1.1\r\nHosts: a\r\nHos: a\r\nHost-: a\r\n\r\n") ==
               S(http::parse_error::missing_host));
    const std::string near =
        with_host("GET / HTTP/1.1", "Content-Lengths: x\r\nTransfer-Encodings: x\r\n");
    BOOST_TEST(parse(near, h).st == http::parse_result::complete);
    BOOST_TEST(!h.content_length().has_value());
    BOOST_TEST(!h.chunked());
    for (const std::string& pad : {std::string(), std::string(100, 'x')}) {
        BOOST_TEST_INFO("target length " << pad.size());
        const std::string with_query = with_host("GET /" + pad + "?a=1?b HTTP/1.1");
        BOOST_TEST(parse(with_query, h).st == http::parse_result::complete);
        BOOST_TEST(h.path() == "/" + pad);
        BOOST_TEST(h.query() == "a=1?b");
        const std::string old_version = with_host("GET /" + pad + " HTTP/1.0");
        BOOST_TEST(parse(old_version, h).st == http::parse_result::complete);
        BOOST_TEST(h.query().empty());
        BOOST_TEST(h.version_minor() == 0u);
        BOOST_TEST(error_of(with_host("GET /" + pad + "?q#f HTTP/1.1")) ==
                   S(http::parse_error::bad_target));
    }
}

BOOST_AUTO_TEST_SUITE_END()
