// pier/detail/hooks.hpp: detecting and calling a handler's optional hooks, for the core and
// the WebSocket layer alike. A hook is detected by its name or by a matching call; a hook that
// exists by name but cannot be called as documented is a compile-time error (with the
// documented signature in the message) rather than being silently skipped.
#pragma once

#include <pier/config.hpp>

#include <exception>
#include <string_view>
#include <system_error>
#include <utility>

namespace pier::detail {

// The one mechanism: for each hook name, whether a handler names it, and whether it can be
// called with given arguments. A member template with one type parameter (`template <class S>
// void on_close(S&)`, the usual WebSocket style) counts as naming it: `&H::template NAME<int>`
// forms only the declaration, so a wrong parameter list is still reported, not skipped.
#define PIER_DETAIL_HOOK_CONCEPTS(NAME)                                                            \
    template <class H>                                                                             \
    concept names_##NAME = requires {                                                              \
        &H::NAME;                                                                                  \
    }                                                                                              \
    || requires {                                                                                  \
        &H::template NAME<int>;                                                                    \
    };                                                                                             \
    template <class H, class... Args>                                                              \
    concept calls_##NAME = requires(H & h, Args && ... args) {                                     \
        h.NAME(std::forward<Args>(args)...);                                                       \
    };                                                                                             \
    template <class H, class... Args>                                                              \
    inline constexpr bool has_##NAME = names_##NAME<H> || calls_##NAME<H, Args...>;

// A `call_<NAME>(h, args...)` that calls the hook if the handler has it (the signature text
// goes into the error of a hook that has the name but not the signature), and says whether
// it did.
#define PIER_DETAIL_HOOK_CALL(FN, NAME, SIGNATURE_TEXT)                                            \
    template <class H, class... Args> bool FN(H& h, Args&&... args) {                              \
        if constexpr (::pier::detail::names_##NAME<H> ||                                           \
                      ::pier::detail::calls_##NAME<H, Args...>) {                                  \
            static_assert(::pier::detail::calls_##NAME<H, Args...>, SIGNATURE_TEXT);               \
            h.NAME(std::forward<Args>(args)...);                                                   \
            return true;                                                                           \
        } else {                                                                                   \
            return false;                                                                          \
        }                                                                                          \
    }

PIER_DETAIL_HOOK_CONCEPTS(on_open)
PIER_DETAIL_HOOK_CONCEPTS(on_close)
PIER_DETAIL_HOOK_CONCEPTS(on_reject)
PIER_DETAIL_HOOK_CONCEPTS(on_handshake_error)
PIER_DETAIL_HOOK_CONCEPTS(on_accept_error)
PIER_DETAIL_HOOK_CONCEPTS(on_accept)
PIER_DETAIL_HOOK_CONCEPTS(on_hook_error)
PIER_DETAIL_HOOK_CONCEPTS(on_drain)
PIER_DETAIL_HOOK_CONCEPTS(on_pong)
PIER_DETAIL_HOOK_CONCEPTS(on_http)
PIER_DETAIL_HOOK_CONCEPTS(accept)

// The core's hooks (concepts.hpp lists them).
PIER_DETAIL_HOOK_CALL(call_on_open, on_open,
                      "pier: the handler's on_open must be callable as void on_open(connection&)")
PIER_DETAIL_HOOK_CALL(call_on_close, on_close,
                      "pier: the handler's on_close must be callable as void on_close(connection&, "
                      "std::error_code)")
PIER_DETAIL_HOOK_CALL(call_on_reject, on_reject,
                      "pier: the handler's on_reject must be callable as void on_reject(socket&, "
                      "std::error_code)")
PIER_DETAIL_HOOK_CALL(call_on_handshake_error, on_handshake_error,
                      "pier: the handler's on_handshake_error must be callable as void "
                      "on_handshake_error(const asio::ip::tcp::endpoint&, std::error_code)")
PIER_DETAIL_HOOK_CALL(call_on_accept_error, on_accept_error,
                      "pier: the handler's on_accept_error must be callable as void "
                      "on_accept_error(std::error_code)")
PIER_DETAIL_HOOK_CALL(call_on_hook_error, on_hook_error,
                      "pier: the handler's on_hook_error must be callable as void "
                      "on_hook_error(std::string_view hook, std::exception_ptr)")

/// Whether a transport's handshake does anything (transports may say `has_handshake = false`).
template <class T>
inline constexpr bool has_handshake = [] {
    if constexpr (requires { T::has_handshake; })
        return bool(T::has_handshake);
    else
        return true;
}();

/// Whether a transport's stream is its socket alone (transports say `detachable = true`), so
/// that an idle connection may leave Asio's reactor and do its I/O with raw system calls.
template <class T>
inline constexpr bool detachable = [] {
    if constexpr (requires { T::detachable; })
        return bool(T::detachable);
    else
        return false;
}();

} // namespace pier::detail
