// pier/pool/jwt.hpp: the pool's bundled token verifier, HS256 JSON Web Tokens (RFC 7519)
// in JWS compact serialisation (RFC 7515 §7.1), with key rotation.
//
//     pier::pool::jwt_keys keys{.current = secret, .previous = old_secret};
//     auto r = pier::pool::verify_hs256(token, keys, unix_seconds_now);
//     if (!r)
//         refuse(to_string(r.error));              // e.g. "expired"; never log the token
//     else
//         admit(r.claims.sub, r.claims.meta);
//
// What is checked, in this order, and the error each failure gives:
// 1. the keys: current is set and both are at least 32 bytes (RFC 7518 §3.2: an HS256 key
//    MUST be at least as long as the hash) — no_key, weak_key;
// 2. the token's size, then its shape: three base64url segments (RFC 7515 §2: no padding,
//    URL-safe alphabet only, unused bits zero, so each token has exactly one spelling) —
//    too_large, malformed;
// 3. the header: a JSON object with "alg": "HS256" (the algorithm is pinned, never taken from
//    the token: "none" and every other value are refused), "typ" absent or "JWT", no "crit"
//    (no extensions are understood, RFC 7515 §4.1.11), no field twice — bad_header,
//    unsupported_algorithm;
// 4. the signature: HMAC-SHA-256 over the raw `header.payload` bytes with the current key,
//    then the previous one, compared in constant time (CRYPTO_memcmp after a length check) —
//    bad_signature. Nothing in the payload is parsed before this succeeds;
// 5. the claims: a JSON object within the size and depth limits, no claim twice — bad_claims;
//    "exp" an integer (missing_exp, bad_exp) not in the past (expired); "nbf" and "iat"
//    integers when present (bad_nbf, bad_iat), nbf not in the future (not_yet_valid); "sub" a
//    non-empty string (missing_sub, bad_sub); "meta" an object or null when present
//    (bad_meta); "iss" and "aud" when jwt_options asks for them (bad_issuer, bad_audience).
//
// Why not a JWT library: Debian's libjwt 1.10 compares signatures with strcmp (a timing
// oracle, and it stops at a NUL byte), takes the algorithm from the token's own header
// (`alg: none`, algorithm confusion) and does not check `exp`. HMAC and the constant-time
// compare come from OpenSSL; only the base64url decoding is written here (see detail below).
//
// Tokens are secrets: nothing here logs, and jwt_error names never include token text.
//
// Thread safety: the functions are reentrant.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pier::pool {

/// The HMAC secrets tokens are signed with. During a key rotation the issuer signs with the
/// new key while tokens signed with the old one are still in clients' hands: set `current`
/// to the new key and `previous` to the old until the old tokens have expired.
struct jwt_keys {
    /// The key new tokens are signed with. At least `jwt_min_key_size` bytes.
    std::string current{};
    /// The key being retired; empty for none. At least `jwt_min_key_size` bytes when set.
    std::string previous{};
};

/// The shortest key accepted: 32 bytes, the output size of SHA-256 (RFC 7518 §3.2).
inline constexpr std::size_t jwt_min_key_size = 32;

/// Limits and optional checks for verify_hs256.
struct jwt_options {
    /// Longest token, in bytes. Default 8192: typical tokens are 200–1000 bytes; a token
    /// travels in a URL or a header, where 8 KiB is what servers commonly accept at all.
    std::size_t max_token_size = 8192;
    /// Longest decoded header, in bytes. Default 1024: {"alg":"HS256","typ":"JWT"} is 27; the
    /// header is parsed before the signature is known to be good, so it gets a tight bound.
    std::size_t max_header_size = 1024;
    /// Deepest nesting of the claims (the claims object is level 1). Default 16: "meta" is
    /// per-connection data the application attaches, not a document.
    std::size_t max_claims_depth = 16;
    /// Longest `sub`, in bytes. Default 256: user ids are registry keys.
    std::size_t max_sub_size = 256;
    /// Seconds of clock skew tolerated on `exp` and `nbf` (RFC 7519 §4.1.4 allows "some
    /// small leeway"). Default 30: the issuing backend and the pool run on different hosts,
    /// and hosts without tight NTP drift by seconds; refusing a fresh token (nbf = now on a
    /// host a little ahead) fails a real user, while 30 more seconds of life for a token that
    /// lives minutes to hours gives a thief little. 0 for strict checks.
    std::int64_t leeway_seconds = 30;
    /// When not empty, `iss` must equal it.
    std::string issuer{};
    /// When not empty, `aud` (a string, or an array of strings) must contain it. Set it when
    /// one secret signs tokens for more than one service.
    std::string audience{};
};

/// Why a token was refused. `to_string` gives a stable snake_case name.
enum class jwt_error : std::uint8_t {
    none,
    no_key,                ///< jwt_keys::current is empty (a configuration error)
    weak_key,              ///< a key shorter than jwt_min_key_size (a configuration error)
    too_large,             ///< the token, or its decoded header, is over the limit
    malformed,             ///< not three well-formed base64url segments
    bad_header,            ///< the header is not a JSON object as required
    unsupported_algorithm, ///< "alg" is anything but "HS256" ("none" included)
    bad_signature,         ///< neither key produced this signature
    bad_claims,            ///< the claims are not a JSON object, too deep, or repeat a claim
    missing_exp,           ///< no "exp"
    bad_exp,               ///< "exp" is not an integer that fits in 64 bits
    expired,               ///< now >= exp + leeway
    bad_nbf,               ///< "nbf" is not an integer
    not_yet_valid,         ///< now + leeway < nbf
    bad_iat,               ///< "iat" is not an integer
    missing_sub,           ///< no "sub"
    bad_sub,               ///< "sub" is not a string, is empty, or is too long
    bad_meta,              ///< "meta" is neither an object nor null
    bad_issuer,            ///< jwt_options::issuer is set and "iss" differs
    bad_audience,          ///< jwt_options::audience is set and "aud" does not contain it
};

/// "none", "no_key", "weak_key", …: the enumerator's name.
constexpr std::string_view to_string(jwt_error e) noexcept;

/// What a valid token says.
struct jwt_claims {
    /// The user id.
    std::string sub;
    /// Expiry, seconds since the Unix epoch.
    std::int64_t exp = 0;
    std::optional<std::int64_t> nbf;
    std::optional<std::int64_t> iat;
    /// The application's per-connection data: an object, or null when the token has none.
    nlohmann::json meta;
};

/// Which key verified a token: the pool can count tokens still signed with the retiring one.
enum class jwt_key : std::uint8_t { none, current, previous };

struct jwt_result {
    jwt_error error = jwt_error::none;
    jwt_key key = jwt_key::none;
    /// Filled only when `error` is none.
    jwt_claims claims;

    explicit operator bool() const noexcept { return error == jwt_error::none; }
};

/// Verifies an HS256 JWT (see the top of this file for every check). `now_seconds` is the
/// current Unix time (system clock). Throws only std::bad_alloc.
jwt_result verify_hs256(std::string_view token, const jwt_keys& keys, std::int64_t now_seconds,
                        const jwt_options& options = {});

/// Signs `claims` as an HS256 JWT with header {"alg":"HS256","typ":"JWT"}, for tests,
/// benchmarks and demo tokens (a production issuer is usually another service). Strings in
/// `claims` that are not valid UTF-8 are written with U+FFFD. Returns an empty string if
/// OpenSSL cannot compute the HMAC.
std::string sign_hs256(const nlohmann::json& claims, std::string_view key);

} // namespace pier::pool

#include <pier/pool/impl/jwt.hpp>
