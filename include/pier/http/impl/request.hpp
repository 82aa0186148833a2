// pier/http/impl/request.hpp: out-of-line definitions for <pier/http/request.hpp>.
#pragma once

#include <pier/http/request.hpp>

#include <algorithm>
#include <cstring>

namespace pier::http {

constexpr unsigned status_for(parse_error e) noexcept {
    switch (e) {
    case parse_error::none:
        return 200;
    case parse_error::uri_too_long:
        return 414;
    case parse_error::too_many_headers:
    case parse_error::head_too_large:
        return 431;
    case parse_error::method_too_long:
    case parse_error::unsupported_transfer_encoding:
        return 501;
    case parse_error::bad_version:
        return 505;
    default:
        return 400;
    }
}

constexpr std::string_view to_string(parse_error e) noexcept {
    switch (e) {
    case parse_error::none:
        return "no error";
    case parse_error::bad_request_line:
        return "malformed request line";
    case parse_error::bad_method:
        return "invalid method";
    case parse_error::method_too_long:
        return "method too long";
    case parse_error::bad_target:
        return "invalid request-target";
    case parse_error::uri_too_long:
        return "request line too long";
    case parse_error::bad_version:
        return "unsupported HTTP version";
    case parse_error::bad_line_ending:
        return "line not ended by CRLF";
    case parse_error::bad_header:
        return "malformed header field";
    case parse_error::obs_fold:
        return "obsolete line folding";
    case parse_error::too_many_headers:
        return "too many header fields";
    case parse_error::head_too_large:
        return "request head too large";
    case parse_error::bad_content_length:
        return "invalid or repeated Content-Length";
    case parse_error::conflicting_length:
        return "both Content-Length and Transfer-Encoding";
    case parse_error::bad_transfer_encoding:
        return "invalid Transfer-Encoding";
    case parse_error::unsupported_transfer_encoding:
        return "unsupported transfer coding";
    case parse_error::missing_host:
        return "missing Host";
    case parse_error::bad_host:
        return "invalid or repeated Host";
    }
    return "unknown parse error";
}

namespace detail {

constexpr bool is_target_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f; // VCHAR
}

// RFC 3986 §3.2.2–3.2.3 characters of uri-host [":" port]: unreserved, pct-encoded,
// sub-delims, ':' and the brackets of an IP-literal. Rejects '@', '/', '?', '#' and spaces,
// the characters that would let one Host be read as different authorities. A table: every
// request's Host goes through it byte by byte (a chain of comparisons cost about 14
// instructions a byte).
inline constexpr std::array<bool, 256> host_char_table = alnum_and("-._~%!$&'()*+,;=:[]");

constexpr bool is_host_char(char c) noexcept {
    return host_char_table[static_cast<unsigned char>(c)];
}

constexpr bool is_scheme_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

struct request_line {
    std::string_view method, target;
    std::uint8_t version_minor = 1;
    std::size_t end = 0; // offset just past the CRLF
};

constexpr parse_result fail(parse_error e) noexcept {
    return {parse_result::error, 0, e};
}

// Looks at no more than line_limit + 2 bytes, so that whether a prefix of a request is
// refused, and why, never depends on bytes beyond that point: feeding a request whole or in
// pieces gives the same answer.
inline parse_result parse_request_line(std::string_view in, std::size_t line_limit,
                                       request_line& rl) noexcept {
    const char* const b = in.data();
    const std::size_t m = std::min(in.size(), line_limit + 2);
    const auto exhausted = [&](parse_error too_long) noexcept {
        return m < line_limit + 2 ? parse_result{} : fail(too_long);
    };
    std::size_t i = 0;
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    while (i < m && b[i] == '\r') {
        if (i + 1 == m)
            return exhausted(parse_error::bad_request_line);
        if (b[i + 1] != '\n')
            return fail(parse_error::bad_line_ending);
        i += 2;
    }
    const std::size_t ms = i;
    while (i < m && is_tchar(b[i]))
        ++i;
    if (i == m)
        return exhausted(i == ms ? parse_error::bad_request_line : parse_error::method_too_long);
    if (b[i] != ' ' || i == ms) {
        if (b[i] == '\n')
            return fail(parse_error::bad_line_ending);
        const bool junk = i == ms || static_cast<unsigned char>(b[i]) < 0x20;
        return fail(junk ? parse_error::bad_request_line : parse_error::bad_method);
    }
    rl.method = {b + ms, i - ms};
    const std::size_t ts = ++i;
    while (i < m && is_target_char(b[i]))
        ++i;
    if (i == m)
        return exhausted(parse_error::uri_too_long);
    if (b[i] != ' ' || i == ts) {
        if (b[i] == '\n')
            return fail(parse_error::bad_line_ending);
        const bool high = static_cast<unsigned char>(b[i]) >= 0x80;
        return fail(high && i != ts ? parse_error::bad_target : parse_error::bad_request_line);
    }
    rl.target = {b + ts, i - ts};
    const std::size_t vs = ++i;
    // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3), then CRLF. The
    // two versions served, compared whole first; the loop below gives anything else its
    // answer.
    if (vs + 10 <= m) {
        const bool v11 = std::memcmp(b + vs, "HTTP/1.1\r\n", 10) == 0;
        if (v11 || std::memcmp(b + vs, "HTTP/1.0\r\n", 10) == 0) {
            rl.version_minor = v11 ? 1 : 0;
            rl.end = vs + 10;
            return {parse_result::complete, rl.end, parse_error::none};
        }
    }
    static constexpr char pattern[] = "HTTP/0.0\r\n";
    for (std::size_t k = 0; k < 10; ++k) {
        if (vs + k == m)
            return exhausted(parse_error::uri_too_long);
        const char c = b[vs + k];
        const bool ok = (k == 5 || k == 7) ? (c >= '0' && c <= '9') : c == pattern[k];
        if (!ok)
            return fail(k == 9 || c == '\n' ? parse_error::bad_line_ending
                                            : parse_error::bad_request_line);
    }
    if (b[vs + 5] != '1')
        return fail(parse_error::bad_version);
    rl.version_minor = b[vs + 7] == '0' ? 0 : 1;
    rl.end = vs + 10;
    return {parse_result::complete, rl.end, parse_error::none};
}

// RFC 9112 §3.2: origin-form, absolute-form, authority-form (CONNECT only) and
// asterisk-form (OPTIONS only).
inline parse_error split_target(std::string_view method, std::string_view target,
                                std::string_view& path, std::string_view& query) noexcept {
    // path and query either side of the '?' at `q` (npos: none) of path-and-query `pq`.
    const auto split_at = [&](std::string_view pq, std::size_t q) noexcept {
        path = pq.substr(0, q);
        query = q == std::string_view::npos ? std::string_view{} : pq.substr(q + 1);
    };
    const bool connect = method == "CONNECT";
    // A short origin-form target (most are) in one pass, without two calls to memchr.
    if (target.size() <= 64 && target.front() == '/' && !connect) {
        std::size_t q = std::string_view::npos;
        for (std::size_t i = 0; i < target.size(); ++i) {
            if (target[i] == '#')
                return parse_error::bad_target;
            if (target[i] == '?' && q == std::string_view::npos)
                q = i;
        }
        split_at(target, q);
        return parse_error::none;
    }
    if (target.find('#') != std::string_view::npos)
        return parse_error::bad_target;
    const auto split_query = [&](std::string_view pq) noexcept { split_at(pq, pq.find('?')); };
    if (target.front() == '/') {
        if (connect)
            return parse_error::bad_target;
        split_query(target);
        return parse_error::none;
    }
    if (target == "*") {
        if (method != "OPTIONS")
            return parse_error::bad_target;
        path = target;
        return parse_error::none;
    }
    if (connect) {
        // authority-form = uri-host ":" port
        const std::size_t colon = target.rfind(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size())
            return parse_error::bad_target;
        for (char c : target.substr(0, colon))
            if (!is_host_char(c))
                return parse_error::bad_target;
        for (char c : target.substr(colon + 1))
            if (c < '0' || c > '9')
                return parse_error::bad_target;
        return parse_error::none;
    }
    // absolute-form: scheme ":" hier-part, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    const char f = target.front();
    if (!((f >= 'a' && f <= 'z') || (f >= 'A' && f <= 'Z')))
        return parse_error::bad_target;
    std::size_t i = 1;
    while (i < target.size() && is_scheme_char(target[i]))
        ++i;
    if (i == target.size() || target[i] != ':')
        return parse_error::bad_target;
    std::string_view rest = target.substr(i + 1);
    if (rest.starts_with("//")) {
        rest.remove_prefix(2);
        const std::size_t a = rest.find_first_of("/?");
        rest = a == std::string_view::npos ? std::string_view{} : rest.substr(a);
    }
    split_query(rest);
    if (path.empty())
        path = "/";
    return parse_error::none;
}

constexpr bool parse_content_length(std::string_view v, std::uint64_t& out) noexcept {
    if (v.empty())
        return false;
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9')
            return false;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    out = n;
    return true;
}

struct request_parser_access {
    template <std::size_t N> static header* storage(basic_request_head<N>& h) noexcept {
        return h.slots();
    }

