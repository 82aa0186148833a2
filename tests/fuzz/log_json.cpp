// libFuzzer target for the JSON string escaping behind pier/log.hpp (pier/detail/json.hpp):
// whatever the bytes, the output is valid UTF-8 with no raw control character and no
// unescaped quote, stays within its budget (plus the 3-byte cut mark), is the input itself
// when the input is printable well-formed UTF-8 without quotes or backslashes, and a cut
// output is a prefix of the uncut one.
#include <pier/detail/json.hpp>
#include <pier/ws/utf8.hpp>

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

// No raw control byte, and every '"' is escaped (preceded by an odd run of backslashes).
bool json_string_body(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u < 0x20 || u == 0x7f)
            return false;
        if (s[i] == '"') {
            std::size_t n = 0;
            while (n < i && s[i - 1 - n] == '\\')
                ++n;
            if (n % 2 == 0)
                return false;
        }
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string full;
    CHECK(!pier::detail::append_json_escaped(full, in));
    CHECK(pier::ws::is_valid_utf8(full));
    CHECK(json_string_body(full));
    CHECK(full.size() <= size * 6);
    bool plain = pier::ws::is_valid_utf8(in);
    for (char c : in) {
        const auto u = static_cast<unsigned char>(c);
        plain = plain && u >= 0x20 && u != 0x7f && c != '"' && c != '\\';
    }
    if (plain)
        CHECK(full == in);

    const std::size_t budget = size == 0 ? 0 : data[0] % 64;
    std::string cut;
    const bool was_cut = pier::detail::append_json_escaped(cut, in, budget);
    CHECK(pier::ws::is_valid_utf8(cut));
    CHECK(json_string_body(cut));
    if (was_cut) {
        CHECK(cut.size() <= budget + 3);
        CHECK(cut.ends_with("\xe2\x80\xa6"));
        CHECK(full.starts_with(std::string_view(cut).substr(0, cut.size() - 3)));
    } else {
        CHECK(cut == full);
        CHECK(cut.size() <= budget);
    }
    return 0;
}
