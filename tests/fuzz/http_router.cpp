// libFuzzer target for pier/http/router.hpp: any method and path gets exactly one of the four
// answers with what that answer promises (a target and the pattern's parameters, an Allow
// list, a reason), parameters stay within their bound, and a found route is found again, with
// the same parameters, from a path rebuilt by percent-encoding them.
//
// Input: the method, a newline, then the path.
#include <pier/http/router.hpp>

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

struct route {
    const char* method;
    const char* pattern;
};

constexpr route routes[] = {
    {"GET", "/api/admin/websockets/stats"},
    {"GET", "/api/admin/websockets/connections"},
    {"GET", "/api/admin/websockets/connections/{id}"},
    {"GET", "/api/admin/websockets/connections/count"},
    {"DELETE", "/api/admin/websockets/connections/{id}"},
    {"POST", "/api/admin/websockets/disconnect"},
    {"POST", "/api/admin/websockets/cleanup"},
    {"POST", "/api/admin/websockets/broadcast"},
    {"GET", "/{a}/{b}"},
    {"GET", "/x/{b}"},
    {"GET", "/"},
    {"GET", "/metrics"},
    {"GET", "/admin"},
};

const pier::http::router<int>& table() {
    static const auto r = [] {
        pier::http::router<int> r({.max_param_bytes = 64, .max_segments = 8});
        int i = 0;
        for (const auto& rt : routes)
            if (r.add(rt.method, rt.pattern, i++) != pier::http::route_error::none)
                std::abort();
        return r;
    }();
    return r;
}

std::string encode(std::string_view v) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            out += static_cast<char>(c);
        else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// The path a pattern gives with each {name} replaced by the encoded parameter.
std::string rebuild(std::string_view pattern, const pier::http::route_match<int>& m) {
    std::string out;
    std::size_t p = 0;
    while (p < pattern.size()) {
        if (pattern[p] == '{') {
            const std::size_t close = pattern.find('}', p);
            out += encode(*m.param(pattern.substr(p + 1, close - p - 1)));
            p = close + 1;
        } else {
            out += pattern[p++];
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t nl = in.find('\n');
    if (nl == std::string_view::npos)
        return 0;
    const std::string_view method = in.substr(0, nl), path = in.substr(nl + 1);
    const auto& r = table();
    const auto m = r.match(method, path);
    switch (m.status) {
    case pier::http::route_status::found: {
        CHECK(m.target != nullptr);
        CHECK(m.allow.empty());
        const route& rt = routes[*m.target];
        std::size_t braces = 0;
        for (char c : std::string_view(rt.pattern))
            braces += c == '{';
        CHECK(m.param_count == braces);
        for (std::size_t i = 0; i < m.param_count; ++i) {
            CHECK(!m.params[i].second.empty());
            CHECK(m.params[i].second.size() <= 64);
            CHECK(m.params[i].second.find('\0') == std::string::npos);
        }
        CHECK(m.head == (method == "HEAD" && std::string_view(rt.method) == "GET"));
        const auto again = r.match(method, rebuild(rt.pattern, m));
        CHECK(again.status == pier::http::route_status::found);
        CHECK(*again.target == *m.target);
        CHECK(again.param_count == m.param_count);
        for (std::size_t i = 0; i < m.param_count; ++i)
            CHECK(again.params[i] == m.params[i]);
        break;
    }
    case pier::http::route_status::method_not_allowed:
        CHECK(m.target == nullptr);
        CHECK(!m.allow.empty());
        for (std::string_view rest = m.allow; !rest.empty();) {
            const std::size_t comma = rest.find(", ");
            CHECK(rest.substr(0, comma) != method);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
        }
        break;
    case pier::http::route_status::bad_request:
        CHECK(m.target == nullptr);
        CHECK(m.error == "invalid_path" || m.error == "invalid_escape" ||
              m.error == "param_too_long");
        break;
    case pier::http::route_status::not_found:
        CHECK(m.target == nullptr);
        CHECK(m.allow.empty());
        break;
    }
    return 0;
}
