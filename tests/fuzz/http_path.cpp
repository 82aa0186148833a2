// libFuzzer target for pier/http/path.hpp: whatever the request path, an accepted result is a
// relative path with no "." or ".." segment, no empty segment, no NUL or control byte, within
// the limits; and it is stable (turning it back into a path gives the same result).
#include <pier/http/path.hpp>

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

// Escapes '%' so the accepted output can be fed back as a path.
std::string reencode(std::string_view s) {
    std::string out = "/";
    for (char c : s) {
        if (c == '%')
            out += "%25";
        else
            out.push_back(c);
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view path(reinterpret_cast<const char*>(data), size);
    std::string rel;
    const pier::http::path_limits lim{256, 16};
    const auto r = pier::http::to_relative_path(path, rel, lim);
    if (r.err != pier::http::path_error::none) {
        CHECK(rel.empty());
        return 0;
    }
    CHECK(rel.size() <= lim.max_size);
    CHECK(rel.empty() || (rel.front() != '/' && rel.back() != '/'));
    std::size_t segments = 0;
    std::string_view rest(rel);
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string_view seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        CHECK(!seg.empty());
        CHECK(seg != "." && seg != "..");
        ++segments;
    }
    CHECK(segments <= lim.max_segments);
    for (char c : rel)
        CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    std::string again;
    const auto r2 = pier::http::to_relative_path(reencode(rel), again, lim);
    CHECK(r2.err == pier::http::path_error::none);
    CHECK(again == rel);
    return 0;
}
