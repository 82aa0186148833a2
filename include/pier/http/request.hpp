// pier/http/request.hpp: a strict, allocation-free HTTP/1.1 request-head parser (RFC 9112).
//
// `parse_request` reads the request line and header section at the front of a buffer and
// describes them with views into that buffer; it neither allocates nor copies. It is meant
// to be called again from scratch each time more bytes arrive: an incomplete head costs one
// memchr-speed scan for the blank line that ends it (plus the request line, so garbage is
// answered at once instead of after max_head_size bytes), and the full parse runs only once
// the head is complete. The body is not touched: `head_size` says where it starts, and
// `content_length()` / `chunked()` how it is framed.
//
// Strict where RFC 9112 says MUST, so that no request can be read two ways (smuggling):
// - whitespace between a field name and the colon: 400 (RFC 9112 §5.1);
// - obs-fold (a header line starting with SP/HTAB): 400, the option RFC 9112 §5.2 allows;
// - CR not followed by LF, and bare LF as a line end: 400. RFC 9112 §2.2 lets a recipient
//   accept a bare LF; pier does not, because a proxy in front of it that does not would
//   see different line boundaries;
// - NUL, CR, LF and other controls inside a field value: 400 (RFC 9110 §5.5);
// - Content-Length that is not 1*DIGIT, overflows, or appears twice (even with equal
//   values, which RFC 9110 §8.6 lets a recipient accept): 400;
// - Transfer-Encoding together with Content-Length: 400 (RFC 9112 §6.3 item 3, §11.2);
//   Transfer-Encoding whose last coding is not chunked, that applies chunked twice, or that
//   arrives in an HTTP/1.0 request: 400 (RFC 9112 §6.1, §6.3 item 4); codings other than
//   chunked, which pier does not decode: 501 (RFC 9112 §6.1);
// - a missing Host in HTTP/1.1, more than one Host, or an invalid Host: 400 (RFC 9112 §3.2).
// Tolerant where the RFC allows it: empty lines before the request line are skipped (RFC
// 9112 §2.2, they count towards max_request_line), HTTP/1.x with x > 1 is read as HTTP/1.1
// (RFC 9110 §2.5), empty list elements are ignored (RFC 9110 §5.6.1), any VCHAR is accepted
// in the request-target (RFC 9112 §3 only says SHOULD reject invalid targets), and unknown
// methods are returned to the application, which answers 501 if it wants to.
//
// Thread safety: the functions are reentrant. A `request_head` is a plain value: distinct
// objects are safe, shared objects are safe to read concurrently, unsafe to parse into while
// another thread reads them.
#pragma once

#include <pier/http/detail/chars.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string_view>

