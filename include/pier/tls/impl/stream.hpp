// pier/tls/impl/stream.hpp: out-of-line definitions of pier::tls::stream.
#pragma once

#include <pier/tls/stream.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace pier::tls {

namespace detail {

/// Where small buffers are gathered into one record. SSL_write_ex encrypts them into OpenSSL's
/// own record buffer before returning (even when the send blocks), so the area is free again
/// after every call and one per thread serves all connections. Allocated on first use, so
/// threads that never write TLS pay nothing.
inline char* staging_area(std::size_t size) {
    thread_local std::unique_ptr<char[]> area;
    if (!area)
        area.reset(new char[size]);
    return area.get();
}

inline constexpr std::string_view plain_http_body =
    "This port speaks HTTPS (TLS); plain HTTP was refused.\n";
inline constexpr std::string_view plain_http_answer =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 54\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS (TLS); plain HTTP was refused.\n";
static_assert(plain_http_answer.ends_with(plain_http_body) && plain_http_body.size() == 54,
              "Content-Length must match the body");

} // namespace detail

template <class E>
stream<E>::stream(socket_type&& socket, context& ctx) noexcept
    : socket_(std::move(socket)), context_(&ctx) {
    io_.socket = &socket_;
    std::error_code ec;
    socket_.non_blocking(true, ec);
}

template <class E> stream<E>::~stream() {
    if (ssl_)
        ::SSL_free(ssl_); // frees the BIO too; neither does I/O
}

// --- negotiated parameters ----------------------------------------------------------------

template <class E> std::string_view stream<E>::alpn() const noexcept {
    if (!ssl_)
        return {};
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    ::SSL_get0_alpn_selected(ssl_, &p, &len);
    return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

template <class E> std::string_view stream<E>::server_name() const noexcept {
    if (!ssl_)
        return {};
    const char* name = ::SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name ? std::string_view(name) : std::string_view();
}

template <class E> std::string_view stream<E>::version() const noexcept {
    return handshake_done_ ? std::string_view(::SSL_get_version(ssl_)) : std::string_view();
}

template <class E> std::string_view stream<E>::cipher() const noexcept {
    if (!handshake_done_)
        return {};
    const char* name = ::SSL_CIPHER_get_name(::SSL_get_current_cipher(ssl_));
    return name ? std::string_view(name) : std::string_view();
}

template <class E> bool stream<E>::session_reused() const noexcept {
    return handshake_done_ && ::SSL_session_reused(ssl_) == 1;
}

template <class E> std::uint64_t stream<E>::generation() const noexcept {
    return set_ ? set_->generation() : 0;
}

// --- errors -------------------------------------------------------------------------------

// Classifies the failure of an SSL_* call that returned `ret`: a wait (`w` says for what and
// the code is would_block) or an error, which is then sticky: OpenSSL forbids further I/O
// (and SSL_shutdown) after SSL_ERROR_SSL or SSL_ERROR_SYSCALL.
template <class E> std::error_code stream<E>::failure(int ret, want& w) noexcept {
    w = want::nothing;
    switch (::SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
        w = want::read;
        return make_error_code(asio::error::would_block);
    case SSL_ERROR_WANT_WRITE:
        w = want::write;
        return make_error_code(asio::error::would_block);
    case SSL_ERROR_ZERO_RETURN: // close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF)
        ::ERR_clear_error();
        return make_error_code(asio::error::eof);
    case SSL_ERROR_SYSCALL:
        ::ERR_clear_error();
        error_ = io_.error ? io_.error
                 : io_.eof ? make_error_code(asio::error::eof)
                           : make_error_code(asio::error::connection_aborted);
        return error_;
    default:
        error_ = detail::take_error(make_error_code(asio::ssl::error::unexpected_result));
        return error_;
    }
}

// --- handshake and shutdown -----------------------------------------------------------------

template <class E> bool stream<E>::begin(std::error_code& ec) noexcept {
    // The generation in force now is the one this connection keeps, whatever reloads follow.
    set_ = context_->snapshot();
    ::ERR_clear_error();
    ssl_ = set_ ? ::SSL_new(set_->initial()) : nullptr;
    BIO* bio = ssl_ ? detail::socket_bio<socket_type>::make(&io_) : nullptr;
    if (!bio) {
        ec = detail::take_error(make_error_code(std::errc::not_enough_memory));
        return false;
    }
    ::SSL_set_bio(ssl_, bio, bio); // one BIO for both directions; the SSL owns it
    ::SSL_set_accept_state(ssl_);
    return true;
}

template <class E> asio::awaitable<std::error_code> stream<E>::handshake() {
    if (handshake_done_)
        co_return std::error_code{};
    if (!ssl_) {
        std::error_code ec;
        if (!begin(ec)) {
            error_ = ec;
            co_return ec;
        }
    }
    for (;;) {
        ::ERR_clear_error();
        const int r = ::SSL_do_handshake(ssl_);
        if (r == 1) {
            handshake_done_ = true;
            co_return std::error_code{};
        }
        want w;
        std::error_code ec = failure(r, w);
        if (w == want::nothing) {
            if (detail::ssl_reason(ec) == SSL_R_HTTP_REQUEST && set_->answer_plain_http())
                co_await answer_plain_http();
            if (!error_)
                error_ = ec;
            co_return ec;
        }
        auto [wec] = co_await socket_.async_wait(wait_for(w), use_tuple);
        if (wec) {
            error_ = wec;
            co_return wec;
        }
    }
}

// OpenSSL stops at the first bytes of "GET " & co. and sends no alert (SSL_AD_NO_ALERT), so
// the socket is still clean for a plaintext answer. Then FIN, and the rest of the request is
// read and dropped until the client closes: closing with unread input would make the kernel
// send RST, which can destroy the answer before the client reads it (nginx's lingering close).
// Bounded by the handshake deadline, which closes the socket, and by 64 KiB.
template <class E> asio::awaitable<void> stream<E>::answer_plain_http() {
    std::error_code ec;
    const auto& a = detail::plain_http_answer;
    if (socket_.write_some(asio::const_buffer(a.data(), a.size()), ec) != a.size() || ec)
        co_return;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    char sink[2048];
    for (std::size_t dropped = 0; dropped < 65536;) {
        const std::size_t n = socket_.read_some(asio::buffer(sink), ec);
        if (ec == asio::error::would_block) {
            auto [wec] = co_await socket_.async_wait(asio::socket_base::wait_read, use_tuple);
            if (wec)
                co_return;
            continue;
        }
        if (ec)
            co_return; // the client closed: done
        dropped += n;
    }
}

template <class E> asio::awaitable<void> stream<E>::shutdown() {
    if (ssl_ && handshake_done_ && !error_ && socket_.is_open()) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            ::ERR_clear_error();
            const int r = ::SSL_shutdown(ssl_);
            if (r >= 0)
                break; // sent; RFC 8446 §6.1 lets us close without the client's reply
            want w;
            failure(r, w);
            if (w != want::write || attempt == 1)
                break;
            // The socket buffer is full: wait for room once. A client that reads nothing more
            // keeps this waiting until the idle deadline closes the socket.
            auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_write, use_tuple);
            if (ec)
                break;
        }
        ::ERR_clear_error();
    }
    std::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

