// libFuzzer target for pier/ws/utf8.hpp: the validator must agree with a naive reference
// decoder (RFC 3629), whatever the split of the input, and fail at the first byte that
// makes the input impossible.
#include <pier/ws/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ws = pier::ws;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

// Decodes one sequence at s[i]: its length, or 0 if it is invalid, or -1 if it is cut short
// by the end of the input (and could still become valid).
int reference_sequence(std::string_view s, std::size_t i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80)
        return 1;
    int len;
    std::uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
        len = 2;
        cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
        len = 3;
        cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
        len = 4;
        cp = b & 0x07;
    } else {
        return 0;
    }
    static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    for (int k = 1; k < len; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) {
            // Could the bytes so far be completed into a valid sequence? Pad with the
            // smallest and largest continuation bytes and see if either range fits.
            std::uint32_t lo = cp, hi = cp;
            for (int j = k; j < len; ++j) {
                lo = (lo << 6);
                hi = (hi << 6) | 0x3f;
            }
            const std::uint32_t lo_ok = lo < min_cp[len] ? min_cp[len] : lo;
            if (lo_ok > hi || lo_ok > 0x10ffff)
                return 0;
            // Entirely inside the surrogate block?
            if (lo_ok >= 0xd800 && hi <= 0xdfff)
                return 0;
            return -1;
        }
        const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        if ((c & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

// 1: valid and complete, 0: invalid, -1: valid so far but ends inside a sequence.
int reference(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const int n = reference_sequence(s, i);
        if (n <= 0)
            return n;
        i += static_cast<std::size_t>(n);
    }
    return 1;
}

int state_of(const ws::utf8_validator& v) {
    return v.complete() ? 1 : v.valid() ? -1 : 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view s(reinterpret_cast<const char*>(data), size);
    const int expect = reference(s);
    CHECK(ws::is_valid_utf8(s) == (expect == 1));

    ws::utf8_validator whole;
    whole.write(s);
    CHECK(state_of(whole) == expect);

    // Two cuts derived from the input itself.
    if (size > 0) {
        const std::size_t a = data[0] % (size + 1);
        const std::size_t b = a + (size > 1 ? data[size - 1] % (size - a + 1) : 0);
        ws::utf8_validator v;
        v.write(s.substr(0, a));
        v.write(s.substr(a, b - a));
        v.write(s.substr(b));
        CHECK(state_of(v) == expect);
    }

    // Byte by byte: the state after each prefix matches the reference on that prefix, so the
    // validator fails exactly at the first impossible byte, never later.
    ws::utf8_validator v;
    for (std::size_t i = 0; i < size; ++i) {
        v.write(s.substr(i, 1));
        CHECK(state_of(v) == reference(s.substr(0, i + 1)));
        if (!v.valid())
            break;
    }
    return 0;
}
