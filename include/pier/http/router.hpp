// pier/http/router.hpp: a small route table for admin and health endpoints: (method, path
// pattern) → a value of the caller's choosing (an enum, a function), with `{name}` segments
// captured and percent-decoded, and the 404 / 405 / 400 distinction made for the caller.
// Not a web framework: no wildcards, no regexes, no middleware.
//
//     enum class api { stats, connection, disconnect };
//     pier::http::router<api> r;
//     r.add("GET", "/api/admin/websockets/stats", api::stats);
//     r.add("GET", "/api/admin/websockets/connections/{id}", api::connection);
//     r.add("POST", "/api/admin/websockets/disconnect", api::disconnect);
//     auto m = r.match(req.method(), req.path());
//     switch (m.status) {
//     case pier::http::route_status::found:  … *m.target, m.param("id"), m.head …
//     default: pier::http::append_route_failure(out, m, opts);   // 404, 405 + Allow, 400
//     }
//
// Matching, on the path only (the query is the caller's, see query.hpp):
// - The path must start with '/': anything else (the "*" of OPTIONS, an empty CONNECT path)
//   is 400 invalid_path.
// - It is split at '/' and each segment percent-decoded (RFC 3986 §2.1; '+' stays '+', it is
//   a space only in queries). A malformed escape, or one that decodes to NUL, is 400
//   invalid_escape: a NUL in a user id would end it early in any C API it reached.
// - Segments are compared exactly after decoding (case-sensitive, RFC 3986 §6.2.2.1), so
//   "/api/%61dmin" is "/api/admin" but "/api/admin/" (an empty last segment) is not.
// - A `{name}` segment matches any one non-empty segment; its decoded value, at most
//   `max_param_bytes` long (400 param_too_long otherwise), is the parameter.
// - Where several patterns match, the one with a literal at the first segment where they
//   differ wins, whatever the order they were added in ("/connections/count" beats
//   "/connections/{id}").
// - If patterns match the path but none for the method: 405 with `allow` listing the methods
//   that would (RFC 9110 §15.5.6). HEAD is answered by a GET route when there is no HEAD route
//   (`head` is set: send the head of the GET reply, without its body, RFC 9110 §9.3.2), and
//   `allow` lists HEAD wherever it lists GET. Otherwise 404.
//
// Thread safety: add() is not; once the table is built, match() is safe from any number of
// threads (it only reads). A route_match refers to the router's patterns: it must not
// outlive the router.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pier::http {

/// What match() found.
enum class route_status : std::uint8_t {
    found,              ///< `target` is the route; `params` hold the captured segments
    not_found,          ///< 404: no pattern matches the path
    method_not_allowed, ///< 405: patterns match, none for this method; see `allow`
    bad_request,        ///< 400: the path cannot be read; `error` says why
};

/// Why add() refused a route.
enum class route_error : std::uint8_t {
    none,
    bad_method,      ///< empty, or not an RFC 9110 token
    bad_pattern,     ///< not starting with '/', or a '{', '}', '%', '?' or '#' inside a literal
    bad_param_name,  ///< `{}` or a name that is not [A-Za-z_][A-Za-z0-9_]*
    duplicate_param, ///< the same `{name}` twice in one pattern
    too_many_params, ///< more than router_limits::max_params
    duplicate_route, ///< the same method and pattern shape was added before
};

constexpr std::string_view to_string(route_error e) noexcept;

struct router_limits {
    /// Most `{name}` segments in one pattern. Default 8, also the capacity of a route_match,
    /// which holds them inline.
    static constexpr std::size_t max_params = 8;
    /// Longest decoded parameter value. Default 1024: ids and user names are far shorter,
    /// and the request parser already caps the whole target at 8192.
    std::size_t max_param_bytes = 1024;
    /// Most segments a path may have to be considered at all; a longer one is 404 without
    /// being decoded. Default 32, beyond the deepest pattern an admin API needs.
    std::size_t max_segments = 32;
};

/// The outcome of router::match. Views into the router's patterns: keep the router alive.
template <class T> struct route_match {
    route_status status = route_status::not_found;
    /// The route's value when found.
    const T* target = nullptr;
    /// Found through a GET route for a HEAD request: send the head only.
    bool head = false;
    /// For method_not_allowed: the Allow field value, e.g. "GET, HEAD, POST".
    std::string allow;
    /// For bad_request: "invalid_path", "invalid_escape" or "param_too_long".
    std::string_view error;
    /// Captured parameters, in pattern order (name, decoded value).
    std::array<std::pair<std::string_view, std::string>, router_limits::max_params> params{};
    std::size_t param_count = 0;

    /// The decoded value of parameter `name`, if the route has one.
    std::optional<std::string_view> param(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < param_count; ++i)
            if (params[i].first == name)
                return std::string_view(params[i].second);
        return std::nullopt;
    }
};

/// A route table. Distinct objects: safe. Shared objects: match() only (see above).
template <class T> class router {
public:
    explicit router(router_limits limits = {}) : limits_(limits) {}

    /// Adds a route; `pattern` is a path whose segments are literals or `{name}`.
    [[nodiscard]] route_error add(std::string_view method, std::string_view pattern, T target);

    /// Matches a request's method (case-sensitive, RFC 9110 §9.1) and path (not decoded,
    /// without the query: request_view::path()).
    route_match<T> match(std::string_view method, std::string_view path) const;

    std::size_t size() const noexcept { return routes_.size(); }

private:
    struct segment {
        std::string text; // literal text, or the parameter name
        bool param = false;
    };
    struct route {
        std::string method;
        std::vector<segment> segments;
        T target;
    };
    // Whether `a` must be tried before `b`: a literal beats a parameter at the first segment
    // where they differ in kind.
    static bool more_specific(const route& a, const route& b) noexcept;

    router_limits limits_;
    std::vector<route> routes_; // kept in specificity order
};

} // namespace pier::http

#include <pier/http/impl/router.hpp>
