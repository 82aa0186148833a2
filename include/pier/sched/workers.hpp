// pier/sched/workers.hpp: event loops plus an adaptive worker pool for blocking handlers.
#pragma once

#include <pier/config.hpp>
#include <pier/fwd.hpp>
#include <pier/options.hpp>
#include <pier/sched/per_thread.hpp>
#include <pier/sched/worker_pool.hpp>

#include <cstddef>

namespace pier::sched {

/// The event loops of `Loops` (per_thread by default) plus a `worker_pool` for blocking work.
/// Sockets stay on the event loops — an idle connection holds no thread — and a handler body
/// that blocks (a database call, a sleep, file I/O) runs on a worker: a `data_handler`'s
/// `on_data` always does, and a `stream_handler` sends work there with
/// `co_await c.offload(fn)`. The pool grows to `worker_options::max_workers` threads on demand
/// and retires idle ones, like Go's tcpserver with its ultrapool.
template <class Loops> struct workers {
    using category = pier::category::scheduler;
    using executor_type = typename Loops::executor_type;
    static constexpr bool offloads = true;

    explicit workers(std::size_t threads, const worker_options& o = {})
        : loops_(threads, o), pool_(o) {}
    workers(asio::io_context& external, const worker_options& o = {})
        : loops_(external, o), pool_(o) {}

    std::size_t size() const noexcept { return loops_.size(); }
    asio::io_context& context(std::size_t i) noexcept { return loops_.context(i); }
    executor_type make_executor(std::size_t i) { return loops_.make_executor(i); }
    executor_type shard_executor(std::size_t i) requires requires(Loops& l) { l.shard_executor(i); }
    { return loops_.shard_executor(i); }
    bool owns_threads() const noexcept { return loops_.owns_threads(); }
    void start() { loops_.start(); }
    /// Finishes the blocking work under way (its replies still go out), then stops the loops.
    void stop() {
        pool_.stop();
        loops_.stop();
    }
    void join() { loops_.join(); }

    worker_pool& pool() noexcept { return pool_; }

private:
    Loops loops_;
    worker_pool pool_;
};

} // namespace pier::sched
