// pier/ws/close_code.hpp: WebSocket close status codes (RFC 6455 §7.4 and the IANA
// "WebSocket Close Code Number Registry").
#pragma once

#include <cstdint>
#include <string_view>

namespace pier::ws {

/// Status codes of a Close frame. pier's protocol layer reports every failure as the code to
/// close with, so the transport never has to translate.
enum class close_code : std::uint16_t {
    normal = 1000,              ///< the purpose of the connection is fulfilled
    going_away = 1001,          ///< server shutting down, or browser leaving the page
    protocol_error = 1002,      ///< a frame broke RFC 6455 (masking, opcodes, lengths, …)
    unsupported_data = 1003,    ///< a data type the endpoint cannot accept
    no_status = 1005,           ///< reported when a Close frame had no code; never sent
    abnormal = 1006,            ///< reported when no Close frame arrived; never sent
    invalid_payload = 1007,     ///< text that is not UTF-8, or undecodable compressed data
    policy_violation = 1008,    ///< a generic refusal (e.g. an origin or rate policy)
    message_too_big = 1009,     ///< a frame or message over the configured limit
    mandatory_extension = 1010, ///< (client) the server did not negotiate a needed extension
    internal_error = 1011,      ///< an unexpected condition on the server
    service_restart = 1012,     ///< IANA registry: the service is restarting
    try_again_later = 1013,     ///< IANA registry: temporary overload
    bad_gateway = 1014,         ///< IANA registry: upstream failure in a gateway
    tls_handshake = 1015,       ///< reported on a TLS handshake failure; never sent
};

/// Whether `code` may appear in a Close frame received from a peer (RFC 6455 §7.4.1–7.4.2):
/// 1000–1003 and 1007–1014 (registered), 3000–3999 (registered for libraries, frameworks
/// and applications) and 4000–4999 (private use). 1004 (reserved), 1005, 1006 and 1015
/// (never on the wire) and the unassigned ranges are refused with protocol_error.
constexpr bool is_valid_close_code(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/// A short English name for `c`, for logs.
constexpr std::string_view to_string(close_code c) noexcept {
    switch (c) {
    case close_code::normal:
        return "normal closure";
    case close_code::going_away:
        return "going away";
    case close_code::protocol_error:
        return "protocol error";
    case close_code::unsupported_data:
        return "unsupported data";
    case close_code::no_status:
        return "no status received";
    case close_code::abnormal:
        return "abnormal closure";
    case close_code::invalid_payload:
        return "invalid frame payload data";
    case close_code::policy_violation:
        return "policy violation";
    case close_code::message_too_big:
        return "message too big";
    case close_code::mandatory_extension:
        return "mandatory extension";
    case close_code::internal_error:
        return "internal error";
    case close_code::service_restart:
        return "service restart";
    case close_code::try_again_later:
        return "try again later";
    case close_code::bad_gateway:
        return "bad gateway";
    case close_code::tls_handshake:
        return "TLS handshake failure";
    }
    return "application close code";
}

} // namespace pier::ws
