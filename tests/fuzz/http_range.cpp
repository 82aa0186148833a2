// libFuzzer target for pier/http/range.hpp: for any Range value and length, a satisfiable
// range lies inside the representation, 416 only when the length is not zero, and
// Content-Range formats within its bound; input is never read past its end.
#include <pier/http/range.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The first 8 bytes (when present) are the representation's length; small lengths matter
    // most, so they are also tried modulo 1000.
    std::uint64_t length = 0;
    if (size >= 8) {
        std::memcpy(&length, data, 8);
        data += 8;
        size -= 8;
    }
    const std::string_view value(reinterpret_cast<const char*>(data), size);
    for (std::uint64_t len : {length, length % 1000, std::uint64_t{0}, std::uint64_t{1}}) {
        const auto r = pier::http::evaluate_range(value, len);
        using pier::http::range_status;
        if (r.status == range_status::satisfiable || r.status == range_status::multiple) {
            CHECK(len > 0);
            CHECK(r.range.first <= r.range.last);
            CHECK(r.range.last < len);
            CHECK(r.range.length() <= len);
        }
        if (r.status == range_status::unsatisfiable)
            CHECK(len > 0);
        char out[80];
        const auto n = pier::http::format_content_range(r, len, out, sizeof out);
        CHECK(n > 0 && n <= pier::http::max_content_range);
        CHECK(std::string_view(out, n).starts_with("bytes "));
    }
    return 0;
}
