// The one loopback test client of the integration tests: a raw, non-blocking POSIX socket whose
// every operation has a deadline. Deliberately neither pier nor Asio, so that a bug cannot hide
// on both ends of a test. WebSocket framing on top of it is in ws_client.hpp.
#pragma once

#include "support.hpp"

#include <asio/ip/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace pier_test {

/// What a read ended with.
enum class io { ok, eof, reset, timeout, error };

inline std::ostream& operator<<(std::ostream& os, io s) {
    const char* names[] = {"ok", "eof", "reset", "timeout", "error"};
    return os << names[static_cast<int>(s)];
}

/// A non-blocking loopback client whose every operation has a deadline (`patience` unless
/// given). Received bytes accumulate in the caller's string, so tests can look at partial data.
class client {
public:
    using steady = std::chrono::steady_clock;
    using milliseconds = std::chrono::milliseconds;

    client() = default;
    /// Connects at once; `rcvbuf` > 0 sets SO_RCVBUF first (a small one makes a slow reader).
    explicit client(const asio::ip::tcp::endpoint& ep, int rcvbuf = 0) { connect(ep, rcvbuf); }
    client(client&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    client& operator=(client&& o) noexcept {
        close();
        fd_ = std::exchange(o.fd_, -1);
        return *this;
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() { close(); }

    /// `source`, if given, is the local address to connect from (e.g. 127.0.0.2).
    bool connect(const asio::ip::tcp::endpoint& ep, int rcvbuf = 0,
                 const asio::ip::address& source = {}) {
        close();
        fd_ = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0)
            return false;
        if (rcvbuf > 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (!source.is_unspecified()) {
            const asio::ip::tcp::endpoint local(source, 0);
            if (::bind(fd_, local.data(), static_cast<socklen_t>(local.size())) != 0)
                return fail();
        }
        if (::connect(fd_, ep.data(), static_cast<socklen_t>(ep.size())) == 0)
            return true;
        if (errno != EINPROGRESS)
            return fail();
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(patience.count())) != 1)
            return fail();
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        return err == 0 || fail();
    }
    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    /// The client's own port (what the server sees as the remote port).
    std::uint16_t local_port() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (fd_ < 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
            return 0;
        if (ss.ss_family == AF_INET6)
            return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    /// Sends all of `s` (waiting for room while the server does not read), within `limit`.
    bool send(std::string_view s, milliseconds limit = patience) {
        if (fd_ < 0)
            return false;
        const auto until = steady::now() + limit;
        while (!s.empty()) {
            auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n > 0) {
                s.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return false;
            if (!wait(POLLOUT, until))
                return false;
        }
        return true;
    }
    /// Sends what the socket takes without waiting; returns how much (for flooding tests).
    std::size_t send_some(std::string_view s) {
        auto n = fd_ < 0 ? -1 : ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        return n > 0 ? static_cast<std::size_t>(n) : 0;
    }

    /// Appends one batch of what arrives (at most `max` bytes): ok, or eof/reset/error, or
    /// timeout when nothing came before `until`.
    io read_some(std::string& out, std::size_t max, steady::time_point until) {
        char buf[65536];
        if (fd_ < 0)
            return io::error;
        for (;;) {
            auto n = ::recv(fd_, buf, std::min(max, sizeof buf), 0);
            if (n > 0) {
                out.append(buf, static_cast<std::size_t>(n));
                return io::ok;
            }
            if (n == 0)
                return io::eof;
            if (errno == ECONNRESET)
                return io::reset;
            if (errno != EAGAIN && errno != EINTR)
                return io::error;
            if (!wait(POLLIN, until))
                return io::timeout;
        }
    }
    /// Appends what arrives until `out` holds `n` bytes, EOF, an error or the deadline.
    io read_exact(std::string& out, std::size_t n, milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        while (out.size() < n) {
            auto st = read_some(out, n - out.size(), until);
            if (st != io::ok)
                return st;
        }
        return io::ok;
    }
    /// `n` more bytes as a string, or fewer on EOF, an error or the deadline.
    std::string read(std::size_t n, milliseconds limit = patience) {
        std::string out;
        read_exact(out, n, limit);
        return out;
    }
    /// Appends until `out` contains `delim`.
    io read_until(std::string& out, std::string_view delim, milliseconds limit = patience) {
        return read_until_pred(
            out, [&](const std::string& s) { return s.find(delim) != std::string::npos; }, limit);
    }
    /// Appends until `pred(out)` holds.
    template <class Pred>
    io read_until_pred(std::string& out, Pred pred, milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        while (!pred(out)) {
            auto st = read_some(out, 65536, until);
            if (st != io::ok)
                return st;
        }
        return io::ok;
    }
    /// Reads until the peer ends the stream; eof on a clean end.
    io read_to_eof(std::string& out, milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        for (;;) {
            auto st = read_some(out, 65536, until);
            if (st != io::ok)
                return st;
        }
    }
    /// Waits for one event on the stream: data (ok), eof, reset or timeout.
    io wait_event(std::string& out, milliseconds limit) {
        return read_some(out, 65536, steady::now() + limit);
    }

    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
    /// Closes with RST instead of FIN.
    void abort() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close();
    }
    void close() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    bool fail() {
        close();
        return false;
    }
    bool wait(short events, steady::time_point until) {
        for (;;) {
            auto left = std::chrono::duration_cast<milliseconds>(until - steady::now()).count();
            if (left <= 0)
                return false;
            pollfd p{fd_, events, 0};
            int r = ::poll(&p, 1, static_cast<int>(left));
            if (r > 0)
                return true;
            if (r < 0 && errno != EINTR)
                return false;
        }
    }

    int fd_ = -1;
};

/// Sends `msg` and reads as many bytes back; "<send failed>" or "<eof>" (…) otherwise.
inline std::string round_trip(client& c, std::string_view msg) {
    if (!c.send(msg))
        return "<send failed>";
    std::string out;
    auto st = c.read_exact(out, msg.size());
    if (st != io::ok) {
        const char* names[] = {"ok", "eof", "reset", "timeout", "error"};
        return std::string("<") + names[static_cast<int>(st)] + " after " +
               std::to_string(out.size()) + " bytes>";
    }
    return out;
}

} // namespace pier_test
