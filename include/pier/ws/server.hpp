// pier/ws/server.hpp: `pier::ws::server<Handler, Policies>`, a WebSocket server (RFC 6455,
// RFC 7692) built from the same policies as `pier::server`.
//
//     struct echo {
//         template <class Session> void on_message(Session& s, pier::ws::message m) {
//             m.is_text() ? s.send_text(m.data()) : s.send_binary(m.data());
//         }
//     };
//     pier::ws::server<echo> srv({.port = 9001, .handle_signals = true}, pier::ws::options{});
//     srv.run();
//
// `wss://` is the same server over the TLS transport:
//     pier::ws::server<echo, pier::policies<pier::transport::tls>> srv(opts, tls_opts, ws_opts);
#pragma once

#include <pier/concepts.hpp>
#include <pier/fwd.hpp>
#include <pier/options.hpp>
#include <pier/policies.hpp>
#include <pier/server.hpp>
#include <pier/shard.hpp>
#include <pier/ws/detail/engine.hpp>
#include <pier/ws/options.hpp>
#include <pier/ws/session.hpp>

#include <cstddef>
#include <functional>
#include <utility>

namespace pier::ws {

/// What a WebSocket handler must provide: `on_message(session&, ws::message)`. The other hooks
/// (session.hpp) are optional and checked where they are called.
template <class H, class Session>
concept handler = requires(H& h, Session& s, message m) {
    h.on_message(s, m);
};

/// A `pier::server` whose connections are WebSocket sessions (session.hpp): one object per
/// connection, owned by its shard (shard.hpp), driven by completion handlers with no
/// coroutine frame while idle. It answers the opening handshake (and plain HTTP requests,
/// through the handler's `on_http`), runs the frames, calls the handler's hooks, keeps
/// connections alive with Pings and enforces every deadline from one sweep per shard.
///
/// Life cycle, thread safety and the run-time options are those of `pier::server`;
/// `ws::options` adds the WebSocket ones. `stop()` sends every open session a 1001 Close
/// ("server shutting down"), flushes what was queued, and finishes within
/// `timeouts.shutdown`.
///
/// Readiness: on plain TCP a session's socket leaves Asio's reactor when the connection is
/// handed over, for its shard's lot, an epoll set of pier's own (detail/lot.hpp), registered
/// once and edge-triggered. The lot's one descriptor waits in the reactor. A socket in the
/// lot costs no descriptor state and no pending operation, and it is read and written with
/// plain system calls: one read per report of input (none that only says EAGAIN), one gather
/// write per pass of the loop, and no epoll_ctl after the first. TLS sessions (and all of
/// them, if the kernel refuses the lot) stay in Asio's reactor.
///
/// Idle connections: a session that received nothing for `timeouts.resolution` gives its
/// read buffer back (buffer::pooled); `stats().parked` counts those idle in the lot.
///
/// Policies: any accept, buffer and transport policy; a scheduler with shards
/// (sched::per_thread, sched::shared_pool, sched::workers); backpressure chooses what a slow
/// consumer gets (write/backpressure.hpp): `suspend` (default: sends answer `backpressure`
/// past write_options::high_water and the session is closed at max_queued), `close`,
/// `drop` (newest), `drop_oldest` or `latest` (per key).
template <class Handler, class Policies = default_policies>
class server : public pier::server<detail::engine<Handler, Policies>, Policies> {
    using base = pier::server<detail::engine<Handler, Policies>, Policies>;

public:
    using session_type = detail::session_for<Handler, Policies>;
    using transport_options = typename base::transport_options;

    static_assert(sharded_scheduler<typename Policies::scheduler>,
                  "pier: ws::server needs a scheduler with shards (shard_executor(i)), as "
                  "sched::per_thread, sched::shared_pool and sched::workers have");
    static_assert(ws::handler<Handler, session_type>,
                  "pier: a WebSocket handler needs `void on_message(Session&, "
                  "pier::ws::message)` (Session: pier::ws::session<Policies, session_data>)");

    explicit server(server_options so = {}, options wo = {}, Handler h = {})
        : base(std::move(so), std::in_place, std::move(wo), std::move(h)) {}
    server(server_options so, transport_options to, options wo = {}, Handler h = {})
        : base(std::move(so), std::move(to), std::in_place, std::move(wo), std::move(h)) {}
    server(asio::io_context& ctx, server_options so, options wo = {}, Handler h = {})
        : base(ctx, std::move(so), std::in_place, std::move(wo), std::move(h)) {}
    /// The handler built in place from `args` (for handlers that cannot move).
    template <class... Args>
    server(server_options so, options wo, std::in_place_t, Args&&... args)
        : base(std::move(so), std::in_place, std::move(wo), std::in_place,
               std::forward<Args>(args)...) {}
    template <class... Args>
    server(server_options so, transport_options to, options wo, std::in_place_t, Args&&... args)
        : base(std::move(so), std::move(to), std::in_place, std::move(wo), std::in_place,
               std::forward<Args>(args)...) {}

    /// The user's handler (`handler()` is the engine around it).
    Handler& ws_handler() noexcept { return base::handler().handler(); }
    const options& ws_options() const noexcept {
        return const_cast<server*>(this)->base::handler().ws_options();
    }

    /// Runs `fn` on `shard` through its mailbox: bounded like sends from other threads
    /// (`cost` bytes counted against options::mailbox_budget); answers like them.
    send_result post_mail(std::size_t shard, std::function<void()> fn, std::size_t cost = 0) {
        return base::handler().post_mail(shard, std::move(fn), cost);
    }
    /// Calls `fn(session&)` for every session of `shard`; call it on that shard (from a hook,
    /// or in a function given to post_to_shard / on_every_shard).
    template <class Fn> void for_each_session(std::size_t shard, Fn fn) {
        base::handler().shard_at(shard).for_each([&](auto& s) {
            if (s.state() != session_state::closed)
                fn(static_cast<session_type&>(s));
        });
    }
    /// Sessions of `shard` (on that shard).
    std::size_t session_count(std::size_t shard) {
        return base::handler().shard_at(shard).sessions;
    }
};

} // namespace pier::ws