// --- non-blocking reads and writes ----------------------------------------------------------

template <class E> bool stream<E>::buffered_input() const noexcept {
    return handshake_done_ && !error_ && ::SSL_has_pending(ssl_) == 1;
}

template <class E>
std::size_t stream<E>::try_read_some(asio::mutable_buffer b, std::error_code& ec) {
    if (error_ || !handshake_done_) {
        ec = error_ ? error_ : make_error_code(asio::error::not_connected);
        return 0;
    }
    ec.clear();
    if (b.size() == 0)
        return 0;
    ::ERR_clear_error();
    std::size_t n = 0;
    const int r = ::SSL_read_ex(ssl_, b.data(), b.size(), &n);
    if (r == 1)
        return n;
    want w;
    ec = failure(r, w);
    if (w != want::nothing)
        read_want_ = w;
    return 0;
}

template <class E>
std::size_t stream<E>::try_write_some(std::span<const asio::const_buffer> bufs,
                                      std::error_code& ec) {
    if (error_ || !handshake_done_) {
        ec = error_ ? error_ : make_error_code(asio::error::not_connected);
        return 0;
    }
    ec.clear();
    std::size_t total = 0;
    std::size_t index = 0; // cursor: bufs[index], `offset` bytes in
    std::size_t offset = 0;
    for (;;) {
        while (index < bufs.size() && offset == bufs[index].size()) {
            ++index;
            offset = 0;
        }
        if (index == bufs.size())
            return total;

        // One record's worth: the bytes of the blocked record if there is one (OpenSSL insists
        // on seeing them again), else as much as fits.
        const std::size_t limit = pending_write_ ? pending_write_ : max_record;
        const char* first = static_cast<const char*>(bufs[index].data()) + offset;
        std::size_t len = std::min(bufs[index].size() - offset, limit);
        const char* data = first;
        if (len < limit && index + 1 < bufs.size()) {
            // Gather the following small buffers into the same record.
            char* area = detail::staging_area(max_record);
            std::memcpy(area, first, len);
            for (std::size_t i = index + 1; i < bufs.size() && len < limit; ++i) {
                const std::size_t take = std::min(bufs[i].size(), limit - len);
                std::memcpy(area + len, bufs[i].data(), take);
                len += take;
            }
            data = area;
        }

        ::ERR_clear_error();
        std::size_t written = 0;
        const int r = ::SSL_write_ex(ssl_, data, len, &written);
        if (r != 1) {
            want w;
            const std::error_code err = failure(r, w);
            if (w != want::nothing) {
                pending_write_ = len;
                write_want_ = w;
                if (total == 0)
                    ec = err;
                return total;
            }
            pending_write_ = 0;
            if (total == 0)
                ec = err; // else reported by the next call (error_ is sticky)
            return total;
        }
        pending_write_ = 0;
        total += written;
        // Advance the cursor by `written` bytes.
        for (std::size_t left = written; left > 0;) {
            const std::size_t step = std::min(left, bufs[index].size() - offset);
            offset += step;
            left -= step;
            if (offset == bufs[index].size() && left > 0) {
                ++index;
                offset = 0;
            }
        }
    }
}

