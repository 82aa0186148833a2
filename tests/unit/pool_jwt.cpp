// Unit tests for pier/pool/jwt.hpp: the RFC 7515 A.1 HS256 example, key rotation, every
// jwt_error, the exp/nbf boundaries with and without leeway, and the strict base64url
// decoder behind it.
#include <pier/pier.hpp>
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace pool = pier::pool;
using nlohmann::json;
using pool::jwt_error;

namespace {

const std::string key_a = "0123456789abcdef0123456789abcdef";  // 32 bytes: the minimum
const std::string key_b = "fedcba9876543210fedcba9876543210x"; // 33
const std::string key_c = "a completely different 32-byte k";
constexpr std::int64_t now = 1'800'000'000;

std::string b64(std::string_view s) {
    std::string out;
    pool::detail::base64url_append(s, out);
    return out;
}

std::string mac(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &n);
    return b64(std::string_view(reinterpret_cast<const char*>(md), n));
}

// A token with any header and payload text, correctly signed with `key`: for the paths that
// sign_hs256 never produces.
std::string forge(std::string_view header, std::string_view payload, std::string_view key = key_a) {
    const std::string signing_input = b64(header) + "." + b64(payload);
    return signing_input + "." + mac(key, signing_input);
}

json claims(json extra = json::object()) {
    json c = {{"sub", "user-42"}, {"exp", now + 3600}};
    c.update(extra);
    return c;
}

pool::jwt_keys keys(std::string current = key_a, std::string previous = {}) {
    return {std::move(current), std::move(previous)};
}

std::string error_of(std::string_view token, const pool::jwt_keys& k = keys(), std::int64_t t = now,
                     const pool::jwt_options& o = {}) {
    return std::string(to_string(pool::verify_hs256(token, k, t, o).error));
}

pool::jwt_options strict() {
    pool::jwt_options o;
    o.leeway_seconds = 0;
    return o;
}

// RFC 7515 Appendix A.1 (also RFC 7519 §3.1's example): HS256 with this JWK "k".
constexpr std::string_view rfc_key64 =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
constexpr std::string_view rfc_token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    "."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::int64_t rfc_exp = 1300819380;

std::string rfc_key() {
    std::string k;
    BOOST_REQUIRE(pool::detail::base64url_decode(rfc_key64, k, 1024));
    return k;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_jwt)

BOOST_AUTO_TEST_CASE(rfc7515_a1_example) {
    const auto k = keys(rfc_key());
    BOOST_TEST(k.current.size() == 64u);
    // The signature verifies; the example has no "sub", which the pool requires, so the
    // checks after the signature are what refuse it.
    BOOST_TEST(error_of(rfc_token, k, rfc_exp - 1, strict()) == "missing_sub");
    BOOST_TEST(error_of(rfc_token, k, rfc_exp, strict()) == "expired");
    BOOST_TEST(error_of(rfc_token, k, rfc_exp + 29) == "missing_sub");
    BOOST_TEST(error_of(rfc_token, k, rfc_exp + 30) == "expired");
    // One changed signature byte; one changed payload byte.
    std::string t(rfc_token);
    t[t.size() - 43] = 'e';
    BOOST_TEST(error_of(t, k, rfc_exp - 1) == "bad_signature");
    t = std::string(rfc_token);
    t[50] = t[50] == 'A' ? 'B' : 'A';
    BOOST_TEST(error_of(t, k, rfc_exp - 1) == "bad_signature");
    // The same token as the previous key during a rotation.
    BOOST_TEST(error_of(rfc_token, keys(key_a, rfc_key()), rfc_exp - 1) == "missing_sub");
    BOOST_TEST(error_of(rfc_token, keys(key_a), rfc_exp - 1) == "bad_signature");
}

