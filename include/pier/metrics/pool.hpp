// pier/metrics/pool.hpp: the metrics of a WebSocket connection pool (pier::ws::pool), with
// their Prometheus names, registered in a pier::metrics::registry.
//
//     pier::metrics::registry reg;
//     pier::metrics::pool_metrics m(reg);
//     m.connections.inc();  m.accepted.inc();                       // on open
//     m.closed(pier::metrics::close_reason::timeout).inc();          // on close
//     m.messages_received.inc();  m.received_bytes.inc(n);
//     m.heartbeat_rtt.observe(seconds);
//
// | what the issue asks for             | metric                                          |
// |-------------------------------------|-------------------------------------------------|
// | connections                         | pier_ws_connections (gauge)                     |
// | accepted                            | pier_ws_connections_accepted_total              |
// | closed by reason                    | pier_ws_connections_closed_total{reason}        |
// | refused by limit                    | pier_ws_connections_refused_total{limit}        |
// | messages in / out                   | pier_ws_messages_received_total, _sent_total    |
// | bytes in / out                      | pier_ws_received_bytes_total, _sent_bytes_total |
// | dropped messages                    | pier_ws_messages_dropped_total                  |
// | slow-consumer closes                | pier_ws_connections_closed_total{reason="slow_consumer"}
// | | subscriptions, topics               | pier_ws_subscriptions, pier_ws_topics (gauges)  | |
// heartbeat round-trip time           | pier_ws_heartbeat_rtt_seconds (histogram)       | |
// broadcast fan-out time              | pier_ws_broadcast_fanout_seconds (histogram)    | | cleanup
// runs and removals           | pier_ws_cleanup_runs_total,
// pier_ws_cleanup_removed_connections_total |
//
// Names follow the Prometheus conventions (base units: seconds and bytes; `_total` on
// counters; the unit before `_total`), which `promtool check metrics` enforces in the tests.
// Every reason and limit is registered up front, so each series exists from the first scrape.
#pragma once

#include <pier/metrics/registry.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pier::metrics {

/// Why a pool connection ended: the `reason` label of pier_ws_connections_closed_total.
enum class close_reason : std::uint8_t {
    client,         ///< the client closed (Close frame or TCP end)
    server,         ///< the application closed it
    admin,          ///< disconnected through the admin API
    timeout,        ///< a deadline (handshake, idle, pong) expired
    slow_consumer,  ///< its send queue passed the pool's limits
    protocol_error, ///< the client broke RFC 6455 or the pool's message protocol
    auth_failed,    ///< authentication after the upgrade failed
    shutdown,       ///< the pool is stopping
    error,          ///< a socket or TLS error
};
inline constexpr std::size_t close_reason_count = 9;

/// Which limit refused a connection: the `limit` label of pier_ws_connections_refused_total.
enum class refusal_limit : std::uint8_t {
    max_connections,          ///< the pool is full
    max_connections_per_user, ///< that user has too many connections
    max_connections_per_ip,   ///< that address has too many connections
    connect_rate,             ///< connection attempts too fast
    unauthorized,             ///< no valid credentials at the upgrade
};
inline constexpr std::size_t refusal_limit_count = 5;

constexpr std::string_view to_string(close_reason r) noexcept {
    constexpr std::array<std::string_view, close_reason_count> names = {
        "client",         "server",      "admin",    "timeout", "slow_consumer",
        "protocol_error", "auth_failed", "shutdown", "error"};
    return names[static_cast<std::size_t>(r)];
}

constexpr std::string_view to_string(refusal_limit l) noexcept {
    constexpr std::array<std::string_view, refusal_limit_count> names = {
        "max_connections", "max_connections_per_user", "max_connections_per_ip", "connect_rate",
        "unauthorized"};
    return names[static_cast<std::size_t>(l)];
}

