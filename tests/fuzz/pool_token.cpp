// libFuzzer target for pier/pool/token.hpp. The input is split at '\n' into a query, an
// Authorization value and a Sec-WebSocket-Protocol value (the first byte's low bits turn
// sources off). A token that comes out is a non-empty b64token within the size limit and is a
// piece of the source it names (or of the scratch string, for a decoded query value); an
// error leaves the token empty.
#include <pier/pool/token.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace pool = pier::pool;
namespace http = pier::http;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool b64token_char(char c, bool subprotocol) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || (!subprotocol && (c == '/' || c == '='));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    pool::token_options o;
    o.from_authorization = (data[0] & 1) == 0;
    o.from_subprotocol = (data[0] & 2) == 0;
    o.from_query = (data[0] & 4) == 0;
    o.max_size = (data[0] & 8) ? 16 : 8192;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

    std::string_view parts[3];
    for (auto& p : parts) {
        const auto nl = in.find('\n');
        p = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    }
    const std::vector<http::header> headers = {
        {"Authorization", parts[1]},
        {"Sec-WebSocket-Protocol", parts[2]},
        {"X-Other", in},
    };
    std::string scratch;
    const auto r = pool::extract_token(parts[0], headers, scratch, o);
    CHECK(!to_string(r.error).empty());
    CHECK(!to_string(r.source).empty());
    if (r.error != pool::token_error::none) {
        CHECK(r.token.empty());
        CHECK((r.source == pool::token_source::none) == (r.error == pool::token_error::missing));
        return 0;
    }
    CHECK(!r.token.empty());
    CHECK(r.token.size() <= o.max_size);
    const bool sp = r.source == pool::token_source::subprotocol;
    for (char c : r.token)
        CHECK(b64token_char(c, sp));
    switch (r.source) {
    case pool::token_source::authorization:
        CHECK(o.from_authorization);
        CHECK(inside(r.token, parts[1]));
        break;
    case pool::token_source::subprotocol:
        CHECK(o.from_subprotocol);
        CHECK(inside(r.token, parts[2]));
        CHECK(parts[2].find("bearer.") != std::string_view::npos);
        break;
    case pool::token_source::query:
        CHECK(o.from_query);
        CHECK(inside(r.token, parts[0]) || inside(r.token, scratch));
        break;
    case pool::token_source::none:
        CHECK(false);
    }
    return 0;
}
