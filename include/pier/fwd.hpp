// pier/fwd.hpp: every policy's name and every category's default, stated once.
//
//     pier::server<my_handler>                                   // all defaults
//     pier::server<my_handler, pier::policies<pier::accept::reuseport,
//                                             pier::buffer::fixed<4096>>>
//
// `pier::policies<…>` takes policies in any order and fills every category that is not named
// with the default below.
#pragma once

#include <cstddef>

namespace pier {

/// The categories a policy can belong to; a policy names its own with `using category = …`.
namespace category {
struct accept {};
struct scheduler {};
struct buffer {};
struct backpressure {};
struct transport {};
/// The pool's wire format (pier::ws::pool; see codec_policy in concepts.hpp).
struct codec {};
/// How a pool reaches its other instances (pier::ws::pool; see backplane_policy).
struct backplane {};
} // namespace category

namespace accept {
struct single;
template <std::size_t Loops = 0> struct multi;
struct reuseport;
} // namespace accept

namespace sched {
struct per_thread;
struct shared_pool;
template <class Loops = per_thread> struct workers;
} // namespace sched

namespace buffer {
template <std::size_t Size = 16384> struct fixed;
template <std::size_t Size = 16384, std::size_t MaxRetained = 256> struct pooled;
} // namespace buffer

namespace backpressure {
struct suspend;
struct drop;
struct close;
} // namespace backpressure

namespace transport {
struct tcp;
} // namespace transport

/// Defaults, one per category.
/// - One acceptor that spreads connections round-robin over the event loops: works with any
///   number of threads without the kernel's per-socket hashing imbalance of SO_REUSEPORT.
/// - One io_context per thread, connections pinned to their thread: nothing is shared on the
///   hot path.
/// - Pooled 16 KiB read buffers: an idle connection holds no read buffer, which is what keeps
///   100k mostly idle connections cheap. `buffer::fixed` saves one syscall per wait.
/// - Writers that outrun a slow reader are suspended (`co_await send()`), never buffered
///   without bound.
/// - Plain TCP.
using default_accept = accept::single;
using default_scheduler = sched::per_thread;
using default_buffer = buffer::pooled<>;
using default_backpressure = backpressure::suspend;
using default_transport = transport::tcp;

namespace pool {
class json_codec;
struct local;
} // namespace pool

/// The pool's defaults (pier::ws::pool, <pier/pool.hpp>): JSON envelopes, and no backplane
/// (one instance, nothing leaves the process).
using default_codec = pool::json_codec;
using default_backplane = pool::local;

template <class... Policies> struct policies;
using default_policies = policies<>;

template <class Policies> class connection;
template <class Handler, class Policies = default_policies> class server;

struct server_options;

} // namespace pier
