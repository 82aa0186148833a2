// pier/concepts.hpp: the contract of every policy category, in one place.
//
// A policy is a type with `using category = pier::category::<name>;` plus what its concept
// below asks for. `pier::policies<…>` checks each policy against its concept with a
// static_assert, so a type that does not fit is reported in one line naming the concept.
#pragma once

#include <pier/config.hpp>
#include <pier/fwd.hpp>
#include <pier/options.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace pier {

class worker_pool;

// ---------------------------------------------------------------------------------------------
// accept: how listening sockets and accept loops are laid out.
//
// The server opens `listeners(threads)` listening sockets (all bound to the same address; with
// `reuse_port` each gets SO_REUSEPORT and the kernel spreads connections across them), and runs
// `loops_per_listener(threads)` accept loops on each (extra loops share the socket through
// dup(2), one per event loop). Listener i's loop j runs on scheduler slot
// (i * loops_per_listener + j) % threads. With `local_placement` a connection stays on the slot
// that accepted it; otherwise connections are dealt round-robin over all slots.
template <class A>
concept accept_policy = requires(std::size_t threads) {
    requires std::same_as<typename A::category, category::accept>;
    { A::listeners(threads) } -> std::convertible_to<std::size_t>;
    { A::loops_per_listener(threads) } -> std::convertible_to<std::size_t>;
    { A::reuse_port } -> std::convertible_to<bool>;
    { A::local_placement } -> std::convertible_to<bool>;
};

// ---------------------------------------------------------------------------------------------
// scheduler: the event loops connections run on.
//
// `size()` slots, each with an io_context (`context(i)`; slots may share one). A new connection
// on slot i runs on `make_executor(i)`, which must serialise its handlers (an io_context run by
// one thread, or a strand); pier relies on that instead of locks. `start()` launches owned
// threads (and returns), `stop()` makes them return, `join()` waits for them. A scheduler built
// from an external io_context owns no threads: the caller runs the io_context. An optional
// `owns_threads()` returning true lets `server::wait()` run, after `join()`, what the threads
// left queued (without it the server assumes the caller runs the io_contexts).
// `offloads` says whether the scheduler runs blocking work on the worker pool `pool()` (see
// sched::workers); `data_handler`s are then called there instead of on the event loop.
template <class S>
concept scheduler_policy = requires(S& s, const S& cs, std::size_t i) {
    requires std::same_as<typename S::category, category::scheduler>;
    typename S::executor_type;
    { cs.size() } -> std::convertible_to<std::size_t>;
    { s.context(i) } -> std::same_as<asio::io_context&>;
    { s.make_executor(i) } -> std::same_as<typename S::executor_type>;
    {s.start()};
    {s.stop()};
    {s.join()};
    { S::offloads } -> std::convertible_to<bool>;
}
&&std::constructible_from<S, std::size_t, const worker_options&>&&
        std::constructible_from<S, asio::io_context&, const worker_options&> &&
    (!S::offloads || requires(S & s) {
        { s.pool() } -> std::same_as<worker_pool&>;
    });

/// A scheduler with shards (shard.hpp): `shard_executor(i)` is shard i's executor, the same
/// object every time (per_thread: thread i's io_context; shared_pool: a strand of its own per
/// shard), on which everything the shard owns runs. Needed by servers whose handler owns its
/// connections (ws::server).
template <class S>
concept sharded_scheduler = scheduler_policy<S> && requires(S& s, std::size_t i) {
    { s.shard_executor(i) } -> std::same_as<typename S::executor_type>;
};

// ---------------------------------------------------------------------------------------------
// buffer: the read buffer each connection reads into.
//
// `read_buffer` holds unconsumed input (`data()`), gives room to read into (`prepare()`, empty
// when full), and takes `commit(n)` after a read and `consume(n)` once the handler used bytes.
// `holds_storage_when_idle` false means storage is borrowed only while a read is under way or
// input is unconsumed: an idle connection costs no buffer, and pier waits for readability
// before borrowing (one extra syscall per wait). `release_if_empty()` gives storage back.
template <class B>
concept buffer_policy = requires(typename B::read_buffer& b, const typename B::read_buffer& cb,
                                 std::size_t n) {
    requires std::same_as<typename B::category, category::buffer>;
    { B::capacity } -> std::convertible_to<std::size_t>;
    { B::holds_storage_when_idle } -> std::convertible_to<bool>;
    { b.prepare() } -> std::same_as<asio::mutable_buffer>;
    {b.commit(n)};
    {b.consume(n)};
    { cb.data() } -> std::same_as<std::string_view>;
    { cb.holds_storage() } -> std::convertible_to<bool>;
    {b.release_if_empty()};
}
&&std::default_initializable<typename B::read_buffer>;

