// pier/tls/detail/openssl.hpp: small RAII and error helpers over OpenSSL's C API.
#pragma once

#include <pier/config.hpp>

#include <asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <system_error>

namespace pier::tls::detail {

struct ssl_ctx_deleter {
    void operator()(SSL_CTX* p) const noexcept { ::SSL_CTX_free(p); }
};
struct bio_deleter {
    void operator()(BIO* p) const noexcept { ::BIO_free(p); }
};
struct x509_deleter {
    void operator()(X509* p) const noexcept { ::X509_free(p); }
};
struct evp_pkey_deleter {
    void operator()(EVP_PKEY* p) const noexcept { ::EVP_PKEY_free(p); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, evp_pkey_deleter>;

/// Converts one packed OpenSSL error (`ERR_get_error()`) into an error_code. Library errors use
/// Asio's SSL category, whose message() is OpenSSL's reason string ("http request (SSL
/// routines)", "wrong version number (SSL routines)"), so that what a hook logs is what
/// OpenSSL would print; system errors that OpenSSL 3 wraps keep the system category.
inline std::error_code to_error_code(unsigned long e) noexcept {
#ifdef ERR_SYSTEM_ERROR
    if (ERR_SYSTEM_ERROR(e))
        return {static_cast<int>(ERR_GET_REASON(e)), std::system_category()};
#endif
    return {static_cast<int>(e), asio::error::get_ssl_category()};
}

/// The oldest error in this thread's OpenSSL queue (the root cause; later entries are the
/// callers that passed it on), as an error_code, then clears the queue so that it cannot
/// leak into the next connection handled on this thread. `fallback` if the queue was empty.
inline std::error_code take_error(std::error_code fallback) noexcept {
    const unsigned long e = ::ERR_get_error();
    ::ERR_clear_error();
    return e ? to_error_code(e) : fallback;
}

/// The packed reason of an error_code made by to_error_code, or 0.
inline int ssl_reason(const std::error_code& ec) noexcept {
    if (ec.category() != asio::error::get_ssl_category())
        return 0;
    return ERR_GET_REASON(static_cast<unsigned long>(static_cast<unsigned int>(ec.value())));
}

} // namespace pier::tls::detail
