// pier/ws/impl/utf8.hpp: out-of-line definitions for <pier/ws/utf8.hpp>.
#pragma once

#include <pier/ws/utf8.hpp>

#include <array>
#include <cstring>

namespace pier::ws {

namespace detail {

// Byte classes, after Table 3-7 of the Unicode Standard (well-formed UTF-8 byte sequences):
//  0: 00..7F   1: 80..8F   2: 90..9F   3: A0..BF   4: C2..DF   5: E0
//  6: E1..EC, EE..EF       7: ED       8: F0       9: F1..F3  10: F4
// 11: C0, C1, F5..FF (never valid)
inline constexpr std::array<std::uint8_t, 256> utf8_class = [] {
    std::array<std::uint8_t, 256> t{};
    for (std::size_t b = 0x80; b <= 0x8f; ++b)
        t[b] = 1;
    for (std::size_t b = 0x90; b <= 0x9f; ++b)
        t[b] = 2;
    for (std::size_t b = 0xa0; b <= 0xbf; ++b)
        t[b] = 3;
    t[0xc0] = t[0xc1] = 11;
    for (std::size_t b = 0xc2; b <= 0xdf; ++b)
        t[b] = 4;
    t[0xe0] = 5;
    for (std::size_t b = 0xe1; b <= 0xef; ++b)
        t[b] = 6;
    t[0xed] = 7;
    t[0xf0] = 8;
    for (std::size_t b = 0xf1; b <= 0xf3; ++b)
        t[b] = 9;
    t[0xf4] = 10;
    for (std::size_t b = 0xf5; b <= 0xff; ++b)
        t[b] = 11;
    return t;
}();

// States: 0 accept, 1 reject, 2 one continuation byte left, 3 two left, 4 after E0 (next
// must be A0..BF: no overlong), 5 after ED (next 80..9F: no surrogates), 6 three left,
// 7 after F0 (next 90..BF: no overlong), 8 after F4 (next 80..8F: nothing above U+10FFFF).
inline constexpr std::array<std::uint8_t, 9 * 12> utf8_next = [] {
    std::array<std::uint8_t, 9 * 12> t{};
    for (auto& s : t)
        s = 1;
    const auto set = [&](int state, int cls, int next) {
        t[static_cast<std::size_t>(state * 12 + cls)] = static_cast<std::uint8_t>(next);
    };
    set(0, 0, 0);
    set(0, 4, 2);
    set(0, 5, 4);
    set(0, 6, 3);
    set(0, 7, 5);
    set(0, 8, 7);
    set(0, 9, 6);
    set(0, 10, 8);
    for (int c = 1; c <= 3; ++c) {
        set(2, c, 0);
        set(3, c, 2);
        set(6, c, 3);
    }
    set(4, 3, 2);
    set(5, 1, 2);
    set(5, 2, 2);
    set(7, 2, 3);
    set(7, 3, 3);
    set(8, 1, 3);
    return t;
}();

inline bool ascii16(const std::uint8_t* p) noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    return ((a | b) & 0x8080808080808080ull) == 0;
}

} // namespace detail

inline bool utf8_validator::write(std::span<const std::uint8_t> data) noexcept {
    const std::uint8_t* p = data.data();
    const std::uint8_t* const end = p + data.size();
    std::uint8_t s = state_;
    while (p != end) {
        if (s == accept_state) {
            while (end - p >= 16 && detail::ascii16(p))
                p += 16;
            while (p != end && *p < 0x80)
                ++p;
            if (p == end)
                break;
        }
        s = detail::utf8_next[s * 12 + detail::utf8_class[*p++]];
        if (s == reject_state)
            break;
    }
    state_ = s;
    return s != reject_state;
}

inline bool is_valid_utf8(std::string_view s) noexcept {
    utf8_validator v;
    return v.write(s) && v.complete();
}

} // namespace pier::ws
