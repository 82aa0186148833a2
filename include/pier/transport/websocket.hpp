// pier/transport/websocket.hpp: WebSocket as a layer of the transport stack.
//
//     pier::server<my_ws_handler, pier::policies<pier::transport::websocket<>>>          // ws://
//     pier::server<my_ws_handler, pier::policies<pier::transport::websocket<pier::transport::tls>>>
//                                                                                        // wss://
//
// `websocket<Inner>` names the inner transport (the real byte stream of the connection,
// `tcp` by default) and marks the server as a WebSocket server: `pier::server<H, policies<…,
// websocket<Inner>, …>>` is `pier::ws::server<H, policies<…, Inner, …>>` (a partial
// specialization below, no other magic), so the handler is a WebSocket handler
// (ws/session.hpp) and the constructor takes `ws::options` after the server options (and
// after the inner transport's options, if it has any to pass).
#pragma once

#include <pier/fwd.hpp>
#include <pier/policies.hpp>
#include <pier/transport/tcp.hpp>
#include <pier/ws/server.hpp>

#include <type_traits>

namespace pier::transport {

/// WebSocket over `Inner`. Models transport_policy through `Inner` (it is `Inner` with a
/// mark), so that `policies<websocket<…>>` is valid; the server unwraps it.
template <class Inner = tcp> struct websocket : Inner {
    using inner = Inner;
    static constexpr bool is_websocket_layer = true;
};

} // namespace pier::transport

namespace pier::ws::detail {

template <class P> struct unwrap_layer { using type = P; };
template <class Inner> struct unwrap_layer<transport::websocket<Inner>> { using type = Inner; };
template <class Policies> struct unwrap_policies;
template <class... Ps> struct unwrap_policies<pier::policies<Ps...>> {
    using type = pier::policies<typename unwrap_layer<Ps>::type...>;
};
template <class T>
concept websocket_layer = requires {
    T::is_websocket_layer;
};

} // namespace pier::ws::detail

namespace pier {

/// `pier::server` over `transport::websocket<Inner>`: the WebSocket server over `Inner`.
template <class Handler, class... Ps>
requires ws::detail::websocket_layer<typename policies<Ps...>::transport>
class server<Handler, policies<Ps...>>
    : public ws::server<Handler, typename ws::detail::unwrap_policies<policies<Ps...>>::type> {
    using ws::server<Handler, typename ws::detail::unwrap_policies<policies<Ps...>>::type>::server;
};

} // namespace pier
