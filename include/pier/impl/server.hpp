// pier/impl/server.hpp: out-of-line definitions of pier::server.
#pragma once

#include <pier/server.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

namespace pier {

namespace detail {

inline int system_max_backlog() noexcept {
    std::ifstream f("/proc/sys/net/core/somaxconn");
    int v = 0;
    if (f >> v && v > 0)
        return v;
    return SOMAXCONN;
}

inline std::size_t default_max_connections() noexcept {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1000000;
    return rl.rlim_cur > 128 ? static_cast<std::size_t>(rl.rlim_cur) - 64
                             : static_cast<std::size_t>(rl.rlim_cur) / 2;
}

inline bool is_resource_exhaustion(const std::error_code& ec) noexcept {
    // Asio reports socket errors in its own system category ("asio.system"), which does not map
    // to std::errc: compare the errno values.
    if (ec.category() != asio::error::get_system_category() &&
        ec.category() != std::system_category() && ec.category() != std::generic_category())
        return false;
    const int v = ec.value();
    return v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM;
}

} // namespace detail

inline std::size_t raise_fd_limit() noexcept {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    return static_cast<std::size_t>(rl.rlim_cur);
}

template <class H, class P>
server<H, P>::server(server_options options, H handler)
    : server(std::move(options), transport_options{}, std::move(handler)) {}

template <class H, class P>
server<H, P>::server(server_options options, transport_options transport, H handler)
    : core_(std::move(options)), handler_(std::move(handler)), transport_(transport),
      sched_(core_.options.threads ? core_.options.threads
                                   : std::max(1u, std::thread::hardware_concurrency()),
             core_.options.workers) {
    init();
}

template <class H, class P>
server<H, P>::server(asio::io_context& context, server_options options, H handler)
    : server(context, std::move(options), transport_options{}, std::move(handler)) {}

template <class H, class P>
server<H, P>::server(asio::io_context& context, server_options options, transport_options transport,
                     H handler)
    : core_(std::move(options)), handler_(std::move(handler)), transport_(transport),
      sched_(context, core_.options.workers) {
    init();
}

template <class H, class P>
template <class... Args>
server<H, P>::server(server_options options, std::in_place_t, Args&&... args)
    : core_(std::move(options)), handler_(std::forward<Args>(args)...),
      transport_(transport_options{}),
      sched_(core_.options.threads ? core_.options.threads
                                   : std::max(1u, std::thread::hardware_concurrency()),
             core_.options.workers) {
    init();
}

template <class H, class P>
template <class... Args>
server<H, P>::server(server_options options, transport_options transport, std::in_place_t,
                     Args&&... args)
    : core_(std::move(options)), handler_(std::forward<Args>(args)...), transport_(transport),
      sched_(core_.options.threads ? core_.options.threads
                                   : std::max(1u, std::thread::hardware_concurrency()),
             core_.options.workers) {
    init();
}

template <class H, class P>
template <class... Args>
server<H, P>::server(asio::io_context& context, server_options options, std::in_place_t,
                     Args&&... args)
    : core_(std::move(options)), handler_(std::forward<Args>(args)...),
      transport_(transport_options{}), sched_(context, core_.options.workers) {
    init();
}

template <class H, class P> void server<H, P>::init() {
    core_.max_connections = core_.options.max_connections ? core_.options.max_connections
                                                          : detail::default_max_connections();
    for (std::size_t i = 0; i < sched_.size(); ++i)
        core_.shards.push_back(std::make_unique<detail::shard>());
    if constexpr (connection_type::lot_capable && !owns_connections) {
        // Each shard is one thread with an io_context of its own: its data-handler
        // connections can live in a lot (detail/loop_lot.hpp). Opened on first use.
        for (std::size_t i = 0; i < sched_.size(); ++i) {
            lots_.push_back(std::make_unique<detail::loop_lot>(sched_.context(i).get_executor()));
            core_.shards[i]->lot = lots_.back().get();
        }
    }
    core_.on_drained = [this] { finish_stop(); };
    if constexpr (owns_connections)
        handler_.attach(core_, sched_, transport_);
}

template <class H, class P> server<H, P>::~server() {
    stop();
    wait();
    // Objects the handler owns hold sockets of the scheduler's io_contexts, which are
    // destroyed before the handler: free them first.
    if constexpr (owns_connections)
        handler_.detach();
    if (spare_fd_ >= 0)
        ::close(spare_fd_);
}

template <class H, class P> void server<H, P>::open_listeners() {
    const auto& o = core_.options;
    std::error_code ec;
    auto address = asio::ip::make_address(o.address, ec);
    if (ec)
        throw std::system_error(ec, "pier: invalid address '" + o.address + "'");
    asio::ip::tcp::endpoint ep(address, o.port);
    const int backlog = o.listen.backlog > 0 ? o.listen.backlog : detail::system_max_backlog();
    const std::size_t threads = sched_.size();
    const std::size_t nlisteners = std::max<std::size_t>(1, accept_type::listeners(threads));
    const std::size_t nloops = std::max<std::size_t>(1, accept_type::loops_per_listener(threads));

    auto check = [&](const std::error_code& e, const char* what) {
        if (e)
            throw std::system_error(e, std::string("pier: ") + what + " " + o.address + ":" +
                                           std::to_string(ep.port()));
    };
    for (std::size_t i = 0; i < nlisteners; ++i) {
        const std::size_t slot = (i * nloops) % threads;
        auto l = std::make_unique<listener>(asio::make_strand(sched_.context(slot)), slot);
        auto& a = l->acceptor;
        a.open(ep.protocol(), ec);
        check(ec, "cannot open a socket for");
        if (o.listen.reuse_address)
            a.set_option(asio::socket_base::reuse_address(true), ec);
        if (accept_type::reuse_port) {
            a.set_option(detail::reuse_port(1), ec);
            check(ec, "cannot set SO_REUSEPORT on");
        }
        if (address.is_v6())
            a.set_option(asio::ip::v6_only(o.listen.v6_only), ec);
        a.bind(ep, ec);
        check(ec, "cannot bind");
        if (ep.port() == 0)
            ep.port(a.local_endpoint().port()); // the others join this port
        // Options set on the listener are inherited by every accepted socket, which saves a
        // setsockopt per connection.
        a.set_option(asio::ip::tcp::no_delay(o.listen.no_delay), ec);
        if (o.listen.linger)
            a.set_option(
                asio::socket_base::linger(true, static_cast<int>(o.listen.linger->count())), ec);
        if (o.socket_buffers.send > 0)
            a.set_option(asio::socket_base::send_buffer_size(o.socket_buffers.send), ec);
        if (o.socket_buffers.receive > 0)
            a.set_option(asio::socket_base::receive_buffer_size(o.socket_buffers.receive), ec);
        if (o.listen.defer_accept.count() > 0) {
            a.set_option(detail::defer_accept(static_cast<int>(o.listen.defer_accept.count())), ec);
            check(ec, "cannot set TCP_DEFER_ACCEPT on");
        }
        if (o.listen.fast_open > 0) {
            a.set_option(detail::fast_open(o.listen.fast_open), ec);
            check(ec, "cannot set TCP_FASTOPEN on");
        }
        a.listen(backlog, ec);
        check(ec, "cannot listen on");
        const int fd = a.native_handle();
        listeners_.push_back(std::move(l));
        for (std::size_t j = 1; j < nloops; ++j) {
            const std::size_t s = (i * nloops + j) % threads;
            int dupfd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (dupfd < 0)
                check(std::error_code(errno, std::system_category()), "cannot dup listener of");
            auto extra = std::make_unique<listener>(asio::make_strand(sched_.context(s)), s);
            extra->acceptor.assign(ep.protocol(), dupfd, ec);
            if (ec)
                ::close(dupfd);
            check(ec, "cannot assign listener of");
            listeners_.push_back(std::move(extra));
        }
    }
}

template <class H, class P> void server<H, P>::start() {
    if (started_)
        return;
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    open_listeners();
    // Read once here: stop() closes the acceptors on their own strands, so reading them from
    // another thread later would race.
    if (!listeners_.empty()) {
        std::error_code ec;
        local_endpoint_ = listeners_.front()->acceptor.local_endpoint(ec);
    }
    started_ = true;
    for (auto& l : listeners_)
        asio::co_spawn(l->acceptor.get_executor(), accept_loop(*l), asio::detached);
    for (std::size_t i = 0; i < core_.shards.size(); ++i) {
        sweepers_.push_back(std::make_unique<sweeper>(asio::any_io_executor(shard_executor(i))));
        asio::co_spawn(sweepers_.back()->timer.get_executor(), sweep_loop(i), asio::detached);
    }
    control_.emplace(asio::make_strand(sched_.context(0)));
    if (core_.options.handle_signals) {
        signals_.emplace(*control_, SIGINT, SIGTERM);
        signals_->async_wait([this](std::error_code ec, int) {
            if (!ec)
                stop();
        });
    }
    sched_.start();
}

template <class H, class P> void server<H, P>::run() {
    start();
    wait();
}

template <class H, class P> void server<H, P>::wait() {
    if (!started_)
        return;
    sched_.join();
    drain();
    // stop() or finish_stop() may still be running on a thread that is not a loop (a user's
    // stop(), or the last connection released elsewhere): the server must outlive them.
    while (stop_calls_.load(std::memory_order_acquire) != 0)
        std::this_thread::yield();
}

template <class H, class P> void server<H, P>::drain() {
    // Only a scheduler that says it owns its threads has them all joined now; an external
    // io_context belongs to its caller, who runs what is left.
    if constexpr (requires { sched_.owns_threads(); }) {
        if (!sched_.owns_threads())
            return;
    } else {
        return;
    }
    for (std::size_t i = 0; i < sched_.size(); ++i)
        if (sched_.context(i).get_executor().running_in_this_thread())
            return; // wait() from a loop
    // poll() runs only what is ready, so each pass is bounded; what a pass readies (an aborted
    // accept after its listener's close) runs in the next. A handler that keeps posting work
    // cannot hold the caller: the passes are bounded too.
    constexpr int max_passes = 64;
    for (int pass = 0; pass < max_passes; ++pass) {
        std::size_t ran = 0;
        for (std::size_t i = 0; i < sched_.size(); ++i) {
            auto& ctx = sched_.context(i);
            ctx.restart();
            ran += ctx.poll();
        }
        if (ran == 0)
            break;
    }
}

template <class H, class P> asio::ip::tcp::endpoint server<H, P>::local_endpoint() const {
    return local_endpoint_;
}

template <class H, class P> std::vector<int> server<H, P>::native_listener_handles() {
    std::vector<int> v;
    for (auto& l : listeners_)
        v.push_back(l->acceptor.native_handle());
    return v;
}

template <class H, class P> asio::awaitable<void> server<H, P>::accept_loop(listener& l) {
    std::chrono::milliseconds backoff{0};
    for (;;) {
        const std::size_t slot =
            accept_type::local_placement
                ? l.slot
                : next_slot_.fetch_add(1, std::memory_order_relaxed) % sched_.size();
        auto ex = [&] {
            if constexpr (owns_connections)
                return sched_.shard_executor(slot);
            else
                return sched_.make_executor(slot);
        }();
        asio::ip::tcp::endpoint peer;
        auto [ec, socket] = co_await l.acceptor.async_accept(ex, peer, use_tuple);
        if (core_.stopping.load(std::memory_order_acquire) || !l.acceptor.is_open()) {
            if (!ec) {
                std::error_code ignored;
                socket.close(ignored);
            }
            co_return;
        }
        auto& counters = core_.shards[slot]->counters;
        if (ec) {
            if (ec == asio::error::operation_aborted)
                co_return;
            detail::shard_counters::add(counters.accept_errors);
            detail::call_on_accept_error(handler_, std::as_const(ec));
            if (detail::is_resource_exhaustion(ec)) {
                // Out of descriptors: the connection stays in the backlog and the listener stays
                // readable, so retrying at once would spin. Close the pending connections
                // cleanly with the spare descriptor (their clients learn at once instead of
                // waiting in the backlog), then back off.
                shed_pending(l);
                backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10),
                                     std::chrono::milliseconds(1000));
                l.backoff.expires_after(backoff);
                co_await l.backoff.async_wait(use_tuple);
            }
            continue;
        }
        backoff = std::chrono::milliseconds(0);
        // Admission: the handler may refuse a peer before TLS or HTTP cost anything.
        if constexpr (detail::has_on_accept<H, const asio::ip::tcp::endpoint&>) {
            static_assert(
                requires(H & h, const asio::ip::tcp::endpoint& e) {
                    { h.on_accept(e) } -> std::convertible_to<bool>;
                },
                "pier: the handler's on_accept must be callable as "
                "bool on_accept(const asio::ip::tcp::endpoint&)");
            bool admit = false;
            try {
                admit = handler_.on_accept(std::as_const(peer));
            } catch (...) {
                detail::shard_counters::add(counters.handler_errors);
            }
            if (!admit) {
                std::error_code ignored;
                socket.close(ignored);
                detail::shard_counters::add(counters.refused);
                continue;
            }
        }
        if (core_.active.load(std::memory_order_relaxed) >= core_.max_connections) {
            reject(socket, make_error_code(error::connection_limit));
            detail::shard_counters::add(counters.rejected);
            continue;
        }
        // Counted before the second look at `stopping` (both seq_cst, as in stop()): either
        // stop() sees this connection active and waits for it, or we see stop() and back out.
        // Otherwise one accepted just as stop() found none active would run after
        // finish_stop() cancelled the sweepers, with no deadline enforced.
        core_.active.fetch_add(1, std::memory_order_seq_cst);
        if (core_.stopping.load(std::memory_order_seq_cst)) {
            std::error_code ignored;
            socket.close(ignored);
            core_.connection_closed();
            co_return;
        }
        detail::shard_counters::add(counters.accepted);
        if constexpr (owns_connections) {
            handler_.adopt(slot, std::move(socket), std::as_const(peer));
        } else {
            auto c = std::make_shared<connection_type>(
                core_, *core_.shards[slot], sched_, transport_, std::move(socket), peer,
                core_.next_id.fetch_add(1, std::memory_order_relaxed));
            // Listed only now that a shared_ptr owns it: stop() and the sweeper reach it
            // through weak_from_this() under the shard's lock. One listed after stop() walked
            // the shard sees core_.stopping when it starts serving.
            core_.shards[slot]->insert(c.get());
            asio::dispatch(ex, [c = std::move(c), this]() mutable {
                auto& conn = *c;
                conn.start(handler_, std::move(c));
            });
        }
    }
}

