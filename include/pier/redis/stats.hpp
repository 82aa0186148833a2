// pier/redis/stats.hpp: what a Redis client has done and what state it is in, readable from
// any thread (a metrics endpoint, a health check) while the client runs on its own.
#pragma once

#include <atomic>
#include <cstdint>

namespace pier::redis {

/// Counters and gauges of one client (or of one connection/subscriber used on its own). Every
/// field is an atomic updated with relaxed ordering on the client's executor: any thread may
/// read any field at any time (`s.messages.load()`, or just `std::uint64_t n = s.messages`),
/// and fields read one after the other need not be from the same instant.
///
/// Counters only grow. Gauges (marked) go up and down.
struct stats {
    using counter = std::atomic<std::uint64_t>;

    // --- connections ------------------------------------------------------------------------
    /// Gauge: command connections that exist (1 standalone; one per master in a cluster).
    counter nodes{0};
    /// Gauge: command connections connected and past AUTH/SELECT.
    counter connections_up{0};
    /// Gauge: subscriber connections that exist (0 until something is subscribed).
    counter subscribers{0};
    /// Gauge: subscriber connections connected and past AUTH/SELECT.
    counter subscribers_up{0};
    /// Connections (command and subscriber) that completed their handshake.
    counter connects{0};
    /// Connections that were up and then ended (server gone, timeout, probe failure, …).
    counter disconnects{0};
    /// Connection attempts that failed before being up (refused, resolve, TLS, AUTH, timeout).
    counter connect_failures{0};

    // --- commands ---------------------------------------------------------------------------
    /// Gauge: commands queued or written and waiting for their reply.
    counter pending{0};
    /// Commands accepted for sending (each redirect retry counts again).
    counter commands{0};
    /// Replies received for commands (error replies included).
    counter replies{0};
    /// Error replies (`-ERR …`; also the MOVED, ASK and TRYAGAIN a cluster client follows).
    counter error_replies{0};
    /// Commands refused because their connection was down (error::not_connected).
    counter refused_not_connected{0};
    /// Commands refused because the outgoing queue was full (error::queue_full).
    counter refused_queue_full{0};
    /// Commands that got no reply within the command timeout (each closes its connection).
    counter timeouts{0};
    /// Commands failed because their connection ended (error::connection_lost, closed).
    counter lost{0};
    /// `client::publish` calls, and those that failed (refused, lost, error reply).
    counter publishes{0};
    counter publish_errors{0};

    // --- pub/sub ----------------------------------------------------------------------------
    /// Gauge: channels wanted (plain and sharded), whatever the connections' state.
    counter channels{0};
    /// Messages delivered to the message callback.
    counter messages{0};
    /// SUBSCRIBE/SSUBSCRIBE and UNSUBSCRIBE/SUNSUBSCRIBE commands sent (one per batch).
    counter subscribe_commands{0};
    counter unsubscribe_commands{0};
    /// Channel subscriptions the server confirmed, and of those the ones that were confirmed
    /// before (after a reconnect or a slot move): each is a place where messages may have been
    /// missed and the application should resynchronise.
    counter subscriptions{0};
    counter resubscribes{0};
    /// Sharded channels the server unsubscribed on its own (`sunsubscribe` push when the
    /// slot moved to another node); each is then resubscribed at the new owner.
    counter server_unsubscribes{0};
    /// Error replies on subscriber connections (MOVED for a sharded subscribe, NOPERM, …).
    counter subscriber_errors{0};
    /// Liveness probes sent, and those not answered in time (each reconnects).
    counter probes{0};
    counter probe_timeouts{0};
    /// Gauge: round trip of the last answered probe, in microseconds (the subscriber's lag
    /// behind the server, as far as the connection is concerned).
    counter probe_rtt_us{0};
    /// Gauge: when the last message arrived, in microseconds since the Unix epoch (0: never).
    counter last_message_us{0};

    // --- cluster ----------------------------------------------------------------------------
    /// MOVED and ASK redirections followed, and TRYAGAIN replies retried.
    counter moved{0};
    counter ask{0};
    counter tryagain{0};
    /// Slot-map loads (CLUSTER SLOTS) that succeeded, and those that found no node to answer.
    counter map_refreshes{0};
    counter map_refresh_failures{0};

    stats() = default;
    stats(const stats&) = delete;
    stats& operator=(const stats&) = delete;

    /// Every command connection and every subscriber connection is up.
    bool connected() const noexcept {
        return connections_up.load(std::memory_order_relaxed) ==
                   nodes.load(std::memory_order_relaxed) &&
               subscribers_up.load(std::memory_order_relaxed) ==
                   subscribers.load(std::memory_order_relaxed) &&
               nodes.load(std::memory_order_relaxed) > 0;
    }
};

namespace detail {
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
}
inline void drop(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_sub(n, std::memory_order_relaxed);
}
inline void set(std::atomic<std::uint64_t>& c, std::uint64_t v) noexcept {
    c.store(v, std::memory_order_relaxed);
}
} // namespace detail

} // namespace pier::redis
