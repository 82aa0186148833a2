// pier/pool/options.hpp: every run-time tunable of pier::ws::pool, with its default and why.
// For every limit, 0 turns it off. The WebSocket and TCP tunables are the ws::server's
// (ws::options, server_options), which the pool takes alongside.
#pragma once

#include <pier/log.hpp>
#include <pier/pool/codec.hpp>
#include <pier/pool/jwt.hpp>
#include <pier/pool/limits.hpp>
#include <pier/pool/token.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pier::pool {

/// The pool's limits. Each refusal is counted per limit (pool stats, admin API) and answered
/// as documented here.
struct pool_limits {
    /// Open connections in the pool. Default 10,000 (the specification's). Over it: HTTP 503.
    std::size_t max_connections = 10000;
    /// Subscribers of one topic, over all shards. Default 1,000. Over it, the subscribe is
    /// answered {"type":"error","topic":T,"error":"topic_full"} and the connection stays open.
    std::size_t max_per_topic = 1000;
    /// Connections of one user. Default 0 (no limit): browsers open one per tab. Over it:
    /// HTTP 503.
    std::size_t max_per_user = 0;
    /// Connections from one address (IPv6 by /64, see ip_limits). Default 0 (no limit):
    /// carrier-grade NAT puts many users behind one address. Over it: HTTP 503.
    std::size_t max_per_ip = 0;
    /// New connections per second from one address, with a burst of twice that. Default 0 (no
    /// limit). Over it: HTTP 503 with Retry-After.
    std::uint32_t connect_rate_per_ip = 0;
    /// Messages per second from one connection (token bucket), with `message_burst` saved
    /// up. Default 0 (no limit). Over it, the message is dropped and answered
    /// {"type":"error","error":"rate_limited"}, which counts as an error (`max_errors`).
    std::uint32_t message_rate = 0;
    /// Default 0: twice `message_rate`.
    std::uint32_t message_burst = 0;
    /// Topics one connection may hold. Default 100: a client that subscribes to everything is
    /// a bug or an attack. Over it: {"type":"error","topic":T,"error":"too_many_topics"}.
    std::size_t max_topics_per_connection = 100;
    /// Largest client message, in bytes (after decompression). Default 64 KiB: envelopes are
    /// small; a bigger message fails the connection with 1009 (RFC 6455 §7.4.1).
    std::size_t max_message_size = 64 * 1024;
    /// Malformed, unknown or refused client messages before the connection is closed with
    /// close_codes::too_many_errors. Default 10 (the specification's).
    std::uint32_t max_errors = 10;
    /// Sends refused in a row (the client's queue full under the slow-consumer policy, or
    /// closed) before the cleanup pass closes the connection. Default 100.
    std::uint32_t max_send_failures = 100;
};

/// The close codes the pool closes connections with (RFC 6455 §7.4.2: 4000–4999 are for
/// applications). Besides these: 1001 when the pool stops, 1008 for the WebSocket layer's
/// policies (slow consumer, message timeout), 1009 for a message over max_message_size.
namespace close_codes {
/// The client's token expired while it was connected.
inline constexpr std::uint16_t token_expired = 4001;
/// More than pool_limits::max_errors malformed or refused messages.
inline constexpr std::uint16_t too_many_errors = 4002;
/// No activity within connection_timeout: closed by the cleanup pass.
inline constexpr std::uint16_t stale = 4003;
/// Its sends kept failing (max_send_failures): closed by the cleanup pass.
inline constexpr std::uint16_t send_failures = 4004;
/// Closed through the admin API (the reason given there).
inline constexpr std::uint16_t disconnected = 4005;
} // namespace close_codes

/// Options of a pier::ws::pool.
struct pool_options {
    pool_limits limits{};
    /// The HS256 keys the bundled verifier checks tokens with (pool/jwt.hpp). Required unless
    /// the handler authenticates itself (its `authenticate` hook).
    jwt_keys keys{};
    jwt_options jwt{};
    token_options token{};
    codec_options codec{};
    /// Every heartbeat interval each connection gets a WebSocket Ping (the ws layer's
    /// keep-alive; a client that answers nothing within pong_timeout is closed) and, when
    /// `heartbeat_envelope` is set, a {"type":"heartbeat"} message for browser code, which
    /// cannot see pings. Default 30 s (the specification's).
    std::chrono::milliseconds heartbeat_interval{std::chrono::seconds(30)};
    bool heartbeat_envelope = true;
    /// A connection with no message from its client within this is stale; the cleanup pass
    /// closes it (close_codes::stale). Default 300 s (the specification's). Pongs count as
    /// activity, so only clients that stopped answering pings go stale.
    std::chrono::milliseconds connection_timeout{std::chrono::seconds(300)};
    /// How often the cleanup pass runs on each shard. Default 60 s (the specification's).
    std::chrono::milliseconds cleanup_interval{std::chrono::seconds(60)};
    /// The path WebSocket clients connect to. Default "/ws".
    std::string path = "/ws";
    /// The admin API's bearer token (`/api/admin/…` and `/metrics` need
    /// `Authorization: Bearer <admin_token>`, compared in constant time). Empty (the
    /// default): the admin API refuses everyone (401).
    std::string admin_token{};
    /// `GET /admin` serves the dashboard page (pool/dashboard.hpp), which then needs the admin
    /// token. Default true.
    bool dashboard = true;
    /// The structured log (log.hpp): one JSON object per line, lifecycle events with the
    /// connection and user ids (never a token). Default: info and above, to stderr, rate
    /// limited per event kind.
    pier::log::options log{};
    /// The subprotocol answered when the client offers it (clients that send their token as
    /// a `bearer.<token>` subprotocol must offer one the server can answer with). Default
    /// "pier.v1".
    std::string subprotocol = "pier.v1";
};

} // namespace pier::pool