/// Default bounds of pier_ws_heartbeat_rtt_seconds: 1 ms to 10 s. A healthy client on a LAN
/// answers a Ping in well under a millisecond, a phone on a poor network in seconds; the
/// pong timeout (15 s by default) caps what can be observed at all.
inline constexpr std::array<double, 13> default_rtt_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/// Default bounds of pier_ws_broadcast_fanout_seconds: 10 µs to 1 s. Fan-out is the time to
/// queue one message on every subscriber: microseconds for a few, tens of milliseconds for
/// tens of thousands.
inline constexpr std::array<double, 16> default_fanout_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1};

/// The pool's metrics, registered in `reg` (which must outlive this object). Updating any of
/// them is safe from any thread; see registry.hpp for the cost.
class pool_metrics {
public:
    explicit pool_metrics(registry& reg)
        : connections(reg.add_gauge("pier_ws_connections", "Open WebSocket connections.")),
          accepted(reg.add_counter("pier_ws_connections_accepted_total",
                                   "WebSocket connections accepted (upgrade completed).")),
          messages_received(reg.add_counter("pier_ws_messages_received_total",
                                            "WebSocket messages received from clients.")),
          messages_sent(reg.add_counter("pier_ws_messages_sent_total",
                                        "WebSocket messages queued to clients.")),
          received_bytes(reg.add_counter("pier_ws_received_bytes_total",
                                         "Payload bytes of the messages received.")),
          sent_bytes(reg.add_counter("pier_ws_sent_bytes_total",
                                     "Payload bytes of the messages queued to clients.")),
          messages_dropped(
              reg.add_counter("pier_ws_messages_dropped_total",
                              "Messages not queued to a client because its send queue was full.")),
          subscriptions(
              reg.add_gauge("pier_ws_subscriptions", "Subscriptions of connections to topics.")),
          topics(reg.add_gauge("pier_ws_topics", "Topics with at least one subscriber.")),
          heartbeat_rtt(
              reg.add_histogram("pier_ws_heartbeat_rtt_seconds", "Time from a Ping to its Pong.",
                                {default_rtt_buckets.begin(), default_rtt_buckets.end()})),
          broadcast_fanout(
              reg.add_histogram("pier_ws_broadcast_fanout_seconds",
                                "Time to queue one broadcast message on every subscriber.",
                                {default_fanout_buckets.begin(), default_fanout_buckets.end()})),
          cleanup_runs(reg.add_counter("pier_ws_cleanup_runs_total",
                                       "Runs of the stale-connection cleanup.")),
          cleanup_removed(reg.add_counter("pier_ws_cleanup_removed_connections_total",
                                          "Connections closed by the stale-connection cleanup.")) {
        auto& c = reg.add_counter_family("pier_ws_connections_closed_total",
                                         "WebSocket connections closed, by reason.", {"reason"});
        for (std::size_t i = 0; i < close_reason_count; ++i)
            closed_[i] = &c.add({to_string(static_cast<close_reason>(i))});
        auto& r = reg.add_counter_family(
            "pier_ws_connections_refused_total",
            "Connection attempts refused, by the limit that refused them.", {"limit"});
        for (std::size_t i = 0; i < refusal_limit_count; ++i)
            refused_[i] = &r.add({to_string(static_cast<refusal_limit>(i))});
    }

    gauge& connections;
    counter& accepted;
    counter& messages_received;
    counter& messages_sent;
    counter& received_bytes;
    counter& sent_bytes;
    counter& messages_dropped;
    gauge& subscriptions;
    gauge& topics;
    histogram& heartbeat_rtt;
    histogram& broadcast_fanout;
    counter& cleanup_runs;
    counter& cleanup_removed;

    counter& closed(close_reason r) noexcept { return *closed_[static_cast<std::size_t>(r)]; }
    counter& refused(refusal_limit l) noexcept { return *refused_[static_cast<std::size_t>(l)]; }

private:
    std::array<counter*, close_reason_count> closed_{};
    std::array<counter*, refusal_limit_count> refused_{};
};

} // namespace pier::metrics
