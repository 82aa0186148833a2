// pier/sched/shared_pool.hpp: one io_context run by a pool of threads.
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

/// One io_context run by `threads` threads; each connection gets its own strand, so its
/// handlers never run concurrently while any idle thread can pick up any ready connection.
/// Evens out load when per-connection work is very uneven; costs the shared queue's lock and
/// cache traffic that `per_thread` avoids. Slots are only a name here: all share one
/// io_context.
///
/// Thread safety: as `per_thread`.
struct shared_pool {
    using category = pier::category::scheduler;
    using executor_type = asio::strand<asio::io_context::executor_type>;
    static constexpr bool offloads = false;

    explicit shared_pool(std::size_t threads, const worker_options& = {})
        : threads_wanted_(threads == 0 ? 1 : threads),
          owned_(std::make_unique<asio::io_context>(static_cast<int>(threads_wanted_))),
          context_(owned_.get()) {
        make_shards();
    }
    shared_pool(asio::io_context& external, const worker_options& = {})
        : threads_wanted_(1), context_(&external) {
        make_shards();
    }
    shared_pool(const shared_pool&) = delete;
    shared_pool& operator=(const shared_pool&) = delete;
    ~shared_pool() {
        stop();
        join();
    }

    std::size_t size() const noexcept { return threads_wanted_; }
    asio::io_context& context(std::size_t) noexcept { return *context_; }
    executor_type make_executor(std::size_t) { return asio::make_strand(context_->get_executor()); }
    /// Shard i is a strand of its own (one per thread): any pool thread may run it, never two
    /// at once.
    executor_type shard_executor(std::size_t i) { return shards_[i % shards_.size()]; }
    bool owns_threads() const noexcept { return owned_ != nullptr; }

    void start() {
        if (!owned_ || !threads_.empty())
            return;
        guard_.emplace(asio::make_work_guard(*owned_));
        for (std::size_t i = 0; i < threads_wanted_; ++i)
            threads_.emplace_back([ctx = owned_.get(), i] {
                detail::set_thread_name("pier-pool-", i);
                ctx->run();
            });
    }
    void stop() {
        guard_.reset();
        if (owned_)
            owned_->stop();
    }
    void join() {
        for (auto& t : threads_)
            if (t.joinable() && t.get_id() != std::this_thread::get_id())
                t.join();
        threads_.clear();
    }

private:
    void make_shards() {
        for (std::size_t i = 0; i < threads_wanted_; ++i)
            shards_.push_back(asio::make_strand(context_->get_executor()));
    }

    std::size_t threads_wanted_;
    std::unique_ptr<asio::io_context> owned_;
    asio::io_context* context_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::vector<std::thread> threads_;
    std::vector<executor_type> shards_;
};

} // namespace pier::sched
