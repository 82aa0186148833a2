// pier/tls/context.hpp: the certificates and settings every TLS connection of a server starts
// from, reloadable while the server runs (`pier::transport::tls::context`).
#pragma once

#include <pier/tls/detail/openssl.hpp>
#include <pier/tls/options.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace pier::tls {

/// The outcome of building the OpenSSL contexts from `options`: `ok()`, or the error with a
/// message that names the certificate and file at fault.
struct load_result {
    std::error_code error;
    std::string message;
    bool ok() const noexcept { return !error; }
};

namespace detail {

/// One immutable generation of contexts: an SSL_CTX per certificate, all built from the same
/// options, and the SNI name table that picks one. A connection keeps the generation it started
/// its handshake with alive (a shared_ptr in the stream), which is what keeps the raw pointers
/// the OpenSSL callbacks receive valid however reloads interleave with handshakes.
class context_set {
public:
    /// Builds every context; on failure returns null and fills `result`.
    static std::shared_ptr<const context_set> build(const options& o, std::uint64_t generation,
                                                    load_result& result);

    /// The context connections start with: the first certificate's.
    SSL_CTX* initial() const noexcept { return contexts_.front().get(); }
    /// The context whose names match `host` (case-insensitive, wildcards for one label), or
    /// null.
    SSL_CTX* find(std::string_view host) const noexcept;
    bool answer_plain_http() const noexcept { return answer_plain_http_; }
    /// Which `context::generation()` this is.
    std::uint64_t generation() const noexcept { return generation_; }
    std::size_t size() const noexcept { return contexts_.size(); }

private:
    static int on_server_name(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                       const unsigned char* in, unsigned int inlen, void* arg);
    ssl_ctx_ptr make_context(const options& o, const certificate& c, std::size_t index,
                             load_result& result);

    std::vector<ssl_ctx_ptr> contexts_;
    // Sorted by name for binary search; wildcards are stored without their "*.".
    std::vector<std::pair<std::string, SSL_CTX*>> exact_;
    std::vector<std::pair<std::string, SSL_CTX*>> wildcard_;
    std::string alpn_wire_; // RFC 7301 §3.1 ProtocolNameList, without the length prefix
    std::uint64_t generation_ = 0;
    bool reject_unknown_ = false;
    bool answer_plain_http_ = true;
};

} // namespace detail

/// The TLS state shared by all connections of a server: the certificates (one SSL_CTX per
/// certificate, picked by the client's SNI name) and every setting from `options`.
///
/// Reload: `reload()` reads the certificate and key files again and `reload(options)` applies
/// a new configuration. Either builds a complete new generation of contexts first; only if
/// every certificate loads and matches its key is the new generation swapped in, atomically:
/// handshakes that start afterwards use it, connections that already started keep the one
/// they started with until they end (OpenSSL reference-counts each SSL_CTX). On failure the
/// running configuration stays and the result says why. Nothing is dropped either way.
///
/// Thread safety: every member function may be called from any thread, concurrently with
/// connections being accepted. Concurrent reloads are serialised.
class context {
public:
    /// Builds the first generation. Throws `std::system_error` (what() names the certificate
    /// and file) if any certificate cannot be loaded: a server should not start without them.
    explicit context(const options& o);
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    /// Re-reads the certificate and key files of the current options.
    load_result reload();
    /// Switches to `o` (certificates, versions, ciphers, ALPN, …) for new handshakes.
    load_result reload(const options& o);

    /// A copy of the options in force.
    options current_options() const;
    /// 1 after construction, +1 for every successful reload: lets a caller (or a test) tell
    /// which configuration a handshake started from.
    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }

    /// Used by `tls::stream` when a handshake starts: the generation in force.
    std::shared_ptr<const detail::context_set> snapshot() const;

private:
    load_result install(const options& o);

    mutable std::mutex mutex_; // guards set_ and options_; held only to copy or swap them
    std::mutex reload_mutex_;  // serialises reloads, which take milliseconds
    std::shared_ptr<const detail::context_set> set_;
    options options_;
    std::atomic<std::uint64_t> generation_{0};
};

} // namespace pier::tls

#include <pier/tls/impl/context.hpp>
