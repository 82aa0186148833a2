// pier/file.hpp: an open, read-only file to send from (`connection::send_file`).
//
//     std::error_code ec;
//     auto f = pier::file::open("/srv/www/big.iso", ec);
//     if (f)
//         co_await c.send_file(f, 0, f->size()); // sendfile(2): the bytes never enter user space
#pragma once

#include <pier/config.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace pier {

/// A read-only open file. Write queues hold a `std::shared_ptr<const file>` until the last byte
/// of a region has gone, so the file may be replaced or unlinked meanwhile: what is sent is the
/// open file's content, as with nginx. `size()` and `last_modified()` are fstat(2)'s at open.
///
/// Files that are not regular files or directories (FIFOs, devices, sockets) are refused with
/// `std::errc::invalid_argument`: opening a FIFO could block the event loop, and a device
/// could be endless. Opening never blocks on a FIFO (O_NONBLOCK), which is why it is safe to
/// try.
///
/// Reading a file whose pages are not in the page cache blocks the thread on the disk, in
/// sendfile(2) as in read(2); pier does not hide that (nginx's `sendfile on` does the same
/// without `aio threads`). Serve from fast storage, or warm the cache.
///
/// Thread safety: immutable after open; share it freely (e.g. an open-file cache).
class file {
public:
    /// Opens `path` read-only. Errors: open(2)'s and fstat(2)'s errno, or invalid_argument for
    /// a file that is neither regular nor a directory.
    static std::shared_ptr<const file> open(const std::string& path, std::error_code& ec);

    /// Opens `relative` below the directory `dir` (a descriptor, e.g. another file's), never
    /// outside it: `..` that would climb above `dir`, absolute paths and symbolic links that
    /// lead out are refused with `std::errc::cross_device_link` (EXDEV), as openat2(2)'s
    /// RESOLVE_BENEATH does, which is what is used. On kernels without openat2 (before 5.6) the
    /// path is walked one component at a time with O_NOFOLLOW, so every symbolic link is
    /// refused (ELOOP), inside the directory or not.
    static std::shared_ptr<const file> open_beneath(int dir, std::string_view relative,
                                                    std::error_code& ec);

    /// Takes ownership of `fd` (closed on error too).
    static std::shared_ptr<const file> adopt(int fd, std::error_code& ec);

    file(const file&) = delete;
    file& operator=(const file&) = delete;
    ~file() {
        if (fd_ >= 0)
            ::close(fd_);
    }

    int native_handle() const noexcept { return fd_; }
    std::uint64_t size() const noexcept { return size_; }
    bool is_directory() const noexcept { return directory_; }
    std::chrono::system_clock::time_point last_modified() const noexcept { return mtime_; }

private:
    struct token {};

public:
    file(token, int fd, const struct ::stat& st) noexcept
        : fd_(fd), size_(static_cast<std::uint64_t>(st.st_size)), directory_(S_ISDIR(st.st_mode)),
          mtime_(std::chrono::system_clock::time_point(
              std::chrono::duration_cast<std::chrono::system_clock::duration>(
                  std::chrono::seconds(st.st_mtim.tv_sec) +
                  std::chrono::nanoseconds(st.st_mtim.tv_nsec)))) {}

private:
    int fd_;
    std::uint64_t size_;
    bool directory_;
    std::chrono::system_clock::time_point mtime_;
};

namespace detail {

inline std::error_code last_errno() noexcept {
    return {errno, std::system_category()};
}

inline constexpr int file_open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

// openat2(2) has no glibc wrapper before 2.40. -1 with errno as the system call sets it.
inline int openat2_beneath(int dir, const char* path) noexcept {
#ifdef SYS_openat2
    ::open_how how{};
    how.flags = file_open_flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, dir, path, &how, sizeof how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

// The fallback for kernels without openat2: one component at a time, no symbolic link
// followed, `..` refused outright (it cannot be checked without following the tree up).
inline int open_walk(int dir, std::string_view relative) noexcept {
    int cur = dir;
    bool owned = false;
    auto finish = [&](int result) {
        const int saved = errno;
        if (owned && cur != result)
            ::close(cur);
        errno = saved;
        return result;
    };
    while (!relative.empty()) {
        const auto slash = relative.find('/');
        const std::string part(relative.substr(0, slash));
        relative =
            slash == std::string_view::npos ? std::string_view() : relative.substr(slash + 1);
        if (part.empty() || part == ".")
            continue;
        if (part == "..") {
            errno = EXDEV;
            return finish(-1);
        }
        const bool last = relative.find_first_not_of('/') == std::string_view::npos;
        const int next = ::openat(cur, part.c_str(),
                                  last ? file_open_flags | O_NOFOLLOW
                                       : O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (next < 0)
            return finish(-1);
        if (owned)
            ::close(cur);
        cur = next;
        owned = true;
        if (last)
            return cur;
    }
    // Empty or only "." components: the directory itself, reopened readable.
    const int self = ::openat(cur, ".", file_open_flags);
    return finish(self);
}

} // namespace detail

inline std::shared_ptr<const file> file::adopt(int fd, std::error_code& ec) {
    ec.clear();
    if (fd < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return nullptr;
    }
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) {
        ec = detail::last_errno();
        ::close(fd);
        return nullptr;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        ::close(fd);
        ec = std::make_error_code(std::errc::invalid_argument);
        return nullptr;
    }
    return std::make_shared<const file>(token{}, fd, st);
}

inline std::shared_ptr<const file> file::open(const std::string& path, std::error_code& ec) {
    const int fd = ::open(path.c_str(), detail::file_open_flags);
    if (fd < 0) {
        ec = detail::last_errno();
        return nullptr;
    }
    return adopt(fd, ec);
}

inline std::shared_ptr<const file> file::open_beneath(int dir, std::string_view relative,
                                                      std::error_code& ec) {
    // Absolute paths are resolved from `dir` by RESOLVE_BENEATH too (and refused); say so
    // uniformly.
    if (!relative.empty() && relative.front() == '/') {
        ec = std::make_error_code(std::errc::cross_device_link);
        return nullptr;
    }
    if (relative.find('\0') != std::string_view::npos) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return nullptr;
    }
    const std::string path(relative.empty() ? std::string_view(".") : relative);
    int fd = detail::openat2_beneath(dir, path.c_str());
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) // EPERM: seccomp filters that predate it
        fd = detail::open_walk(dir, relative);
    if (fd < 0) {
        ec = detail::last_errno();
        return nullptr;
    }
    return adopt(fd, ec);
}

} // namespace pier