BOOST_AUTO_TEST_CASE(sign_and_verify) {
    const json meta = {{"name", "Ann"}, {"roles", {"admin", "ops"}}, {"n", 1.5}};
    const std::string token =
        pool::sign_hs256(claims({{"meta", meta}, {"iat", now - 10}, {"nbf", now - 5}}), key_a);
    BOOST_TEST(token.find('=') == std::string::npos);
    const auto r = pool::verify_hs256(token, keys(), now);
    BOOST_TEST_REQUIRE(static_cast<bool>(r));
    BOOST_TEST((r.key == pool::jwt_key::current));
    BOOST_TEST(r.claims.sub == "user-42");
    BOOST_TEST(r.claims.exp == now + 3600);
    BOOST_TEST(r.claims.iat.value() == now - 10);
    BOOST_TEST(r.claims.nbf.value() == now - 5);
    BOOST_TEST(r.claims.meta == meta);

    const auto plain = pool::verify_hs256(pool::sign_hs256(claims(), key_a), keys(), now);
    BOOST_TEST_REQUIRE(static_cast<bool>(plain));
    BOOST_TEST(plain.claims.meta.is_null());
    BOOST_TEST(!plain.claims.nbf.has_value());
    BOOST_TEST(!plain.claims.iat.has_value());
}

BOOST_AUTO_TEST_CASE(key_rotation) {
    const std::string by_a = pool::sign_hs256(claims(), key_a);
    const std::string by_b = pool::sign_hs256(claims(), key_b);
    const std::string by_c = pool::sign_hs256(claims(), key_c);
    const auto rotating = keys(key_b, key_a);

    auto r = pool::verify_hs256(by_b, rotating, now);
    BOOST_TEST((r.key == pool::jwt_key::current));
    r = pool::verify_hs256(by_a, rotating, now);
    BOOST_TEST(static_cast<bool>(r));
    BOOST_TEST((r.key == pool::jwt_key::previous));
    BOOST_TEST(error_of(by_c, rotating) == "bad_signature");
    // Once the old key is dropped, its tokens stop working.
    BOOST_TEST(error_of(by_a, keys(key_b)) == "bad_signature");
    // A failed result carries nothing.
    r = pool::verify_hs256(by_c, rotating, now);
    BOOST_TEST((r.key == pool::jwt_key::none));
    BOOST_TEST(r.claims.sub.empty());
}

BOOST_AUTO_TEST_CASE(configuration_errors) {
    const std::string t = pool::sign_hs256(claims(), key_a);
    BOOST_TEST(error_of(t, keys("")) == "no_key");
    BOOST_TEST(error_of(t, keys("", key_a)) == "no_key");
    BOOST_TEST(error_of(t, keys(key_a.substr(1))) == "weak_key");
    BOOST_TEST(error_of(t, keys(key_a, "short")) == "weak_key");
}

BOOST_AUTO_TEST_CASE(error_names_are_stable) {
    const std::pair<jwt_error, std::string_view> names[] = {
        {jwt_error::none, "none"},
        {jwt_error::no_key, "no_key"},
        {jwt_error::weak_key, "weak_key"},
        {jwt_error::too_large, "too_large"},
        {jwt_error::malformed, "malformed"},
        {jwt_error::bad_header, "bad_header"},
        {jwt_error::unsupported_algorithm, "unsupported_algorithm"},
        {jwt_error::bad_signature, "bad_signature"},
        {jwt_error::bad_claims, "bad_claims"},
        {jwt_error::missing_exp, "missing_exp"},
        {jwt_error::bad_exp, "bad_exp"},
        {jwt_error::expired, "expired"},
        {jwt_error::bad_nbf, "bad_nbf"},
        {jwt_error::not_yet_valid, "not_yet_valid"},
        {jwt_error::bad_iat, "bad_iat"},
        {jwt_error::missing_sub, "missing_sub"},
        {jwt_error::bad_sub, "bad_sub"},
        {jwt_error::bad_meta, "bad_meta"},
        {jwt_error::bad_issuer, "bad_issuer"},
        {jwt_error::bad_audience, "bad_audience"},
    };
    for (const auto& [e, name] : names)
        BOOST_TEST(to_string(e) == name);
}

BOOST_AUTO_TEST_CASE(size_limits) {
    pool::jwt_options o;
    const std::string t =
        pool::sign_hs256(claims({{"meta", {{"pad", std::string(300, 'x')}}}}), key_a);
    o.max_token_size = t.size();
    BOOST_TEST(error_of(t, keys(), now, o) == "none");
    o.max_token_size = t.size() - 1;
    BOOST_TEST(error_of(t, keys(), now, o) == "too_large");
    // A header past its own bound is refused before anything is parsed.
    const std::string big_header =
        forge(R"({"alg":"HS256","x":")" + std::string(1100, 'y') + R"("})", claims().dump());
    BOOST_TEST(error_of(big_header) == "too_large");
    o = {};
    o.max_header_size = 2000;
    BOOST_TEST(error_of(big_header, keys(), now, o) == "none");
}

