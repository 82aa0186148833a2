// pier/detail/lot.hpp: a shard's parking lot, an epoll set of its own for idle sockets that
// were taken out of Asio's reactor, and the raw system calls used on such sockets.
//
// Why: every socket registered with Asio's epoll reactor holds a descriptor state (about 170
// bytes, kept in the reactor's free list for reuse, never returned to the heap) and, while
// it waits, an operation (up to 240 bytes, the size of the thread's recycled blocks). A
// parked WebSocket session needs neither: its descriptor sits in the lot with a 64-bit key,
// the lot's one descriptor sits in Asio's reactor, and a readiness report is one entry of an
// epoll_wait(2) batch. Asio has no public way to keep a descriptor open but unregistered, so
// the session releases it (basic_socket::release) and assigns it again when it gets busy.
//
// Internal. One lot per shard, used on that shard only.
#pragma once

#include <pier/config.hpp>

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
#include <span>
#include <system_error>
#include <utility>

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

    /// Arms `sock` for one read-readiness report carrying `key` (EPOLLONESHOT). `added`: the
    /// socket is in the set already (disarmed after its last report), so it is re-armed.
    bool arm(int sock, std::uint64_t key, bool added) noexcept {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
        ev.data.u64 = key;
        if (::epoll_ctl(fd_, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, sock, &ev) == 0)
            return true;
        // The set and the caller's bookkeeping disagree (cannot happen unless a descriptor
        // number was closed and reused behind the session's back): try the other way.
        return ::epoll_ctl(fd_, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, sock, &ev) == 0;
    }

    /// Up to `out.size()` keys of sockets that became readable (no wait). Returns the count.
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
