// pier — fast, robust network servers on standalone Asio.
// config.hpp: version, the Asio configuration pier relies on, and small portability shims.
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE 1
#endif
#ifndef ASIO_NO_DEPRECATED
#define ASIO_NO_DEPRECATED 1
#endif

// Asio 1.22 recognises clang's C++20 coroutines only through <experimental/coroutine> (libc++'s
// old header). Clang with libstdc++ has <coroutine> and defines __cpp_impl_coroutine: tell Asio.
// From clang 16 on only: clang 14's assembler rejects the coroutine frames it emits with debug
// information ("Cannot represent a difference across sections").
#if defined(__clang__) && __clang_major__ >= 16 && !defined(ASIO_HAS_CO_AWAIT) &&                  \
    !defined(ASIO_DISABLE_CO_AWAIT) && defined(__cpp_impl_coroutine) && __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <asio.hpp>
#include <asio/version.hpp>

#if ASIO_VERSION >= 102400
#include <asio/as_tuple.hpp>
#else
#include <asio/experimental/as_tuple.hpp>
#endif

#define PIER_VERSION_MAJOR 0
#define PIER_VERSION_MINOR 1
#define PIER_VERSION_PATCH 0
#define PIER_VERSION (PIER_VERSION_MAJOR * 10000 + PIER_VERSION_MINOR * 100 + PIER_VERSION_PATCH)

#if !defined(__linux__)
#error "pier: Linux only for now (SO_REUSEPORT, TCP_DEFER_ACCEPT, SIOCINQ/SIOCOUTQ, sendfile)"
#endif

namespace pier {

/// The completion token pier uses inside its coroutines: errors come back as values
/// (`auto [ec, n] = co_await op(..., use_tuple)`) so that no exception is thrown on the hot path.
#if ASIO_VERSION >= 102400
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
#else
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
#endif

/// The type-erased executor of pier's coroutines (that of `asio::awaitable<T>`).
using any_executor = asio::any_io_executor;

} // namespace pier