BOOST_AUTO_TEST_CASE(malformed_tokens) {
    const std::string good = pool::sign_hs256(claims(), key_a);
    BOOST_REQUIRE(error_of(good) == "none");
    const auto dot1 = good.find('.');
    const auto dot2 = good.find('.', dot1 + 1);
    const std::string h = good.substr(0, dot1);
    const std::string p = good.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string s = good.substr(dot2 + 1);
    std::string p_4n1 = p; // a length of 4n+1 is no base64url
    while (p_4n1.size() % 4 != 1)
        p_4n1 += 'A';

    for (const std::string& t : {
             std::string(), std::string("."), std::string(".."), h, h + "." + p, h + "." + p + ".",
             "." + p + "." + s, h + ".." + s, h + "." + p + "." + s + ".",
             h + "." + p + "." + s + "." + s,
             h + "=." + p + "." + s,       // padding
             h + "." + p + "." + s + "=",  // padding
             h + "." + p + "." + s + " ",  // trailing garbage
             " " + h + "." + p + "." + s,  // leading garbage
             h + "." + p + "." + s + "\n", //
             h + "." + p + "\n." + s,      //
             h + "." + p_4n1 + "." + s,    //
         })
        BOOST_TEST(error_of(t) == "malformed", "token: '" << t << "'");

    // The standard alphabet's '+' and '/' instead of '-' and '_'.
    std::string std_alphabet = good;
    bool changed = false;
    for (std::size_t i = dot2 + 1; i < std_alphabet.size(); ++i) {
        if (std_alphabet[i] == '-' || std_alphabet[i] == '_') {
            std_alphabet[i] = std_alphabet[i] == '-' ? '+' : '/';
            changed = true;
        }
    }
    if (!changed) // make the check meaningful whatever this signature looks like
        std_alphabet[dot2 + 1] = '+';
    BOOST_TEST(error_of(std_alphabet) == "malformed");

    // Non-canonical: the unused low bits of the last character are not zero. A 16-byte
    // header ends in a partial group (two characters for one byte): flip a low bit of it.
    std::string noncanon = b64(R"({"alg": "HS256"})");
    BOOST_REQUIRE(noncanon.size() % 4 != 0);
    noncanon.back() = noncanon.back() == 'Q' ? 'R' : static_cast<char>(noncanon.back() + 1);
    BOOST_TEST(error_of(noncanon + "." + p + "." + s) == "malformed");
}

BOOST_AUTO_TEST_CASE(header_rules) {
    const std::string c = claims().dump();
    BOOST_TEST(error_of(forge(R"({"alg":"HS256"})", c)) == "none");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","typ":"JWT"})", c)) == "none");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","typ":"jwt"})", c)) == "none");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","typ":"application/jwt"})", c)) == "none");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","kid":"2026-12"})", c)) == "none");

    BOOST_TEST(error_of(forge(R"({"alg":"none"})", c)) == "unsupported_algorithm");
    BOOST_TEST(error_of(forge(R"({"alg":"HS512"})", c)) == "unsupported_algorithm");
    BOOST_TEST(error_of(forge(R"({"alg":"RS256"})", c)) == "unsupported_algorithm");
    BOOST_TEST(error_of(forge(R"({"alg":"hs256"})", c)) == "unsupported_algorithm");
    BOOST_TEST(error_of(forge(R"({"alg":""})", c)) == "unsupported_algorithm");

    BOOST_TEST(error_of(forge(R"({})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"typ":"JWT"})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":256})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":["HS256"]})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"(["HS256"])", c)) == "bad_header");
    BOOST_TEST(error_of(forge("not json", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256"} x)", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","typ":"JWS"})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","typ":1})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","crit":["exp"]})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","b64":false,"crit":["b64"]})", c)) == "bad_header");
    // Parsers that keep the first "alg" would read "none" here; this one refuses both.
    BOOST_TEST(error_of(forge(R"({"alg":"none","alg":"HS256"})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","jwk":{"k":{"a":{"b":{}}}}})", c)) == "bad_header");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256","jwk":{"k":{"a":{"b":1}}}})", c)) == "none");
}