    static parse_result parse(std::string_view in, request_view& out, header* storage,
                              std::size_t capacity, const limits& lim) noexcept {
        auto& f = out.f_;
        f = {};
        const char* const b = in.data();
        const std::size_t n = in.size();
        const std::size_t max_head = lim.max_head_size;
        const std::size_t line_limit =
            std::min(lim.max_request_line, max_head >= 2 ? max_head - 2 : std::size_t{0});

        detail::request_line rl;
        if (const parse_result r = detail::parse_request_line(in, line_limit, rl);
            r.st != parse_result::complete)
            return r;

        // Find the empty line ending the head, hopping from LF to LF at memchr speed; every
        // LF must follow a CR (bare LF refused, RFC 9112 §2.2). The request line's own CRLF
        // may be the first half of the terminator.
        const std::size_t window = std::min(n, max_head);
        std::size_t head_end = 0;
        for (std::size_t q = rl.end - 1;;) {
            if (q + 2 < window && b[q + 1] == '\r' && b[q + 2] == '\n') {
                head_end = q + 3;
                break;
            }
            const void* nl = std::memchr(b + q + 1, '\n', window - (q + 1));
            if (nl == nullptr)
                break;
            q = static_cast<std::size_t>(static_cast<const char*>(nl) - b);
            if (b[q - 1] != '\r')
                return fail(parse_error::bad_line_ending);
        }
        if (head_end == 0)
            return n >= max_head ? fail(parse_error::head_too_large) : parse_result{};

        f.method = rl.method;
        f.target = rl.target;
        f.version_minor = rl.version_minor;
        if (const parse_error e = detail::split_target(rl.method, rl.target, f.path, f.query);
            e != parse_error::none)
            return fail(e);

        const std::size_t max_count = std::min(lim.max_header_count, capacity);
        const std::size_t end = head_end - 2; // b[end] is the CR of the final CRLF
        bool te_chunked = false, te_other = false;
        std::size_t i = rl.end;
        std::uint32_t count = 0;
        while (i < end) {
            // RFC 9112 §2.2, §5.2: whitespace after the start line, or obs-fold.
            if (detail::is_ows(b[i]))
                return fail(i == rl.end ? parse_error::bad_header : parse_error::obs_fold);
            const std::size_t ns = i;
            // Bounded without a size check: the section ends with CRLF, which is not a tchar.
            while (detail::is_tchar(b[i]))
                ++i;
            // RFC 9112 §5.1: no whitespace between field name and colon.
            if (i == ns || b[i] != ':')
                return fail(parse_error::bad_header);
            const std::string_view name{b + ns, i - ns};
            ++i;
            while (detail::is_ows(b[i]))
                ++i;
            const std::size_t vs = i;
            for (;;) {
                while (i + 8 <= head_end && detail::has_ctl8(detail::load8(b + i)) == 0)
                    i += 8;
                while (static_cast<unsigned char>(b[i]) >= 0x20 && b[i] != 0x7f)
                    ++i;
                if (b[i] != '\t')
                    break;
                ++i;
            }
            if (b[i] != '\r')
                return fail(parse_error::bad_header); // NUL, DEL, other CTLs
            if (b[i + 1] != '\n')
                return fail(parse_error::bad_line_ending);
            std::size_t ve = i;
            while (ve > vs && detail::is_ows(b[ve - 1]))
                --ve;
            const std::string_view value{b + vs, ve - vs};
            i += 2;
            if (count == max_count)
                return fail(parse_error::too_many_headers);
            ::new (static_cast<void*>(storage + count)) header{name, value};
            ++count;

            switch (name.size()) {
            case 4:
                if (detail::name_is(name, "host")) {
                    if ((f.flags & request_view::flag_host) != 0)
                        return fail(parse_error::bad_host);
                    for (char c : value)
                        if (!detail::is_host_char(c))
                            return fail(parse_error::bad_host);
                    f.flags |= request_view::flag_host;
                    f.host = value;
                }
                break;
            case 10:
                if (detail::name_is(name, "connection")) {
                    detail::for_each_element(value, [&](std::string_view t) noexcept {
                        if (detail::iequals(t, "close"))
                            f.flags |= request_view::flag_conn_close;
                        else if (detail::iequals(t, "keep-alive"))
                            f.flags |= request_view::flag_conn_keep_alive;
                        else if (detail::iequals(t, "upgrade"))
                            f.flags |= request_view::flag_conn_upgrade;
                        return true;
                    });
                }
                break;
            case 14:
                if (detail::name_is(name, "content-length")) {
                    if ((f.flags & request_view::flag_content_length) != 0 ||
                        !detail::parse_content_length(value, f.content_length))
                        return fail(parse_error::bad_content_length);
                    f.flags |= request_view::flag_content_length;
                }
                break;
            case 17:
                if (detail::name_is(name, "transfer-encoding")) {
                    f.flags |= request_view::flag_transfer_encoding;
                    const bool ok = detail::for_each_element(value, [&](std::string_view t) {
                        if (te_chunked)
                            return false; // a coding after chunked
                        if (detail::iequals(t, "chunked"))
                            te_chunked = true;
                        else
                            te_other = true;
                        return true;
                    });
                    if (!ok)
                        return fail(parse_error::bad_transfer_encoding);
                }
                break;
            default:
                break;
            }
        }
        f.header_count = count;

        if ((f.flags & request_view::flag_transfer_encoding) != 0) {
            if ((f.flags & request_view::flag_content_length) != 0)
                return fail(parse_error::conflicting_length);
            // RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing.
            if (f.version_minor == 0 || !te_chunked)
                return fail(parse_error::bad_transfer_encoding);
            if (te_other)
                return fail(parse_error::unsupported_transfer_encoding);
            f.flags |= request_view::flag_chunked;
        }
        if (f.version_minor == 1 && (f.flags & request_view::flag_host) == 0)
            return fail(parse_error::missing_host);
        return {parse_result::complete, head_end, parse_error::none};
    }
};

} // namespace detail

