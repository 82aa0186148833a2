// pier/http/impl/response.hpp: out-of-line definitions for <pier/http/response.hpp>.
#pragma once

#include <pier/http/response.hpp>

#include <charconv>
#include <cstring>

namespace pier::http {

constexpr std::string_view reason_phrase(unsigned status) noexcept {
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required"; // RFC 6585
    case 429:
        return "Too Many Requests"; // RFC 6585
    case 431:
        return "Request Header Fields Too Large"; // RFC 6585
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return {};
    }
}

namespace detail {

inline std::size_t decimal_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 10) {
        v /= 10;
        ++n;
    }
    return n;
}

inline std::string_view connection_line(connection_mode m, unsigned version_minor) noexcept {
    switch (m) {
    case connection_mode::keep_alive:
        return version_minor == 0 ? "Connection: keep-alive\r\n" : std::string_view{};
    case connection_mode::close:
        return version_minor == 0 ? std::string_view{} : "Connection: close\r\n";
    case connection_mode::upgrade:
        return "Connection: Upgrade\r\n";
    }
    return {};
}

// Validates `r` and returns the exact size of its head.
inline format_result measure_response_head(const response_head& r) noexcept {
    const auto bad = [](format_error e) noexcept { return format_result{0, e}; };
    if (r.status < 100 || r.status > 999 || r.version_minor > 1)
        return bad(format_error::invalid_status);
    if (r.connection == connection_mode::upgrade && r.version_minor == 0)
        return bad(format_error::invalid_connection);
    if (r.content_length && (r.status < 200 || r.status == 204))
        return bad(format_error::length_not_allowed);
    const std::string_view reason = r.reason.empty() ? reason_phrase(r.status) : r.reason;
    for (char c : reason)
        if (!is_field_char(c))
            return bad(format_error::invalid_reason);
    // "HTTP/1.1 200 " + reason + CRLF
    std::size_t size = 13 + reason.size() + 2;
    for (const header& h : r.headers) {
        if (h.name.empty())
            return bad(format_error::invalid_field);
        for (char c : h.name)
            if (!is_tchar(c))
                return bad(format_error::invalid_field);
        for (char c : h.value)
            if (!is_field_char(c))
                return bad(format_error::invalid_field);
        if (iequals(h.name, "content-length") || iequals(h.name, "connection"))
            return bad(format_error::reserved_field);
        size += h.name.size() + 2 + h.value.size() + 2;
    }
    if (r.content_length)
        size += 16 + decimal_size(*r.content_length) + 2;
    size += connection_line(r.connection, r.version_minor).size();
    return {size + 2, format_error::none};
}

inline char* put(char* p, std::string_view s) noexcept {
    if (!s.empty()) // an empty view may have a null data(), which memcpy must not see
        std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

inline void write_response_head(const response_head& r, char* p) noexcept {
    p = put(p, r.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    *p++ = static_cast<char>('0' + r.status / 100);
    *p++ = static_cast<char>('0' + r.status / 10 % 10);
    *p++ = static_cast<char>('0' + r.status % 10);
    *p++ = ' ';
    p = put(p, r.reason.empty() ? reason_phrase(r.status) : r.reason);
    p = put(p, "\r\n");
    for (const header& h : r.headers) {
        p = put(p, h.name);
        p = put(p, ": ");
        p = put(p, h.value);
        p = put(p, "\r\n");
    }
    if (r.content_length) {
        p = put(p, "Content-Length: ");
        p = std::to_chars(p, p + 20, *r.content_length).ptr;
        p = put(p, "\r\n");
    }
    p = put(p, connection_line(r.connection, r.version_minor));
    put(p, "\r\n");
}

} // namespace detail

inline format_result format_response_head(const response_head& r, std::span<char> out) noexcept {
    const format_result m = detail::measure_response_head(r);
    if (!m.ok())
        return m;
    if (m.size > out.size())
        return {m.size, format_error::buffer_too_small};
    detail::write_response_head(r, out.data());
    return m;
}

inline format_error append_response_head(const response_head& r, std::string& out) {
    const format_result m = detail::measure_response_head(r);
    if (!m.ok())
        return m.err;
    const std::size_t at = out.size();
    out.resize(at + m.size);
    detail::write_response_head(r, out.data() + at);
    return format_error::none;
}

} // namespace pier::http
