// pier/server.hpp: `pier::server<Handler, Policies>`, a TCP server built from policies.
//
//     struct echo {
//         asio::awaitable<void> operator()(pier::connection<pier::default_policies>& c) {
//             while (!co_await c.read()) {
//                 c.try_send(c.input());
//                 c.consume(c.input().size());
//             }
//         }
//     };
//     pier::server<echo> srv({.address = "0.0.0.0", .port = 7000, .handle_signals = true});
//     srv.run(); // until SIGINT/SIGTERM
#pragma once

#include <pier/accept/multi.hpp>
#include <pier/accept/reuseport.hpp>
#include <pier/accept/single.hpp>
#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/connection.hpp>
#include <pier/detail/hooks.hpp>
#include <pier/detail/registry.hpp>
#include <pier/detail/socket_option.hpp>
#include <pier/options.hpp>
#include <pier/policies.hpp>
#include <pier/shard.hpp>
#include <pier/stats.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace pier {

/// A server that accepts TCP connections and runs one `Handler` per connection, configured at
/// compile time by `Policies` (see fwd.hpp for the defaults and concepts.hpp for what each
/// policy does) and at run time by `server_options`.
///
/// The handler is one object shared by all connections; it must model `pier::handler` (a
/// coroutine `operator()(connection&)` or an `on_data(connection&, std::string_view)`), and
/// may have the optional hooks listed in concepts.hpp.
///
/// Life cycle: `start()` binds and begins accepting (throwing `std::system_error` if the
/// address cannot be bound) and returns; `run()` is `start()` then `wait()`. `stop()` begins a
/// graceful shutdown: listeners close, handlers waiting for a new message are told
/// `error::shutting_down`, handlers in the middle of a reply finish it and their output is
/// flushed, and after `timeouts.shutdown` whatever remains is closed. `wait()` returns when all
/// of that is done and the owned threads have exited.
///
/// With an external io_context (the constructors taking `asio::io_context&`) the server owns
/// no thread: the caller runs the io_context, which returns once the server has stopped and
/// nothing else is pending. Destroy such a server only after its io_context stopped running.
///
/// Thread safety: `stop()`, `stats()` and `local_endpoint()` from any thread; the rest from
/// the thread that owns the server object.
template <class Handler, class Policies> class server {
public:
    using policies_type = Policies;
    using handler_type = Handler;
    using connection_type = connection<Policies>;
    using scheduler_type = typename Policies::scheduler;
    using accept_type = typename Policies::accept;
    using transport_type = typename Policies::transport;
    using transport_options = typename transport_type::options;
    using transport_context = typename transport_type::context;

    /// Whether the handler creates and owns its connections (concepts.hpp,
    /// connection_owner: the WebSocket layer), instead of the server making pier::connections.
    static constexpr bool owns_connections = connection_owner<Handler>;

    static_assert(owns_connections || pier::handler<Handler, connection_type>,
                  "pier: the handler must model pier::handler: either "
                  "`asio::awaitable<void> operator()(pier::connection<Policies>&)` or "
                  "`std::size_t on_data(pier::connection<Policies>&, std::string_view)`");

    explicit server(server_options options = {}, Handler handler = {});
    server(server_options options, transport_options transport, Handler handler = {});
    /// On an external io_context the caller runs it: after `stop()`, keep running it until the
    /// server's work is done (e.g. `run()` returns once nothing else is queued on it) before
    /// destroying the server, so that its accept loops and sweeps finish while it still exists.
    server(asio::io_context& context, server_options options, Handler handler = {});
    server(asio::io_context& context, server_options options, transport_options transport,
           Handler handler = {});
    /// The handler built in place from `args` (for handlers that cannot move).
    template <class... Args> server(server_options options, std::in_place_t, Args&&... args);
    template <class... Args>
    server(server_options options, transport_options transport, std::in_place_t, Args&&... args);
    template <class... Args>
    server(asio::io_context& context, server_options options, std::in_place_t, Args&&... args);
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    /// Stops (gracefully) and waits.
    ~server();

    void start();
    void run();
    void stop() noexcept;
    /// Waits for the scheduler's threads to return. When the scheduler owns them, what they
    /// left queued (the listeners' closes, aborted accepts, cancelled timers) then runs on the
    /// calling thread, so that no operation outlives the server's listeners, or holds a socket
    /// of another io_context while those are destroyed.
    void wait();

    /// The address the first listener is bound to (with the real port when 0 was asked).
    asio::ip::tcp::endpoint local_endpoint() const;
    /// The listening sockets' descriptors, one per accept loop (dup'ed descriptors included),
    /// e.g. to inspect their options; empty before `start()`, and not to be used after
    /// `stop()` (the listeners close then, and the numbers may be reused).
    std::vector<int> native_listener_handles();
    pier::stats stats() const { return core_.snapshot(); }
    const server_options& options() const noexcept { return core_.options; }
    Handler& handler() noexcept { return handler_; }
    scheduler_type& scheduler() noexcept { return sched_; }
    /// The transport's shared state (e.g. the TLS certificates to reload).
    transport_context& transport() noexcept { return transport_; }

    // --- shards (shard.hpp) --------------------------------------------------------------------

    /// One shard per scheduler slot.
    std::size_t shard_count() const noexcept { return core_.shards.size(); }
    /// Runs `fn()` on shard `i` (`this_shard()` is `i` inside). Any thread. An explicit,
    /// unbounded post: for sends whose volume another thread controls, use the WebSocket
    /// server's mailboxes (bounded).
    template <class Fn> void post_to_shard(std::size_t i, Fn fn) {
        asio::post(shard_executor(i), [i, fn = std::move(fn)]() mutable {
            const detail::shard_scope scope(i);
            fn();
        });
    }
    /// Shard i's executor: the scheduler's shard executor if it has shards, else a strand
    /// of slot i's io_context.
    auto shard_executor(std::size_t i) {
        if constexpr (sharded_scheduler<scheduler_type>)
            return sched_.shard_executor(i);
        else
            return asio::make_strand(sched_.context(i));
    }

private:
    using acceptor_executor = asio::strand<asio::io_context::executor_type>;
    using acceptor_type = asio::basic_socket_acceptor<asio::ip::tcp, acceptor_executor>;

    struct listener {
        acceptor_type acceptor;
        std::size_t slot;
        asio::basic_waitable_timer<std::chrono::steady_clock,
                                   asio::wait_traits<std::chrono::steady_clock>, acceptor_executor>
            backoff;
        listener(acceptor_executor ex, std::size_t s) : acceptor(ex), slot(s), backoff(ex) {}
    };
    // On a strand: a shared_pool runs one io_context on several threads, and the timer's wait
    // and the cancel posted by finish_stop() must not run at once.
    // On the shard's executor, so that an owner's sweep touches its shard's objects directly.
    struct sweeper {
        asio::basic_waitable_timer<std::chrono::steady_clock,
                                   asio::wait_traits<std::chrono::steady_clock>,
                                   asio::any_io_executor>
            timer;
        explicit sweeper(asio::any_io_executor ex) : timer(std::move(ex)) {}
    };

    void init();
    void open_listeners();
    asio::awaitable<void> accept_loop(listener& l);
    asio::awaitable<void> sweep_loop(std::size_t shard);
    void reject(typename connection_type::socket_type& s, std::error_code why);
    void shed_pending(listener& l);
    void finish_stop();

    // Counts the threads inside stop() and finish_stop(), which wait() waits out.
    struct in_flight {
        std::atomic<int>& n;
        explicit in_flight(std::atomic<int>& c) noexcept : n(c) {
            n.fetch_add(1, std::memory_order_acq_rel);
        }
        ~in_flight() { n.fetch_sub(1, std::memory_order_acq_rel); }
        in_flight(const in_flight&) = delete;
        in_flight& operator=(const in_flight&) = delete;
    };
    void drain();

    detail::server_core core_;
    Handler handler_;
    transport_context transport_;
    scheduler_type sched_;
    // Declared after sched_: destroyed before the io_contexts their waits are on.
    std::vector<std::unique_ptr<detail::loop_lot>> lots_;
    std::vector<std::unique_ptr<listener>> listeners_;
    std::vector<std::unique_ptr<sweeper>> sweepers_;
    // The signal set and the shutdown deadline are touched only on control_, a strand on
    // context 0 (several threads may run it).
    std::optional<acceptor_executor> control_;
    std::optional<asio::basic_signal_set<acceptor_executor>> signals_;
    std::optional<asio::basic_waitable_timer<
        std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, acceptor_executor>>
        stop_timer_;
    asio::ip::tcp::endpoint local_endpoint_;
    std::atomic<std::size_t> next_slot_{0};
    std::mutex spare_mutex_;
    int spare_fd_ = -1;
    bool started_ = false;
    std::atomic<bool> finished_{false};
    std::atomic<int> stop_calls_{0};
};

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (servers need many
/// descriptors; the default soft limit is often 1024). Returns the new soft limit.
std::size_t raise_fd_limit() noexcept;

} // namespace pier

#include <pier/impl/server.hpp>