template <std::size_t N>
parse_result parse_request(std::string_view in, basic_request_head<N>& out,
                           const limits& lim) noexcept {
    return detail::request_parser_access::parse(
        in, out, detail::request_parser_access::storage(out), N, lim);
}

inline std::optional<std::string_view> find_header(std::span<const header> headers,
                                                   std::string_view name) noexcept {
    for (const header& h : headers)
        if (detail::iequals(h.name, name))
            return h.value;
    return std::nullopt;
}

inline bool has_token(std::span<const header> headers, std::string_view name,
                      std::string_view token) noexcept {
    for (const header& h : headers)
        if (detail::iequals(h.name, name) && detail::list_has_token(h.value, token))
            return true;
    return false;
}

inline std::optional<std::string_view> request_view::find(std::string_view name) const noexcept {
    return find_header(headers(), name);
}

inline std::size_t request_view::count(std::string_view name) const noexcept {
    std::size_t c = 0;
    for (const header& h : headers())
        if (detail::iequals(h.name, name))
            ++c;
    return c;
}

inline bool request_view::has_token(std::string_view name, std::string_view token) const noexcept {
    return http::has_token(headers(), name, token);
}

inline bool request_view::keep_alive() const noexcept {
    if ((f_.flags & flag_conn_close) != 0)
        return false;
    return f_.version_minor >= 1 || (f_.flags & flag_conn_keep_alive) != 0;
}

inline std::optional<std::uint64_t> request_view::content_length() const noexcept {
    if ((f_.flags & flag_content_length) == 0)
        return std::nullopt;
    return f_.content_length;
}

inline bool request_view::has_body() const noexcept {
    return chunked() || f_.content_length > 0;
}

inline bool request_view::is_upgrade(std::string_view protocol) const noexcept {
    if (f_.version_minor == 0 || (f_.flags & flag_conn_upgrade) == 0)
        return false;
    for (const header& h : headers()) {
        if (!detail::iequals(h.name, "upgrade"))
            continue;
        const bool found = !detail::for_each_element(h.value, [&](std::string_view e) {
            const bool match = detail::iequals(e, protocol) ||
                               (e.size() > protocol.size() && e[protocol.size()] == '/' &&
                                detail::iequals(e.substr(0, protocol.size()), protocol));
            return !match;
        });
        if (found)
            return true;
    }
    return false;
}

} // namespace pier::http
