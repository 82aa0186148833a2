// pier/pool/impl/jwt.hpp: out-of-line definitions for <pier/pool/jwt.hpp>.
#pragma once

#include <pier/http/detail/chars.hpp>
#include <pier/pool/detail/base64url.hpp>
#include <pier/pool/jwt.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>
#include <limits>

namespace pier::pool {

constexpr std::string_view to_string(jwt_error e) noexcept {
    switch (e) {
    case jwt_error::none:
        return "none";
    case jwt_error::no_key:
        return "no_key";
    case jwt_error::weak_key:
        return "weak_key";
    case jwt_error::too_large:
        return "too_large";
    case jwt_error::malformed:
        return "malformed";
    case jwt_error::bad_header:
        return "bad_header";
    case jwt_error::unsupported_algorithm:
        return "unsupported_algorithm";
    case jwt_error::bad_signature:
        return "bad_signature";
    case jwt_error::bad_claims:
        return "bad_claims";
    case jwt_error::missing_exp:
        return "missing_exp";
    case jwt_error::bad_exp:
        return "bad_exp";
    case jwt_error::expired:
        return "expired";
    case jwt_error::bad_nbf:
        return "bad_nbf";
    case jwt_error::not_yet_valid:
        return "not_yet_valid";
    case jwt_error::bad_iat:
        return "bad_iat";
    case jwt_error::missing_sub:
        return "missing_sub";
    case jwt_error::bad_sub:
        return "bad_sub";
    case jwt_error::bad_meta:
        return "bad_meta";
    case jwt_error::bad_issuer:
        return "bad_issuer";
    case jwt_error::bad_audience:
        return "bad_audience";
    }
    return "unknown_error";
}

namespace detail {

inline constexpr std::size_t hs256_size = 32;

inline bool hmac_sha256(std::string_view key, std::string_view data,
                        std::array<unsigned char, hs256_size>& out) noexcept {
    if (key.size() > static_cast<std::size_t>(INT_MAX))
        return false;
    unsigned int n = 0;
    const unsigned char* r =
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &n);
    return r != nullptr && n == hs256_size;
}

// Parses `text` as a JSON object no deeper than `max_depth` (the object itself is level 1)
// whose members all have distinct names. nlohmann/json keeps the last of two equal names
// without a word; RFC 7519 §4 allows that, but a token whose readers may disagree about its
// claims is refused here instead.
inline bool parse_object(std::string_view text, std::size_t max_depth, nlohmann::json& out) {
    bool too_deep = false;
    std::size_t top_level_keys = 0;
    auto cb = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
        using ev = nlohmann::json::parse_event_t;
        // `depth` counts the containers around the event: 0 for the outer object's start.
        if ((event == ev::object_start || event == ev::array_start) &&
            static_cast<std::size_t>(depth) >= max_depth) {
            too_deep = true;
            return false;
        }
        if (event == ev::key && depth == 1)
            ++top_level_keys;
        return true;
    };
    out = nlohmann::json::parse(text, cb, /*allow_exceptions=*/false);
    return !too_deep && out.is_object() && out.size() == top_level_keys;
}

// A NumericDate (RFC 7519 §2) as an integer that fits in int64; fractions are refused.
inline bool integer_claim(const nlohmann::json& v, std::int64_t& out) noexcept {
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return false;
        out = static_cast<std::int64_t>(u);
        return true;
    }
    if (v.is_number_integer()) {
        out = v.get<std::int64_t>();
        return true;
    }
    return false;
}

inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min();
    return r;
}

inline jwt_error check_header(const nlohmann::json& h) {
    const auto alg = h.find("alg");
    if (alg == h.end() || !alg->is_string())
        return jwt_error::bad_header;
    if (alg->get_ref<const std::string&>() != "HS256")
        return jwt_error::unsupported_algorithm;
    if (const auto typ = h.find("typ"); typ != h.end()) {
        // RFC 7515 §4.1.9: a media type, compared case-insensitively, "application/" optional.
        if (!typ->is_string())
            return jwt_error::bad_header;
        const auto& t = typ->get_ref<const std::string&>();
        if (!http::detail::iequals(t, "JWT") && !http::detail::iequals(t, "application/jwt"))
            return jwt_error::bad_header;
    }
    if (h.contains("crit"))
        return jwt_error::bad_header;
    return jwt_error::none;
}

