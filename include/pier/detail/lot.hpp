// pier/detail/lot.hpp: a shard's lot, an epoll set of its own for the sockets that were taken
// out of Asio's reactor, and the raw system calls used on such sockets.
//
// Why, memory: every socket registered with Asio's epoll reactor holds a descriptor state
// (about 170 bytes, kept in the reactor's free list for reuse, never returned to the heap)
// and, while it waits, an operation (up to 240 bytes, the size of the thread's recycled
// blocks). A socket in the lot has a 64-bit key there and nothing else: the lot's one
// descriptor sits in Asio's reactor, and a report is one entry of an epoll_wait(2) batch.
//
// Why, speed: a socket is added once, for its lifetime, edge-triggered, for input and for
// room to write. Asio's reactor reads speculatively after every read it completes, which
// costs a read that only says EAGAIN per wake-up (a third of a 64-byte echo's system calls),
// and an operation through its scheduler per read. Here a read shorter than its buffer
// means the socket is drained, and the next input brings a report of its own; a write that
// fills the socket's buffer is followed by a report of room (EPOLLOUT comes with every report
// while there is room, and is ignored unless a write waits).
//
// Asio has no public way to keep a descriptor open but unregistered, so the session releases
// it (basic_socket::release) once, when it starts.
//
// Internal. One lot per shard, used on that shard only.
#pragma once

#include <pier/config.hpp>

// The lot_watch below uses Asio's detail API, of these versions (0 before this header turns it
// off, to test the async_wait that replaces it).
#ifndef PIER_DETAIL_LOT_WATCH
#if defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT) && ASIO_VERSION >= 101700 && \
    ASIO_VERSION < 103900