// ---------------------------------------------------------------------------------------------
// backpressure: what happens when a connection's write queue passes `write_options::high_water`.
enum class backpressure_action {
    suspend,     ///< `co_await send()` waits until the queue drains to `low_water`.
    drop,        ///< new messages are refused (`send_result::dropped`) until it drains.
    close,       ///< the connection is closed with `error::slow_consumer`.
    drop_oldest, ///< (WebSocket) unsent whole messages are evicted from the front.
    latest,      ///< (WebSocket) a keyed message replaces its queued predecessor.
};

template <class P>
concept backpressure_policy = requires {
    requires std::same_as<typename P::category, category::backpressure>;
    { P::action } -> std::convertible_to<backpressure_action>;
};

// ---------------------------------------------------------------------------------------------
// transport: the byte stream on top of an accepted TCP socket (plain TCP, TLS, …).
//
// `context` is built once per server from `options` and shared by all connections (e.g. the
// TLS certificates). `stream<Executor>` is constructed from the accepted socket (moved) and
// the context, and offers `async_read_some(mutable_buffer, token)` and
// `async_write_some(ConstBufferSequence, token)` like an Asio stream. The static functions:
// - socket(s): the TCP socket underneath (socket options, readiness waits, shutdown);
// - handshake(s, ctx): anything to do before the handler runs (TLS handshake); pier bounds it
//   with `timeout_options::handshake`;
// - try_read_some / try_write_some: a non-blocking attempt that fails with
//   asio::error::would_block instead of waiting; pier uses them to write replies without a
//   round trip through the reactor and to read after a readiness wait;
// - buffered_input(s): bytes already inside the transport (decrypted TLS records) that a socket
//   readiness wait would not announce;
// - shutdown(s): the orderly end of the stream (TLS close_notify, then TCP FIN).
// Optional, for zero copy (detected by name; a transport without them is copied through user
// space, which is always correct):
// - raw_writes(s) / raw_reads(s): whether bytes written to (read from) the socket itself are
//   the stream's plaintext, so that sendfile(2) and splice(2) may move them (plain TCP: yes;
//   TLS: writes only, with kernel TLS);
// - send_file(s, fd, offset, n, ec) -> std::size_t: moves file bytes to the peer without
//   copying them (sendfile(2), SSL_sendfile), `would_block` when full,
//   `operation_not_supported` when it cannot;
// - try_write_some_more(s, buffers, ec): try_write_some telling the kernel that more follows
//   at once (MSG_MORE);
// - write_wait(s): what a write that would block waits for (default: writability).
// Optional: `static constexpr bool detachable`: the stream is the socket alone (no bytes or
// state between them), so a WebSocket session may take its descriptor out of Asio's reactor
// into its shard's lot (detail/lot.hpp) and read and write it with raw system calls for its
// lifetime (default false).
template <class T, class Stream>
concept transport_stream_for = requires(Stream& s, typename T::context& ctx,
                                        asio::mutable_buffer mb,
                                        std::span<const asio::const_buffer> cb,
                                        std::error_code& ec) {
    {
        T::socket(s)
        }
        -> std::same_as<asio::basic_stream_socket<asio::ip::tcp, typename Stream::executor_type>&>;
    { T::handshake(s, ctx) } -> std::same_as<asio::awaitable<std::error_code>>;
    { T::try_read_some(s, mb, ec) } -> std::same_as<std::size_t>;
    { T::try_write_some(s, cb, ec) } -> std::same_as<std::size_t>;
    { T::buffered_input(s) } -> std::convertible_to<bool>;
    { T::shutdown(s) } -> std::same_as<asio::awaitable<void>>;
};

