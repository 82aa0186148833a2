// pier/detail/socket_option.hpp: socket options Asio has no public type for.
#pragma once

#include <pier/config.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstddef>

namespace pier::detail {

/// An int-valued socket option that models Asio's SettableSocketOption and
/// GettableSocketOption, so that `socket.set_option()` works for options Asio does not name
/// (SO_REUSEPORT, TCP_DEFER_ACCEPT, TCP_FASTOPEN, …) without touching `asio::detail`.
template <int Level, int Name> class int_option {
public:
    constexpr int_option() = default;
    constexpr explicit int_option(int v) noexcept : value_(v) {}
    constexpr int value() const noexcept { return value_; }

    template <class Protocol> int level(const Protocol&) const noexcept { return Level; }
    template <class Protocol> int name(const Protocol&) const noexcept { return Name; }
    template <class Protocol> int* data(const Protocol&) noexcept { return &value_; }
    template <class Protocol> const int* data(const Protocol&) const noexcept { return &value_; }
    template <class Protocol> std::size_t size(const Protocol&) const noexcept {
        return sizeof(value_);
    }
    template <class Protocol> void resize(const Protocol&, std::size_t) {}

private:
    int value_ = 0;
};

using reuse_port = int_option<SOL_SOCKET, SO_REUSEPORT>;
using defer_accept = int_option<IPPROTO_TCP, TCP_DEFER_ACCEPT>;
using fast_open = int_option<IPPROTO_TCP, TCP_FASTOPEN>;

} // namespace pier::detail