inline jwt_error check_claims(nlohmann::json& c, std::int64_t now, const jwt_options& o,
                              jwt_claims& out) {
    const std::int64_t leeway = o.leeway_seconds > 0 ? o.leeway_seconds : 0;

    const auto exp = c.find("exp");
    if (exp == c.end())
        return jwt_error::missing_exp;
    if (!integer_claim(*exp, out.exp))
        return jwt_error::bad_exp;
    // RFC 7519 §4.1.4: valid only while now is before exp.
    if (now >= saturating_add(out.exp, leeway))
        return jwt_error::expired;

    if (const auto nbf = c.find("nbf"); nbf != c.end()) {
        std::int64_t v;
        if (!integer_claim(*nbf, v))
            return jwt_error::bad_nbf;
        // RFC 7519 §4.1.5: valid from nbf on.
        if (saturating_add(now, leeway) < v)
            return jwt_error::not_yet_valid;
        out.nbf = v;
    }
    if (const auto iat = c.find("iat"); iat != c.end()) {
        std::int64_t v;
        if (!integer_claim(*iat, v))
            return jwt_error::bad_iat;
        out.iat = v;
    }

    const auto sub = c.find("sub");
    if (sub == c.end())
        return jwt_error::missing_sub;
    if (!sub->is_string())
        return jwt_error::bad_sub;
    const auto& s = sub->get_ref<const std::string&>();
    if (s.empty() || s.size() > o.max_sub_size)
        return jwt_error::bad_sub;
    // User ids end up in logs and admin listings: no control characters.
    for (char ch : s)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
            return jwt_error::bad_sub;

    if (!o.issuer.empty()) {
        const auto iss = c.find("iss");
        if (iss == c.end() || !iss->is_string() || iss->get_ref<const std::string&>() != o.issuer)
            return jwt_error::bad_issuer;
    }
    if (!o.audience.empty()) {
        // RFC 7519 §4.1.3: one string, or an array of strings.
        const auto aud = c.find("aud");
        bool found = false;
        if (aud != c.end() && aud->is_string())
            found = aud->get_ref<const std::string&>() == o.audience;
        else if (aud != c.end() && aud->is_array())
            for (const auto& a : *aud)
                if (a.is_string() && a.get_ref<const std::string&>() == o.audience)
                    found = true;
        if (!found)
            return jwt_error::bad_audience;
    }

    if (const auto meta = c.find("meta"); meta != c.end()) {
        if (!meta->is_object() && !meta->is_null())
            return jwt_error::bad_meta;
        out.meta = std::move(*meta);
    }
    out.sub = s;
    return jwt_error::none;
}

} // namespace detail

inline jwt_result verify_hs256(std::string_view token, const jwt_keys& keys,
                               std::int64_t now_seconds, const jwt_options& options) {
    jwt_result r;
    auto fail = [&r](jwt_error e) -> jwt_result {
        r.error = e;
        r.key = jwt_key::none;
        r.claims = {};
        return std::move(r);
    };

    if (keys.current.empty())
        return fail(jwt_error::no_key);
    if (keys.current.size() < jwt_min_key_size ||
        (!keys.previous.empty() && keys.previous.size() < jwt_min_key_size))
        return fail(jwt_error::weak_key);
    if (token.size() > options.max_token_size)
        return fail(jwt_error::too_large);

    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
        dot1 == 0 || dot2 == dot1 + 1 || dot2 + 1 == token.size())
        return fail(jwt_error::malformed);
    const std::string_view header64 = token.substr(0, dot1);
    const std::string_view payload64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature64 = token.substr(dot2 + 1);
    const std::string_view signed_part = token.substr(0, dot2);

    // The header is read before the signature is known to be good, only to pin the
    // algorithm; it gets the tight size bound.
    constexpr auto no_size = static_cast<std::size_t>(-1);
    const std::size_t header_size = detail::base64url_decoded_size(header64.size());
    if (header_size != no_size && header_size > options.max_header_size)
        return fail(jwt_error::too_large);
    std::string buf;
    if (!detail::base64url_decode(header64, buf, options.max_header_size))
        return fail(jwt_error::malformed);
    // A "jwk" (RFC 7515 §4.1.3) is an object at level 2 with arrays ("x5c") at level 3, the
    // deepest a legitimate header goes; one level of slack.
    constexpr std::size_t max_header_depth = 4;
    nlohmann::json header;
    if (!detail::parse_object(buf, max_header_depth, header))
        return fail(jwt_error::bad_header);
    if (const auto e = detail::check_header(header); e != jwt_error::none)
        return fail(e);

    // The payload's base64url is checked now so that every malformed token is called that,
    // but its JSON is not looked at before the signature is known to be good.
    std::string payload;
    if (!detail::base64url_decode(payload64, payload, options.max_token_size) ||
        !detail::base64url_decode(signature64, buf, options.max_token_size))
        return fail(jwt_error::malformed);
    if (buf.size() != detail::hs256_size)
        return fail(jwt_error::bad_signature);
    std::array<unsigned char, detail::hs256_size> mac;
    if (detail::hmac_sha256(keys.current, signed_part, mac) &&
        CRYPTO_memcmp(mac.data(), buf.data(), mac.size()) == 0) {
        r.key = jwt_key::current;
    } else if (!keys.previous.empty() && detail::hmac_sha256(keys.previous, signed_part, mac) &&
               CRYPTO_memcmp(mac.data(), buf.data(), mac.size()) == 0) {
        r.key = jwt_key::previous;
    } else {
        return fail(jwt_error::bad_signature);
    }

    // From here on the claims are the issuer's: still bounded, since a key can leak.
    nlohmann::json claims;
    if (!detail::parse_object(payload, options.max_claims_depth, claims))
        return fail(jwt_error::bad_claims);
    if (const auto e = detail::check_claims(claims, now_seconds, options, r.claims);
        e != jwt_error::none)
        return fail(e);
    return r;
}

inline std::string sign_hs256(const nlohmann::json& claims, std::string_view key) {
    std::string token;
    detail::base64url_append(R"({"alg":"HS256","typ":"JWT"})", token);
    token.push_back('.');
    detail::base64url_append(claims.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                             token);
    std::array<unsigned char, detail::hs256_size> mac;
    if (!detail::hmac_sha256(key, token, mac))
        return {};
    token.push_back('.');
    detail::base64url_append(
        std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()), token);
    return token;
}

} // namespace pier::pool
