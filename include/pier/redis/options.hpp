// pier/redis/options.hpp: every tunable of pier's Redis client, with its default and why.
#pragma once

#include <pier/config.hpp>
#include <pier/redis/protocol.hpp>

#include <asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace pier::redis {

using namespace std::chrono_literals;

/// TLS for rediss:// URLs (ignored for redis://).
struct tls_options {
    /// The context to use as is (certificates, verification, client certificate for mutual
    /// TLS). Default null: pier builds one per client that verifies the server against
    /// `ca_file` (or the system's trust store when that is empty).
    std::shared_ptr<asio::ssl::context> context;
    /// PEM file of the CA (or self-signed certificate) the server's certificate must chain to.
    std::string ca_file;
    /// Check the server's certificate and that it names the host of the URL (DNS name or IP
    /// address). Default true; turning it off makes TLS protect against eavesdroppers only.
    bool verify = true;
};

/// One connection to one server: how it connects, how much it queues, when it gives up.
struct connection_options {
    /// Resolve, TCP connect, TLS handshake and AUTH/SELECT together, per attempt. Default 5 s:
    /// a reachable server on a LAN answers in milliseconds, and an attempt that hangs (a
    /// dropped SYN, a stopped server) must not delay the next one for long.
    std::chrono::milliseconds connect_timeout = 5s;
    /// How long a written command may wait for its reply. Default 5 s: Redis answers in
    /// microseconds, so a reply this late means a stuck server or a dead path. Replies come in
    /// order, so a late one fails the whole connection (every command in flight learns
    /// connection_lost, the late one command_timeout) and it reconnects. Commands queued
    /// while connecting start their clock when they are written. Blocking commands (BLPOP,
    /// XREAD BLOCK) need a timeout above their own, or a connection of their own.
    std::chrono::milliseconds command_timeout = 5s;
    /// Most commands queued or awaiting replies. Default 65536: pipelining gains nothing past
    /// a few thousand in flight, and the bound keeps a stalled server from growing a queue
    /// without end. More are refused with queue_full.
    std::size_t max_pending = 65536;
    /// Most bytes of formatted commands not yet written to the socket. Default 16 MiB: many
    /// round trips' worth of backplane publishes; beyond it the server is not keeping up.
    std::size_t max_queued_bytes = 16 * 1024 * 1024;
    /// Read size per system call. Default 64 KiB: a subscriber's reader must keep up with
    /// bursts (Redis cuts off a subscriber 32 MB behind) without a syscall per message.
    std::size_t read_buffer_size = 64 * 1024;
    /// Reconnect after a failure, after `reconnect_min` … `reconnect_max` with exponential
    /// backoff and full jitter: attempt n waits a uniform random time in
    /// [0, min(reconnect_max, reconnect_min · 2^n)]. The jitter keeps many clients that lost
    /// one server from reconnecting in lockstep. Defaults 100 ms and 5 s: a restarted server
    /// is found quickly, a dead one costs at most one attempt every 5 s. Commands issued while
    /// waiting fail at once with not_connected (and are counted).
    bool reconnect = true;
    std::chrono::milliseconds reconnect_min = 100ms;
    std::chrono::milliseconds reconnect_max = 5s;
    /// Bounds on what one reply may cost.
    protocol_limits limits{};
    tls_options tls{};
};

/// A pub/sub connection (`subscriber`), on top of the connection settings.
struct subscriber_options {
    /// Connect, reconnect, TLS and reply bounds, as for command connections. `command_timeout`
    /// and the queue bounds are not used: a subscriber sends only (un)subscribes and probes.
    connection_options connection{};
    /// A PING goes out this long after the previous probe was answered, and an answer must
    /// come within `probe_timeout`, or the connection is closed and reconnected. Defaults 5 s
    /// and 5 s: a connection that silently stopped delivering (a failover behind a proxy, a
    /// dead path, a stopped server) is found within about 10 s, at the cost of one tiny
    /// command every 5 s.
    std::chrono::milliseconds probe_interval = 5s;
    std::chrono::milliseconds probe_timeout = 5s;
    /// Most channels wanted at once, plain and sharded together. Default 1,048,576: each one
    /// costs the server a dictionary entry and the client a map entry (~100 bytes).
    std::size_t max_channels = 1024 * 1024;
    /// Most channels in one SUBSCRIBE/SSUBSCRIBE command. Default 4096: a burst of joins in one
    /// loop pass leaves in one command (per slot for a cluster's SSUBSCRIBE), while one
    /// command never holds the server for long.
    std::size_t max_channels_per_command = 4096;
};

/// `client`: a command connection and a subscriber per server (per master in a cluster).
struct client_options {
    connection_options connection{};
    subscriber_options subscriber{};
    /// Most MOVED/ASK/TRYAGAIN retries for one command. Default 5: one slot migration costs
    /// at most two (ASK during, MOVED after), so more means a loop or a cluster in turmoil.
    int max_redirects = 5;
    /// Wait before retrying a command that got TRYAGAIN (a multi-key command during a slot
    /// migration). Default 50 ms: migrations move keys in milliseconds.
    std::chrono::milliseconds tryagain_delay = 50ms;
    /// How often a cluster client reloads the slot map (CLUSTER SLOTS) when nothing prompted
    /// it. Default 30 s. MOVED replies, sunsubscribe pushes and lost connections prompt a
    /// reload at once, so this only catches changes nothing told the client about (a new
    /// master that owns nothing yet).
    std::chrono::milliseconds cluster_refresh_interval = 30s;
    /// Least time between two reloads. Default 100 ms: a burst of MOVED replies after a slot
    /// moved costs one reload, not one per command.
    std::chrono::milliseconds cluster_refresh_min_interval = 100ms;
};

} // namespace pier::redis
