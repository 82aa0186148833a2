// pier/pool/token.hpp: where a connecting client's token comes from. A pure function of the
// upgrade request's query and header fields; what the token means is the verifier's business
// (pool/jwt.hpp).
//
//     std::string scratch;
//     auto t = pier::pool::extract_token(req, scratch);
//     if (!t)
//         refuse(401, to_string(t.error));        // "missing", "malformed", …
//     auto r = pier::pool::verify_hs256(t.token, keys, now);
//
// Three places, tried in this order; the first that carries a token decides, and the others
// are not looked at:
//
// 1. `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110
//    §11.1). The standard place, and the only one that proxies and servers know to keep out
//    of their logs. Authorization fields with another scheme (Basic, …) are skipped.
// 2. `Sec-WebSocket-Protocol: pier.v1, bearer.<token>`. Browsers cannot set headers on a
//    WebSocket, but they can offer subprotocols (`new WebSocket(url, ["pier.v1",
//    "bearer." + jwt])`), and a subprotocol is not logged as part of the URL. The element
//    starts with exactly "bearer." (lower case); the token after it must be a valid
//    subprotocol name, which every JWT is (base64url and '.' are RFC 9110 token characters).
//    The server must answer with a real protocol the client offered ("pier.v1") and never
//    with the bearer element: browsers fail the handshake when a client that offered
//    protocols gets none back, and echoing the element would send the token back in the
//    clear. is_token_subprotocol() tells the two kinds apart.
// 3. The `token` query parameter (`wss://host/ws?token=<token>`), percent-decoded. The
//    easiest for clients and the worst for secrecy: URLs end up in access logs, browser
//    history and Referer headers (RFC 6750 §2.3, §5.3). token_options can turn it off.
//
// A source that is present but wrong fails the whole extraction instead of falling through
// to the next: a client that sent a broken bearer header should hear so, not be admitted on
// some other token. The same source given twice is `ambiguous`.
//
// Accepted token text is RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+"
// / "/" ) *"=" (without "/" and "=" in a subprotocol, where they are not allowed).
//
// Thread safety: reentrant.
#pragma once

#include <pier/http/request.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pier::pool {

/// Where a token was found.
enum class token_source : std::uint8_t { none, authorization, subprotocol, query };

/// "none", "authorization", "subprotocol", "query".
constexpr std::string_view to_string(token_source s) noexcept;

/// Why no token came out. The names are stable snake_case.
enum class token_error : std::uint8_t {
    none,
    missing,   ///< no enabled source carries a token
    ambiguous, ///< a source carries more than one (two bearer headers, two `token` params)
    malformed, ///< empty, characters outside b64token, or a bad percent-escape
    too_large, ///< longer than token_options::max_size
};

/// "none", "missing", "ambiguous", "malformed", "too_large".
constexpr std::string_view to_string(token_error e) noexcept;

struct token_options {
    /// Longest token, in bytes. Default 8192, jwt_options::max_token_size's default.
    std::size_t max_size = 8192;
    /// Which sources are looked at. All default to true; production deployments whose
    /// clients can use a header or a subprotocol may turn `from_query` off.
    bool from_authorization = true;
    bool from_subprotocol = true;
    bool from_query = true;
};

struct token_result {
    /// The token: a view into the request, or into the caller's `scratch` string when it
    /// had to be percent-decoded. Empty unless `error` is none.
    std::string_view token;
    token_source source = token_source::none;
    token_error error = token_error::missing;

    explicit operator bool() const noexcept { return error == token_error::none; }
};

/// The prefix of a subprotocol that carries a token.
inline constexpr std::string_view token_subprotocol_prefix = "bearer.";

/// Whether the subprotocol `protocol` carries a token: such a protocol is never the one a
/// server selects.
constexpr bool is_token_subprotocol(std::string_view protocol) noexcept {
    return protocol.starts_with(token_subprotocol_prefix);
}

/// Finds the token among `query` (the request-target's query, without '?') and `headers`
/// (all of the request's header fields; names are matched case-insensitively). `scratch` is
/// written only when the query value needs decoding.
token_result extract_token(std::string_view query, std::span<const http::header> headers,
                           std::string& scratch, const token_options& options = {});

/// The same, for a parsed request.
inline token_result extract_token(const http::request_view& req, std::string& scratch,
                                  const token_options& options = {}) {
    return extract_token(req.query(), req.headers(), scratch, options);
}

} // namespace pier::pool

#include <pier/pool/impl/token.hpp>
