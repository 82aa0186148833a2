// pier/accept/single.hpp: one listening socket, one accept loop.
#pragma once

#include <pier/fwd.hpp>

#include <cstddef>

namespace pier::accept {

/// One listening socket and one accept loop (on scheduler slot 0) that deals connections
/// round-robin over all event loops. The default: even spread whatever the thread count, and
/// one accept(2) per connection. Its limit is the single accepting thread, reached only in
/// connect-per-request workloads above ~100k connections/s; use `multi` or `reuseport` there.
struct single {
    using category = pier::category::accept;
    static constexpr std::size_t listeners(std::size_t) noexcept { return 1; }
    static constexpr std::size_t loops_per_listener(std::size_t) noexcept { return 1; }
    static constexpr bool reuse_port = false;
    static constexpr bool local_placement = false;
};

} // namespace pier::accept
