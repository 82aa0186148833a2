// pier/shard.hpp: shards, the unit of ownership and of crossing threads.
//
// A server's work is split into `shard_count()` shards, one per event-loop slot of its
// scheduler. A shard runs its handlers one at a time, on its executor:
//   - sched::per_thread: shard i is event-loop thread i (its io_context);
//   - sched::shared_pool: shard i is a strand of the shared io_context; any pool thread may
//     run it, never two at once;
//   - sched::workers<L>: the shards of L; blocking work goes to the worker pool and its result
//     comes back to the shard (a handler body never runs on a worker unless sent there).
// Objects a shard owns (WebSocket sessions, per-shard state in `sharded<T>`) are touched only
// by that shard's handlers, so they need no lock. Crossing to another shard is an explicit,
// bounded post: `server.post_to_shard(i, fn)`, or the mailboxes of the WebSocket layer.
//
//     pier::sharded<counters> per_shard(srv.shard_count());
//     … on any shard:   per_shard.local().messages++;
//     … from anywhere:  pier::gather(srv, [&](std::size_t i) { return per_shard[i].messages; },
//                                    [](std::vector<std::uint64_t> all) { … });
#pragma once

#include <pier/config.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace pier {

/// `this_shard()` outside any shard.
inline constexpr std::size_t no_shard = static_cast<std::size_t>(-1);

namespace detail {
inline thread_local std::size_t current_shard = no_shard;

/// Marks the calling thread as running shard `i` for a scope (pier's shard-side entry points
/// use it; a pool thread under shared_pool runs different shards one after the other).
class shard_scope {
public:
    explicit shard_scope(std::size_t i) noexcept : saved_(current_shard) { current_shard = i; }
    ~shard_scope() { current_shard = saved_; }
    shard_scope(const shard_scope&) = delete;
    shard_scope& operator=(const shard_scope&) = delete;

private:
    std::size_t saved_;
};
} // namespace detail

/// The shard whose handler is running on the calling thread (inside pier's hooks and anything
/// posted with `post_to_shard`), or `no_shard`.
inline std::size_t this_shard() noexcept {
    return detail::current_shard;
}

/// One `T` per shard, each on a cache line of its own: state that a shard's handlers use
/// without locks (counters, registries), summed or surveyed across shards on demand.
///
/// Thread safety: `local()` and `operator[](this_shard())` from the shard itself; other
/// elements only through a post to their shard (or when their fields are atomics).
template <class T> class sharded {
public:
    /// `n` default-constructed `T`s, or each built by `make(i)`.
    explicit sharded(std::size_t n) : items_(n) {}
    template <class Make> sharded(std::size_t n, Make make) {
        items_.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
            items_.emplace_back(make(i));
    }

    std::size_t size() const noexcept { return items_.size(); }
    T& operator[](std::size_t i) noexcept { return items_[i].value; }
    const T& operator[](std::size_t i) const noexcept { return items_[i].value; }
    /// This shard's element (`this_shard()` must be a shard of this set).
    T& local() noexcept { return items_[this_shard()].value; }

private:
    struct alignas(64) slot {
        slot() = default;
        explicit slot(T v) : value(std::move(v)) {}
        T value{};
    };
    std::vector<slot> items_;
};

/// Runs `fn(i)` on every shard i of `srv` (each on its own shard, in parallel), collects the
/// results and calls `done(std::vector<R>)` on the shard that finished last. The survey is
/// one post per shard. `srv` needs `shard_count()` and `post_to_shard(i, fn)` (pier::server,
/// ws::server).
template <class Server, class Fn, class Done> void gather(Server& srv, Fn fn, Done done) {
    using R = std::invoke_result_t<Fn&, std::size_t>;
    struct survey {
        std::vector<R> results;
        std::atomic<std::size_t> left;
        Fn fn;
        Done done;
        survey(std::size_t n, Fn f, Done d)
            : results(n), left(n), fn(std::move(f)), done(std::move(d)) {}
    };
    const std::size_t n = srv.shard_count();
    auto s = std::make_shared<survey>(n, std::move(fn), std::move(done));
    for (std::size_t i = 0; i < n; ++i)
        srv.post_to_shard(i, [s, i] {
            s->results[i] = s->fn(i);
            if (s->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
                s->done(std::move(s->results));
        });
}

/// Runs `fn(i)` on every shard i of `srv`: one post per shard.
template <class Server, class Fn> void on_every_shard(Server& srv, Fn fn) {
    auto f = std::make_shared<Fn>(std::move(fn));
    for (std::size_t i = 0; i < srv.shard_count(); ++i)
        srv.post_to_shard(i, [f, i] { (*f)(i); });
}

} // namespace pier
