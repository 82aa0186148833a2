// pier/redis/impl/connection.hpp: out-of-line definitions of pier/redis/connection.hpp.
#pragma once

#include <pier/redis/connection.hpp>

#include <stdexcept>
#include <utility>

namespace pier::redis {

namespace detail {

/// The URL, or std::system_error with its url_error (the text is not repeated: it may hold a
/// password).
inline url parse_or_throw(std::string_view text) {
    url u;
    if (auto ec = parse_url(text, u))
        throw std::system_error(ec, "pier.redis: bad URL");
    return u;
}

/// Formats the command now (so the arguments need not outlive the call) and hands the
/// completion to `send(bytes, callback)` once the token has made its handler.
template <class Token, class Args, class Send>
auto initiate_command(const any_executor& ex, const Args& args, Send send, Token&& token) {
    std::string bytes;
    const auto ec = format_command(args, bytes);
    return asio::async_initiate<Token, void(std::error_code, reply)>(
        [ex, ec, bytes = std::move(bytes), send = std::move(send)](auto handler) mutable {
            auto cb = make_callback(std::move(handler), ex);
            if (ec)
                return post_failure(ex, std::move(cb), ec);
            send(std::string_view(bytes), std::move(cb));
        },
        token);
}

} // namespace detail

inline connection::connection(any_executor ex, const url& u, connection_options o)
    : stats_(std::make_shared<redis::stats>()) {
    if (u.cluster || u.nodes.empty())
        throw std::system_error(make_error_code(error::invalid_argument),
                                "pier.redis: connection needs a redis:// or rediss:// URL");
    impl_ = std::make_shared<detail::command_link>(std::move(ex),
                                                   detail::make_target(u, u.nodes[0]), o, stats_);
}

inline connection::connection(any_executor ex, std::string_view u, connection_options o)
    : connection(std::move(ex), detail::parse_or_throw(u), std::move(o)) {}

inline connection::~connection() {
    if (impl_)
        impl_->close();
}

inline void connection::start() {
    impl_->start();
}

inline void connection::close() {
    impl_->close();
}

template <class Args, class Token> auto connection::command(const Args& args, Token&& token) {
    return detail::initiate_command(
        impl_->get_executor(), args,
        [impl = impl_](std::string_view bytes, detail::callback cb) {
            impl->send(bytes, std::move(cb));
        },
        std::forward<Token>(token));
}

template <class Token>
auto connection::command(std::initializer_list<std::string_view> args, Token&& token) {
    return command(std::span<const std::string_view>(args.begin(), args.size()),
                   std::forward<Token>(token));
}

template <class Token>
auto connection::script(const redis::script& s, std::vector<std::string> keys,
                        std::vector<std::string> args, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, reply)>(
        [impl = impl_, s, keys = std::move(keys), args = std::move(args)](auto handler) mutable {
            const auto& ex = impl->get_executor();
            detail::run_script(
                [impl](std::string_view bytes, detail::callback cb, const redis::script* s) {
                    if (s)
                        impl->preload(*s);
                    impl->send(bytes, std::move(cb));
                },
                s, std::move(keys), std::move(args), detail::make_callback(std::move(handler), ex),
                ex);
        },
        token);
}

} // namespace pier::redis