BOOST_AUTO_TEST_CASE(signature_before_claims) {
    // Claims that are not even JSON: with a bad signature that is all the answer says.
    BOOST_TEST(error_of(forge(R"({"alg":"HS256"})", "{{{{", key_c)) == "bad_signature");
    BOOST_TEST(error_of(forge(R"({"alg":"HS256"})", "{{{{", key_a)) == "bad_claims");
    // Wrong signature lengths.
    const std::string good = pool::sign_hs256(claims(), key_a);
    const std::string short_sig = good.substr(0, good.rfind('.') + 1) + b64(std::string(31, 'x'));
    const std::string long_sig = good.substr(0, good.rfind('.') + 1) + b64(std::string(33, 'x'));
    BOOST_TEST(error_of(short_sig) == "bad_signature");
    BOOST_TEST(error_of(long_sig) == "bad_signature");
}

BOOST_AUTO_TEST_CASE(claims_rules) {
    const std::string_view hdr = R"({"alg":"HS256","typ":"JWT"})";
    auto with = [&](std::string_view payload) { return error_of(forge(hdr, payload)); };
    const std::string exp = std::to_string(now + 60);

    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + "}") == "none");
    BOOST_TEST(with("[]") == "bad_claims");
    BOOST_TEST(with(R"("sub")") == "bad_claims");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + "} x") == "bad_claims");
    BOOST_TEST(with(R"({"sub":"u","sub":"admin","exp":)" + exp + "}") == "bad_claims");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"x":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})") ==
               "bad_claims");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"x":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]})") ==
               "none");

    BOOST_TEST(with(R"({"sub":"u"})") == "missing_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":1.8e9})") == "bad_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":1800000060.0})") == "bad_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":"1800000060"})") == "bad_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":null})") == "bad_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":9223372036854775808})") == "bad_exp");
    BOOST_TEST(with(R"({"sub":"u","exp":9223372036854775807})") == "none");
    BOOST_TEST(with(R"({"sub":"u","exp":-1})") == "expired");

    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"nbf":"x"})") == "bad_nbf");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"nbf":1.5})") == "bad_nbf");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"iat":"x"})") == "bad_iat");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"iat":1.5})") == "bad_iat");

    BOOST_TEST(with(R"({"exp":)" + exp + "}") == "missing_sub");
    BOOST_TEST(with(R"({"sub":42,"exp":)" + exp + "}") == "bad_sub");
    BOOST_TEST(with(R"({"sub":"","exp":)" + exp + "}") == "bad_sub");
    BOOST_TEST(with(R"({"sub":"a\nb","exp":)" + exp + "}") == "bad_sub");
    BOOST_TEST(with(R"({"sub":")" + std::string(256, 'u') + R"(","exp":)" + exp + "}") == "none");
    BOOST_TEST(with(R"({"sub":")" + std::string(257, 'u') + R"(","exp":)" + exp + "}") ==
               "bad_sub");

    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"meta":null})") == "none");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"meta":{}})") == "none");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"meta":[1]})") == "bad_meta");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"meta":"x"})") == "bad_meta");
    BOOST_TEST(with(R"({"sub":"u","exp":)" + exp + R"(,"meta":1})") == "bad_meta");
}

BOOST_AUTO_TEST_CASE(exp_and_nbf_boundaries) {
    const auto o = strict();
    const std::string t = pool::sign_hs256(claims({{"exp", now}, {"nbf", now - 100}}), key_a);
    BOOST_TEST(error_of(t, keys(), now - 1, o) == "none");
    BOOST_TEST(error_of(t, keys(), now, o) == "expired"); // RFC 7519 §4.1.4: before exp only
    BOOST_TEST(error_of(t, keys(), now - 100, o) == "none");
    BOOST_TEST(error_of(t, keys(), now - 101, o) == "not_yet_valid");
    // The default 30 s leeway on both ends.
    BOOST_TEST(error_of(t, keys(), now + 29) == "none");
    BOOST_TEST(error_of(t, keys(), now + 30) == "expired");
    BOOST_TEST(error_of(t, keys(), now - 130) == "none");
    BOOST_TEST(error_of(t, keys(), now - 131) == "not_yet_valid");
    // A negative leeway is no leeway.
    pool::jwt_options negative;
    negative.leeway_seconds = -100;
    BOOST_TEST(error_of(t, keys(), now - 1, negative) == "none");
    BOOST_TEST(error_of(t, keys(), now, negative) == "expired");
    // No overflow at the ends of the range.
    const std::string far =
        pool::sign_hs256(claims({{"exp", std::numeric_limits<std::int64_t>::max()},
                                 {"nbf", std::numeric_limits<std::int64_t>::min()}}),
                         key_a);
    BOOST_TEST(error_of(far, keys(), std::numeric_limits<std::int64_t>::max() - 1) == "none");
    BOOST_TEST(error_of(far, keys(), std::numeric_limits<std::int64_t>::min()) == "none");
    BOOST_TEST(error_of(far, keys(), std::numeric_limits<std::int64_t>::max(), o) == "expired");
}

