// pier/policies.hpp: `pier::policies<…>`, the policy set a server is instantiated with.
//
//     using my_policies = pier::policies<pier::sched::shared_pool, pier::buffer::fixed<4096>>;
//
// Policies are picked by category, in any order; every category not named gets its default
// from fwd.hpp. Naming two policies of one category, or a type that is no policy, is a
// compile-time error with a one-line message.
#pragma once

#include <pier/accept/single.hpp>
#include <pier/buffer/pooled.hpp>
#include <pier/concepts.hpp>
#include <pier/fwd.hpp>
#include <pier/sched/per_thread.hpp>
#include <pier/transport/tcp.hpp>
#include <pier/write/backpressure.hpp>

#include <type_traits>

namespace pier {

namespace detail {

template <class P>
concept has_category = requires {
    typename P::category;
};

template <class Category, class Default, class... Ps> struct select_policy {
    using type = Default;
};

template <class Category, class Default, class P, class... Ps>
struct select_policy<Category, Default, P, Ps...>
    : std::conditional_t<std::is_same_v<typename P::category, Category>, std::type_identity<P>,
                         select_policy<Category, Default, Ps...>> {};

template <class Category, class... Ps>
inline constexpr std::size_t count_policies =
    (std::size_t{0} + ... + std::size_t{std::is_same_v<typename Ps::category, Category>});

template <class P>
inline constexpr bool known_category =
    std::is_same_v<typename P::category, category::accept> ||
    std::is_same_v<typename P::category, category::scheduler> ||
    std::is_same_v<typename P::category, category::buffer> ||
    std::is_same_v<typename P::category, category::backpressure> ||
    std::is_same_v<typename P::category, category::transport> ||
    std::is_same_v<typename P::category, category::codec> ||
    std::is_same_v<typename P::category, category::backplane>;

} // namespace detail

template <class... Ps> struct policies {
    static_assert((detail::has_category<Ps> && ...),
                  "pier: every argument of pier::policies<...> must be a policy type with a "
                  "nested `category`");
    static_assert((detail::known_category<Ps> && ...),
                  "pier: a policy's category must be one of pier::category::{accept, scheduler, "
                  "buffer, backpressure, transport, codec, backplane}");
    static_assert(detail::count_policies<category::accept, Ps...> <= 1,
                  "pier: policies<...> names more than one accept policy");
    static_assert(detail::count_policies<category::scheduler, Ps...> <= 1,
                  "pier: policies<...> names more than one scheduler policy");
    static_assert(detail::count_policies<category::buffer, Ps...> <= 1,
                  "pier: policies<...> names more than one buffer policy");
    static_assert(detail::count_policies<category::backpressure, Ps...> <= 1,
                  "pier: policies<...> names more than one backpressure policy");
    static_assert(detail::count_policies<category::transport, Ps...> <= 1,
                  "pier: policies<...> names more than one transport policy");
    static_assert(detail::count_policies<category::codec, Ps...> <= 1,
                  "pier: policies<...> names more than one codec policy");
    static_assert(detail::count_policies<category::backplane, Ps...> <= 1,
                  "pier: policies<...> names more than one backplane policy");

    using accept = typename detail::select_policy<category::accept, default_accept, Ps...>::type;
    using scheduler =
        typename detail::select_policy<category::scheduler, default_scheduler, Ps...>::type;
    using buffer = typename detail::select_policy<category::buffer, default_buffer, Ps...>::type;
    using backpressure =
        typename detail::select_policy<category::backpressure, default_backpressure, Ps...>::type;
    using transport =
        typename detail::select_policy<category::transport, default_transport, Ps...>::type;
    /// The pool's (checked by pier::ws::pool, which alone needs them: <pier/pool.hpp>).
    using codec = typename detail::select_policy<category::codec, default_codec, Ps...>::type;
    using backplane =
        typename detail::select_policy<category::backplane, default_backplane, Ps...>::type;

    static_assert(accept_policy<accept>,
                  "pier: the accept policy does not model pier::accept_policy");
    static_assert(scheduler_policy<scheduler>,
                  "pier: the scheduler policy does not model pier::scheduler_policy");
    static_assert(buffer_policy<buffer>,
                  "pier: the buffer policy does not model pier::buffer_policy");
    static_assert(backpressure_policy<backpressure>,
                  "pier: the backpressure policy does not model pier::backpressure_policy");
    static_assert(transport_policy<transport>,
                  "pier: the transport policy does not model pier::transport_policy");
};

} // namespace pier