namespace pier::http {

/// Size and count limits for `parse_request`. Every one has a specific error and status, so
/// a client learns which limit it hit.
struct limits {
    /// Longest request line (method, target and version, without the CRLF; empty lines that
    /// precede it count too), in bytes. Default 8192: RFC 9112 §3 recommends supporting at
    /// least 8000 octets, which covers the long query strings real sites produce while
    /// keeping a hostile client from making the server buffer much. Exceeding it answers
    /// 414 (uri_too_long) when the method has been read, 501 (method_too_long) when the
    /// method itself is that long. Clamped to `max_head_size - 2`.
    std::size_t max_request_line = 8192;
    /// Most header field lines. Default 64: browsers send 10–20, and the headers are kept in a
    /// fixed array inside the request_head (64 × 32 bytes on 64-bit), so this is also the
    /// capacity of the default `request_head`; the effective limit is the smaller of the two.
    /// Exceeding it answers 431 (too_many_headers).
    std::size_t max_header_count = 64;
    /// Largest head (request line, header lines and the empty line ending them), in bytes.
    /// Default 16384: larger than any real browser request (cookies included) and the most
    /// a connection buffers before its request is known to be valid. Exceeding it answers
    /// 431 (head_too_large).
    std::size_t max_head_size = 16384;
};

/// One header field line: views into the parsed buffer. `value` has its surrounding
/// whitespace removed (RFC 9112 §5.1) and is otherwise as received.
struct header {
    std::string_view name;
    std::string_view value;
};

/// Why a request head was refused; `status_for` maps each to the status to answer with.
enum class parse_error : std::uint8_t {
    none,
    bad_request_line,      ///< 400: malformed request line, or a control byte in it
    bad_method,            ///< 400: the method is not a token (RFC 9110 §9.1)
    method_too_long,       ///< 501: the method alone exceeds max_request_line (RFC 9112 §3)
    bad_target,            ///< 400: request-target fits none of the forms of RFC 9112 §3.2
    uri_too_long,          ///< 414: the request line exceeds max_request_line (RFC 9112 §3)
    bad_version,           ///< 505: a well-formed version other than HTTP/1.x (RFC 9110 §15.6.6)
    bad_line_ending,       ///< 400: bare LF, or CR not followed by LF (RFC 9112 §2.2)
    bad_header,            ///< 400: malformed field line, e.g. whitespace before the colon
    obs_fold,              ///< 400: a line folded onto the previous one (RFC 9112 §5.2)
    too_many_headers,      ///< 431: more field lines than max_header_count (RFC 6585 §5)
    head_too_large,        ///< 431: the head exceeds max_head_size (RFC 6585 §5)
    bad_content_length,    ///< 400: invalid, overflowing or repeated Content-Length
    conflicting_length,    ///< 400: both Content-Length and Transfer-Encoding
    bad_transfer_encoding, ///< 400: chunked not last or repeated, or any TE in HTTP/1.0
    unsupported_transfer_encoding, ///< 501: a transfer coding other than chunked
    missing_host,                  ///< 400: HTTP/1.1 request without Host (RFC 9112 §3.2)
    bad_host,                      ///< 400: more than one Host, or an invalid one (RFC 9112 §3.2)
};

/// The HTTP status to answer a refused request with: 400, 414, 431, 501 or 505 (200 for
/// `none`). After any of them the connection must be closed, as the framing is unknown.
constexpr unsigned status_for(parse_error e) noexcept;

/// A short, stable English description of `e`, for logs.
constexpr std::string_view to_string(parse_error e) noexcept;

/// The outcome of one `parse_request` call.
struct parse_result {
    enum status : std::uint8_t {
        complete,   ///< the head is valid; the body (if any) starts at `head_size`
        incomplete, ///< no error so far: call again with more bytes (same start)
        error,      ///< refused: answer `status_for(err)` and close
    };
    status st = incomplete;
    /// Bytes of the head, including the empty line that ends it; 0 unless complete.
    std::size_t head_size = 0;
    parse_error err = parse_error::none;
};

template <std::size_t MaxHeaders> class basic_request_head;

namespace detail {
struct request_parser_access;
} // namespace detail

/// A parsed request head, as seen through any `basic_request_head<N>`: views into the
/// caller's buffer and into the head's header array, valid while both are. Copying a
/// request_view is cheap and copies the views, not the headers.
class request_view {
public:
    /// The method, case-sensitive as RFC 9110 §9.1 requires ("GET", never "get").
    std::string_view method() const noexcept { return f_.method; }
    /// The request-target as received (RFC 9112 §3.2).
    std::string_view target() const noexcept { return f_.target; }
    /// The path of the target without the query: "/a/b" for "/a/b?x=1" and for
    /// "http://h/a/b?x=1", "/" for "http://h", "*" for "*", empty for the authority-form
    /// of CONNECT. Not percent-decoded.
    std::string_view path() const noexcept { return f_.path; }
    /// The query without its '?', empty when there is none. Not percent-decoded.
    std::string_view query() const noexcept { return f_.query; }
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and for HTTP/1.2+, read as 1.1: RFC 9110 §2.5).
    unsigned version_minor() const noexcept { return f_.version_minor; }
    /// Every header field line, in order received.
    std::span<const header> headers() const noexcept { return {headers_, f_.header_count}; }

    /// The value of the first field named `name` (ASCII case-insensitive), if any. Fields
    /// that may repeat (Connection, Sec-WebSocket-Protocol, …) need `has_token` or a loop
    /// over headers().
    std::optional<std::string_view> find(std::string_view name) const noexcept;
    /// How many field lines are named `name`.
    std::size_t count(std::string_view name) const noexcept;
    /// True when any field named `name` holds `token` as an element of its comma-separated
    /// list (both case-insensitive, RFC 9110 §5.6.1), e.g. has_token("connection", "close").
    /// For token lists only: quoted strings and parameters are not interpreted.
    bool has_token(std::string_view name, std::string_view token) const noexcept;

