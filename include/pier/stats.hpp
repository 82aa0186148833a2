// pier/stats.hpp: live counters of a server.
#pragma once

#include <cstdint>

namespace pier {

/// A snapshot of a server's counters (`server::stats()`). Counters are kept per event loop
/// and summed when read, so reading is O(threads) and never slows the loops down.
struct stats {
    std::uint64_t accepted = 0;           ///< connections accepted and handed to the handler
    std::uint64_t active = 0;             ///< connections open now
    std::uint64_t parked = 0;             ///< of those, idle outside the reactor (WebSocket
                                          ///< sessions on plain TCP in their shard's lot)
    std::uint64_t rejected = 0;           ///< closed at once: over `max_connections` or no fds
    std::uint64_t refused = 0;            ///< refused by the handler's `on_accept` admission
    std::uint64_t closed = 0;             ///< connections that ended
    std::uint64_t bytes_in = 0;           ///< bytes read from sockets
    std::uint64_t bytes_out = 0;          ///< bytes written to sockets
    std::uint64_t timeouts = 0;           ///< connections closed by a deadline
    std::uint64_t slow_consumers = 0;     ///< connections closed by the write-queue limits
    std::uint64_t dropped_messages = 0;   ///< messages refused or evicted by the backpressure
                                          ///< policy, or by a full cross-thread mailbox
    std::uint64_t handshake_failures = 0; ///< transport handshakes that failed or timed out
    std::uint64_t handler_errors = 0;     ///< exceptions that escaped a handler
    std::uint64_t accept_errors = 0;      ///< accept(2) failures (EMFILE, ENFILE, ENOBUFS, …)
};

/// How one connection's file sends and relays moved their bytes
/// (`connection::transfer_stats()`), by path. A transfer can take more than one path: a file
/// whose sendfile(2) the kernel refuses goes on by copying, and says so in `fallbacks`.
struct transfer_stats {
    /// File bytes sent with sendfile(2) on plain TCP: they never entered user space.
    std::uint64_t sendfile_bytes = 0;
    /// File bytes sent with SSL_sendfile over kernel TLS (the kernel encrypts them).
    std::uint64_t ktls_sendfile_bytes = 0;
    /// Bytes moved with splice(2) through a pipe: file regions under `file_method::splice`,
    /// and both directions of relays (`connection::send_from`, `receive_into`, `pier::relay`).
    std::uint64_t splice_bytes = 0;
    /// File and relay bytes read into user space and written again: TLS without kernel TLS
    /// (which must encrypt them), `file_method::copy` / `relay_method::copy`, or a source the
    /// kernel would not splice.
    std::uint64_t copied_bytes = 0;
    /// File regions handed to the kernel completely.
    std::uint64_t files_sent = 0;
    /// Zero-copy calls the kernel refused (EINVAL, ENOSYS, EOPNOTSUPP), after which that
    /// transfer copied instead.
    std::uint64_t fallbacks = 0;
};

} // namespace pier
