// pier/tls/detail/socket_bio.hpp: an OpenSSL BIO that reads and writes an Asio socket
// without blocking.
#pragma once

#include <pier/config.hpp>

#include <openssl/bio.h>

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

namespace pier::tls::detail {

/// What a socket BIO works on: the stream's socket, and what the last read or write saw that
/// OpenSSL's return codes cannot carry.
template <class Socket> struct socket_io {
    Socket* socket = nullptr;
    std::error_code error;  ///< the first hard error (reset, broken pipe, closed descriptor)
    bool eof = false;       ///< the peer's FIN was read
    bool ktls_send = false; ///< the kernel encrypts what is sent (kernel TLS, TLS_TX)
    /// With ktls_send: the TLS record type of the next write when it is not application data
    /// (an alert, a post-handshake message), which the kernel must be told in a control
    /// message; 0 for application data.
    unsigned char record_type = 0;
};

/// OpenSSL's BIO controls for kernel TLS. Only BIO_CTRL_GET_KTLS_SEND/RECV are public in
/// OpenSSL 3.0's <openssl/bio.h>; the others are listed there as "internal BIO" controls, with
/// these values, which OpenSSL sends to whatever BIO the SSL object writes to (its own socket
/// BIO answers them in crypto/bio/bss_sock.c). A BIO of one's own that answers them gets
/// kernel TLS too (Crystal's standard library does the same); one that ignores them simply
/// keeps encryption in user space.
inline constexpr int bio_ctrl_set_ktls = 72;
inline constexpr int bio_ctrl_set_ktls_tx_ctrl_msg = 74;
inline constexpr int bio_ctrl_clear_ktls_tx_ctrl_msg = 75;

/// Set once a setsockopt(TCP_ULP, "tls") has failed with ENOENT (no `tls` kernel module, or
/// a kernel built without CONFIG_TLS): every later connection then skips the attempt.
inline std::atomic<bool> kernel_tls_unavailable{false};

/// The size of the kernel's crypto_info structure for the cipher OpenSSL hands over (the first
/// member of every variant says which). OpenSSL passes its own `ktls_crypto_info_t`, a union of
/// these followed by its length; reading the length from the cipher type instead does not
/// depend on that private layout.
inline std::size_t ktls_crypto_info_size(const void* info) noexcept {
    tls_crypto_info head;
    std::memcpy(&head, info, sizeof head);
    switch (head.cipher_type) {
    case TLS_CIPHER_AES_GCM_128:
        return sizeof(tls12_crypto_info_aes_gcm_128);
    case TLS_CIPHER_AES_GCM_256:
        return sizeof(tls12_crypto_info_aes_gcm_256);
    case TLS_CIPHER_AES_CCM_128:
        return sizeof(tls12_crypto_info_aes_ccm_128);
    case TLS_CIPHER_CHACHA20_POLY1305:
        return sizeof(tls12_crypto_info_chacha20_poly1305);
    default:
        return 0;
    }
}

/// Turns on kernel TLS for sending on `fd` with OpenSSL's keys: TCP_ULP "tls", then TLS_TX.
/// False (the socket unchanged as far as TLS goes) when the kernel cannot.
inline bool enable_ktls_send(int fd, const void* crypto_info) noexcept {
    if (kernel_tls_unavailable.load(std::memory_order_relaxed) || fd < 0 || !crypto_info)
        return false;
    const std::size_t size = ktls_crypto_info_size(crypto_info);
    if (size == 0)
        return false;
    if (::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") != 0 && errno != EEXIST) {
        if (errno == ENOENT)
            kernel_tls_unavailable.store(true, std::memory_order_relaxed);
        return false;
    }
    return ::setsockopt(fd, SOL_TLS, TLS_TX, crypto_info, static_cast<socklen_t>(size)) == 0;
}

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
        std::size_t n = 0;
        if (io.record_type != 0) {
            n = send_record(io, data, len, ec);
            if (!ec)
                io.record_type = 0; // as OpenSSL's socket BIO: one control message per call
        } else {
            n = io.socket->write_some(asio::const_buffer(data, len), ec);
        }
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

    // With kernel TLS, a record that is not application data is one sendmsg(2) whose control
    // message names its type (Documentation/networking/tls.rst, "Send TLS control
    // messages"). Asio has no control messages, so this one call goes to the descriptor.
    static std::size_t send_record(socket_io<Socket>& io, const char* data, std::size_t len,
                                   std::error_code& ec) {
        if (!io.socket->is_open()) {
            ec = make_error_code(asio::error::bad_descriptor);
            return 0;
        }
        char control[CMSG_SPACE(sizeof(unsigned char))] = {};
        iovec iov{const_cast<char*>(data), len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_TLS;
        c->cmsg_type = TLS_SET_RECORD_TYPE;
        c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
        std::memcpy(CMSG_DATA(c), &io.record_type, sizeof(unsigned char));
        const ssize_t r = ::sendmsg(io.socket->native_handle(), &msg, MSG_NOSIGNAL);
        if (r < 0) {
            const int e = errno;
            ec = e == EAGAIN || e == EWOULDBLOCK
                     ? make_error_code(asio::error::would_block)
                     : std::error_code(e, asio::error::get_system_category());
            return 0;
        }
        return static_cast<std::size_t>(r);
    }

    static long ctrl(BIO* b, int cmd, long num, void* ptr) {
        auto& io = io_of(b);
        switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1; // nothing is buffered here
        // OpenSSL asks after a failed read whether it was the end of the stream, to tell a
        // FIN from an error.
        case BIO_CTRL_EOF:
            return io.eof ? 1 : 0;
        // SSL_sendfile sends from the file to the descriptor itself.
        case BIO_C_GET_FD:
            if (!io.socket->is_open())
                return -1;
            if (ptr)
                *static_cast<int*>(ptr) = io.socket->native_handle();
            return io.socket->native_handle();
        // Kernel TLS: OpenSSL offers the keys of each direction as it switches to them; only
        // sending is taken (receiving in the kernel changes how records must be read).
        case bio_ctrl_set_ktls:
            if (num == 0 || !io.socket->is_open())
                return 0;
            io.ktls_send = enable_ktls_send(io.socket->native_handle(), ptr);
            return io.ktls_send ? 1 : 0;
        case BIO_CTRL_GET_KTLS_SEND:
            return io.ktls_send ? 1 : 0;
        case BIO_CTRL_GET_KTLS_RECV:
            return 0;
        case bio_ctrl_set_ktls_tx_ctrl_msg:
            io.record_type = static_cast<unsigned char>(num);
            return 0;
        case bio_ctrl_clear_ktls_tx_ctrl_msg:
            io.record_type = 0;
            return 0;
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
