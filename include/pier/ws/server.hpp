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
// or, spelled as a transport stack (see transport/websocket.hpp):
//     pier::server<echo, pier::policies<pier::transport::websocket<pier::transport::tls>>> …
#pragma once

#include <pier/fwd.hpp>
#include <pier/options.hpp>
#include <pier/policies.hpp>
#include <pier/server.hpp>
#include <pier/ws/detail/adapter.hpp>
#include <pier/ws/options.hpp>
#include <pier/ws/session.hpp>

#include <utility>

namespace pier::ws {

/// A `pier::server` whose handler is the WebSocket layer: it answers the opening handshake
/// (including non-upgrade requests, see session.hpp's `on_http`), runs the frame loop of
/// every connection and calls `Handler`'s hooks (session.hpp). Life cycle, thread safety and
/// the run-time options are those of `pier::server`; `ws::options` adds the WebSocket ones.
/// Deadlines: `ws::options` has the handshake and close deadlines and the automatic
/// keep-alive (`ping_interval`, `pong_timeout`), which the server copies into the core's
/// `timeouts.keepalive`/`keepalive_timeout`. `timeouts.idle` of server_options still closes
/// connections with no traffic at all; answered pings count as traffic, so with pings on it
/// only ends peers that stopped answering.
template <class Handler, class Policies = default_policies>
class server : public pier::server<detail::adapter<Handler, Policies>, Policies> {
    using base = pier::server<detail::adapter<Handler, Policies>, Policies>;

public:
    using session_type = session<Policies>;
    using transport_options = typename base::transport_options;

    static_assert(
        requires(Handler & h, session_type& s, message m) { h.on_message(s, m); },
        "pier: a WebSocket handler needs `void on_message(pier::ws::session<Policies>&, "
        "pier::ws::message)`");

    explicit server(server_options so = {}, options wo = {}, Handler h = {})
        : base(with_keepalive(std::move(so), wo),
               detail::adapter<Handler, Policies>(std::move(wo), std::move(h))) {}
    server(server_options so, transport_options to, options wo = {}, Handler h = {})
        : base(with_keepalive(std::move(so), wo), std::move(to),
               detail::adapter<Handler, Policies>(std::move(wo), std::move(h))) {}
    server(asio::io_context& ctx, server_options so, options wo = {}, Handler h = {})
        : base(ctx, with_keepalive(std::move(so), wo),
               detail::adapter<Handler, Policies>(std::move(wo), std::move(h))) {}

    /// The user's handler (`handler()` is the adapter around it).
    Handler& ws_handler() noexcept { return base::handler().handler(); }
    const options& ws_options() const noexcept {
        return const_cast<server*>(this)->base::handler().ws_options();
    }

private:
    static server_options with_keepalive(server_options so, const options& wo) {
        so.timeouts.keepalive = wo.ping_interval;
        so.timeouts.keepalive_timeout = wo.pong_timeout;
        return so;
    }
};

} // namespace pier::ws
