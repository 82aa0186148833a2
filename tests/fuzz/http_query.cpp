// libFuzzer target for pier/http/query.hpp: iterating pairs never reads outside the input and
// every pair is a piece of it; decoding never grows the input, fails exactly on a malformed
// escape, and respects its bound.
#include <pier/http/query.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

bool well_formed_escapes(std::string_view s) {
    auto hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2]))
                return false;
            i += 2;
        }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view q(reinterpret_cast<const char*>(data), size);
    std::size_t n = 0;
    for (const auto& p : pier::http::query_params(q)) {
        CHECK(inside(p.name, q));
        CHECK(inside(p.value, q));
        CHECK(p.name.find('&') == std::string_view::npos);
        CHECK(p.value.find('&') == std::string_view::npos);
        ++n;
        CHECK(n <= size);
        std::string out;
        const bool ok = pier::http::percent_decode(p.value, out, true, size + 1);
        CHECK(ok == well_formed_escapes(p.value));
        if (ok)
            CHECK(out.size() <= p.value.size());
    }
    std::string bounded;
    if (pier::http::percent_decode(q, bounded, false, 16))
        CHECK(bounded.size() <= 16);
    return 0;
}
