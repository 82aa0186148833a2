// pier/redis/error.hpp: the errors pier's Redis client reports, as std::error_code (category
// "pier.redis"). Socket and TLS errors from Asio/OpenSSL are passed through unchanged where
// they end a connection attempt; a command that was in flight learns `connection_lost`.
#pragma once

#include <string>
#include <system_error>

namespace pier::redis {

enum class error {
    /// The server answered the command with an error reply (`-ERR …`, `-WRONGTYPE …`); the
    /// reply that comes with the code holds the server's text.
    server_error = 1,
    /// The bytes from the server are not RESP2 (hiredis's reader refused them). The
    /// connection is closed: nothing after a framing error can be trusted.
    protocol_error,
    /// One reply passed `protocol_limits::max_reply_bytes` or `max_reply_elements`.
    reply_too_large,
    /// The outgoing queue is at `connection_options::max_pending` commands or
    /// `max_queued_bytes` bytes; the command was not sent.
    queue_full,
    /// The connection is down (waiting to reconnect): the command fails at once instead of
    /// queueing while nothing drains the queue.
    not_connected,
    /// Resolve, connect, TLS handshake and AUTH/SELECT did not finish within
    /// `connection_options::connect_timeout`.
    connect_timeout,
    /// No reply within `connection_options::command_timeout`. Replies are ordered, so the
    /// connection is closed and reconnected; the command may or may not have run.
    command_timeout,
    /// The connection ended with the command written or queued and no reply read; it may or
    /// may not have run.
    connection_lost,
    /// AUTH or SELECT was refused while connecting (wrong password, unknown user, bad db).
    handshake_failed,
    /// The object was closed (or destroyed) with the command still pending.
    closed,
    /// More MOVED/ASK/TRYAGAIN redirects than `client_options::max_redirects` for one command.
    too_many_redirects,
    /// The keys of one call hash to different cluster slots (Redis would answer CROSSSLOT).
    cross_slot,
    /// The subscriber's liveness probe (PING) was not answered within
    /// `subscriber_options::probe_timeout`; the connection is closed and reconnected.
    probe_timeout,
    /// `subscriber_options::max_channels` channels are already wanted.
    too_many_channels,
    /// An empty command, an empty channel name, or a command too large to format.
    invalid_argument,
    /// A reply did not have the shape its command promises (e.g. CLUSTER SLOTS).
    unexpected_reply,
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "pier.redis"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::server_error:
            return "redis error reply";
        case error::protocol_error:
            return "redis protocol error";
        case error::reply_too_large:
            return "redis reply too large";
        case error::queue_full:
            return "redis outgoing queue full";
        case error::not_connected:
            return "redis connection down";
        case error::connect_timeout:
            return "redis connect timeout";
        case error::command_timeout:
            return "redis command timeout";
        case error::connection_lost:
            return "redis connection lost with the command pending";
        case error::handshake_failed:
            return "redis AUTH/SELECT refused";
        case error::closed:
            return "redis client closed";
        case error::too_many_redirects:
            return "too many redis cluster redirects";
        case error::cross_slot:
            return "keys hash to different cluster slots";
        case error::probe_timeout:
            return "redis liveness probe not answered";
        case error::too_many_channels:
            return "too many redis channels";
        case error::invalid_argument:
            return "invalid redis command or channel";
        case error::unexpected_reply:
            return "unexpected redis reply";
        }
        return "unknown redis error";
    }
};
} // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace pier::redis

template <> struct std::is_error_code_enum<pier::redis::error> : std::true_type {};
