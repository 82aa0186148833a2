// pier/redis/client.hpp: pier's Redis client (`pier::redis::client`): commands, publishes,
// Lua scripts and pub/sub against one Redis server or a Redis Cluster, chosen by the URL. It
// is the transport of the WebSocket pool's cross-machine backplane.
//
//     asio::io_context io;
//     pier::redis::client redis(io.get_executor(), "redis-cluster://10.0.0.1:7000,10.0.0.2:7000");
//     redis.on_message([&](const pier::redis::message& m) { pool.deliver(m.channel, m.payload); });
//     redis.on_subscribed([&](std::string_view ch, bool, bool again) { if (again) resync(ch); });
//     redis.subscribe("room:{42}", true);                   // SSUBSCRIBE at the slot's master
//     redis.publish("room:{42}", payload, true);            // SPUBLISH there; errors counted
//     redis.command({"INCR", "offset:{42}"}, [](std::error_code ec, pier::redis::reply r) {…});
//
// Why pier has its own client: see pier/redis/protocol.hpp (hiredis's reader and formatter
// under pier's own Asio I/O, because hiredis 0.14's async API cannot do SSUBSCRIBE, timeouts or
// TLS, and frees its context on error).
//
// Standalone (redis://, rediss://): one command connection (connection.hpp) and, once
// something is subscribed, one subscriber connection (subscriber.hpp). Sharded channels use
// SSUBSCRIBE/SPUBLISH there too (Redis 7).
//
// Cluster (redis-cluster://, rediss-cluster://): the URL's nodes are seeds. The slot map comes
// from CLUSTER SLOTS, reloaded on MOVED, on a lost connection, on a sunsubscribe push and every
// `cluster_refresh_interval`. Commands go to the master owning the slot of their key (by
// default the first argument after the command name; `command_with_key` names it), follow
// MOVED (map updated, command resent) and ASK (ASKING + command at the target), and retry
// TRYAGAIN, up to `max_redirects`. Each master gets a command connection and a subscriber
// connection; a sharded channel is SSUBSCRIBEd at the master owning its slot, in one command
// per slot per loop pass (all channels of one SSUBSCRIBE must share a slot). When a slot
// moves, Redis 7 pushes `sunsubscribe` for its channels: the client reloads the map and
// subscribes them at the new owner, reporting each with `again = true`. Plain channels
// (SUBSCRIBE, PUBLISH) are cluster-wide in Redis and live on one master's subscriber.
//
// Failure behaviour: a connection that is down refuses commands at once (not_connected,
// counted; publishes count in publish_errors too) and reconnects with backoff and jitter;
// subscribers resubscribe everything they want after a reconnect and report it
// (`on_subscribed` with again = true: resynchronise that channel); a subscriber whose probe
// goes unanswered reconnects. Queues are bounded (connection_options).
//
// Thread safety: use a client on its executor only (`asio::post` to it from elsewhere; pier runs
// one io_context per thread and the client lives on one of them). `stats()` may be read from any
// thread. Callbacks run inline on the executor and must not block or destroy the client (they
// may call its other functions). Destroying (or `close()`) fails pending commands with
// error::closed, delivered through the executor.
#pragma once

#include <pier/config.hpp>
#include <pier/redis/cluster.hpp>
#include <pier/redis/detail/client_impl.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/script.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/subscriber.hpp>
#include <pier/redis/url.hpp>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::redis {

class client {
public:
    /// Throws std::system_error for a URL without nodes or an unreadable TLS CA file.
    /// Connects with the first use or `start()`.
    client(any_executor ex, const url& u, client_options o = {});
    /// Parses `u` first; throws std::system_error with a `url_error` if it is malformed.
    client(any_executor ex, std::string_view u, client_options o = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Connects now (a cluster client loads the slot map).
    void start();
    /// Closes every connection for good; pending commands fail with error::closed.
    void close();

    /// Sends a command; in a cluster, to the owner of `args[1]`'s slot (the key of most
    /// commands). Completion: `void(std::error_code, reply)`.
    template <class Args, class Token> auto command(const Args& args, Token&& token);
    template <class Token>
    auto command(std::initializer_list<std::string_view> args, Token&& token);
    /// The same, routed by `key` (for commands whose key is elsewhere, e.g. XREAD … STREAMS k).
    template <class Args, class Token>
    auto command_with_key(std::string_view key, const Args& args, Token&& token);
    template <class Token>
    auto command_with_key(std::string_view key, std::initializer_list<std::string_view> args,
                          Token&& token);

    /// PUBLISH (or SPUBLISH when `sharded`, to the channel's slot owner). The reply is the
    /// number of receivers. Counted in stats().publishes, failures in publish_errors.
    template <class Token>
    auto publish(std::string_view channel, std::string_view payload, bool sharded, Token&& token);
    /// The same, fire and forget: failures are only counted.
    void publish(std::string_view channel, std::string_view payload, bool sharded = false);

    /// EVALSHA, then EVAL on NOSCRIPT; in a cluster, at the owner of the keys' slot (every key
    /// must hash to the same slot, or the call fails with cross_slot).
    template <class Token>
    auto script(const redis::script& s, std::vector<std::string> keys,
                std::vector<std::string> args, Token&& token);

    /// Wants `channel` (SSUBSCRIBE if `sharded`); see subscriber.hpp for batching and delivery.
    /// Fails with invalid_argument (empty), too_many_channels or closed.
    std::error_code subscribe(std::string_view channel, bool sharded = false);
    void unsubscribe(std::string_view channel, bool sharded = false);
    /// The message callback: inline on the executor, views valid during the call, must not
    /// block (the reader never waits for a consumer).
    void on_message(std::function<void(const message&)> f);
    /// Called when the server confirms a subscription; `again` when the channel had been
    /// subscribed before (after a reconnect or a slot move): messages may have been missed.
    void on_subscribed(std::function<void(std::string_view channel, bool sharded, bool again)> f);

    bool is_cluster() const noexcept { return impl_->is_cluster(); }
    /// Counters and gauges, readable from any thread; `stats().connected()` says whether every
    /// connection is up.
    const redis::stats& stats() const noexcept { return impl_->counters(); }
    const any_executor& get_executor() const noexcept { return impl_->get_executor(); }

private:
    /// Sends a command to the owner of `slot` (-1: any node).
    template <class Args, class Token> auto command_at(int slot, const Args& args, Token&& token);

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace pier::redis

#include <pier/redis/impl/client.hpp>
