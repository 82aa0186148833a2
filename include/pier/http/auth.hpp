// pier/http/auth.hpp: checking `Authorization: Bearer <token>` (RFC 6750 §2.1) against a
// configured secret, in time that tells an attacker nothing about the secret.
//
//     pier::http::bearer_token admin(config.admin_token);   // once
//     auto r = admin.check(req);
//     if (r != pier::http::auth_result::ok)
//         return pier::http::append_unauthorized(out, pier::http::to_string(r), opts);
//
// Why digests: comparing the presented token with the secret byte by byte would return
// sooner the earlier they differ, and even a constant-time compare needs equal lengths, so a
// length check first would reveal the secret's length. Both sides are hashed with SHA-256
// (OpenSSL) and the two 32-byte digests compared with CRYPTO_memcmp, whose time does not
// depend on where they differ. Hashing the presented token takes time that depends only on
// its own length, which the attacker knows anyway.
//
// Thread safety: a bearer_token is immutable after construction; check() is safe from any
// number of threads.
#pragma once

#include <pier/http/detail/chars.hpp>
#include <pier/http/request.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace pier::http {

/// The outcome of a bearer-token check; to_string gives the name to log and to answer with.
enum class auth_result : std::uint8_t {
    ok,
    missing,   ///< no Authorization field ("missing_token")
    malformed, ///< not "Bearer <b64token>", or the field twice ("malformed_authorization")
    invalid,   ///< a well-formed token that is not the secret ("invalid_token")
    disabled,  ///< no secret configured: nobody is let in ("admin_disabled")
};

constexpr std::string_view to_string(auth_result r) noexcept {
    switch (r) {
    case auth_result::ok:
        return "ok";
    case auth_result::missing:
        return "missing_token";
    case auth_result::malformed:
        return "malformed_authorization";
    case auth_result::invalid:
        return "invalid_token";
    case auth_result::disabled:
        return "admin_disabled";
    }
    return "invalid_token";
}

/// A configured bearer token, kept only as its SHA-256 digest.
class bearer_token {
public:
    /// An empty `secret` disables the check: every request is refused with `disabled`.
    explicit bearer_token(std::string_view secret) noexcept
        : enabled_(!secret.empty() && sha256(secret, digest_)) {}

    /// Checks one Authorization field value (nullopt: the request had none). The scheme is
    /// case-insensitive (RFC 9110 §11.1); the token must be an RFC 6750 b64token.
    auth_result check(std::optional<std::string_view> authorization) const noexcept {
        if (!enabled_)
            return auth_result::disabled;
        if (!authorization)
            return auth_result::missing;
        std::string_view v = *authorization;
        if (v.size() < 7 || !detail::iequals(v.substr(0, 6), "bearer") || v[6] != ' ')
            return auth_result::malformed;
        v.remove_prefix(7);
        while (!v.empty() && v.front() == ' ')
            v.remove_prefix(1);
        if (!is_b64token(v))
            return auth_result::malformed;
        std::array<unsigned char, 32> presented{};
        if (!sha256(v, presented))
            return auth_result::invalid;
        return CRYPTO_memcmp(presented.data(), digest_.data(), presented.size()) == 0
                   ? auth_result::ok
                   : auth_result::invalid;
    }

    /// Checks a request's Authorization field; two of them are `malformed`.
    auth_result check(const request_view& req) const noexcept {
        if (enabled_ && req.count("authorization") > 1)
            return auth_result::malformed;
        return check(req.find("authorization"));
    }

    bool enabled() const noexcept { return enabled_; }

private:
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    static constexpr bool is_b64token(std::string_view t) noexcept {
        std::size_t i = 0;
        for (; i < t.size(); ++i) {
            const char c = t[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
                break;
        }
        if (i == 0)
            return false;
        for (; i < t.size(); ++i)
            if (t[i] != '=')
                return false;
        return true;
    }

    static bool sha256(std::string_view s, std::array<unsigned char, 32>& out) noexcept {
        unsigned int n = 0;
        return EVP_Digest(s.data(), s.size(), out.data(), &n, EVP_sha256(), nullptr) == 1 &&
               n == out.size();
    }

    std::array<unsigned char, 32> digest_{};
    bool enabled_;
};

} // namespace pier::http