template <class E>
std::size_t stream<E>::try_send_file(int fd, std::uint64_t offset, std::size_t size,
                                     std::error_code& ec) {
    if (error_ || !handshake_done_) {
        ec = error_ ? error_ : make_error_code(asio::error::not_connected);
        return 0;
    }
    ec.clear();
    if (!raw_writes()) {
        ec = make_error_code(asio::error::operation_not_supported);
        return 0;
    }
    if (size == 0)
        return 0;
    ::ERR_clear_error();
    errno = 0;
    const auto r = ::SSL_sendfile(ssl_, fd, static_cast<off_t>(offset), size, 0);
    const int e = errno;
    ::ERR_clear_error();
    if (r >= 0)
        return static_cast<std::size_t>(r);
    // SSL_sendfile reports sendfile(2)'s failures through errno (and marks EAGAIN as a retry
    // without setting the state SSL_get_error looks at), so errno is what tells them apart.
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == EBUSY) {
        write_want_ = want::write;
        ec = make_error_code(asio::error::would_block);
        return 0;
    }
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) {
        ec = make_error_code(asio::error::operation_not_supported);
        return 0;
    }
    error_ = e ? std::error_code(e, asio::error::get_system_category())
               : make_error_code(asio::error::connection_aborted);
    ec = error_;
    return 0;
}

// --- asynchronous operations ----------------------------------------------------------------

// Both operations try first and wait for readiness only on would_block. A result available at
// once is delivered through the executor, as Asio's own operations do, never from inside the
// initiating call.
template <class E> struct stream<E>::read_op {
    stream* s;
    asio::mutable_buffer buffer;
    std::error_code ec{};
    std::size_t n = 0;
    enum class step : std::uint8_t { start, waiting, done } at = step::start;

    template <class Self> void operator()(Self& self, std::error_code wait_ec = {}) {
        if (at == step::done)
            return self.complete(ec, n);
        if (at == step::waiting && wait_ec)
            return self.complete(wait_ec, std::size_t(0));
        if (at == step::waiting && !s->socket_.is_open())
            return self.complete(asio::error::operation_aborted, std::size_t(0));
        n = s->try_read_some(buffer, ec);
        if (ec == asio::error::would_block) {
            at = step::waiting;
            s->socket_.async_wait(wait_for(s->read_want_), std::move(self));
            return;
        }
        if (at == step::start) {
            at = step::done;
            asio::post(std::move(self));
            return;
        }
        self.complete(ec, n);
    }
};

template <class E> struct stream<E>::write_op {
    stream* s;
    std::vector<asio::const_buffer> owned; // a copy of a sequence that is not a span already
    std::span<const asio::const_buffer> buffers;
    std::error_code ec{};
    std::size_t n = 0;
    enum class step : std::uint8_t { start, waiting, done } at = step::start;

    template <class Self> void operator()(Self& self, std::error_code wait_ec = {}) {
        if (at == step::done)
            return self.complete(ec, n);
        if (at == step::waiting && wait_ec)
            return self.complete(wait_ec, std::size_t(0));
        // Closed while the wait's completion was queued: the owner may have freed the buffers
        // already (a failed connection clears its write queue), so touch none of them.
        if (at == step::waiting && !s->socket_.is_open())
            return self.complete(asio::error::operation_aborted, std::size_t(0));
        n = s->try_write_some(buffers, ec);
        if (ec == asio::error::would_block) {
            at = step::waiting;
            s->socket_.async_wait(wait_for(s->write_want_), std::move(self));
            return;
        }
        if (at == step::start) {
            at = step::done;
            asio::post(std::move(self));
            return;
        }
        self.complete(ec, n);
    }
};

template <class E>
template <class MutableBufferSequence, class Token>
auto stream<E>::async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    asio::mutable_buffer first;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
        asio::mutable_buffer b(*it);
        if (b.size() > 0) {
            first = b;
            break;
        }
    }
    return asio::async_compose<Token, void(std::error_code, std::size_t)>(read_op{this, first},
                                                                          token, socket_);
}

template <class E>
template <class ConstBufferSequence, class Token>
auto stream<E>::async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    write_op op{this, {}, {}};
    if constexpr (std::is_convertible_v<const ConstBufferSequence&,
                                        std::span<const asio::const_buffer>>) {
        op.buffers = buffers; // the caller keeps the sequence alive, as Asio requires
    } else {
        for (auto it = asio::buffer_sequence_begin(buffers);
             it != asio::buffer_sequence_end(buffers); ++it)
            op.owned.emplace_back(*it);
        op.buffers = op.owned; // heap storage: stays put when the operation is moved
    }
    return asio::async_compose<Token, void(std::error_code, std::size_t)>(std::move(op), token,
                                                                          socket_);
}

} // namespace pier::tls
