// pier/detail/registry.hpp: what the server knows about every live connection, for
// deadlines, shutdown and stats, independent of the policies.
#pragma once

#include <pier/config.hpp>
#include <pier/detail/clock.hpp>
#include <pier/error.hpp>
#include <pier/options.hpp>
#include <pier/stats.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace pier::detail {

struct shard;
class loop_lot;

/// The policy-independent part of a connection: deadlines the sweeper reads and the links of
/// its shard's list. Deadlines are relaxed atomics because the sweeper may run on another
/// thread than the connection (shared_pool); a stale read only delays a timeout by one sweep.
class connection_base {
public:
    connection_base() = default;
    connection_base(const connection_base&) = delete;
    connection_base& operator=(const connection_base&) = delete;
    virtual ~connection_base() = default;

    /// Thread-safe: asks the connection, on its own executor, to end with `why`.
    virtual void post_expire(std::error_code why) = 0;
    /// Thread-safe: tells the connection that the server is stopping.
    virtual void post_shutdown() = 0;
    /// Thread-safe: asks a connection that holds a read buffer for a speculative read, but
    /// received nothing for a sweep period, to give the buffer back and wait for readiness.
    virtual void post_park() = 0;

    enum class phase : int { none, handshake, linger, shutdown };

    std::atomic<std::int64_t> last_activity_ms{coarse_now_ms()};
    std::atomic<std::int64_t> read_wait_since_ms{0};   // 0: no read waits on partial input
    std::atomic<std::int64_t> write_stall_since_ms{0}; // 0: nothing queued
    std::atomic<std::int64_t> phase_deadline_ms{0};    // 0: none
    std::atomic<phase> phase_kind{phase::none};
    /// A speculative read holds a buffer (parked by the sweep after a quiet period).
    std::atomic<bool> busy_reading{false};

    shard* shard_ = nullptr;
    connection_base* prev_ = nullptr;
    connection_base* next_ = nullptr;
};

/// Counters of one shard; summed by `server::stats()`.
struct alignas(64) shard_counters {
    std::atomic<std::uint64_t> accepted{0}, closed{0}, rejected{0}, refused{0}, bytes_in{0},
        bytes_out{0}, timeouts{0}, slow_consumers{0}, dropped_messages{0}, handshake_failures{0},
        handler_errors{0}, accept_errors{0};
    std::atomic<std::uint64_t> parked{0}; ///< a gauge: idle sessions in the lot now

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
};

/// The connections of one scheduler slot, with the sweep that enforces their deadlines.
struct shard {
    std::mutex mutex;
    connection_base* head = nullptr;
    std::size_t count = 0;
    shard_counters counters;
    /// The loop's lot (detail/loop_lot.hpp) where this shard is one thread; owned by the server.
    loop_lot* lot = nullptr;

    /// Links `c`, which must already be owned by a `std::shared_ptr`: walkers of the list reach
    /// it through `weak_from_this()` under the lock.
    void insert(connection_base* c) noexcept {
        std::lock_guard lock(mutex);
        c->shard_ = this;
        c->prev_ = nullptr;
        c->next_ = head;
        if (head)
            head->prev_ = c;
        head = c;
        ++count;
    }
    void erase(connection_base* c) noexcept {
        std::lock_guard lock(mutex);
        if (c->prev_)
            c->prev_->next_ = c->next_;
        else if (head == c)
            head = c->next_;
        else
            return; // never inserted
        if (c->next_)
            c->next_->prev_ = c->prev_;
        c->prev_ = c->next_ = nullptr;
        --count;
    }
    /// Calls `f(connection_base&)` for every connection, under the lock: `f` must not block
    /// (posting is fine).
    template <class F> void for_each(F&& f) {
        std::lock_guard lock(mutex);
        for (auto* c = head; c; c = c->next_)
            f(*c);
    }

    /// One sweep: ends every connection whose deadline passed.
    void sweep(const timeout_options& t, std::int64_t now) {
        const auto idle = t.idle.count(), read = t.read.count(), write = t.write.count();
        for_each([&](connection_base& c) {
            std::error_code why;
            auto pd = c.phase_deadline_ms.load(std::memory_order_relaxed);
            if (pd != 0 && now >= pd) {
                switch (c.phase_kind.load(std::memory_order_relaxed)) {
                case connection_base::phase::handshake:
                    why = error::handshake_timeout;
                    break;
                case connection_base::phase::shutdown:
                    why = error::shutting_down;
                    break;
                default:
                    why = error::closed;
                    break;
                }
            } else if (auto w = c.write_stall_since_ms.load(std::memory_order_relaxed);
                       write > 0 && w != 0 && now - w >= write) {
                why = error::write_timeout;
            } else if (auto r = c.read_wait_since_ms.load(std::memory_order_relaxed);
                       read > 0 && r != 0 && now - r >= read) {
                why = error::read_timeout;
            } else if (idle > 0 &&
                       now - c.last_activity_ms.load(std::memory_order_relaxed) >= idle) {
                why = error::idle_timeout;
            } else if (c.busy_reading.load(std::memory_order_relaxed) &&
                       now - c.last_activity_ms.load(std::memory_order_relaxed) >=
                           t.resolution.count()) {
                c.busy_reading.store(false, std::memory_order_relaxed);
                c.post_park();
            }
            if (why)
                c.post_expire(why);
        });
    }
};

/// Server-wide state shared by the connections, independent of policies.
struct server_core {
    server_options options;
    std::vector<std::unique_ptr<shard>> shards;
    std::atomic<std::uint64_t> active{0};
    std::atomic<std::uint64_t> next_id{1};
    std::atomic<bool> stopping{false};
    std::size_t max_connections = 0;
    /// Called (on some loop thread) when `active` drops to zero during shutdown.
    std::function<void()> on_drained;

    explicit server_core(server_options o) : options(std::move(o)) {}

    void connection_closed() {
        if (active.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
            stopping.load(std::memory_order_acquire) && on_drained)
            on_drained();
    }

    stats snapshot() const {
        stats s;
        for (auto& sh : shards) {
            auto& c = sh->counters;
            auto get = [](const std::atomic<std::uint64_t>& a) {
                return a.load(std::memory_order_relaxed);
            };
            s.accepted += get(c.accepted);
            s.closed += get(c.closed);
            s.rejected += get(c.rejected);
            s.refused += get(c.refused);
            s.bytes_in += get(c.bytes_in);
            s.bytes_out += get(c.bytes_out);
            s.timeouts += get(c.timeouts);
            s.slow_consumers += get(c.slow_consumers);
            s.dropped_messages += get(c.dropped_messages);
            s.handshake_failures += get(c.handshake_failures);
            s.handler_errors += get(c.handler_errors);
            s.accept_errors += get(c.accept_errors);
            s.parked += get(c.parked);
        }
        s.active = active.load(std::memory_order_relaxed);
        return s;
    }
};

} // namespace pier::detail
