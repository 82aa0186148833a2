// pier/redis/connection.hpp: one pipelined command connection to one Redis server
// (`pier::redis::connection`). Most code wants `pier::redis::client` (client.hpp), which adds
// pub/sub and clusters on top; this is the building block, usable on its own.
//
//     asio::io_context io;
//     pier::redis::connection c(io.get_executor(), "redis://:secret@127.0.0.1:6379/2");
//     c.command({"SET", "k", "v"}, [](std::error_code ec, pier::redis::reply r) { … });
//     const std::vector<std::string> get = {"GET", "k"};   // (GCC 12 rejects a braced list
//     auto [ec, r] = co_await c.command(get, pier::use_tuple);  // inside co_await) any token
//
// - Connecting: resolve, TCP connect, TLS handshake (rediss://) and AUTH/SELECT from the URL
//   (or a PING) under one deadline (`connect_timeout`). It starts with the first command or
//   `start()`.
// - Pipelining: any number of commands may be in flight; replies are matched to commands in
//   order. Commands issued in one loop pass leave in one write.
// - Deadlines: a command whose reply does not come within `command_timeout` of being written
//   fails with command_timeout, and so does the connection: replies are ordered, so nothing
//   behind a lost reply could be matched. The others in flight fail with connection_lost.
// - Bounds: at most `max_pending` commands and `max_queued_bytes` unsent bytes; more are
//   refused with queue_full (counted in stats().refused_queue_full).
// - Failure: the connection reconnects with backoff and jitter (`reconnect_min`/`_max`). While
//   it waits, commands fail at once with not_connected (counted) instead of queueing; those
//   issued while an attempt is under way wait for it (within the bounds above).
// - Error replies complete with error::server_error and the reply holding the server's text.
//
// Thread safety: use a connection on its executor only (`asio::post` to it from elsewhere).
// Distinct objects: safe. `stats()` may be read from any thread. Destroying (or `close()`)
// fails pending commands with error::closed, delivered through the executor; the executor
// must keep running until they are (io_context::run returns when they are done).
#pragma once

#include <pier/config.hpp>
#include <pier/redis/detail/callback.hpp>
#include <pier/redis/detail/command_link.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/script.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/url.hpp>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::redis {

class connection {
public:
    /// Connects to `u.nodes[0]` with the URL's TLS setting and credentials. Throws
    /// std::system_error for a cluster URL (use `client`) or a TLS CA file that cannot be
    /// read.
    connection(any_executor ex, const url& u, connection_options o = {});
    /// Parses `u` first; throws std::system_error with a `url_error` if it is malformed.
    connection(any_executor ex, std::string_view u, connection_options o = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects now instead of at the first command.
    void start();
    /// Closes for good; pending commands fail with error::closed.
    void close();

    /// Sends a command (each element of `args` one bulk string: {"SET", key, value}). The
    /// completion signature is `void(std::error_code, reply)`.
    template <class Args, class Token> auto command(const Args& args, Token&& token);
    template <class Token>
    auto command(std::initializer_list<std::string_view> args, Token&& token);

    /// Runs a Lua script: EVALSHA, then EVAL if the server answers NOSCRIPT.
    template <class Token>
    auto script(const redis::script& s, std::vector<std::string> keys,
                std::vector<std::string> args, Token&& token);

    /// Connected and past AUTH/SELECT.
    bool connected() const noexcept { return impl_->is_up(); }
    /// Commands queued or awaiting replies.
    std::size_t pending() const noexcept { return impl_->pending(); }
    const redis::stats& stats() const noexcept { return *stats_; }
    const any_executor& get_executor() const noexcept { return impl_->get_executor(); }

private:
    std::shared_ptr<redis::stats> stats_;
    std::shared_ptr<detail::command_link> impl_;
};

} // namespace pier::redis

#include <pier/redis/impl/connection.hpp>
