// pier/redis/detail/callback.hpp: the type-erased completion every pending command holds, and
// the adapter that turns any Asio completion handler into one.
#pragma once

#include <pier/config.hpp>
#include <pier/redis/protocol.hpp>

#include <memory>
#include <system_error>
#include <utility>

namespace pier::redis::detail {

/// A move-only `void(std::error_code, reply)` (std::function needs copyable targets, and Asio
/// handlers such as use_awaitable's are move-only; std::move_only_function is C++23). Called
/// at most once; calling consumes it.
class callback {
public:
    callback() = default;
    template <class F>
    requires(!std::is_same_v<std::decay_t<F>, callback>) explicit callback(F&& f)
        : p_(std::make_unique<model<std::decay_t<F>>>(std::forward<F>(f))) {}

    explicit operator bool() const noexcept { return p_ != nullptr; }
    void operator()(std::error_code ec, reply r) {
        if (auto p = std::move(p_))
            p->call(ec, std::move(r));
    }

private:
    struct base {
        virtual ~base() = default;
        virtual void call(std::error_code ec, reply&& r) = 0;
    };
    template <class F> struct model final : base {
        template <class G> explicit model(G&& g) : f(std::forward<G>(g)) {}
        void call(std::error_code ec, reply&& r) override { std::move(f)(ec, std::move(r)); }
        F f;
    };
    std::unique_ptr<base> p_;
};

/// Wraps a completion handler: the handler runs on its associated executor (inline when that
/// is the client's and the completion happens on it, as Asio's dispatch does), and that
/// executor counts as having work until then, so `io_context::run()` does not return under a
/// pending command.
template <class Handler> callback make_callback(Handler&& handler, const any_executor& ex) {
    auto work = asio::prefer(asio::get_associated_executor(handler, ex),
                             asio::execution::outstanding_work.tracked);
    return callback([h = std::forward<Handler>(handler), work = std::move(work)](std::error_code ec,
                                                                                 reply r) mutable {
        asio::dispatch(work, [h = std::move(h), ec, r = std::move(r)]() mutable {
            std::move(h)(ec, std::move(r));
        });
    });
}

/// Completes `cb` later, from the executor's queue: for failures found while a command is being
/// issued, since a completion handler must not run inside its initiating function.
inline void post_failure(const any_executor& ex, callback cb, std::error_code ec) {
    asio::post(ex, [cb = std::move(cb), ec]() mutable { cb(ec, reply{}); });
}

} // namespace pier::redis::detail
