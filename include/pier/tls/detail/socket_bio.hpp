// pier/tls/detail/socket_bio.hpp: an OpenSSL BIO that reads and writes an Asio socket
// without blocking.
#pragma once

#include <pier/config.hpp>

#include <openssl/bio.h>

#include <cstddef>
#include <system_error>

namespace pier::tls::detail {

/// What a socket BIO works on: the stream's socket, and what the last read or write saw that
/// OpenSSL's return codes cannot carry.
template <class Socket> struct socket_io {
    Socket* socket = nullptr;
    std::error_code error; ///< the first hard error (reset, broken pipe, closed descriptor)
    bool eof = false;      ///< the peer's FIN was read
};

/// OpenSSL's own socket BIO would do, but it writes with write(2), which raises SIGPIPE on a
/// connection the peer reset, and holds a raw descriptor, which pier's deadline sweeper may
/// close (and the kernel reuse for another connection) at any time. This one goes through the
/// Asio socket: send(2) with MSG_NOSIGNAL, `bad_descriptor` once the socket was closed, and
/// `would_block` mapped to OpenSSL's retry flags, because the socket is non-blocking.
template <class Socket> class socket_bio {
public:
    /// A new BIO over `io` (which must outlive it), or null when out of memory.
    static BIO* make(socket_io<Socket>* io) noexcept {
        BIO_METHOD* m = method();
        if (!m)
            return nullptr;
        BIO* b = ::BIO_new(m);
        if (b)
            ::BIO_set_data(b, io);
        return b;
    }

private:
    static BIO_METHOD* method() noexcept {
        // One method table per socket type for the life of the process, as OpenSSL's built-in
        // BIOs have: it is never freed, and reachable, so leak checkers do not report it.
        static BIO_METHOD* const m = create();
        return m;
    }

    static BIO_METHOD* create() noexcept {
        BIO_METHOD* m = ::BIO_meth_new(BIO_TYPE_SOURCE_SINK | ::BIO_get_new_index(), "pier socket");
        if (!m)
            return nullptr;
        ::BIO_meth_set_write_ex(m, &write_ex);
        ::BIO_meth_set_read_ex(m, &read_ex);
        ::BIO_meth_set_ctrl(m, &ctrl);
        ::BIO_meth_set_create(m, &on_create);
        ::BIO_meth_set_destroy(m, &on_destroy);
        return m;
    }

    static socket_io<Socket>& io_of(BIO* b) noexcept {
        return *static_cast<socket_io<Socket>*>(::BIO_get_data(b));
    }

    static bool retry(const std::error_code& ec) noexcept {
        return ec == asio::error::would_block || ec == asio::error::try_again ||
               ec == asio::error::interrupted;
    }

    static int write_ex(BIO* b, const char* data, std::size_t len, std::size_t* written) {
        auto& io = io_of(b);
        ::BIO_clear_retry_flags(b);
        std::error_code ec;
        const std::size_t n = io.socket->write_some(asio::const_buffer(data, len), ec);
        if (!ec) {
            *written = n;
            return 1;
        }
        if (retry(ec))
            ::BIO_set_retry_write(b);
        else if (!io.error)
            io.error = ec;
        return 0;
    }

    static int read_ex(BIO* b, char* data, std::size_t len, std::size_t* read) {
        auto& io = io_of(b);
        ::BIO_clear_retry_flags(b);
        std::error_code ec;
        const std::size_t n = io.socket->read_some(asio::mutable_buffer(data, len), ec);
        if (!ec) {
            *read = n;
            return 1;
        }
        if (retry(ec))
            ::BIO_set_retry_read(b);
        else if (ec == asio::error::eof)
            io.eof = true;
        else if (!io.error)
            io.error = ec;
        return 0;
    }

    static long ctrl(BIO* b, int cmd, long, void*) {
        switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1; // nothing is buffered here
        // OpenSSL asks after a failed read whether it was the end of the stream, to tell a
        // FIN from an error.
        case BIO_CTRL_EOF:
            return io_of(b).eof ? 1 : 0;
        default:
            return 0;
        }
    }

    static int on_create(BIO* b) {
        ::BIO_set_init(b, 1);
        return 1;
    }
    static int on_destroy(BIO*) { return 1; }
};

} // namespace pier::tls::detail