#define PIER_DETAIL_LOT_WATCH 1
#else
#define PIER_DETAIL_LOT_WATCH 0
#endif
#endif
#if PIER_DETAIL_LOT_WATCH
#include <asio/detail/epoll_reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#endif

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace pier::detail {

class lot {
public:
    lot() = default;
    lot(const lot&) = delete;
    lot& operator=(const lot&) = delete;
    ~lot() { close(); }

    /// Creates the epoll set (once). False if the kernel refused (descriptors exhausted):
    /// the caller then keeps its sockets in Asio's reactor.
    bool open() noexcept {
        if (fd_ < 0)
            fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        return fd_ >= 0;
    }
    void close() noexcept {
        if (fd_ >= 0)
            ::close(std::exchange(fd_, -1));
    }
    int native_handle() const noexcept { return fd_; }

    /// Adds `sock` for its lifetime in the set, reporting with `key` (edge-triggered: a report
    /// comes when input arrives, and when room to write comes back after a write filled the
    /// socket's buffer). No further epoll_ctl is needed: closing the descriptor takes it out.
    bool add(int sock, std::uint64_t key) noexcept {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = key;
        return ::epoll_ctl(fd_, EPOLL_CTL_ADD, sock, &ev) == 0;
    }

    /// Takes `sock` out of the set (only needed while the descriptor stays open).
    void remove(int sock) noexcept {
        epoll_event ev{};
        ::epoll_ctl(fd_, EPOLL_CTL_DEL, sock, &ev);
    }

    /// Up to `out.size()` reports (key and events) of sockets that became ready (no wait).
    /// Returns the count.
    std::size_t take(std::span<epoll_event> out) noexcept {
        for (;;) {
            const int n = ::epoll_wait(fd_, out.data(), static_cast<int>(out.size()), 0);
            if (n >= 0)
                return static_cast<std::size_t>(n);
            if (errno != EINTR)
                return 0;
        }
    }

private:
    int fd_ = -1;
};

#if PIER_DETAIL_LOT_WATCH
/// The loop's watch on a lot that one thread runs: the lot's descriptor registered with Asio's
/// epoll reactor as an internal descriptor, as Asio registers its own signal pipe. One
/// operation stays queued on it for good, and Asio performs it on the loop's thread, as one of
/// the loop's handlers, each time the descriptor becomes readable: `on_ready()` runs then.
///
/// Why not basic_stream_descriptor::async_wait: Asio 1.22 never completes a wait speculatively,
/// so each wait re-arms the descriptor with epoll_ctl(EPOLL_CTL_MOD), one system call per pass
/// of the loop (a third of one per request of HTTP keep-alive under wrk -c50), and a wait
/// operation through the scheduler. Asio has no public way to keep a wait armed. This uses
/// Asio's detail API (epoll_reactor::register_internal_descriptor and reactor_op), which has
/// kept its shape from Asio 1.17 to 1.38, and is compiled only for those versions; elsewhere,
/// and on a strand, the driver uses async_wait.
///
/// Why no re-arm is needed: the reactor registers the descriptor edge-triggered, and a nested
/// epoll set wakes its pollers each time one of its sockets reports (fs/eventpoll.c,
/// ep_poll_callback), whether or not reports were already waiting. Every readiness Asio sees
/// runs `on_ready()`, which takes every report or posts a further look.
///
/// Why only where one thread runs the io_context (the scheduler concept's rule for an
/// io_context's own executor): Asio performs the operation on whichever thread saw the
/// readiness, outside any strand.
template <class Driver> class lot_watch {
public:
    explicit lot_watch(asio::execution_context& ctx)
        : reactor_(asio::use_service<asio::detail::epoll_reactor>(ctx)) {}
    lot_watch(const lot_watch&) = delete;
    lot_watch& operator=(const lot_watch&) = delete;
    ~lot_watch() { stop(); }

    /// Watches `fd` for `d` until stop(); false if the reactor refused.
    bool start(int fd, Driver* d) noexcept {
        op_.driver = d;
        fd_ = fd;
        if (reactor_.register_internal_descriptor(asio::detail::epoll_reactor::read_op, fd, data_,
                                                  &op_) == 0)
            return true;
        stop(); // the registration's state is freed either way
        return false;
    }
    /// Takes the descriptor out of the reactor (before it is closed), not from within on_ready.
    void stop() noexcept {
        if (fd_ < 0)
            return;
        reactor_.deregister_internal_descriptor(fd_, data_);
        reactor_.cleanup_descriptor_data(data_);
        fd_ = -1;
    }

private:
    struct op final : asio::detail::reactor_op {
        op() : reactor_op(asio::error_code(), &perform, &complete) {}
        static status perform(reactor_op* base) {
            static_cast<op*>(base)->driver->on_ready();
            return not_done; // stays queued: the watch is never completed
        }
        // Called only to destroy the operation (when the descriptor leaves the reactor, or the
        // reactor shuts down); it is a member of the watch, so there is nothing to free.
        static void complete(void*, asio::detail::scheduler_operation*, const asio::error_code&,
                             std::size_t) {}
        Driver* driver = nullptr;
    };

    asio::detail::epoll_reactor& reactor_;
    asio::detail::epoll_reactor::per_descriptor_data data_ = nullptr;
    op op_;
    int fd_ = -1;
};
#endif

/// A lot and the loop's wait on it: what a shard needs to drive sockets in a lot. One piece
/// serves the WebSocket shards and the core's data-handler loops alike.
///
/// The lot's epoll descriptor is itself pollable: Asio watches it like a socket, and one
/// readiness of it is a batch of reports, taken with epoll_wait(2) (no wait). `Owner` is told
/// of them on the loop:
///   template <class F> void lot_enter(F&& f);        // runs f as one entry point
///   void lot_report(std::uint64_t key, std::uint32_t events);
///   void lot_resume(std::uint64_t key);              // a member given to later()
/// A key is the owner's (a slot and its generation, say), so that a report of a socket that
/// closed in the same batch finds nothing.
///
/// How the loop waits: on an io_context's own executor, a lot_watch (above), which costs no
/// system call per pass; on a strand, Asio's async_wait, re-armed after each readiness while
/// the lot has members.
template <class Owner, class Executor> class lot_driver {
    static constexpr bool watched =
        PIER_DETAIL_LOT_WATCH && std::is_same_v<Executor, asio::io_context::executor_type>;

public:
    lot_driver(Owner& owner, Executor ex) : owner_(owner), executor_(std::move(ex)) {}
    lot_driver(const lot_driver&) = delete;
    lot_driver& operator=(const lot_driver&) = delete;
    ~lot_driver() { close(); }

    /// The lot, opened on first use; nullptr if the kernel refused (the caller then keeps its
    /// sockets in Asio's reactor).
    lot* get() {
        if (lot_.native_handle() >= 0)
            return &lot_;
        if (failed_ || !lot_.open()) {
            failed_ = true;
            return nullptr;
        }
        if constexpr (watched) {
            watch_.emplace(asio::query(executor_, asio::execution::context));
            if (!watch_->start(lot_.native_handle(), this)) {
                watch_.reset();
                lot_.close();
                failed_ = true;
                return nullptr;
            }
        } else {
            // A dup goes to Asio, so that the stream descriptor and the lot each close their
            // own.
            const int dup = ::fcntl(lot_.native_handle(), F_DUPFD_CLOEXEC, 0);
            if (dup < 0) {
                lot_.close();
                failed_ = true;
                return nullptr;
            }
            wait_.emplace(executor_, dup);
        }
        return &lot_;
    }

    /// Adds `fd` to the lot (get() first) and watches the lot while it has members.
    bool add(int fd, std::uint64_t key) {
        if (!lot_.add(fd, key))
            return false;
        ++members_;
        if constexpr (watched) {
            if (members_ == 1)
                work_.emplace(asio::make_work_guard(executor_)); // the loop runs while it has any
        } else if (!waiting_) {
            arm();
        }
        return true;
    }

    /// A member's descriptor left the lot (closed, or removed).
    void left() noexcept {
        if (--members_ == 0)
            work_.reset(); // engaged only when watched
    }

    /// The member with `key` stopped reading with input left (a bound on one turn): it is
    /// resumed later in this pass of the loop, after the members already reported.
    void later(std::uint64_t key) {
        later_.push_back(key);
        if (std::exchange(later_posted_, true))
            return;
        asio::post(executor_, [this] {
            later_posted_ = false;
            owner_.lot_enter([&] {
                auto keys = std::move(later_);
                later_.clear();
                for (const auto key : keys)
                    owner_.lot_resume(key);
            });
        });
    }

    /// Closes the lot; only once the loop has stopped (a pending wait holds `this`).
    void close() noexcept {
        watch_.reset(); // out of Asio's reactor (lot_watch's destructor)
        work_.reset();
        wait_.reset();
        lot_.close();
    }

    /// The lot's descriptor became readable (lot_watch).
    void on_ready() {
        owner_.lot_enter([&] { ready(); });
    }

private:
    void arm() {
        waiting_ = true;
        wait_->async_wait(asio::posix::descriptor_base::wait_read, [this](std::error_code ec) {
            waiting_ = false;
            if (ec)
                return; // the owner is going away
            owner_.lot_enter([&] { ready(); });
            // Armed only while some descriptor is in the lot: a stopped server's loop has no
            // work left from it.
            if (members_ > 0 && !waiting_)
                arm();
        });
    }

    void ready() {
        std::array<epoll_event, 64> ev;
        // A batch of more than one report means the loop is busy: its replies have just left,
        // and their peers' next messages are likely in the lot by the time the batch is done.
        // Looking again at once takes them without a pass through Asio's reactor (its
        // epoll_wait on the lot's descriptor, and the scheduler around it). HTTP keep-alive
        // under wrk -c50: 0.56 epoll_wait per request before, 0.44 after, and 3% less CPU per
        // request. A batch of one (a quiet loop) costs no second look.
        //
        // Bounded: a flood of reports yields to the loop's other work after 4 batches. Under
        // async_wait the lot stays readable, so the next wait completes at once; under a watch
        // there is no new readiness to come for reports already waiting, so a look is posted.
        for (int round = 0; round < 4; ++round) {
            const auto n = lot_.take(ev);
            for (std::size_t i = 0; i < n; ++i)
                owner_.lot_report(ev[i].data.u64, ev[i].events);
            if (n < 2)
                return;
        }
        if constexpr (watched) {
            if (!std::exchange(look_posted_, true))
                asio::post(executor_, [this] {
                    look_posted_ = false;
                    on_ready();
                });
        }
    }

    Owner& owner_;
    Executor executor_;
    lot lot_;
#if PIER_DETAIL_LOT_WATCH
    std::optional<lot_watch<lot_driver>> watch_;
#else
    struct no_watch { // what the driver asks of a watch, where there is none
        explicit no_watch(asio::execution_context&) noexcept {}
        bool start(int, lot_driver*) noexcept { return false; }
    };
    std::optional<no_watch> watch_; // never engaged
#endif
    std::optional<asio::executor_work_guard<Executor>> work_; // while members_ > 0 (watched)
    std::optional<asio::posix::basic_stream_descriptor<Executor>> wait_; // (not watched)
    std::size_t members_ = 0;                                            // descriptors in the lot
    bool waiting_ = false;
    bool failed_ = false;
    bool look_posted_ = false;
    std::vector<std::uint64_t> later_; // keys of members to resume (later)
    bool later_posted_ = false;
};

/// Runs a system call `f` returning ssize_t until it is not interrupted; a failure's errno in
/// `ec` (EAGAIN as asio::error::would_block).
template <class F> std::size_t raw_call(std::error_code& ec, F f) noexcept {
    for (;;) {
        const ssize_t r = f();
        if (r >= 0) {
            ec.clear();
            return static_cast<std::size_t>(r);
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            ec = make_error_code(asio::error::would_block);
        else
            ec = {errno, asio::error::get_system_category()};
        return 0;
    }
}

/// One non-blocking gather write to a socket outside the reactor: what Asio's write_some does
/// on a non-blocking socket (sendmsg with MSG_NOSIGNAL), on at most 64 buffers.
inline std::size_t raw_send(int sock, std::span<const asio::const_buffer> bufs,
                            std::error_code& ec) noexcept {
    if (bufs.size() == 1) // send(2): no message header and no vector for the kernel to copy in
        return raw_call(ec, [&] {
            return ::send(sock, bufs[0].data(), bufs[0].size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        });
    std::array<iovec, 64> iov;
    const std::size_t n = std::min(bufs.size(), iov.size());
    for (std::size_t i = 0; i < n; ++i)
        iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n;
    return raw_call(ec, [&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT); });
}

/// One non-blocking read from a socket outside the reactor; 0 bytes and no error is the
/// peer's FIN.
inline std::size_t raw_recv(int sock, asio::mutable_buffer b, std::error_code& ec) noexcept {
    return raw_call(ec, [&] { return ::recv(sock, b.data(), b.size(), MSG_DONTWAIT); });
}

} // namespace pier::detail
