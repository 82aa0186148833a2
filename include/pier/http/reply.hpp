// pier/http/reply.hpp: whole HTTP/1.1 responses for small admin and health endpoints: JSON
// bodies, JSON errors, and the 404 / 405 / 400 answers a router::match asks for. The heads
// come from format_response_head (response.hpp), so framing fields cannot be contradicted
// and no header value can split a response.
//
//     std::string out;
//     auto opts = pier::http::reply_options::for_request(req);    // version, keep-alive, HEAD
//     pier::http::append_json_reply(out, 200, R"({"removed":3})", opts);
//     pier::http::append_json_error(out, 404, "connection_not_found", "no connection 42", opts);
//
// Every reply carries Content-Length, `Cache-Control: no-store` (admin data is live and may
// be private: no cache may keep it, RFC 9111 §5.2.2.5) and `X-Content-Type-Options: nosniff`
// (a browser must not run a JSON body as a script). JSON is sent as `application/json`
// without a charset parameter: RFC 8259 §11 defines none, JSON is UTF-8.
//
// Error bodies are {"error":"<name>","detail":"<text>"}: `error` is a stable machine-readable
// name (snake_case), `detail` a human-readable explanation; both are escaped.
//
// Thread safety: all functions are reentrant.
#pragma once

#include <pier/detail/json.hpp>
#include <pier/http/request.hpp>
#include <pier/http/response.hpp>
#include <pier/http/router.hpp>

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace pier::http {

/// How to frame a reply for the request it answers.
struct reply_options {
    /// The request's HTTP version (1.0 clients get 1.0 replies).
    unsigned version_minor = 1;
    /// Close after this reply, or keep the connection.
    connection_mode connection = connection_mode::keep_alive;
    /// A HEAD request: the head only, with the Content-Length the body would have had.
    bool head = false;
    /// Extra fields, after the ones the reply functions write.
    std::span<const header> headers = {};

    /// Version, keep-alive and HEAD taken from `req`.
    static reply_options for_request(const request_view& req) noexcept {
        reply_options o;
        o.version_minor = req.version_minor();
        o.connection = req.keep_alive() ? connection_mode::keep_alive : connection_mode::close;
        o.head = req.method() == "HEAD";
        return o;
    }
};

/// Appends a complete response: head (with Content-Type, Content-Length, Cache-Control and
/// nosniff) and, unless `o.head`, the body. Leaves `out` as it was on error.
format_error append_reply(std::string& out, unsigned status, std::string_view content_type,
                          std::string_view body, const reply_options& o = {});

/// A JSON reply: `json` must already be JSON text.
inline format_error append_json_reply(std::string& out, unsigned status, std::string_view json,
                                      const reply_options& o = {}) {
    return append_reply(out, status, "application/json", json, o);
}

/// {"error":"<error>","detail":"<detail>"}, both escaped; `detail` is cut at 1024 bytes.
std::string json_error_body(std::string_view error, std::string_view detail);

/// A JSON error reply with the body above.
inline format_error append_json_error(std::string& out, unsigned status, std::string_view error,
                                      std::string_view detail, const reply_options& o = {}) {
    return append_json_reply(out, status, json_error_body(error, detail), o);
}

/// 401 with `WWW-Authenticate: Bearer realm="<realm>"` (RFC 9110 §11.6.1 requires the
/// challenge; RFC 6750 §3 its form) and {"error":"unauthorized","detail":"<why>"}.
format_error append_unauthorized(std::string& out, std::string_view why,
                                 const reply_options& o = {}, std::string_view realm = "pier");

/// The answer to a router::match that did not find a route: 404 {"error":"not_found"}, 405
/// {"error":"method_not_allowed"} with its Allow field, or 400 {"error":"<m.error>"}.
/// Does nothing (returns invalid_argument) for a found match.
template <class T>
format_error append_route_failure(std::string& out, const route_match<T>& m,
                                  const reply_options& o = {});

} // namespace pier::http

#include <pier/http/impl/reply.hpp>