template <class T>
concept transport_policy = requires {
    requires std::same_as<typename T::category, category::transport>;
    typename T::options;
    typename T::context;
    typename T::template stream<asio::io_context::executor_type>;
}
&&std::constructible_from<typename T::context, const typename T::options&>&& std::
    constructible_from<typename T::template stream<asio::io_context::executor_type>,
                       asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>&&,
                       typename T::context&>&&
        transport_stream_for<T, typename T::template stream<asio::io_context::executor_type>>;

// ---------------------------------------------------------------------------------------------
// Handlers. A server's handler is one object shared by all connections (on all threads: keep
// it stateless or synchronise it); per-connection state lives in the coroutine frame, or in
// `Handler::connection_state` (see server.hpp). Two styles:
//
// stream_handler: `asio::awaitable<void> operator()(Connection&)` owns the connection for its
// lifetime: read with `co_await c.read()`, inspect `c.input()`, `c.consume(n)`, reply with
// `c.try_send()` or `co_await c.send()`. Returning closes the connection gracefully.
//
// data_handler: `std::size_t on_data(Connection&, std::string_view input)` is called with all
// unconsumed input whenever more arrives and returns how many bytes it consumed (0: wait for
// more). It replies with `c.try_send()`. With `sched::workers` it runs on a worker thread and
// may block.
//
// Optional hooks, detected by name (a hook with a wrong signature is an error, not ignored):
//   void on_open(Connection&);                          after the handshake, before input
//   void on_close(Connection&, std::error_code why);    once, after the connection ended
//   void on_reject(typename Connection::socket_type&, std::error_code why);
//                                                       connection limit reached
template <class H, class Connection>
concept stream_handler = requires(H& h, Connection& c) {
    { h(c) } -> std::same_as<asio::awaitable<void>>;
};

template <class H, class Connection>
concept data_handler = requires(H& h, Connection& c, std::string_view in) {
    { h.on_data(c, in) } -> std::convertible_to<std::size_t>;
};

template <class H, class Connection>
concept handler = stream_handler<H, Connection> || data_handler<H, Connection>;

// connection_owner: a handler that creates and owns its connections itself, one object per
// connection owned by its shard (the WebSocket layer's engine). Instead of building a
// pier::connection, the server calls, with S the scheduler and T the transport's context:
//   void attach(detail::server_core&, S&, T&);   once, before start(): shards, options
//   void adopt(std::size_t shard, Socket&&, const endpoint& peer);
//                      from the accept loop (any thread): the socket runs on
//                      S::shard_executor(shard); the owner calls server_core::
//                      connection_closed() when the connection is gone
//   void begin_shutdown(std::size_t shard);     on the shard, once stop() was called
//   void sweep(std::size_t shard, std::int64_t now_ms);
//                      on the shard, every timeouts.resolution: the owner's deadlines
//   void detach();     the loops stopped for good: free what is left (before the scheduler)
template <class H>
concept connection_owner = requires {
    requires bool(H::owns_connections);
};

// =============================================================================================
// The WebSocket connection pool (pier::ws::pool, include/pier/pool/). Its types are only
// declared here, so that this file stays free of the pool's dependencies (nlohmann/json):
// include <pier/pool.hpp> to use them.
// =============================================================================================

namespace pool {
struct inbound;
struct outbound;
enum class decode_error : std::uint8_t;
struct send_report;
struct backplane_state;
struct cluster_selector;
struct cluster_answer;
struct position_request;
namespace detail {
/// Stands for the pool's engine where a concept names `B::node<Pool>`: a node's declarations
/// must not depend on what the engine is (its definitions use it).
struct pool_archetype;
} // namespace detail
} // namespace pool

// ---------------------------------------------------------------------------------------------
// codec: how the pool's envelopes (pool/envelope.hpp) are read from and written to WebSocket
// messages. The default is pool::json_codec (pool/codec.hpp).
//
// `decode(message, in)` reads one client message into `in` and returns decode_error::none, or
// the most specific error that applies (the pool sends the client an error envelope naming it
// and counts it against the connection). It must accept any bytes without crashing, bound
// the work and memory a message can cost, and check what every type needs (a topic for
// subscribe/unsubscribe, a payload for data), so the pool can trust what it gets. It refuses
// the server-only types (welcome, error, heartbeat) unless configured for a client.
//
// `encode(out)` returns the whole message for an envelope. The pool calls it once per
// broadcast and shares the result with every recipient, so it must not depend on who
// receives it. `outbound::data` is already in the codec's format and is copied verbatim;
// `inbound::data` must come out of decode in that same format, so a client's payload is
// forwarded without being decoded again. An outbound whose time is left at its default is
// stamped with the current time.
//
// `binary` says which frame the pool sends the result in: false for text (the codec writes
// UTF-8), true for binary (e.g. MessagePack, CBOR). Both members may be called concurrently
// from the pool's threads on one codec object.
template <class C>
concept codec_policy = requires(const C& c, std::string_view message, pool::inbound& in,
                                const pool::outbound& out) {
    requires std::same_as<typename C::category, category::codec>;
    { c.decode(message, in) } -> std::same_as<pool::decode_error>;
    { c.encode(out) } -> std::same_as<std::string>;
    { C::binary } -> std::convertible_to<bool>;
};

