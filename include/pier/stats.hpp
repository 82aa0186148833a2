// pier/stats.hpp: live counters of a server.
#pragma once

#include <cstdint>

namespace pier {

/// A snapshot of a server's counters (`server::stats()`). Counters are kept per event loop
/// and summed when read, so reading is O(threads) and never slows the loops down.
struct stats {
    std::uint64_t accepted = 0;           ///< connections accepted and handed to the handler
    std::uint64_t active = 0;             ///< connections open now
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

} // namespace pier
