// Unit tests for pier/http/response.hpp: reason phrases and the response-head formatter.
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <string>
#include <string_view>

namespace http = pier::http;

namespace {

std::string formatted(const http::response_head& r) {
    std::array<char, 512> buf{};
    const auto res = http::format_response_head(r, buf);
    BOOST_TEST(res.ok());
    return std::string(buf.data(), res.ok() ? res.size : 0);
}

int err(const http::response_head& r) {
    std::array<char, 512> buf{};
    buf.fill('#');
    const auto res = http::format_response_head(r, buf);
    // Nothing is written on failure.
    if (!res.ok())
        BOOST_TEST(std::string_view(buf.data(), buf.size()) == std::string(512, '#'));
    return static_cast<int>(res.err);
}

constexpr int as_int(http::format_error e) {
    return static_cast<int>(e);
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_response)

BOOST_AUTO_TEST_CASE(reason_phrases) {
    BOOST_TEST(http::reason_phrase(200) == "OK");
    BOOST_TEST(http::reason_phrase(101) == "Switching Protocols");
    BOOST_TEST(http::reason_phrase(404) == "Not Found");
    BOOST_TEST(http::reason_phrase(413) == "Content Too Large"); // RFC 9110 name
    BOOST_TEST(http::reason_phrase(414) == "URI Too Long");
    BOOST_TEST(http::reason_phrase(426) == "Upgrade Required");
    BOOST_TEST(http::reason_phrase(431) == "Request Header Fields Too Large");
    BOOST_TEST(http::reason_phrase(501) == "Not Implemented");
    BOOST_TEST(http::reason_phrase(505) == "HTTP Version Not Supported");
    BOOST_TEST(http::reason_phrase(299) == "");
    // Every status the request parser produces has a phrase.
    for (int e = 0; e <= static_cast<int>(http::parse_error::bad_host); ++e)
        BOOST_TEST(
            !http::reason_phrase(http::status_for(static_cast<http::parse_error>(e))).empty());
}

BOOST_AUTO_TEST_CASE(formats_a_keep_alive_response) {
    const http::header fields[] = {{"Content-Type", "text/plain"}, {"Server", "pier"}};
    BOOST_TEST(formatted({.status = 200, .headers = fields, .content_length = 1024}) ==
               "HTTP/1.1 200 OK\r\n"
               "Content-Type: text/plain\r\n"
               "Server: pier\r\n"
               "Content-Length: 1024\r\n"
               "\r\n");
    BOOST_TEST(formatted({.status = 204}) == "HTTP/1.1 204 No Content\r\n\r\n");
    BOOST_TEST(formatted({.status = 299, .content_length = 0}) ==
               "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
    BOOST_TEST(
        formatted({.status = 200, .reason = "Fine", .content_length = 18446744073709551615ull}) ==
        "HTTP/1.1 200 Fine\r\nContent-Length: 18446744073709551615\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(connection_field) {
    using m = http::connection_mode;
    BOOST_TEST(formatted({.status = 200, .content_length = 0, .connection = m::close}) ==
               "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    BOOST_TEST(formatted({.status = 200, .version_minor = 0, .content_length = 0}) ==
               "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    BOOST_TEST(
        formatted(
            {.status = 200, .version_minor = 0, .content_length = 0, .connection = m::close}) ==
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    BOOST_TEST(formatted({.status = 101, .connection = m::upgrade}) ==
               "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(refuses_invalid_input) {
    using e = http::format_error;
    const http::header crlf[] = {{"X", "a\r\nSet-Cookie: evil=1"}};
    BOOST_TEST(err({.headers = crlf}) == as_int(e::invalid_field));
    const http::header nul[] = {{"X", std::string_view("a\0b", 3)}};
    BOOST_TEST(err({.headers = nul}) == as_int(e::invalid_field));
    const http::header bad_name[] = {{"X Y", "v"}};
    BOOST_TEST(err({.headers = bad_name}) == as_int(e::invalid_field));
    const http::header empty_name[] = {{"", "v"}};
    BOOST_TEST(err({.headers = empty_name}) == as_int(e::invalid_field));
    const http::header cl[] = {{"content-length", "5"}};
    BOOST_TEST(err({.headers = cl}) == as_int(e::reserved_field));
    const http::header conn[] = {{"Connection", "close"}};
    BOOST_TEST(err({.headers = conn}) == as_int(e::reserved_field));
    BOOST_TEST(err({.status = 99}) == as_int(e::invalid_status));
    BOOST_TEST(err({.status = 1000}) == as_int(e::invalid_status));
    BOOST_TEST(err({.status = 200, .version_minor = 2}) == as_int(e::invalid_status));
    BOOST_TEST(err({.status = 200, .reason = "O\nK"}) == as_int(e::invalid_reason));
    BOOST_TEST(err({.status = 204, .content_length = 0}) == as_int(e::length_not_allowed));
    BOOST_TEST(err({.status = 100, .content_length = 0}) == as_int(e::length_not_allowed));
    BOOST_TEST(
        err({.status = 101, .version_minor = 0, .connection = http::connection_mode::upgrade}) ==
        as_int(e::invalid_connection));
}

BOOST_AUTO_TEST_CASE(reports_the_size_needed) {
    const http::response_head r{.status = 404, .content_length = 9};
    const std::string full = formatted(r);
    std::array<char, 512> buf;
    buf.fill('#');
    const auto small = http::format_response_head(r, std::span<char>(buf.data(), full.size() - 1));
    BOOST_TEST(as_int(small.err) == as_int(http::format_error::buffer_too_small));
    BOOST_TEST(small.size == full.size());
    BOOST_TEST(buf[0] == '#');
    const auto exact = http::format_response_head(r, std::span<char>(buf.data(), full.size()));
    BOOST_TEST(exact.ok());
    BOOST_TEST(std::string_view(buf.data(), exact.size) == full);
}

BOOST_AUTO_TEST_CASE(appends_to_a_string) {
    std::string s = "prefix|";
    BOOST_TEST(as_int(http::append_response_head({.status = 500, .content_length = 0}, s)) ==
               as_int(http::format_error::none));
    BOOST_TEST(s == "prefix|HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    BOOST_TEST(as_int(http::append_response_head({.status = 5}, s)) ==
               as_int(http::format_error::invalid_status));
    BOOST_TEST(
        s == "prefix|HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"); // unchanged
}

BOOST_AUTO_TEST_CASE(a_formatted_head_parses_back_as_fields) {
    // The formatter's output has the same field syntax the request parser accepts: splice
    // its fields under a request line and parse them back.
    const http::header fields[] = {{"X-A", "1"}, {"X-B", "two words"}};
    const std::string head = formatted({.status = 200,
                                        .headers = fields,
                                        .content_length = 3,
                                        .connection = http::connection_mode::close});
    const std::string req = "GET / HTTP/1.1\r\nHost: h\r\n" + head.substr(head.find("\r\n") + 2);
    http::request_head h;
    BOOST_TEST(http::parse_request(req, h).st == http::parse_result::complete);
    BOOST_TEST(h.find("x-b").value_or("") == "two words");
    BOOST_TEST(h.content_length().value_or(0) == 3u);
    BOOST_TEST(!h.keep_alive());
}

BOOST_AUTO_TEST_SUITE_END()
