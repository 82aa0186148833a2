// pier/transport/tcp.hpp: plain TCP, the innermost transport.
#pragma once

#include <pier/config.hpp>
#include <pier/detail/zero_copy.hpp>
#include <pier/fwd.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <utility>

namespace pier::transport {

/// The accepted TCP socket itself, in non-blocking mode so that pier can try a read or write
/// without a round trip through the reactor and fall back to an async wait on `would_block`.
template <class Executor> class tcp_stream {
public:
    using executor_type = Executor;
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, Executor>;

    template <class Context> tcp_stream(socket_type&& s, Context&) : socket_(std::move(s)) {
        std::error_code ec;
        socket_.non_blocking(true, ec);
    }

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& socket() noexcept { return socket_; }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& b, Token&& token) {
        return socket_.async_read_some(b, std::forward<Token>(token));
    }
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& b, Token&& token) {
        return socket_.async_write_some(b, std::forward<Token>(token));
    }

private:
    socket_type socket_;
};

/// Plain TCP: no handshake, gather writes straight to writev(2).
struct tcp {
    using category = pier::category::transport;
    /// Nothing to configure.
    struct options {};
    struct context {
        explicit context(const options&) noexcept {}
    };
    template <class Executor> using stream = tcp_stream<Executor>;
    /// `handshake` completes at once: pier may skip it (and the coroutine it costs).
    static constexpr bool has_handshake = false;
    /// The stream is the socket alone: an idle connection may leave the reactor (ws parking).
    static constexpr bool detachable = true;

    template <class E> static auto& socket(tcp_stream<E>& s) noexcept { return s.socket(); }

    template <class E, class Context>
    static asio::awaitable<std::error_code> handshake(tcp_stream<E>&, Context&) {
        co_return std::error_code{};
    }
    template <class E>
    static std::size_t try_read_some(tcp_stream<E>& s, asio::mutable_buffer b,
                                     std::error_code& ec) {
        return s.socket().read_some(b, ec);
    }
    template <class E>
    static std::size_t try_write_some(tcp_stream<E>& s, std::span<const asio::const_buffer> b,
                                      std::error_code& ec) {
        return s.socket().write_some(b, ec);
    }
    template <class E> static constexpr bool buffered_input(tcp_stream<E>&) noexcept {
        return false;
    }

    // Zero copy (the optional members concepts.hpp describes): what the socket carries is the
    // stream itself, so the kernel may move file and socket bytes to it directly.
    template <class E> static constexpr bool raw_writes(tcp_stream<E>&) noexcept { return true; }
    template <class E> static constexpr bool raw_reads(tcp_stream<E>&) noexcept { return true; }
    /// sendfile(2).
    template <class E>
    static std::size_t send_file(tcp_stream<E>& s, int fd, std::uint64_t offset, std::size_t n,
                                 std::error_code& ec) {
        return detail::sendfile_some(s.socket().native_handle(), fd, offset, n, ec);
    }
    /// A gather write with MSG_MORE: the kernel holds a partial segment for the file bytes
    /// that follow (a response header before its sendfile body) instead of sending it alone.
    template <class E>
    static std::size_t try_write_some_more(tcp_stream<E>& s, std::span<const asio::const_buffer> b,
                                           std::error_code& ec) {
        return s.socket().send(b, MSG_MORE, ec);
    }
    /// Nothing to do: close(2) sends the FIN (pier shuts the socket down itself when it
    /// lingers to drain the peer's input).
    template <class E> static asio::awaitable<void> shutdown(tcp_stream<E>&) { co_return; }
};

} // namespace pier::transport
