// pier/accept/multi.hpp: one listening socket, several accept loops.
#pragma once

#include <pier/fwd.hpp>

#include <cstddef>

namespace pier::accept {

/// One listening socket with `Loops` accept loops (0 = one per event loop), each on its own
/// event loop and keeping the connections it accepts. Every loop waits on the same socket, so
/// the kernel wakes whichever is free: spreads load by availability, at the price of some
/// spurious wake-ups (thundering herd) when many loops are idle.
template <std::size_t Loops> struct multi {
    using category = pier::category::accept;
    static constexpr std::size_t listeners(std::size_t) noexcept { return 1; }
    static constexpr std::size_t loops_per_listener(std::size_t threads) noexcept {
        return Loops == 0 ? (threads == 0 ? 1 : threads) : Loops;
    }
    static constexpr bool reuse_port = false;
    static constexpr bool local_placement = true;
};

} // namespace pier::accept
