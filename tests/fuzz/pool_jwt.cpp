// libFuzzer target for pier/pool/jwt.hpp. The first byte picks a mode:
// - even: the rest is a token, verified with a fixed key (and the RFC 7515 A.1 key as the
//   previous one). No input can verify: the seeds are signed with other keys or carry no
//   "sub", and forging HMAC-SHA-256 is not something a fuzzer does. Every refusal has a name.
// - odd: the rest builds claims (a sub, an exp, and a "meta" object when the bytes parse as
//   one); sign_hs256 then verify_hs256 must give the same claims back.
#include <pier/pool/detail/base64url.hpp>
#include <pier/pool/jwt.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace pool = pier::pool;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

constexpr std::int64_t now = 1'300'819'370; // before the RFC example's exp
const std::string fixed_key = "pier fuzz key, 32 bytes or more!";

pool::jwt_keys make_keys() {
    std::string rfc;
    pool::detail::base64url_decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        rfc, 64);
    return {fixed_key, rfc};
}

const pool::jwt_keys keys = make_keys();

void never_verifies(std::string_view token) {
    const auto r = pool::verify_hs256(token, keys, now);
    CHECK(r.error != pool::jwt_error::none);
    CHECK(!to_string(r.error).empty());
    CHECK(to_string(r.error) != "unknown_error");
    CHECK(r.key == pool::jwt_key::none);
    CHECK(r.claims.sub.empty());
}

void round_trip(std::string_view bytes) {
    std::string sub;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < bytes.size() && i < 12; ++i) {
        sub.push_back(hex[static_cast<unsigned char>(bytes[i]) >> 4]);
        sub.push_back(hex[static_cast<unsigned char>(bytes[i]) & 15]);
    }
    if (sub.empty())
        sub.push_back('u');
    std::int64_t exp = now + 1;
    for (std::size_t i = 0; i < bytes.size() && i < 4; ++i)
        exp += static_cast<std::int64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    nlohmann::json claims = {{"sub", sub}, {"exp", exp}, {"iat", now}};

    // The rest as "meta" when it is a JSON object no deeper than 8 levels.
    const std::string_view rest = bytes.size() > 4 ? bytes.substr(4) : std::string_view();
    bool too_deep = false;
    auto depth_limit = [&](int depth, nlohmann::json::parse_event_t e, nlohmann::json&) {
        using ev = nlohmann::json::parse_event_t;
        if ((e == ev::object_start || e == ev::array_start) && depth >= 8)
            too_deep = true;
        return !too_deep;
    };
    nlohmann::json meta = nlohmann::json::parse(rest, depth_limit, false);
    const bool with_meta = !too_deep && meta.is_object();
    if (with_meta)
        claims["meta"] = meta;

    const std::string token = pool::sign_hs256(claims, fixed_key);
    CHECK(!token.empty());
    const auto r = pool::verify_hs256(token, keys, now);
    if (token.size() > pool::jwt_options{}.max_token_size) {
        CHECK(r.error == pool::jwt_error::too_large);
        return;
    }
    CHECK(r.error == pool::jwt_error::none);
    CHECK(r.key == pool::jwt_key::current);
    CHECK(r.claims.sub == sub);
    CHECK(r.claims.exp == exp);
    CHECK(r.claims.iat == now);
    if (with_meta)
        CHECK(r.claims.meta == meta);
    else
        CHECK(r.claims.meta.is_null());

    // Any single changed byte breaks it, and never crashes.
    std::string tampered = token;
    const std::size_t at =
        (bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0])) % tampered.size();
    tampered[at] = static_cast<char>(tampered[at] ^ 0x01);
    never_verifies(tampered);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0)
        never_verifies(rest);
    else
        round_trip(rest);
    return 0;
}
