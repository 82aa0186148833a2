// pier/pool/backplane.hpp: how a pool reaches its other instances. `local`, the default, has
// none: one process serves everyone, and nothing leaves it. (The Redis backplane for several
// machines is pier::pool::redis, <pier/pool/redis_backplane.hpp>.)
#pragma once

#include <pier/fwd.hpp>

#include <cstdint>
#include <span>
#include <string_view>

namespace pier::pool {

/// No backplane: every call is a no-op the compiler removes.
struct local {
    using category = pier::category::backplane;
    struct options {};

    /// The per-pool instance (see backplane_policy in concepts.hpp).
    template <class Pool> class node {
    public:
        node(Pool&, const options&) noexcept {}
        void start() noexcept {}
        void stop() noexcept {}
        /// This node has its first local subscriber of `topic` (true) or lost its last.
        void topic_interest(std::string_view, bool) noexcept {}
        /// This node has the first connection of `user` (true) or lost its last.
        void user_interest(std::string_view, bool) noexcept {}
        /// A message was delivered locally; other nodes' subscribers should get it too.
        void publish_topic(std::string_view, std::string_view,
                           std::span<const std::uint64_t>) noexcept {}
        void publish_user(std::string_view, std::string_view,
                          std::span<const std::uint64_t>) noexcept {}
        bool connected() const noexcept { return true; }
    };
};

} // namespace pier::pool
