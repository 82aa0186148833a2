// pier/accept/reuseport.hpp: one SO_REUSEPORT listening socket per event loop.
#pragma once

#include <pier/fwd.hpp>

#include <cstddef>

namespace pier::accept {

/// One listening socket per event loop, all bound with SO_REUSEPORT; the kernel hashes each
/// new connection's 4-tuple to one socket. No lock or wake-up is shared between threads, so
/// this scales best for connect-per-request traffic. The hash ignores load: a busy thread
/// keeps receiving its share, and a few long-lived connections can land unevenly.
struct reuseport {
    using category = pier::category::accept;
    static constexpr std::size_t listeners(std::size_t threads) noexcept {
        return threads == 0 ? 1 : threads;
    }
    static constexpr std::size_t loops_per_listener(std::size_t) noexcept { return 1; }
    static constexpr bool reuse_port = true;
    static constexpr bool local_placement = true;
};

} // namespace pier::accept
