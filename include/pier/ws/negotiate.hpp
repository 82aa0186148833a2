// pier/ws/negotiate.hpp: the opening handshake's decisions as pure functions, from the request
// and the options (and the handler's accept decision) to a plan or an HTTP refusal. The
// session's I/O loop only reads the request, calls these, and writes what they return.
//
//     if (auto no = ws::screen_upgrade(req, opts)) return write(no->response);   // 4xx
//     auto decision = handler.accept(upgrade_request{…});                          // the user
//     auto r = ws::negotiate(req, opts, decision);
//     if (auto* no = std::get_if<ws::handshake_refusal>(&r)) return write(no->response);
//     auto& plan = std::get<ws::handshake_plan>(r);   // plan.response(): the 101, plan.deflate
//
// Thread safety: reentrant.
#pragma once

#include <pier/config.hpp>
#include <pier/http/request.hpp>
#include <pier/http/response.hpp>
#include <pier/ws/deflate.hpp>
#include <pier/ws/handshake.hpp>
#include <pier/ws/options.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace pier::ws {

/// What the `accept` hook sees of an opening handshake. Views: valid during the call only;
/// copy what the session needs later (path, query, headers) into its `session_data`.
struct upgrade_request {
    const http::request_view& request; ///< method, target, headers
    std::string_view path;
    std::string_view query;
    asio::ip::tcp::endpoint remote;
    /// The client's Sec-WebSocket-Protocol field(s), as sent (comma list), or empty.
    std::string_view offered_subprotocols;
    std::optional<std::string_view> header(std::string_view name) const noexcept {
        return request.find(name);
    }
};

/// The `accept` hook's answer.
struct accept_result {
    /// 0: accept; otherwise the HTTP status to refuse with (4xx/5xx), then close.
    unsigned status = 0;
    /// The refusal's text/plain body (empty: the reason phrase).
    std::string body{};
    /// Subprotocol to answer with (must be one the client offered); empty: chosen from
    /// options::subprotocols.
    std::string subprotocol{};

    static accept_result accept(std::string subprotocol = {}) {
        return {0, {}, std::move(subprotocol)};
    }
    static accept_result reject(unsigned status, std::string body = {}) {
        return {status, std::move(body), {}};
    }
};

/// A refused handshake: the complete HTTP response to write before closing.
struct handshake_refusal {
    unsigned status = 400;
    std::string response;
};

/// An accepted handshake: the 101 response and what was agreed.
struct handshake_plan {
    std::array<char, 1024> buffer{};
    std::size_t size = 0;
    /// permessage-deflate parameters, when negotiated (RFC 7692).
    std::optional<deflate_params> deflate;
    /// Index of the subprotocol in options::subprotocols, 0xff when none (or one the accept
    /// hook named that is not in that list: it is answered but not remembered).
    std::uint8_t subprotocol_index = 0xff;
    std::string_view response() const noexcept { return {buffer.data(), size}; }
};

/// A complete error response with a text/plain body (`body`, or the reason phrase), the
/// given extra fields and `Connection: close`.
std::string http_error_response(unsigned status, std::string_view body = {},
                                std::span<const http::header> extra = {});

/// What must be refused before the handler is asked: an invalid upgrade (RFC 6455 §4.2.1:
/// 400/405/426) or an Origin not on the allow-list (403). nullopt: ask the handler.
std::optional<handshake_refusal> screen_upgrade(const http::request_view& req, const options& opts);

/// The handler accepted (or refused, with its status) a screened request: the 101 response,
/// with the subprotocol (the handler's choice, else the first of options::subprotocols the
/// client offered) and permessage-deflate when both sides want it.
std::variant<handshake_plan, handshake_refusal>
negotiate(const http::request_view& req, const options& opts, const accept_result& decision);

} // namespace pier::ws

#include <pier/ws/impl/negotiate.hpp>