    /// Whether the connection stays open after this exchange (RFC 9112 §9.3): HTTP/1.1
    /// unless Connection has "close"; HTTP/1.0 only with Connection: keep-alive.
    bool keep_alive() const noexcept;
    /// The Content-Length, when one was sent (it was validated: a single 1*DIGIT value).
    std::optional<std::uint64_t> content_length() const noexcept;
    /// Transfer-Encoding: chunked (the only coding accepted; never with Content-Length).
    bool chunked() const noexcept { return (f_.flags & flag_chunked) != 0; }
    /// Whether the request has a body: Content-Length > 0 or chunked (RFC 9112 §6.3).
    bool has_body() const noexcept;
    /// True for an HTTP/1.1 request whose Connection has "upgrade" and whose Upgrade lists
    /// `protocol` (case-insensitive, with or without "/version"). HTTP/1.0 requests are
    /// never upgrades (RFC 9110 §7.8).
    bool is_upgrade(std::string_view protocol = "websocket") const noexcept;
    /// The Host field value (validated), empty when absent (allowed for HTTP/1.0).
    std::string_view host() const noexcept { return f_.host; }

    /// Forgets the parsed request.
    void clear() noexcept { f_ = {}; }

protected:
    request_view() noexcept = default;

    // Flags computed while parsing, so the hot accessors are single loads.
    static constexpr std::uint8_t flag_content_length = 1;
    static constexpr std::uint8_t flag_chunked = 2;
    static constexpr std::uint8_t flag_conn_close = 4;
    static constexpr std::uint8_t flag_conn_keep_alive = 8;
    static constexpr std::uint8_t flag_conn_upgrade = 16;
    static constexpr std::uint8_t flag_transfer_encoding = 32;
    static constexpr std::uint8_t flag_host = 64;

    struct fields {
        std::string_view method, target, path, query, host;
        std::uint64_t content_length = 0;
        std::uint32_t header_count = 0;
        std::uint8_t version_minor = 1;
        std::uint8_t flags = 0;
    };

    fields f_;
    const header* headers_ = nullptr;

    friend struct detail::request_parser_access;
};

/// A request head that stores up to `MaxHeaders` header views inline (no heap). 64 covers
/// every browser; raise it for unusual clients, together with limits::max_header_count.
template <std::size_t MaxHeaders = 64> class basic_request_head : public request_view {
    static_assert(MaxHeaders > 0 && MaxHeaders <= 65535,
                  "pier: basic_request_head needs 1 to 65535 header slots");

public:
    static constexpr std::size_t capacity = MaxHeaders;

    basic_request_head() noexcept { headers_ = slots(); }
    basic_request_head(const basic_request_head& o) noexcept : request_view(o) {
        headers_ = slots();
        copy_from(o);
    }
    basic_request_head& operator=(const basic_request_head& o) noexcept {
        if (this != &o) {
            f_ = o.f_;
            copy_from(o);
        }
        return *this;
    }

private:
    friend struct detail::request_parser_access;
    // Uninitialised on purpose: only the first header_count slots are ever read, and
    // constructing all 64 would cost a 2 KiB store per request on the hot path.
    header* slots() noexcept { return reinterpret_cast<header*>(storage_); }
    void copy_from(const basic_request_head& o) noexcept {
        for (std::size_t i = 0; i < o.f_.header_count; ++i)
            ::new (static_cast<void*>(slots() + i)) header(o.headers_[i]);
    }
    alignas(header) unsigned char storage_[MaxHeaders * sizeof(header)];
};

/// The default request head: 64 header slots.
using request_head = basic_request_head<>;

/// Parses the request head at the front of `in` into `out` (RFC 9112 §2–§7). On `complete`,
/// `out` holds views into `in`; on `incomplete` call again with the same start and more
/// bytes; on `error` answer `status_for(result.err)` and close the connection. Cheap to call
/// repeatedly: until the blank line arrives only the request line is parsed. Reentrant.
template <std::size_t N>
parse_result parse_request(std::string_view in, basic_request_head<N>& out,
                           const limits& lim = {}) noexcept;

/// The value of the first header named `name` in `headers` (case-insensitive).
std::optional<std::string_view> find_header(std::span<const header> headers,
                                            std::string_view name) noexcept;

/// True when a header named `name` in `headers` lists `token` (see request_view::has_token).
bool has_token(std::span<const header> headers, std::string_view name,
               std::string_view token) noexcept;

} // namespace pier::http

#include <pier/http/impl/request.hpp>
