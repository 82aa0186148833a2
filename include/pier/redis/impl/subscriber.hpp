// pier/redis/impl/subscriber.hpp: out-of-line definitions of pier/redis/subscriber.hpp.
#pragma once

#include <pier/redis/impl/connection.hpp>
#include <pier/redis/subscriber.hpp>

#include <utility>

namespace pier::redis {

inline subscriber::subscriber(any_executor ex, const url& u, subscriber_options o)
    : stats_(std::make_shared<redis::stats>()), max_channels_(o.max_channels) {
    if (u.cluster || u.nodes.empty())
        throw std::system_error(make_error_code(error::invalid_argument),
                                "pier.redis: subscriber needs a redis:// or rediss:// URL");
    impl_ = std::make_shared<detail::subscriber_link>(
        std::move(ex), detail::make_target(u, u.nodes[0]), o, stats_, false);
}

inline subscriber::subscriber(any_executor ex, std::string_view u, subscriber_options o)
    : subscriber(std::move(ex), detail::parse_or_throw(u), std::move(o)) {}

inline subscriber::~subscriber() {
    if (impl_)
        impl_->detach();
}

inline void subscriber::on_message(std::function<void(const message&)> f) {
    impl_->hooks.on_message = std::move(f);
}

inline void subscriber::on_subscribed(
    std::function<void(std::string_view channel, bool sharded, bool again)> f) {
    impl_->hooks.on_subscribed = std::move(f);
}

inline std::error_code subscriber::subscribe(std::string_view channel, bool sharded) {
    if (channel.empty())
        return make_error_code(error::invalid_argument);
    if (impl_->wants(channel, sharded))
        return {};
    if (impl_->wanted() >= max_channels_)
        return make_error_code(error::too_many_channels);
    impl_->add(channel, sharded);
    detail::bump(stats_->channels);
    return {};
}

inline void subscriber::unsubscribe(std::string_view channel, bool sharded) {
    if (!impl_->wants(channel, sharded))
        return;
    impl_->remove(channel, sharded);
    detail::drop(stats_->channels);
}

inline void subscriber::start() {
    impl_->start();
}

inline void subscriber::close() {
    impl_->close();
}

} // namespace pier::redis
