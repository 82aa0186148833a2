// pier/detail/pipe_pool.hpp: the pipes that splice(2) moves bytes through, cached per thread.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <utility>
#include <vector>

namespace pier::detail {

/// Every pipe pier has open, process-wide, to enforce `zero_copy_options::max_pipes`.
inline std::atomic<std::size_t> open_pipes{0};

/// One pipe, borrowed for as long as it holds bytes. splice(2) cannot move bytes from a socket
/// to a socket (or from a file to a socket) directly: they go through a pipe, and bytes in a
/// pipe belong to the transfer that put them there. So a transfer borrows a pipe from its
/// thread's cache, and gives it back only once it is empty again; a pipe returned with bytes in
/// it (the transfer failed half way) is closed instead, so that no one else receives them.
///
/// Cost: two descriptors per pipe, and up to its capacity of kernel memory while it holds
/// bytes (an empty pipe holds no data pages). A thread's cache keeps at most `idle` empty
/// pipes; pipes in use are only those of transfers that are waiting for their destination to
/// take what they hold, so their number is bounded by the relays stalled on a slow consumer,
/// and by `max_pipes` for the process (beyond it transfers copy instead).
class pipe_lease {
public:
    pipe_lease() = default;
    pipe_lease(const pipe_lease&) = delete;
    pipe_lease& operator=(const pipe_lease&) = delete;
    pipe_lease(pipe_lease&& o) noexcept
        : read_(std::exchange(o.read_, -1)), write_(std::exchange(o.write_, -1)),
          capacity_(o.capacity_), held_(std::exchange(o.held_, 0)), idle_(o.idle_) {}
    pipe_lease& operator=(pipe_lease&& o) noexcept {
        if (this != &o) {
            reset();
            read_ = std::exchange(o.read_, -1);
            write_ = std::exchange(o.write_, -1);
            capacity_ = o.capacity_;
            held_ = std::exchange(o.held_, 0);
            idle_ = o.idle_;
        }
        return *this;
    }
    ~pipe_lease() { reset(); }

    /// A pipe of (at least) `capacity` bytes from this thread's cache, or a new one; an empty
    /// lease (`!valid()`) when `max_pipes` are open already or the system refuses
    /// (EMFILE/ENFILE), in which case the caller copies instead.
    static pipe_lease acquire(std::size_t capacity, std::size_t idle, std::size_t max_pipes);

    bool valid() const noexcept { return read_ >= 0; }
    int read_end() const noexcept { return read_; }
    int write_end() const noexcept { return write_; }
    std::size_t capacity() const noexcept { return capacity_; }
    /// Bytes the owner has put in and not taken out yet (kept by the owner: splice(2) counts).
    std::size_t held() const noexcept { return held_; }
    void filled(std::size_t n) noexcept { held_ += n; }
    void drained(std::size_t n) noexcept { held_ -= n < held_ ? n : held_; }

    /// Gives the pipe back (to the current thread's cache when empty) or closes it.
    void reset() noexcept;

private:
    struct cache;
    static cache& thread_cache() noexcept;
    void close_pipe() noexcept {
        if (read_ >= 0) {
            ::close(read_);
            ::close(write_);
            open_pipes.fetch_sub(1, std::memory_order_relaxed);
        }
        read_ = write_ = -1;
        held_ = 0;
    }

    int read_ = -1;
    int write_ = -1;
    std::size_t capacity_ = 0;
    std::size_t held_ = 0;
    std::size_t idle_ = 0;
};

/// Empty pipes kept by one thread. A lease goes back to the cache of the thread that releases
/// it, which need not be the one that acquired it (a strand of `sched::shared_pool` runs on
/// several threads): a pipe has no thread affinity, so no lock is needed.
struct pipe_lease::cache {
    struct entry {
        int read, write;
        std::size_t capacity;
    };
    std::vector<entry> pipes;
    ~cache() {
        for (auto& p : pipes) {
            ::close(p.read);
            ::close(p.write);
            open_pipes.fetch_sub(1, std::memory_order_relaxed);
        }
    }
};

inline pipe_lease::cache& pipe_lease::thread_cache() noexcept {
    thread_local cache c;
    return c;
}

inline pipe_lease pipe_lease::acquire(std::size_t capacity, std::size_t idle,
                                      std::size_t max_pipes) {
    pipe_lease l;
    l.idle_ = idle;
    auto& c = thread_cache();
    while (!c.pipes.empty()) {
        auto e = c.pipes.back();
        c.pipes.pop_back();
        if (e.capacity >= capacity) {
            l.read_ = e.read;
            l.write_ = e.write;
            l.capacity_ = e.capacity;
            return l;
        }
        // Smaller than now asked for (another server's options): not worth keeping.
        ::close(e.read);
        ::close(e.write);
        open_pipes.fetch_sub(1, std::memory_order_relaxed);
    }
    if (open_pipes.fetch_add(1, std::memory_order_relaxed) >= max_pipes) {
        open_pipes.fetch_sub(1, std::memory_order_relaxed);
        return l;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        open_pipes.fetch_sub(1, std::memory_order_relaxed);
        return l;
    }
    l.read_ = fds[0];
    l.write_ = fds[1];
    // The default capacity is 64 KiB (16 pages); F_SETPIPE_SZ rounds up to a power-of-two
    // number of pages and fails above /proc/sys/fs/pipe-max-size (1 MiB by default) or beyond
    // the user's pipe-user-pages limits, in which case the pipe keeps what it has.
    int got = ::fcntl(fds[0], F_GETPIPE_SZ);
    if (got > 0 && static_cast<std::size_t>(got) < capacity) {
        const int set = ::fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(capacity));
        if (set > 0)
            got = set;
    }
    l.capacity_ = got > 0 ? static_cast<std::size_t>(got) : 65536;
    return l;
}

inline void pipe_lease::reset() noexcept {
    if (read_ < 0)
        return;
    auto& c = thread_cache();
    if (held_ == 0 && c.pipes.size() < idle_) {
        c.pipes.push_back({read_, write_, capacity_});
        read_ = write_ = -1;
        return;
    }
    close_pipe();
}

/// Keeps SIGPIPE from killing the process while sendfile(2) or splice(2) write to a socket
/// whose peer is gone: unlike send(2), they take no MSG_NOSIGNAL. While a guard lives, SIGPIPE
/// is blocked for the calling thread, and one raised meanwhile is consumed before the old mask
/// is restored; the call reports EPIPE either way. Three cheap system calls per guard, and none
/// when the process ignores SIGPIPE (most servers do, pier's examples included), which is
/// checked once.
class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        if (ignored())
            return;
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        active_ = ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_) == 0;
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;
    ~sigpipe_guard() {
        if (!active_)
            return;
        // Blocked before: whatever is pending is not ours to take. Not blocked before: nothing
        // could have been pending (it would have been delivered), so a pending one is ours.
        if (sigismember(&old_, SIGPIPE) != 1) {
            const int saved = errno;
            sigset_t pending;
            if (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
                sigset_t pipe_only;
                sigemptyset(&pipe_only);
                sigaddset(&pipe_only, SIGPIPE);
                const timespec zero{0, 0};
                ::sigtimedwait(&pipe_only, nullptr, &zero);
            }
            errno = saved;
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

    /// Whether SIGPIPE is ignored process-wide, asked once: ignore it before the first
    /// transfer (a program that starts ignoring it later only pays for guards it no longer
    /// needs).
    static bool ignored() noexcept {
        static const bool value = [] {
            struct sigaction sa {};
            return ::sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN;
        }();
        return value;
    }

private:
    sigset_t old_{};
    bool active_ = false;
};

} // namespace pier::detail
