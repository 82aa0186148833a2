// pier/sched/worker_pool.hpp: an adaptive pool of threads for blocking work.
#pragma once

#include <pier/config.hpp>
#include <pier/detail/thread_name.hpp>
#include <pier/error.hpp>
#include <pier/options.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace pier {

/// A unit of work for `worker_pool`.
struct pool_task {
    virtual ~pool_task() = default;
    /// Runs on a worker thread.
    virtual void run() = 0;
    /// Called instead of `run` when the pool refuses the task (queue full, pool stopped), on
    /// the submitting thread.
    virtual void refuse(std::error_code why) = 0;
};

/// Threads for blocking work, grown on demand and retired when idle (Go's goroutine-per-task
/// model, bounded): a task starts at once while there is an idle worker or fewer than
/// `max_workers` threads, and waits in a FIFO queue otherwise. A worker idle for
/// `idle_timeout` exits, down to `min_workers`. At most `max_queue` tasks wait; beyond that
/// `submit` refuses with `error::overloaded`, so a flood of blocking requests cannot grow memory
/// without bound.
///
/// Thread safety: all members may be called from any thread.
class worker_pool {
public:
    explicit worker_pool(const worker_options& o) : options_(o) {
        if (options_.max_workers == 0)
            options_.max_workers = 1;
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < options_.min_workers; ++i)
            spawn_locked();
    }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;
    ~worker_pool() { stop(); }

    /// Queues `task`; on refusal calls `task->refuse()` before returning false.
    bool submit(std::unique_ptr<pool_task> task) {
        std::vector<std::thread> finished;
        {
            std::lock_guard lock(mutex_);
            if (!stopping_ && queue_.size() < options_.max_queue) {
                queue_.push_back(std::move(task));
                if (queue_.size() > idle_ && threads_ < options_.max_workers)
                    spawn_locked();
                else
                    cv_.notify_one();
                finished.swap(finished_);
            }
        }
        for (auto& t : finished)
            t.join();
        if (task) {
            task->refuse(make_error_code(error::overloaded));
            return false;
        }
        return true;
    }

    /// Refuses new tasks, lets queued and running ones finish, and joins every worker.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        std::list<std::thread> all;
        {
            std::unique_lock lock(mutex_);
            drained_.wait(lock, [&] { return threads_ == 0; });
            all.swap(running_);
            for (auto& t : finished_)
                all.push_back(std::move(t));
            finished_.clear();
        }
        for (auto& t : all)
            if (t.joinable())
                t.join();
    }

    std::size_t workers() const {
        std::lock_guard lock(mutex_);
        return threads_;
    }
    std::size_t idle() const {
        std::lock_guard lock(mutex_);
        return idle_;
    }
    std::size_t queued() const {
        std::lock_guard lock(mutex_);
        return queue_.size();
    }

private:
    void spawn_locked() {
        ++threads_;
        running_.emplace_back();
        auto it = std::prev(running_.end());
        *it = std::thread([this, it, n = spawned_++] { work(it, n); });
    }

    void work(std::list<std::thread>::iterator self, std::size_t n) {
        detail::set_thread_name("pier-work-", n);
        std::unique_lock lock(mutex_);
        for (;;) {
            if (queue_.empty()) {
                if (stopping_)
                    break;
                ++idle_;
                bool woke = cv_.wait_for(lock, options_.idle_timeout,
                                         [&] { return !queue_.empty() || stopping_; });
                --idle_;
                if (!woke && threads_ > options_.min_workers)
                    break;
                continue;
            }
            auto task = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            task->run();
            task.reset();
            lock.lock();
        }
        // Hand our std::thread to whoever joins next; it finishes right after this.
        --threads_;
        finished_.push_back(std::move(*self));
        running_.erase(self);
        if (threads_ == 0)
            drained_.notify_all();
    }

    worker_options options_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::condition_variable drained_;
    std::deque<std::unique_ptr<pool_task>> queue_;
    std::list<std::thread> running_;
    std::vector<std::thread> finished_;
    std::size_t threads_ = 0;
    std::size_t idle_ = 0;
    std::size_t spawned_ = 0;
    bool stopping_ = false;
};

namespace detail {

template <class R> struct offload_signature { using type = void(std::exception_ptr, R); };
template <> struct offload_signature<void> { using type = void(std::exception_ptr); };

template <class F, class Handler> class offload_task final : public pool_task {
    using result_type = std::invoke_result_t<F&>;

public:
    offload_task(F&& f, Handler&& h)
        : f_(std::in_place, std::move(f)), handler_(std::move(h)),
          work_(asio::make_work_guard(asio::get_associated_executor(handler_))) {}

    void run() override {
        std::exception_ptr ep;
        if constexpr (std::is_void_v<result_type>) {
            try {
                (*f_)();
            } catch (...) {
                ep = std::current_exception();
            }
            f_.reset();
            complete([h = std::move(handler_), ep = std::move(ep)]() mutable { std::move(h)(ep); });
        } else {
            result_type r{};
            try {
                r = (*f_)();
            } catch (...) {
                ep = std::current_exception();
            }
            f_.reset();
            complete([h = std::move(handler_), ep = std::move(ep), r = std::move(r)]() mutable {
                std::move(h)(ep, std::move(r));
            });
        }
    }

    void refuse(std::error_code why) override {
        auto ep = std::make_exception_ptr(std::system_error(why));
        f_.reset();
        if constexpr (std::is_void_v<result_type>)
            complete([h = std::move(handler_), ep = std::move(ep)]() mutable { std::move(h)(ep); });
        else
            complete([h = std::move(handler_), ep = std::move(ep)]() mutable {
                std::move(h)(ep, result_type{});
            });
    }

private:
    // Once the completion is posted the caller may resume, so the worker must release nothing
    // the caller can see afterwards: the job (and what it captured, e.g. a connection's
    // shared_ptr) is destroyed before, and the exception_ptr is moved, never copied, into the
    // completion (libstdc++ counts exception references with atomics that sanitizers do not
    // see). The work guard goes last, so that the caller's io_context cannot run out of work
    // with the completion not yet queued.
    template <class Fn> void complete(Fn&& fn) {
        asio::post(work_.get_executor(), std::forward<Fn>(fn));
        work_.reset();
    }

    std::optional<F> f_;
    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler>> work_;
};

} // namespace detail

/// Runs `f()` on `pool` and completes on the caller's executor with its result (or its
/// exception; `std::system_error(error::overloaded)` when the pool refuses). `f`'s result must
/// be void or default-constructible.
///
///     std::string body = co_await pier::async_offload(pool, [&] { return slow_lookup(key); },
///                                                     asio::use_awaitable);
template <class F, class CompletionToken>
auto async_offload(worker_pool& pool, F&& f, CompletionToken&& token) {
    using fn_type = std::decay_t<F>;
    using result_type = std::invoke_result_t<fn_type&>;
    using signature = typename detail::offload_signature<result_type>::type;
    return asio::async_initiate<CompletionToken, signature>(
        [&pool](auto handler, fn_type fn) {
            using handler_type = decltype(handler);
            pool.submit(std::make_unique<detail::offload_task<fn_type, handler_type>>(
                std::move(fn), std::move(handler)));
        },
        token, fn_type(std::forward<F>(f)));
}

} // namespace pier
