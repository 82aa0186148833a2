// pier/ws/handshake.hpp: the server side of the WebSocket opening handshake (RFC 6455 §4.2):
// validating an upgrade request, Sec-WebSocket-Accept, subprotocol selection, an Origin
// allow-list, and the 101 and error responses.
//
// Usage, with `req` from http::parse_request:
//     if (auto e = ws::check_upgrade(req); e != ws::handshake_error::none)
//         return write(ws::format_handshake_error(e, buf));   // 400/403/405/426, then close
//     if (!ws::origin_allowed(req, allowed)) …                 // 403 origin_not_allowed
//     auto proto = ws::select_subprotocol(req, {"chat.v2", "chat.v1"});
//     auto r = ws::format_accept_response(*req.find("sec-websocket-key"), buf,
//                                         proto.value_or(""), deflate_response);
//
// Sec-WebSocket-Accept is SHA-1 and base64 from OpenSSL (EVP_Digest with EVP_sha1,
// EVP_EncodeBlock), not hand-written.
//
// Thread safety: all functions are reentrant (OpenSSL 1.1+ needs no locking setup).
#pragma once

#include <pier/http/request.hpp>
#include <pier/http/response.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>

namespace pier::ws {

/// The GUID the accept value is derived with (RFC 6455 §1.3).
inline constexpr std::string_view handshake_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why an upgrade request was refused; status_for gives the status, and
/// format_handshake_error the whole response with the fields each status requires.
enum class handshake_error : std::uint8_t {
    none,
    not_get,            ///< 405 with Allow: GET (RFC 6455 §4.2.1 item 1)
    bad_http_version,   ///< 400: HTTP/1.0 (§4.2.1 item 1 wants HTTP/1.1 or higher)
    not_upgrade,        ///< 426: no "Upgrade: websocket" or no "Connection: upgrade" (items 3, 4)
    bad_version,        ///< 426 with Sec-WebSocket-Version: 13 (§4.2.2, §4.4): missing or ≠ 13
    missing_key,        ///< 400: no Sec-WebSocket-Key (item 5)
    bad_key,            ///< 400: key repeated, or not the base64 form of 16 bytes (item 5)
    origin_not_allowed, ///< 403: Origin not on the allow-list (§4.2.2 item 4, §10.2)
};

/// 400, 403, 405 or 426 (101 for none).
constexpr unsigned status_for(handshake_error e) noexcept;
/// A short English description, also the body of format_handshake_error's response.
constexpr std::string_view to_string(handshake_error e) noexcept;

/// Checks that `req` is a valid WebSocket opening handshake (RFC 6455 §4.2.1): GET, HTTP/1.1,
/// Upgrade lists websocket, Connection lists upgrade, Sec-WebSocket-Version is 13, and there
/// is exactly one Sec-WebSocket-Key that decodes to 16 bytes. Host is already enforced by
/// http::parse_request. Does not look at Origin (see origin_allowed).
handshake_error check_upgrade(const http::request_view& req) noexcept;

/// Whether `key` is 24 characters of base64 encoding 16 bytes (RFC 6455 §4.1 item 7).
bool is_valid_key(std::string_view key) noexcept;

/// Length of a Sec-WebSocket-Accept value (base64 of a 20-byte SHA-1).
inline constexpr std::size_t accept_key_size = 28;

/// Computes Sec-WebSocket-Accept for `client_key`: base64(SHA-1(key + GUID)) (RFC 6455
/// §4.2.2 item 5.4). False only if OpenSSL fails, e.g. a provider without SHA-1.
bool make_accept_key(std::string_view client_key, std::span<char, accept_key_size> out) noexcept;

/// The subprotocol to answer with: the first of `supported` (server preference order) that
/// the client listed in Sec-WebSocket-Protocol (any number of fields, comma lists; names
/// compared exactly). nullopt when none match or the client offered none, in which case
/// the response must carry no Sec-WebSocket-Protocol (§4.2.2 item 5.4, §11.3.4).
std::optional<std::string_view>
select_subprotocol(const http::request_view& req,
                   std::span<const std::string_view> supported) noexcept;
inline std::optional<std::string_view>
select_subprotocol(const http::request_view& req,
                   std::initializer_list<std::string_view> supported) noexcept {
    return select_subprotocol(
        req, std::span<const std::string_view>(supported.begin(), supported.size()));
}

/// Whether the request's Origin (RFC 6454 serialization, e.g. "https://example.com") equals
/// one of `allowed` (ASCII case-insensitive). Browsers always send Origin, so checking it
/// stops other sites' pages from opening connections with the user's cookies
/// (cross-site WebSocket hijacking, RFC 6455 §10.2). Non-browser clients usually send none:
/// `allow_missing` (default true) decides. More than one Origin field is refused.
bool origin_allowed(const http::request_view& req, std::span<const std::string_view> allowed,
                    bool allow_missing = true) noexcept;
inline bool origin_allowed(const http::request_view& req,
                           std::initializer_list<std::string_view> allowed,
                           bool allow_missing = true) noexcept {
    return origin_allowed(req, std::span<const std::string_view>(allowed.begin(), allowed.size()),
                          allow_missing);
}

/// The most `extra` fields format_accept_response takes (it builds the field list on the
/// stack); more gives invalid_argument.
inline constexpr std::size_t max_extra_accept_fields = 12;

/// Writes the 101 Switching Protocols response (RFC 6455 §4.2.2 item 5) for `client_key`
/// into `out`: Upgrade, Connection, Sec-WebSocket-Accept, then Sec-WebSocket-Protocol when
/// `protocol` is not empty, Sec-WebSocket-Extensions when `extensions` is not empty (e.g.
/// from format_deflate_response), then `extra` fields. Same contract as
/// http::format_response_head (nothing written unless it fits and is valid); an invalid key
/// gives invalid_argument, an OpenSSL failure library_failure.
http::format_result format_accept_response(std::string_view client_key, std::span<char> out,
                                           std::string_view protocol = {},
                                           std::string_view extensions = {},
                                           std::span<const http::header> extra = {}) noexcept;

/// Writes the response refusing a handshake: status_for(e), the fields that status needs
/// (Allow: GET for 405; Upgrade and, for bad_version, Sec-WebSocket-Version: 13 for 426),
/// Connection: close and a one-line text/plain body. The connection must be closed after.
http::format_result format_handshake_error(handshake_error e, std::span<char> out) noexcept;

} // namespace pier::ws

#include <pier/ws/impl/handshake.hpp>
