// pier/http/response.hpp: HTTP/1.1 status reason phrases and a response-head formatter that
// writes into a caller's buffer (RFC 9112 §4, RFC 9110 §15).
//
// `format_response_head` validates what it is given before writing a byte, so a header value
// taken from user input cannot split the response (CR/LF are refused, RFC 9110 §5.5), and it
// owns the framing fields, Content-Length and Connection, so they cannot contradict each other.
// It never allocates; `append_response_head` is the allocating convenience for std::string.
//
// Thread safety: all functions are reentrant; `response_head` is a plain aggregate of views.
#pragma once

#include <pier/http/request.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pier::http {

/// The reason phrase RFC 9110 §15 gives `status` ("Not Found" for 404), or "" for a code it
/// does not define (a reason phrase may be empty, RFC 9112 §4).
constexpr std::string_view reason_phrase(unsigned status) noexcept;

/// What the response says about the connection (RFC 9112 §9.3, RFC 9110 §7.6.1).
enum class connection_mode : std::uint8_t {
    keep_alive, ///< nothing on HTTP/1.1, "Connection: keep-alive" on HTTP/1.0
    close,      ///< "Connection: close" on HTTP/1.1, nothing on HTTP/1.0
    upgrade,    ///< "Connection: Upgrade" (101 responses); HTTP/1.1 only
};

/// The parts of a response head. Views only: format_response_head copies them out.
struct response_head {
    /// 100–999 (RFC 9110 §15: three digits).
    unsigned status = 200;
    /// Empty: use reason_phrase(status).
    std::string_view reason = {};
    /// 1 for HTTP/1.1, 0 for HTTP/1.0 (answer a 1.0 client in 1.0 so keep-alive is explicit).
    unsigned version_minor = 1;
    /// Extra fields, written in order. Must not include Content-Length or Connection, which
    /// come from the two members below.
    std::span<const header> headers = {};
    /// Written as Content-Length when set. Refused for 1xx and 204 (RFC 9110 §8.6).
    std::optional<std::uint64_t> content_length = {};
    connection_mode connection = connection_mode::keep_alive;
};

enum class format_error : std::uint8_t {
    none,
    buffer_too_small,   ///< nothing written; format_result::size is the size needed
    invalid_status,     ///< status outside 100–999, or version_minor not 0/1
    invalid_reason,     ///< a control byte in the reason phrase
    invalid_field,      ///< a field name that is not a token, or a control byte in a value
    reserved_field,     ///< Content-Length or Connection in `headers`
    length_not_allowed, ///< content_length on a 1xx or 204 response
    invalid_connection, ///< connection_mode::upgrade on HTTP/1.0
    invalid_argument,   ///< another argument was invalid (e.g. a malformed WebSocket key)
    library_failure,    ///< a library call failed (e.g. OpenSSL could not compute SHA-1)
};

struct format_result {
    /// Bytes written; with buffer_too_small, the bytes that would have been written.
    std::size_t size = 0;
    format_error err = format_error::none;
    constexpr bool ok() const noexcept { return err == format_error::none; }
};

/// Writes the status line, the fields of `r` and the empty line ending the head into `out`.
/// Writes nothing unless all of it fits and `r` is valid. Reentrant, no allocation.
format_result format_response_head(const response_head& r, std::span<char> out) noexcept;

/// Appends the head to `out` (allocating as needed); returns why it could not, leaving `out`
/// unchanged on error.
format_error append_response_head(const response_head& r, std::string& out);

} // namespace pier::http

#include <pier/http/impl/response.hpp>