template <class H, class P>
void server<H, P>::reject(typename connection_type::socket_type& s, std::error_code why) {
    detail::call_on_reject(handler_, s, std::as_const(why));
    std::error_code ec;
    s.close(ec);
}

// libuv's uv__emfile_trick: one spare descriptor lets us accept and close what is pending.
template <class H, class P> void server<H, P>::shed_pending(listener& l) {
    std::lock_guard lock(spare_mutex_);
    if (spare_fd_ < 0)
        return;
    ::close(spare_fd_);
    // Bounded, so that a flood of new connections cannot keep this loop going.
    for (int i = 0; i < 1024; ++i) {
        int fd =
            ::accept4(l.acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            break;
        ::close(fd);
        detail::shard_counters::add(core_.shards[l.slot]->counters.rejected);
    }
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

template <class H, class P> asio::awaitable<void> server<H, P>::sweep_loop(std::size_t i) {
    auto& t = sweepers_[i]->timer;
    auto& sh = *core_.shards[i];
    const auto resolution =
        std::max(core_.options.timeouts.resolution, std::chrono::milliseconds(1));
    while (!finished_.load(std::memory_order_acquire)) {
        t.expires_after(resolution);
        auto [ec] = co_await t.async_wait(use_tuple);
        if (ec || finished_.load(std::memory_order_acquire))
            co_return;
        const auto now = detail::coarse_now_ms();
        sh.sweep(core_.options.timeouts, now);
        if constexpr (owns_connections)
            handler_.sweep(i, now);
        // Spare read buffers that a burst left behind give their pages back.
        if constexpr (requires { P::buffer::pool::trim(); })
            P::buffer::pool::trim();
    }
}

template <class H, class P> void server<H, P>::stop() noexcept {
    const in_flight busy(stop_calls_);
    if (core_.stopping.exchange(true))
        return;
    if (!started_) {
        finished_ = true;
        return;
    }
    for (auto& l : listeners_)
        asio::post(l->acceptor.get_executor(), [l = l.get()] {
            std::error_code ec;
            l->acceptor.close(ec);
            l->backoff.cancel();
        });
    for (auto& sh : core_.shards)
        sh->for_each([](detail::connection_base& c) { c.post_shutdown(); });
    if constexpr (owns_connections)
        for (std::size_t i = 0; i < core_.shards.size(); ++i)
            post_to_shard(i, [this, i] { handler_.begin_shutdown(i); });
    // A last resort should a handler not return after its connection was closed at the
    // shutdown deadline.
    asio::post(*control_, [this] {
        if (finished_.load(std::memory_order_acquire))
            return;
        stop_timer_.emplace(*control_);
        stop_timer_->expires_after(core_.options.timeouts.shutdown +
                                   core_.options.timeouts.resolution * 4 + std::chrono::seconds(1));
        stop_timer_->async_wait([this](std::error_code ec) {
            if (!ec)
                finish_stop();
        });
    });
    if (core_.active.load(std::memory_order_seq_cst) == 0)
        finish_stop();
}

template <class H, class P> void server<H, P>::finish_stop() {
    const in_flight busy(stop_calls_);
    if (finished_.exchange(true))
        return;
    if (control_)
        asio::post(*control_, [this] {
            if (stop_timer_)
                stop_timer_->cancel();
            if (signals_) {
                std::error_code ec;
                signals_->cancel(ec);
            }
        });
    for (std::size_t i = 0; i < sweepers_.size(); ++i)
        asio::post(sweepers_[i]->timer.get_executor(),
                   [s = sweepers_[i].get()] { s->timer.cancel(); });
    // stop() ends only threads the scheduler started (concepts.hpp): an external io_context
    // is left to its caller.
    sched_.stop();
}

} // namespace pier
