// libFuzzer target for pier/http/date.hpp: parsing any bytes either fails or yields a date
// that formats to 29 characters and parses back to itself.
#include <pier/http/date.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
    using namespace std::chrono;
    const std::string_view s(reinterpret_cast<const char*>(data), size);
    const sys_seconds now = sys_days(year{2026} / December / 4);
    if (const auto t = pier::http::parse_http_date(s, now)) {
        const auto text = pier::http::format_http_date(*t);
        CHECK(text.view().size() == 29);
        const auto back = pier::http::parse_http_date(text.view(), now);
        CHECK(back && *back == *t);
    }
    return 0;
}
