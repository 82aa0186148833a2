// pier/relay.hpp: relays a connection to another socket in both directions (a proxy's core),
// with splice(2) where the transport allows it and bounded memory either way.
//
//     asio::basic_stream_socket<asio::ip::tcp, typename Connection::executor_type>
//         upstream(c.get_executor());
//     co_await upstream.async_connect(target, pier::use_tuple);
//     auto r = co_await pier::relay(c, upstream);   // until both directions have ended
#pragma once

#include <pier/config.hpp>
#include <pier/connection.hpp>

#include <cstdint>
#include <memory>
#include <system_error>

namespace pier {

/// What a relay moved, and how it ended.
struct relay_result {
    /// Bytes from the connection's peer to the other socket, and back.
    std::uint64_t to_peer = 0;
    std::uint64_t from_peer = 0;
    /// The first error of either direction; empty when both ended with an orderly close.
    std::error_code error;
};

/// Moves bytes between `c`'s peer and `peer` (a connected socket on `c`'s executor) in both
/// directions at once until both have ended, then returns; `c` stays open (return from the
/// handler to close it gracefully).
///
/// - Each direction moves one step at a time (`connection::receive_into`, `send_from`): a step
///   is read only once the previous one has been taken by its destination, so a fast side
///   waits for a slow one and memory stays bounded (a pipe per direction while it holds bytes,
///   or `low_water` plus 64 KiB when copying). Nothing is buffered without limit.
/// - Half-closes are passed on: when `c`'s peer stops sending, `peer` is shut down for
///   writing, and the other direction goes on until `peer` ends too; when `peer` ends,
///   `c.shutdown_output()` sends the end after the last bytes.
/// - An error on either side ends both: a failure of `peer` closes `c` gracefully (what was
///   relayed is flushed, then FIN); a failure of `c` closes `peer`. `c`'s deadlines (idle,
///   write stall, shutdown) apply throughout, and the server's `stop()` ends relays too.
///
/// splice(2) is used for plain TCP connections (`zero_copy_options::relays`), copying for TLS;
/// `c.transfer_stats()` tells which. `peer` is made non-blocking. Stream handlers only.
template <class Connection, relay_socket Socket>
asio::awaitable<relay_result> relay(Connection& c, Socket& peer);

namespace detail {

struct relay_state {
    relay_result result;
    bool outbound_done = false;
    explicit relay_state(asio::any_io_executor ex) : done(std::move(ex)) {}
    asio::steady_timer done; // cancelled when the outbound direction ends
};

template <class Connection, class Socket>
asio::awaitable<void> relay_outbound(std::shared_ptr<Connection> c, Socket& peer,
                                     std::shared_ptr<relay_state> st) {
    for (;;) {
        const auto step = co_await c->send_from(peer);
        st->result.from_peer += step.bytes;
        if (!step.error)
            continue;
        if (step.error == asio::error::eof) {
            const auto ec = co_await c->shutdown_output();
            if (ec && !st->result.error)
                st->result.error = ec;
        } else {
            if (!st->result.error)
                st->result.error = step.error;
            // Whichever side failed, the client side cannot go on meaningfully: let it end
            // after what was relayed (close() also ends the other direction's wait).
            c->close();
            std::error_code ignored;
            peer.close(ignored);
        }
        break;
    }
    st->outbound_done = true;
    st->done.cancel();
}

} // namespace detail

template <class Connection, relay_socket Socket>
asio::awaitable<relay_result> relay(Connection& c, Socket& peer) {
    std::error_code ec;
    peer.non_blocking(true, ec);
    auto st = std::make_shared<detail::relay_state>(c.get_executor());
    st->done.expires_at(asio::steady_timer::time_point::max());
    asio::co_spawn(c.get_executor(), detail::relay_outbound(c.shared_from_this(), peer, st),
                   asio::detached);
    for (;;) {
        const auto step = co_await c.receive_into(peer);
        st->result.to_peer += step.bytes;
        if (!step.error)
            continue;
        if (step.error == asio::error::eof) {
            std::error_code ignored;
            peer.shutdown(asio::socket_base::shutdown_send, ignored);
        } else {
            if (!st->result.error && step.error != error::closed)
                st->result.error = step.error;
            // The outbound direction waits on `peer`: closing it ends that wait.
            std::error_code ignored;
            peer.close(ignored);
        }
        break;
    }
    while (!st->outbound_done)
        co_await st->done.async_wait(use_tuple);
    co_return st->result;
}

} // namespace pier
