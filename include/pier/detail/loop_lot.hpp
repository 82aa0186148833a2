// pier/detail/loop_lot.hpp: the core's lot on one loop (detail/lot.hpp), where the connections
// of a data handler over plain TCP wait for input and for room to write, out of Asio's reactor.
//
// Why: a data handler's connection in Asio's reactor costs, per request, a read that only says
// EAGAIN (Asio reads speculatively before it waits) and an operation through the scheduler;
// in the lot, one report of input is one read, and a read shorter than its buffer means the
// socket is drained. See connection::enter_lot for when a connection goes there, and
// connection::leave_lot for how anything that needs Asio's socket takes it back.
//
// Internal. One per shard of a scheduler whose shard is one thread (sched::per_thread), used on
// that thread only; the server owns it and destroys it before the io_context it waits on.
#pragma once

#include <pier/detail/lot.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace pier::detail {

/// What the loop's lot drives: a connection whose descriptor is in it.
class lot_member {
public:
    /// The lot reported the descriptor (`events`: EPOLLIN, EPOLLOUT, EPOLLRDHUP, ...).
    virtual void lot_report(std::uint32_t events) = 0;
    /// The member's turn, after it yielded with input left (loop_lot::later).
    virtual void lot_resume() = 0;

protected:
    ~lot_member() = default;
};

class loop_lot {
public:
    using executor_type = asio::io_context::executor_type;

    explicit loop_lot(executor_type ex) : driver_(*this, std::move(ex)) {}

    /// Adds `fd` to the lot for `m`: the key that names it there, or nullopt if the kernel
    /// refused (the lot, or the descriptor).
    std::optional<std::uint64_t> join(lot_member* m, int fd) {
        if (!driver_.get())
            return std::nullopt;
        std::uint32_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
            members_[slot] = m;
        } else {
            slot = static_cast<std::uint32_t>(members_.size());
            members_.push_back(m);
            gens_.push_back(0);
            free_.reserve(members_.size()); // leave() never allocates
        }
        const std::uint64_t key = (std::uint64_t{slot} << 32) | gens_[slot];
        if (!driver_.add(fd, key)) {
            release(slot);
            return std::nullopt;
        }
        return key;
    }

    /// The member named `key` closed its descriptor: reports already taken for it find nothing.
    void leave(std::uint64_t key) noexcept {
        release(static_cast<std::uint32_t>(key >> 32));
        driver_.left();
    }

    /// The member named `key` gives its open descriptor `fd` back (to Asio's reactor).
    void withdraw(std::uint64_t key, int fd) noexcept {
        if (auto* l = driver_.get())
            l->remove(fd);
        leave(key);
    }

    /// The member named `key` yielded with input left: resumed later in this pass.
    void later(std::uint64_t key) { driver_.later(key); }

    // The driver calls these (detail/lot.hpp).
    template <class F> void lot_enter(F&& f) { f(); }
    void lot_report(std::uint64_t key, std::uint32_t events) {
        if (auto* m = resolve(key))
            m->lot_report(events);
    }
    void lot_resume(std::uint64_t key) {
        if (auto* m = resolve(key))
            m->lot_resume();
    }

private:
    lot_member* resolve(std::uint64_t key) const noexcept {
        const auto slot = static_cast<std::uint32_t>(key >> 32);
        if (slot >= members_.size() || gens_[slot] != static_cast<std::uint32_t>(key))
            return nullptr;
        return members_[slot];
    }
    void release(std::uint32_t slot) noexcept {
        members_[slot] = nullptr;
        ++gens_[slot];
        free_.push_back(slot); // capacity reserved by join()
    }

    lot_driver<loop_lot, executor_type> driver_;
    std::vector<lot_member*> members_;
    std::vector<std::uint32_t> gens_;
    std::vector<std::uint32_t> free_;
};

} // namespace pier::detail
