// pier/tls/stream.hpp: a TLS server stream over a non-blocking TCP socket
// (`pier::transport::tls::stream<Executor>`).
#pragma once

#include <pier/config.hpp>
#include <pier/tls/context.hpp>
#include <pier/tls/detail/openssl.hpp>
#include <pier/tls/detail/socket_bio.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::tls {

/// The server side of one TLS connection (RFC 8446, RFC 5246), driving OpenSSL directly on
/// the accepted socket.
///
/// Why not `asio::ssl::stream`: pier needs non-blocking attempts (`try_read_some`,
/// `try_write_some`) that fail with `would_block` and leave nothing half done, to answer
/// without a trip through the reactor, and a gather write that turns many queued messages into
/// few records. asio::ssl::stream offers neither (its synchronous calls block or lose data
/// on a non-blocking socket, and its async_write_some writes only the first buffer). OpenSSL's
/// own non-blocking mode has exactly the semantics wanted, so the stream calls SSL_read_ex /
/// SSL_write_ex on a BIO over the Asio socket and waits for readiness with `async_wait`.
///
/// Writes: the buffers are cut into records of up to `max_record` plaintext bytes; small
/// buffers are copied into one record (a per-thread 16 KiB staging area) so that a batch of
/// small messages costs one record and one send(2) rather than one each. A write that would
/// block reports the bytes of the records that went out; OpenSSL keeps the record it could
/// not finish, and the next write must start with the same bytes (pier's write queue does).
///
/// Reads: one call returns the plaintext of at most one record. OpenSSL reads ahead, so
/// decrypted or received bytes can be waiting inside it that no socket readiness would
/// announce: `buffered_input()` says so.
///
/// After the handshake the negotiated parameters are available: `alpn()`, `server_name()`,
/// `version()`, `cipher()`, `session_reused()`.
///
/// Thread safety: distinct objects safe; a shared object unsafe (use it on its executor, as
/// pier's connection does). One read and one write may be outstanding at the same time.
template <class Executor> class stream {
public:
    using executor_type = Executor;
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, Executor>;

    /// The largest plaintext of one TLS record (RFC 8446 §5.1): the unit writes are cut into.
    static constexpr std::size_t max_record = 16384;

    /// Takes over an accepted socket (made non-blocking). No I/O happens before `handshake()`.
    stream(socket_type&& socket, context& ctx) noexcept;
    ~stream();
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& socket() noexcept { return socket_; }
    const socket_type& socket() const noexcept { return socket_; }
    /// The OpenSSL connection, null before `handshake()` started; for what pier does not wrap
    /// (e.g. SSL_get0_peer_certificate under mutual TLS).
    SSL* native_handle() noexcept { return ssl_; }

    // --- what was negotiated (empty before the handshake completed) -----------------------

    bool handshake_done() const noexcept { return handshake_done_; }
    /// The ALPN protocol chosen (RFC 7301), e.g. "http/1.1" or "h2"; empty if none.
    std::string_view alpn() const noexcept;
    /// The host name the client asked for with SNI (RFC 6066 §3), as sent; empty if none.
    std::string_view server_name() const noexcept;
    /// "TLSv1.3" or "TLSv1.2".
    std::string_view version() const noexcept;
    /// The cipher suite's OpenSSL name, e.g. "TLS_AES_128_GCM_SHA256".
    std::string_view cipher() const noexcept;
    /// Whether the client resumed an earlier session (ticket or session ID).
    bool session_reused() const noexcept;
    /// The context generation the handshake started from (see `context::generation()`).
    std::uint64_t generation() const noexcept;

    // --- the transport contract (see pier/concepts.hpp) ----------------------------------

    /// Runs the server handshake; the caller bounds it in time (pier: timeouts.handshake,
    /// enforced by closing the socket, which ends the wait here). Errors: OpenSSL's reason in
    /// Asio's SSL category (e.g. "http request" for plain HTTP, "wrong version number" for
    /// other plaintext, "no shared cipher"), `asio::error::eof` if the client left, or the
    /// socket's error.
    asio::awaitable<std::error_code> handshake();
    /// Sends close_notify (RFC 8446 §6.1) without waiting for the client's, then FIN.
    asio::awaitable<void> shutdown();
    /// Plaintext into `b` without waiting: `would_block` when a whole record is not there yet.
    /// `asio::error::eof` after the client's close_notify or FIN.
    std::size_t try_read_some(asio::mutable_buffer b, std::error_code& ec);
    /// Encrypts and sends as much of `b` as the socket takes without waiting; `would_block` if
    /// not even one record went out (see the class comment for the retry rule).
    std::size_t try_write_some(std::span<const asio::const_buffer> b, std::error_code& ec);
    /// Whether OpenSSL holds received bytes (decrypted or not) that a read should look at
    /// before waiting for the socket.
    bool buffered_input() const noexcept;

    // --- kernel TLS (options::kernel_tls) -------------------------------------------------

    /// Whether the kernel encrypts what is sent (kernel TLS took the send keys).
    bool kernel_tls_send() const noexcept { return io_.ktls_send; }
    /// Whether bytes may be written to the socket directly (sendfile(2), splice(2)) and reach
    /// the client as plaintext of this stream: with kernel TLS, when no record of an earlier
    /// blocked write is pending inside OpenSSL.
    bool raw_writes() const noexcept {
        return io_.ktls_send && pending_write_ == 0 && !error_ && handshake_done_;
    }
    /// Sends up to `size` bytes of the file `fd` from `offset` with SSL_sendfile (sendfile(2)
    /// on the kernel-TLS socket). `operation_not_supported` without kernel TLS (the caller
    /// copies instead), `would_block` when the socket is full.
    std::size_t try_send_file(int fd, std::uint64_t offset, std::size_t size, std::error_code& ec);
    /// What a write that reported would_block waits for (writability, or, during a
    /// post-handshake exchange, readability).
    asio::socket_base::wait_type write_wait() const noexcept { return wait_for(write_want_); }

    /// Asio-style: completes with `(std::error_code, std::size_t)` once at least one byte was
    /// read into the first non-empty buffer of `buffers`.
    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
    /// Asio-style: completes with `(std::error_code, std::size_t)` once at least one record of
    /// `buffers` was sent. All buffers take part (unlike asio::ssl::stream).
    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token);

private:
    enum class want : std::uint8_t { nothing, read, write };
    struct read_op;
    struct write_op;

    std::error_code failure(int ret, want& w) noexcept;
    bool begin(std::error_code& ec) noexcept;
    asio::awaitable<void> answer_plain_http();
    static asio::socket_base::wait_type wait_for(want w) noexcept {
        return w == want::write ? asio::socket_base::wait_write : asio::socket_base::wait_read;
    }

    socket_type socket_;
    context* context_;
    std::shared_ptr<const detail::context_set> set_; // keeps the callbacks' state alive
    detail::socket_io<socket_type> io_;
    SSL* ssl_ = nullptr;
    std::error_code error_;         // sticky after a fatal error
    std::size_t pending_write_ = 0; // length of a blocked SSL_write that must be repeated
    want read_want_ = want::read;   // what the last blocked read waits for
    want write_want_ = want::write; // what the last blocked write waits for
    bool handshake_done_ = false;
};

} // namespace pier::tls

#include <pier/tls/impl/stream.hpp>
