// pier/detail/hooks.hpp: calling a handler's optional hooks. A hook is detected by its name
// or by a matching call; a hook that exists by name but cannot be called as documented is a
// compile-time error rather than being silently skipped.
#pragma once

#include <pier/config.hpp>

#include <system_error>
#include <utility>

namespace pier::detail {

#define PIER_DETAIL_HOOK(NAME, SIGNATURE_TEXT)                                                     \
    template <class H>                                                                             \
    concept names_##NAME = requires {                                                              \
        &H::NAME;                                                                                  \
    };                                                                                             \
    template <class H, class... Args>                                                              \
    concept calls_##NAME = requires(H & h, Args && ... args) {                                     \
        h.NAME(std::forward<Args>(args)...);                                                       \
    };                                                                                             \
    template <class H, class... Args> void call_##NAME(H& h, Args&&... args) {                     \
        if constexpr (names_##NAME<H> || calls_##NAME<H, Args...>) {                               \
            static_assert(calls_##NAME<H, Args...>,                                                \
                          "pier: the handler's " #NAME " must be callable as " SIGNATURE_TEXT);    \
            h.NAME(std::forward<Args>(args)...);                                                   \
        }                                                                                          \
    }                                                                                              \
    template <class H, class... Args>                                                              \
    inline constexpr bool has_##NAME = names_##NAME<H> || calls_##NAME<H, Args...>;

PIER_DETAIL_HOOK(on_open, "void on_open(connection&)")
PIER_DETAIL_HOOK(on_close, "void on_close(connection&, std::error_code)")
PIER_DETAIL_HOOK(on_reject, "void on_reject(socket&, std::error_code)")
PIER_DETAIL_HOOK(on_handshake_error,
                 "void on_handshake_error(const asio::ip::tcp::endpoint&, std::error_code)")
PIER_DETAIL_HOOK(on_accept_error, "void on_accept_error(std::error_code)")

#undef PIER_DETAIL_HOOK

/// Whether a transport's handshake does anything (transports may say `has_handshake = false`).
template <class T>
inline constexpr bool has_handshake = [] {
    if constexpr (requires { T::has_handshake; })
        return bool(T::has_handshake);
    else
        return true;
}();

} // namespace pier::detail
