// pier/error.hpp: pier's own error codes, delivered as std::error_code next to Asio's.
#pragma once

#include <pier/config.hpp>

#include <string>
#include <system_error>

namespace pier {

/// Errors pier reports in `std::error_code`s (category "pier"). Operating-system and Asio
/// errors (`asio::error::eof`, `connection_reset`, …) are passed through unchanged.
enum class error {
    /// The connection saw no traffic for `server_options::timeouts.idle`.
    idle_timeout = 1,
    /// A read waited longer than `server_options::timeouts.read` with a partial message
    /// buffered (slow-loris protection).
    read_timeout,
    /// The write queue made no progress for `server_options::timeouts.write` (a peer that
    /// stopped reading).
    write_timeout,
    /// The transport handshake (TLS, WebSocket upgrade) did not finish within its deadline.
    handshake_timeout,
    /// The server is shutting down: no further input will be delivered.
    shutting_down,
    /// The read buffer is full and the handler has not consumed any of it: the message is
    /// larger than the buffer policy allows.
    buffer_full,
    /// The write queue passed its hard limit (`write_options::max_queued`), or its high-water
    /// mark under `backpressure::close`: the connection is closed to protect the process.
    slow_consumer,
    /// The connection was closed locally (by `close()`/`abort()`, or by the server).
    closed,
    /// Handed to `on_reject`: the server is at `max_connections`.
    connection_limit,
    /// The adaptive worker pool's queue is full (`workers_options::max_queue`).
    overloaded,
    /// The peer did not answer a keep-alive probe (a WebSocket Ping) within
    /// `ws::options::pong_timeout`.
    keepalive_timeout,
    /// A file region (`connection::send_file`) ended early: the file is shorter than the
    /// region, because it was truncated after it was opened. The connection is closed, since
    /// the peer was promised the region's length.
    file_truncated,
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "pier"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::idle_timeout:
            return "idle timeout";
        case error::read_timeout:
            return "read timeout";
        case error::write_timeout:
            return "write timeout";
        case error::handshake_timeout:
            return "handshake timeout";
        case error::shutting_down:
            return "server is shutting down";
        case error::buffer_full:
            return "read buffer full";
        case error::slow_consumer:
            return "write queue limit exceeded (slow consumer)";
        case error::closed:
            return "connection closed locally";
        case error::connection_limit:
            return "connection limit reached";
        case error::overloaded:
            return "worker pool queue full";
        case error::keepalive_timeout:
            return "keep-alive probe not answered";
        case error::file_truncated:
            return "file shorter than the region being sent";
        }
        return "unknown pier error";
    }
};
} // namespace detail

/// The category of `pier::error`.
inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace pier

template <> struct std::is_error_code_enum<pier::error> : std::true_type {};
