// pier/redis/subscriber.hpp: a pub/sub connection to one Redis server that keeps a wanted set
// of channels subscribed (`pier::redis::subscriber`). `client` (client.hpp) uses one per
// server, or per master in a cluster; this is the building block, usable on its own.
//
//     pier::redis::subscriber s(io.get_executor(), "redis://127.0.0.1:6379");
//     s.on_message([](const pier::redis::message& m) { hand_off(m.channel, m.payload); });
//     s.subscribe("room:1");                 // SUBSCRIBE
//     s.subscribe("room:2", true);           // SSUBSCRIBE (Redis 7 sharded pub/sub)
//
// - A separate connection from commands: in subscribed mode a RESP2 connection takes only
//   (un)subscribe commands and PING.
// - Batching: subscribe/unsubscribe only change the wanted set; at the end of the loop pass
//   the differences leave as one SUBSCRIBE (one SSUBSCRIBE, one UNSUBSCRIBE, …) with every
//   channel, up to `max_channels_per_command`. A burst of joins costs one command. A channel
//   subscribed and unsubscribed in the same pass costs none.
// - Reconnect with backoff and jitter, then subscribe everything wanted again. Each channel the
//   server confirms again is reported to `on_subscribed` with `again = true` (and counted in
//   stats().resubscribes): messages published while it was down are lost, and the
//   application resynchronises from there.
// - Liveness: a PING every `probe_interval` (it works in subscribed mode); no answer within
//   `probe_timeout` closes the connection and reconnects (stats().probe_timeouts). The round
//   trip is stats().probe_rtt_us.
// - Delivery: the message callback runs inline on the executor, with views valid during the
//   call, and must not block: the reader never waits for a consumer (Redis disconnects a
//   subscriber that falls 32 MB behind), so a slow consumer must copy and hand off. Messages
//   for a channel are not delivered after `unsubscribe` returned.
//
// Thread safety: use a subscriber on its executor only (`asio::post` to it from elsewhere);
// `stats()` may be read from any thread. Callbacks may subscribe, unsubscribe and close(), but
// not destroy the subscriber (post its destruction instead).
#pragma once

#include <pier/config.hpp>
#include <pier/redis/detail/subscriber_link.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/url.hpp>

#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

namespace pier::redis {

class subscriber {
public:
    /// Subscribes at `u.nodes[0]` (a cluster URL is refused: use `client`). Throws
    /// std::system_error as `connection` does. Connects with the first subscribe or `start()`.
    subscriber(any_executor ex, const url& u, subscriber_options o = {});
    subscriber(any_executor ex, std::string_view u, subscriber_options o = {});
    ~subscriber();
    subscriber(const subscriber&) = delete;
    subscriber& operator=(const subscriber&) = delete;

    /// The message callback (see Delivery above).
    void on_message(std::function<void(const message&)> f);
    /// Called when the server confirms a subscription; `again` after a reconnect.
    void on_subscribed(std::function<void(std::string_view channel, bool sharded, bool again)> f);

    /// Wants `channel` (SSUBSCRIBE if `sharded`). Fails with invalid_argument for an empty
    /// name, too_many_channels past `max_channels`. Wanting it twice is wanting it once.
    std::error_code subscribe(std::string_view channel, bool sharded = false);
    /// No longer wants `channel`.
    void unsubscribe(std::string_view channel, bool sharded = false);

    void start();
    void close();

    bool connected() const noexcept { return impl_->is_up(); }
    const redis::stats& stats() const noexcept { return *stats_; }
    const any_executor& get_executor() const noexcept { return impl_->get_executor(); }

private:
    std::shared_ptr<redis::stats> stats_;
    std::shared_ptr<detail::subscriber_link> impl_;
    std::size_t max_channels_;
};

} // namespace pier::redis

#include <pier/redis/impl/subscriber.hpp>
