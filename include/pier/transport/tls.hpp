// pier/transport/tls.hpp: TLS over TCP on OpenSSL, as a transport policy.
//
//     pier::tls::options tls;
//     tls.certificates.push_back({.cert_chain_file = "cert.pem", .key_file = "key.pem"});
//     tls.alpn = {"http/1.1"};
//     pier::server<my_handler, pier::policies<pier::transport::tls>> srv(opts, tls);
//     ...
//     srv.transport().reload();      // e.g. on SIGHUP, after the certificates were renewed
//
// In a handler, `c.stream().alpn()` and `c.stream().server_name()` tell what the client
// negotiated. Works with every accept, scheduler and buffer policy.
#pragma once

#include <pier/config.hpp>
#include <pier/fwd.hpp>
#include <pier/tls/context.hpp>
#include <pier/tls/options.hpp>
#include <pier/tls/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

namespace pier::transport {

/// TLS 1.2/1.3 (RFC 5246, RFC 8446) on OpenSSL: `options` are pier::tls::options (certificates,
/// SNI names, versions, ciphers, ALPN, sessions), `context` is pier::tls::context (the
/// reloadable certificate store, `server::transport()`), `stream` is pier::tls::stream.
///
/// The handshake runs before the handler is called and is bounded by
/// `timeout_options::handshake`; a client that stalls, speaks plaintext or fails the handshake
/// is closed, counted in `stats::handshake_failures` and reported to the handler's
/// `on_handshake_error(endpoint, error)` hook with OpenSSL's reason (or
/// `pier::error::handshake_timeout`).
struct tls {
    using category = pier::category::transport;
    using options = pier::tls::options;
    using context = pier::tls::context;
    template <class Executor> using stream = pier::tls::stream<Executor>;

    template <class E> static auto& socket(stream<E>& s) noexcept { return s.socket(); }

    template <class E> static asio::awaitable<std::error_code> handshake(stream<E>& s, context&) {
        return s.handshake();
    }
    template <class E>
    static std::size_t try_read_some(stream<E>& s, asio::mutable_buffer b, std::error_code& ec) {
        return s.try_read_some(b, ec);
    }
    template <class E>
    static std::size_t try_write_some(stream<E>& s, std::span<const asio::const_buffer> b,
                                      std::error_code& ec) {
        return s.try_write_some(b, ec);
    }
    template <class E> static bool buffered_input(stream<E>& s) noexcept {
        return s.buffered_input();
    }

    // Zero copy (optional, see concepts.hpp): only with kernel TLS for sending
    // (`options::kernel_tls`), where the kernel encrypts what is written to the socket.
    template <class E> static bool raw_writes(stream<E>& s) noexcept { return s.raw_writes(); }
    template <class E> static constexpr bool raw_reads(stream<E>&) noexcept { return false; }
    /// SSL_sendfile over kernel TLS; `operation_not_supported` without it (pier then copies).
    template <class E>
    static std::size_t send_file(stream<E>& s, int fd, std::uint64_t offset, std::size_t n,
                                 std::error_code& ec) {
        return s.try_send_file(fd, offset, n, ec);
    }
    template <class E> static asio::socket_base::wait_type write_wait(stream<E>& s) noexcept {
        return s.write_wait();
    }
    template <class E> static asio::awaitable<void> shutdown(stream<E>& s) { return s.shutdown(); }
};

} // namespace pier::transport