BOOST_AUTO_TEST_CASE(issuer_and_audience) {
    pool::jwt_options o;
    o.issuer = "https://auth.example";
    o.audience = "pool";
    auto check = [&](json extra) {
        return error_of(pool::sign_hs256(claims(std::move(extra)), key_a), keys(), now, o);
    };
    BOOST_TEST(check({{"iss", "https://auth.example"}, {"aud", "pool"}}) == "none");
    BOOST_TEST(check({{"iss", "https://auth.example"}, {"aud", {"api", "pool"}}}) == "none");
    BOOST_TEST(check({{"iss", "https://auth.example"}, {"aud", {"api"}}}) == "bad_audience");
    BOOST_TEST(check({{"iss", "https://auth.example"}, {"aud", "api"}}) == "bad_audience");
    BOOST_TEST(check({{"iss", "https://auth.example"}}) == "bad_audience");
    BOOST_TEST(check({{"iss", "https://auth.example"}, {"aud", 1}}) == "bad_audience");
    BOOST_TEST(check({{"iss", "https://evil.example"}, {"aud", "pool"}}) == "bad_issuer");
    BOOST_TEST(check({{"aud", "pool"}}) == "bad_issuer");
    // Not asked for, not checked.
    BOOST_TEST(error_of(pool::sign_hs256(claims({{"iss", 5}, {"aud", 6}}), key_a)) == "none");
}

BOOST_AUTO_TEST_CASE(sign_replaces_invalid_utf8) {
    const auto r =
        pool::verify_hs256(pool::sign_hs256(claims({{"sub", "bad\xff"}}), key_a), keys(), now);
    BOOST_TEST_REQUIRE(static_cast<bool>(r));
    BOOST_TEST(r.claims.sub == "bad\xef\xbf\xbd");
}

BOOST_AUTO_TEST_CASE(base64url_is_strict) {
    std::string out;
    // Round trips of every length up to three full groups past a block boundary.
    for (std::size_t n = 0; n <= 40; ++n) {
        std::string bytes;
        for (std::size_t i = 0; i < n; ++i)
            bytes.push_back(static_cast<char>((i * 37 + n) & 0xff));
        const std::string enc = b64(bytes);
        BOOST_TEST(enc.find_first_of("=+/") == std::string::npos);
        BOOST_TEST_REQUIRE(pool::detail::base64url_decode(enc, out, 100));
        BOOST_TEST(out == bytes);
    }
    BOOST_TEST(pool::detail::base64url_decode("", out, 10));
    BOOST_TEST(out.empty());
    BOOST_TEST(pool::detail::base64url_decode("_-8", out, 10));
    BOOST_TEST(out == "\xff\xef");
    BOOST_TEST(!pool::detail::base64url_decode("_-9", out, 10)); // low bits set
    BOOST_TEST(pool::detail::base64url_decode("QQ", out, 10));
    BOOST_TEST(out == "A");
    BOOST_TEST(!pool::detail::base64url_decode("QR", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode("QQ==", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode("Q", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode("QUJD+A", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode("QUJD/A", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode("QU JD", out, 10));
    BOOST_TEST(!pool::detail::base64url_decode(std::string_view("QU\0D", 4), out, 10));
    BOOST_TEST(pool::detail::base64url_decode("QUJD", out, 3));
    BOOST_TEST(!pool::detail::base64url_decode("QUJD", out, 2));
}

BOOST_AUTO_TEST_SUITE_END()
