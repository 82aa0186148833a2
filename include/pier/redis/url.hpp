// pier/redis/url.hpp: where a Redis client connects, from a URL.
//
//     redis://[[user]:password@]host[:port][/db]          one server (db 0 by default)
//     rediss://…                                           the same over TLS
//     redis-cluster://[[user]:password@]host[:port],host[:port],…[/0]
//     rediss-cluster://…                                   a cluster over TLS
//
// `host` is a name, an IPv4 address or a bracketed IPv6 address (`[::1]:6379`); the port
// defaults to 6379. User and password are percent-decoded (RFC 3986 §2.1), so a password
// holding `@`, `:` or `/` is written `%40`, `%3A`, `%2F`. The cluster form lists seed nodes:
// the client learns the others from CLUSTER SLOTS, and a cluster only has database 0.
// Queries and fragments are refused rather than ignored, so that an option someone meant to
// set (`?timeout=…`) is not silently dropped.
//
// A pure function: `parse_url` allocates only the strings of its result. Every refusal has
// its own `url_error`.
#pragma once

#include <pier/http/query.hpp>

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::redis {

/// Why `parse_url` refused a URL (category "pier.redis.url").
enum class url_error {
    /// Longer than `max_url_size`.
    too_long = 1,
    /// Not one of redis://, rediss://, redis-cluster://, rediss-cluster://.
    bad_scheme,
    /// User information without a `:` (write `redis://:password@host` or
    /// `redis://user:password@host`), or a malformed percent-escape in it.
    bad_userinfo,
    /// Nothing between `//` (or `@`) and the port, path or end, or an empty list entry.
    missing_host,
    /// A host name with characters other than letters, digits, `-`, `.` and `_`, or longer
    /// than 255 bytes.
    bad_host,
    /// A bracketed host that is not an IPv6 address, or a missing `]`.
    bad_ipv6,
    /// A port that is empty after `:`, not decimal, 0, or above 65535.
    bad_port,
    /// Several hosts in a redis:// or rediss:// URL (a cluster is redis-cluster://).
    multiple_hosts,
    /// More than `max_url_nodes` seed nodes.
    too_many_hosts,
    /// A database that is not a decimal number below 10^9.
    bad_db,
    /// A database other than 0 in a cluster URL (Redis Cluster has only database 0).
    db_in_cluster,
    /// A query (`?…`) or fragment (`#…`), or a path with more than one segment.
    unsupported_part,
};

/// Longest URL accepted: 4096 bytes, far beyond a real one (a password and dozens of seed
/// nodes), and the most the parser ever looks at.
inline constexpr std::size_t max_url_size = 4096;
/// Most seed nodes in a cluster URL: 64. A client needs one reachable seed; listing more than
/// a handful only slows down the first connection when they are down.
inline constexpr std::size_t max_url_nodes = 64;

/// A server address as the URL (or CLUSTER SLOTS, or a MOVED reply) names it.
struct endpoint {
    std::string host; ///< name or address, IPv6 without brackets
    std::uint16_t port = 6379;

    /// `host:port`, or `[host]:port` for an IPv6 address.
    std::string to_string() const {
        const bool v6 = host.find(':') != std::string::npos;
        return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// A parsed Redis URL.
struct url {
    bool tls = false;     ///< rediss:// or rediss-cluster://
    bool cluster = false; ///< redis-cluster:// or rediss-cluster://
    /// The server, or the cluster's seed nodes, in the order written; never empty after a
    /// successful parse.
    std::vector<endpoint> nodes;
    /// AUTH credentials: nothing is sent when both are empty, `AUTH password` when only the
    /// password is set, `AUTH user password` (Redis 6 ACL) when both are.
    std::string user;
    std::string password;
    /// SELECTed after connecting when not 0 (standalone servers only).
    int db = 0;
};

namespace detail {
class url_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "pier.redis.url"; }
    std::string message(int ev) const override {
        switch (static_cast<url_error>(ev)) {
        case url_error::too_long:
            return "redis URL too long";
        case url_error::bad_scheme:
            return "redis URL scheme must be redis, rediss, redis-cluster or rediss-cluster";
        case url_error::bad_userinfo:
            return "redis URL user information must be user:password or :password";
        case url_error::missing_host:
            return "redis URL has no host";
        case url_error::bad_host:
            return "redis URL host is not a valid name";
        case url_error::bad_ipv6:
            return "redis URL bracketed host is not an IPv6 address";
        case url_error::bad_port:
            return "redis URL port must be 1-65535";
        case url_error::multiple_hosts:
            return "several hosts need redis-cluster://";
        case url_error::too_many_hosts:
            return "too many seed nodes in redis cluster URL";
        case url_error::bad_db:
            return "redis URL database must be a decimal number";
        case url_error::db_in_cluster:
            return "redis cluster has only database 0";
        case url_error::unsupported_part:
            return "redis URL query, fragment or path not supported";
        }
        return "unknown redis URL error";
    }
};
} // namespace detail

inline const std::error_category& url_category() noexcept {
    static const detail::url_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(url_error e) noexcept {
    return {static_cast<int>(e), url_category()};
}

/// Parses `text` into `out` (overwritten on success, unspecified on failure). Returns an
/// empty error_code or a `url_error`.
inline std::error_code parse_url(std::string_view text, url& out);

// ---------------------------------------------------------------------------------------------

namespace detail {

inline bool iequal_prefix(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size())
        return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i])
            return false;
    }
    return true;
}