// ---------------------------------------------------------------------------------------------
// backplane: how a pool reaches its other instances. The default is pool::local (no other
// instances, every call a no-op, pool/backplane.hpp); pool::redis (pool/redis_backplane.hpp)
// joins instances through Redis or a Redis Cluster.
//
// `B::options` (default-constructible) is the pool constructor's last argument. The pool
// builds one `B::node<Engine>(engine, options)` and calls, from any of its threads (so a node
// synchronises itself):
//   start(), stop()          after the server started; before the server is destroyed (stop
//                            must be idempotent and make sure that nothing calls into the
//                            engine afterwards)
//   topic_interest(t, on)    this process got its first subscriber of topic t (on) or lost
//   user_interest(u, on)     its last; likewise for a user's connections. Calls for one name
//                            from different shards may arrive in any order: the node asks the
//                            engine (`has_topic`, `has_user`) for the truth instead of counting
//   hold_interest(), release_interest()
//                            the interest changes made between them (one connection's
//                            ?topics=, on one shard's thread) are applied together: one
//                            subscribe command, however long the shard took. Holds nest and
//                            may come from several threads; they span one synchronous loop
//   publish_topic(t, env, exclude, done) -> bool
//                            false: the pool delivers the message locally itself (`local`, or
//                            a node that cannot take it now). true: the node took it, and
//                            delivers it locally too (`send_encoded`), calling `done`
//   publish_user(u, encoded, exclude)      after the pool delivered it locally
//   request_position(req)    only when `sequenced`: answer with engine.answer_position(…)
//   cluster_disconnect(sel, code, reason, deadline, done(cluster_answer))
//   cluster_survey(kind, args, deadline, done(cluster_answer))
//                            run the engine's local_disconnect / local_survey here and on
//                            every other instance, answering within the deadline (`args` is
//                            an nlohmann::json, which this file does not include: the pool's
//                            call checks that one)
//   state() -> backplane_state, connected() -> bool, node_id()
// `sequenced` (a static constexpr bool) says that topic messages carry a per-topic position
// (offset, epoch) and that subscribes are acknowledged with one, after `request_position`.
// The node never waits for the engine's shards, nor the shards for it: the engine's entry
// points post (bounded mailboxes) and return.
template <class B>
concept backplane_policy =
    requires(typename B::template node<pool::detail::pool_archetype>& n,
             const typename B::template node<pool::detail::pool_archetype>& cn, std::string_view s,
             std::span<const std::uint64_t> ids, bool on, const pool::outbound& env,
             std::function<void(const pool::send_report&)>& done, pool::position_request&& req,
             const pool::cluster_selector& sel, std::chrono::milliseconds deadline,
             std::function<void(pool::cluster_answer)> answer) {
    requires std::same_as<typename B::category, category::backplane>;
    requires std::default_initializable<typename B::options>;
    { B::template node<pool::detail::pool_archetype>::sequenced } -> std::convertible_to<bool>;
    n.start();
    n.stop();
    n.topic_interest(s, on);
    n.user_interest(s, on);
    n.hold_interest();
    n.release_interest();
    { n.publish_topic(s, env, ids, done) } -> std::same_as<bool>;
    n.publish_user(s, s, ids);
    n.request_position(std::move(req));
    n.cluster_disconnect(sel, std::uint16_t{}, std::string(), deadline, answer);
    { cn.state() } -> std::same_as<pool::backplane_state>;
    { cn.connected() } -> std::convertible_to<bool>;
    { cn.node_id() } -> std::convertible_to<std::string_view>;
};

} // namespace pier
