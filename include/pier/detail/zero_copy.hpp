// pier/detail/zero_copy.hpp: the system calls behind `connection::send_file` and relays
// (sendfile, splice, pread), the per-thread copy buffer, and the optional transport hooks.
#pragma once

#include <pier/config.hpp>
#include <pier/detail/pipe_pool.hpp>
#include <pier/stats.hpp>

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <system_error>

namespace pier::detail {

/// Maps a failed call's errno: EAGAIN to would_block (wait and retry), the "the kernel cannot
/// do this here" family to operation_not_supported (copy instead), the rest unchanged.
inline std::error_code transfer_error(int e) noexcept {
    if (e == EAGAIN || e == EWOULDBLOCK)
        return make_error_code(asio::error::would_block);
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP)
        return make_error_code(asio::error::operation_not_supported);
    return {e, asio::error::get_system_category()};
}

inline bool refused(const std::error_code& ec) noexcept {
    return ec == asio::error::operation_not_supported;
}

/// sendfile(2) of up to `n` bytes of `fd` from `offset` to the socket `sock` (non-blocking).
inline std::size_t sendfile_some(int sock, int fd, std::uint64_t offset, std::size_t n,
                                 std::error_code& ec) noexcept {
    ec.clear();
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
        ec = make_error_code(asio::error::operation_not_supported);
        return 0;
    }
    off_t off = static_cast<off_t>(offset);
    for (;;) {
        const ssize_t r = ::sendfile(sock, fd, &off, n);
        if (r >= 0)
            return static_cast<std::size_t>(r);
        if (errno != EINTR) {
            ec = transfer_error(errno);
            return 0;
        }
    }
}

/// splice(2) of up to `n` bytes from `in` (at `*off_in` when given: a file) to `out`. Either
/// end must be a pipe. SPLICE_F_NONBLOCK makes the pipe end non-blocking; sockets are so
/// already (reading a file may still wait for the disk).
inline std::size_t splice_some(int in, std::uint64_t* off_in, int out, std::size_t n,
                               unsigned flags, std::error_code& ec) noexcept {
    ec.clear();
    loff_t off = off_in ? static_cast<loff_t>(*off_in) : 0;
    for (;;) {
        const ssize_t r = ::splice(in, off_in ? &off : nullptr, out, nullptr, n,
                                   flags | SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (r >= 0) {
            if (off_in)
                *off_in = static_cast<std::uint64_t>(off);
            return static_cast<std::size_t>(r);
        }
        if (errno != EINTR) {
            ec = transfer_error(errno);
            return 0;
        }
    }
}

/// pread(2) of up to `n` bytes into `out`.
inline std::size_t pread_some(int fd, std::uint64_t offset, char* out, std::size_t n,
                              std::error_code& ec) noexcept {
    ec.clear();
    for (;;) {
        const ssize_t r = ::pread(fd, out, n, static_cast<off_t>(offset));
        if (r >= 0)
            return static_cast<std::size_t>(r);
        if (errno != EINTR) {
            ec = {errno, asio::error::get_system_category()};
            return 0;
        }
    }
}

/// The buffer of the copy path: file bytes are read into it and written from it within one
/// step, never across a wait, so one per thread serves every connection. 64 KiB: four TLS
/// records, and large enough that a copied transfer costs few system calls per megabyte.
inline constexpr std::size_t copy_buffer_size = std::size_t{64} << 10;
inline char* copy_buffer() {
    thread_local std::unique_ptr<char[]> buffer;
    if (!buffer)
        buffer.reset(new char[copy_buffer_size]);
    return buffer.get();
}

/// What a connection keeps only once it has sent a file or relayed: allocated on first use, so
/// that the many connections that never do pay one pointer.
struct transfer_state {
    pier::transfer_stats stats;
    /// file_method::splice: the pipe holding the front file range's next bytes, if any.
    pipe_lease file_pipe;
    /// The kernel refused sendfile/splice for a file of this connection: copy from now on.
    bool file_refused = false;
    /// The kernel refused to splice a relay's source or sink: copy from now on.
    bool relay_refused = false;
    /// `send_file` waits until the queue's file bytes sent pass this (one waiter at a time is
    /// the common case; several simply keep the lowest mark).
    std::uint64_t file_wait_mark = std::numeric_limits<std::uint64_t>::max();
};

// --- the transport's optional zero-copy hooks (concepts.hpp lists them) ----------------------

template <class T, class S> bool raw_writes(S& s) noexcept {
    if constexpr (requires { T::raw_writes(s); })
        return T::raw_writes(s);
    else
        return false;
}

template <class T, class S> bool raw_reads(S& s) noexcept {
    if constexpr (requires { T::raw_reads(s); })
        return T::raw_reads(s);
    else
        return false;
}

template <class T, class S>
std::size_t send_file(S& s, int fd, std::uint64_t offset, std::size_t n, std::error_code& ec) {
    if constexpr (requires { T::send_file(s, fd, offset, n, ec); }) {
        return T::send_file(s, fd, offset, n, ec);
    } else {
        ec = make_error_code(asio::error::operation_not_supported);
        return 0;
    }
}

/// A gather write after which more follows at once (MSG_MORE where the transport has it).
template <class T, class S>
std::size_t try_write_some_more(S& s, std::span<const asio::const_buffer> b, std::error_code& ec) {
    if constexpr (requires { T::try_write_some_more(s, b, ec); })
        return T::try_write_some_more(s, b, ec);
    else
        return T::try_write_some(s, b, ec);
}

template <class T, class S> asio::socket_base::wait_type write_wait(S& s) noexcept {
    if constexpr (requires { T::write_wait(s); })
        return T::write_wait(s);
    else
        return asio::socket_base::wait_write;
}

} // namespace pier::detail
