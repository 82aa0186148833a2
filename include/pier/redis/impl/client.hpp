// pier/redis/impl/client.hpp: out-of-line definitions of pier/redis/client.hpp.
#pragma once

#include <pier/redis/client.hpp>
#include <pier/redis/impl/connection.hpp>

#include <iterator>
#include <span>
#include <utility>

namespace pier::redis {

namespace detail {
/// The slot of a command's first argument after its name, or -1 (any node).
template <class Args> int first_key_slot(const Args& args) {
    auto it = std::begin(args);
    const auto end = std::end(args);
    if (it == end || ++it == end)
        return -1;
    return keyslot(std::string_view(*it));
}
} // namespace detail

inline client::client(any_executor ex, const url& u, client_options o)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), u, o)) {}

inline client::client(any_executor ex, std::string_view u, client_options o)
    : client(std::move(ex), detail::parse_or_throw(u), std::move(o)) {}

inline client::~client() {
    if (impl_)
        impl_->close();
}

inline void client::start() {
    impl_->start();
}

inline void client::close() {
    impl_->close();
}

template <class Args, class Token>
auto client::command_at(int slot, const Args& args, Token&& token) {
    return detail::initiate_command(
        impl_->get_executor(), args,
        [impl = impl_, slot](std::string_view bytes, detail::callback cb) {
            impl->exec(bytes, slot, std::move(cb));
        },
        std::forward<Token>(token));
}

template <class Args, class Token> auto client::command(const Args& args, Token&& token) {
    return command_at(impl_->is_cluster() ? detail::first_key_slot(args) : -1, args,
                      std::forward<Token>(token));
}

template <class Token>
auto client::command(std::initializer_list<std::string_view> args, Token&& token) {
    return command(std::span<const std::string_view>(args.begin(), args.size()),
                   std::forward<Token>(token));
}

template <class Args, class Token>
auto client::command_with_key(std::string_view key, const Args& args, Token&& token) {
    return command_at(impl_->is_cluster() ? int(keyslot(key)) : -1, args,
                      std::forward<Token>(token));
}

template <class Token>
auto client::command_with_key(std::string_view key, std::initializer_list<std::string_view> args,
                              Token&& token) {
    return command_with_key(key, std::span<const std::string_view>(args.begin(), args.size()),
                            std::forward<Token>(token));
}

template <class Token>
auto client::publish(std::string_view channel, std::string_view payload, bool sharded,
                     Token&& token) {
    const std::string_view args[] = {sharded ? "SPUBLISH" : "PUBLISH", channel, payload};
    auto st = &impl_->counters();
    detail::bump(st->publishes);
    return detail::initiate_command(
        impl_->get_executor(), args,
        [impl = impl_, slot = impl_->is_cluster() ? int(keyslot(channel)) : -1](
            std::string_view bytes, detail::callback cb) {
            impl->exec(
                bytes, slot,
                detail::callback([impl, cb = std::move(cb)](std::error_code ec, reply r) mutable {
                    if (ec)
                        detail::bump(impl->counters().publish_errors);
                    cb(ec, std::move(r));
                }));
        },
        std::forward<Token>(token));
}

inline void client::publish(std::string_view channel, std::string_view payload, bool sharded) {
    detail::bump(impl_->counters().publishes);
    std::string bytes;
    const std::string_view args[] = {sharded ? "SPUBLISH" : "PUBLISH", channel, payload};
    auto& st = impl_->counters();
    if (format_command(args, bytes)) {
        detail::bump(st.publish_errors);
        return;
    }
    impl_->exec(bytes, impl_->is_cluster() ? int(keyslot(channel)) : -1,
                detail::callback([st = &st, keep = impl_](std::error_code ec, reply) {
                    if (ec)
                        detail::bump(st->publish_errors);
                }));
}

template <class Token>
auto client::script(const redis::script& s, std::vector<std::string> keys,
                    std::vector<std::string> args, Token&& token) {
    int slot = -1;
    bool cross = false;
    if (impl_->is_cluster() && !keys.empty()) {
        slot = keyslot(keys.front());
        for (const auto& k : keys)
            cross = cross || keyslot(k) != slot;
    }
    return asio::async_initiate<Token, void(std::error_code, reply)>(
        [impl = impl_, s, keys = std::move(keys), args = std::move(args), slot,
         cross](auto handler) mutable {
            const auto& ex = impl->get_executor();
            auto cb = detail::make_callback(std::move(handler), ex);
            if (cross)
                return detail::post_failure(ex, std::move(cb), make_error_code(error::cross_slot));
            detail::run_script(
                [impl, slot](std::string_view bytes, detail::callback cb, const redis::script* s) {
                    impl->exec(bytes, slot, std::move(cb), s);
                },
                s, std::move(keys), std::move(args), std::move(cb), ex);
        },
        token);
}

inline std::error_code client::subscribe(std::string_view channel, bool sharded) {
    return impl_->subscribe(channel, sharded);
}

inline void client::unsubscribe(std::string_view channel, bool sharded) {
    impl_->unsubscribe(channel, sharded);
}

inline void client::on_message(std::function<void(const message&)> f) {
    impl_->on_message = std::move(f);
}

inline void
client::on_subscribed(std::function<void(std::string_view channel, bool sharded, bool again)> f) {
    impl_->on_subscribed = std::move(f);
}

} // namespace pier::redis
