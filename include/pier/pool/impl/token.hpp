// pier/pool/impl/token.hpp: out-of-line definitions for <pier/pool/token.hpp>.
#pragma once

#include <pier/http/detail/chars.hpp>
#include <pier/http/query.hpp>
#include <pier/pool/token.hpp>

namespace pier::pool {

constexpr std::string_view to_string(token_source s) noexcept {
    switch (s) {
    case token_source::none:
        return "none";
    case token_source::authorization:
        return "authorization";
    case token_source::subprotocol:
        return "subprotocol";
    case token_source::query:
        return "query";
    }
    return "unknown";
}

constexpr std::string_view to_string(token_error e) noexcept {
    switch (e) {
    case token_error::none:
        return "none";
    case token_error::missing:
        return "missing";
    case token_error::ambiguous:
        return "ambiguous";
    case token_error::malformed:
        return "malformed";
    case token_error::too_large:
        return "too_large";
    }
    return "unknown_error";
}

namespace detail {

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// `subprotocol` leaves out '/' and '=', which are not token characters (RFC 9110 §5.6.2).
constexpr bool is_b64token(std::string_view t, bool subprotocol) noexcept {
    std::size_t n = t.size();
    if (!subprotocol)
        while (n > 0 && t[n - 1] == '=')
            --n;
    if (n == 0)
        return false;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = t[i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                        c == '+' || (c == '/' && !subprotocol);
        if (!ok)
            return false;
    }
    return true;
}

inline token_result token_found(std::string_view t, token_source s, bool subprotocol,
                                const token_options& o) noexcept {
    if (t.size() > o.max_size)
        return {{}, s, token_error::too_large};
    if (!is_b64token(t, subprotocol))
        return {{}, s, token_error::malformed};
    return {t, s, token_error::none};
}

inline token_result token_failed(token_source s, token_error e) noexcept {
    return {{}, s, e};
}

} // namespace detail

inline token_result extract_token(std::string_view query, std::span<const http::header> headers,
                                  std::string& scratch, const token_options& options) {
    namespace hd = http::detail;

    if (options.from_authorization) {
        std::string_view found;
        std::size_t count = 0;
        for (const http::header& h : headers) {
            if (!hd::iequals(h.name, "authorization"))
                continue;
            // credentials = auth-scheme [ 1*SP token68 ] (RFC 9110 §11.4).
            const std::string_view v = hd::trim_ows(h.value);
            const std::size_t sp = v.find(' ');
            if (!hd::iequals(v.substr(0, sp), "bearer"))
                continue;
            ++count;
            found = sp == std::string_view::npos ? std::string_view() : v.substr(sp);
            while (!found.empty() && found.front() == ' ')
                found.remove_prefix(1);
        }
        if (count > 1)
            return detail::token_failed(token_source::authorization, token_error::ambiguous);
        if (count == 1)
            return detail::token_found(found, token_source::authorization, false, options);
    }

    if (options.from_subprotocol) {
        std::string_view found;
        std::size_t count = 0;
        for (const http::header& h : headers) {
            if (!hd::iequals(h.name, "sec-websocket-protocol"))
                continue;
            hd::for_each_element(h.value, [&](std::string_view e) noexcept {
                if (is_token_subprotocol(e)) {
                    ++count;
                    found = e.substr(token_subprotocol_prefix.size());
                }
                return true;
            });
        }
        if (count > 1)
            return detail::token_failed(token_source::subprotocol, token_error::ambiguous);
        if (count == 1)
            return detail::token_found(found, token_source::subprotocol, true, options);
    }

    if (options.from_query) {
        std::string_view found;
        std::size_t count = 0;
        for (const auto& p : http::query_params(query)) {
            if (p.name != "token")
                continue;
            ++count;
            found = p.value;
        }
        if (count > 1)
            return detail::token_failed(token_source::query, token_error::ambiguous);
        if (count == 1) {
            if (found.find_first_of("%+") == std::string_view::npos)
                return detail::token_found(found, token_source::query, false, options);
            // A percent-escape shrinks to one byte, so an encoded value may be up to three
            // times the limit; anything longer cannot fit once decoded.
            if (found.size() / 3 > options.max_size)
                return detail::token_failed(token_source::query, token_error::too_large);
            scratch.clear();
            if (!http::percent_decode(found, scratch, true, options.max_size + 1))
                return detail::token_failed(token_source::query, scratch.size() > options.max_size
                                                                     ? token_error::too_large
                                                                     : token_error::malformed);
            return detail::token_found(scratch, token_source::query, false, options);
        }
    }
    return detail::token_failed(token_source::none, token_error::missing);
}

} // namespace pier::pool