inline url_error parse_host_port(std::string_view s, endpoint& ep) {
    std::string_view host, port;
    bool have_port = false;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos)
            return url_error::bad_ipv6;
        host = s.substr(1, close - 1);
        const auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return url_error::bad_ipv6;
            port = rest.substr(1);
            have_port = true;
        }
        char buf[sizeof(struct in6_addr)];
        if (host.empty() || host.size() > 45 ||
            ::inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1)
            return url_error::bad_ipv6;
    } else {
        const auto colon = s.find(':');
        host = s.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = s.substr(colon + 1);
            have_port = true;
        }
        if (host.empty())
            return url_error::missing_host;
        if (host.size() > 255)
            return url_error::bad_host;
        for (char c : host) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
            if (!ok)
                return url_error::bad_host;
        }
    }
    ep.host.assign(host);
    ep.port = 6379;
    if (have_port) {
        if (port.empty() || port.size() > 5)
            return url_error::bad_port;
        unsigned value = 0;
        for (char c : port) {
            if (c < '0' || c > '9')
                return url_error::bad_port;
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535)
            return url_error::bad_port;
        ep.port = static_cast<std::uint16_t>(value);
    }
    return {};
}

inline url_error parse_url_impl(std::string_view s, url& out) {
    if (s.size() > max_url_size)
        return url_error::too_long;
    out = url{};
    struct scheme {
        std::string_view prefix;
        bool tls, cluster;
    };
    static constexpr scheme schemes[] = {{"redis://", false, false},
                                         {"rediss://", true, false},
                                         {"redis-cluster://", false, true},
                                         {"rediss-cluster://", true, true}};
    bool matched = false;
    for (const auto& sc : schemes)
        if (iequal_prefix(s, sc.prefix)) {
            out.tls = sc.tls;
            out.cluster = sc.cluster;
            s.remove_prefix(sc.prefix.size());
            matched = true;
            break;
        }
    if (!matched)
        return url_error::bad_scheme;
    if (s.find_first_of("?#") != std::string_view::npos)
        return url_error::unsupported_part;

    const auto slash = s.find('/');
    std::string_view authority = s.substr(0, slash);
    const std::string_view path =
        slash == std::string_view::npos ? std::string_view() : s.substr(slash + 1);

    // The last '@': an unescaped '@' in a password is a common mistake, and splitting at the
    // last one still finds the host, so the password check below names the real problem.
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        const auto info = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        const auto colon = info.find(':');
        if (colon == std::string_view::npos)
            return url_error::bad_userinfo;
        if (!pier::http::percent_decode(info.substr(0, colon), out.user, false, max_url_size) ||
            !pier::http::percent_decode(info.substr(colon + 1), out.password, false, max_url_size))
            return url_error::bad_userinfo;
    }

    if (authority.empty())
        return url_error::missing_host;
    while (true) {
        const auto comma = authority.find(',');
        endpoint ep;
        if (auto e = parse_host_port(authority.substr(0, comma), ep); e != url_error{})
            return e;
        if (out.nodes.size() == max_url_nodes)
            return url_error::too_many_hosts;
        out.nodes.push_back(std::move(ep));
        if (comma == std::string_view::npos)
            break;
        authority.remove_prefix(comma + 1);
    }
    if (!out.cluster && out.nodes.size() > 1)
        return url_error::multiple_hosts;

    if (!path.empty()) {
        if (path.size() > 9)
            return path.find('/') != std::string_view::npos ? url_error::unsupported_part
                                                            : url_error::bad_db;
        int db = 0;
        for (char c : path) {
            if (c == '/')
                return url_error::unsupported_part;
            if (c < '0' || c > '9')
                return url_error::bad_db;
            db = db * 10 + (c - '0');
        }
        if (out.cluster && db != 0)
            return url_error::db_in_cluster;
        out.db = db;
    }
    return {};
}

} // namespace detail

inline std::error_code parse_url(std::string_view text, url& out) {
    if (const auto e = detail::parse_url_impl(text, out); e != url_error{})
        return make_error_code(e);
    return {};
}

} // namespace pier::redis

template <> struct std::is_error_code_enum<pier::redis::url_error> : std::true_type {};
