// pier/sched/per_thread.hpp: one io_context per thread, connections pinned (shared-nothing).
#pragma once

#include <pier/config.hpp>
#include <pier/detail/thread_name.hpp>
#include <pier/fwd.hpp>
#include <pier/options.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace pier::sched {

/// One io_context per event-loop thread; a connection lives on one thread for its whole life,
/// so its state needs no lock and stays in that core's cache. Work crosses threads only as an
/// explicit `asio::post` (see `connection::try_send` from another thread). Each io_context is
/// created with concurrency hint 1, which lets Asio skip locking in its scheduler.
///
/// Built from an external io_context it has one slot and no threads: the caller runs it, from
/// one thread only (connections get the io_context's plain executor, no strand). To run an
/// external io_context on several threads, use `shared_pool`, whose connections have strands.
///
/// Thread safety: `start`, `stop` and `join` from one controlling thread; `context` and
/// `make_executor` from any thread once constructed.
struct per_thread {
    using category = pier::category::scheduler;
    using executor_type = asio::io_context::executor_type;
    static constexpr bool offloads = false;

    explicit per_thread(std::size_t threads, const worker_options& = {}) {
        if (threads == 0)
            threads = 1;
        owned_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) {
            owned_.push_back(std::make_unique<asio::io_context>(1));
            contexts_.push_back(owned_.back().get());
        }
    }
    per_thread(asio::io_context& external, const worker_options& = {}) {
        contexts_.push_back(&external);
    }
    per_thread(const per_thread&) = delete;
    per_thread& operator=(const per_thread&) = delete;
    ~per_thread() {
        stop();
        join();
    }

    std::size_t size() const noexcept { return contexts_.size(); }
    asio::io_context& context(std::size_t i) noexcept { return *contexts_[i % contexts_.size()]; }
    executor_type make_executor(std::size_t i) noexcept { return context(i).get_executor(); }
    /// Shard i is event-loop thread i.
    executor_type shard_executor(std::size_t i) noexcept { return make_executor(i); }
    bool owns_threads() const noexcept { return !owned_.empty(); }

    /// Starts one thread per owned io_context. They run until `stop()`.
    void start() {
        if (owned_.empty() || !threads_.empty())
            return;
        for (std::size_t i = 0; i < owned_.size(); ++i) {
            guards_.emplace_back(asio::make_work_guard(*owned_[i]));
            threads_.emplace_back([ctx = owned_[i].get(), i] {
                detail::set_thread_name("pier-loop-", i);
                ctx->run();
            });
        }
    }
    void stop() {
        guards_.clear();
        for (auto& c : owned_)
            c->stop();
    }
    void join() {
        for (auto& t : threads_)
            if (t.joinable() && t.get_id() != std::this_thread::get_id())
                t.join();
        threads_.clear();
    }

private:
    using guard = asio::executor_work_guard<asio::io_context::executor_type>;
    std::vector<std::unique_ptr<asio::io_context>> owned_;
    std::vector<asio::io_context*> contexts_;
    std::vector<guard> guards_;
    std::vector<std::thread> threads_;
};

} // namespace pier::sched
