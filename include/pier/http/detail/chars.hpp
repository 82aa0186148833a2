// pier/http/detail/chars.hpp: character classes and list helpers shared by the HTTP and
// WebSocket protocol code (RFC 9110 §5.5, §5.6). Internal: never part of a public signature.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pier::http::detail {

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A table beats a chain of comparisons in the
// header-name loop, which is the hottest loop of the parser.
/// A byte-class table: letters, digits and the bytes of `extra`.
constexpr std::array<bool, 256> alnum_and(std::string_view extra) noexcept {
    std::array<bool, 256> t{};
    for (std::size_t c = '0'; c <= '9'; ++c)
        t[c] = true;
    for (std::size_t c = 'a'; c <= 'z'; ++c)
        t[c] = true;
    for (std::size_t c = 'A'; c <= 'Z'; ++c)
        t[c] = true;
    for (char c : extra)
        t[static_cast<unsigned char>(c)] = true;
    return t;
}

inline constexpr std::array<bool, 256> tchar_table = alnum_and("!#$%&'*+-.^_`|~");

constexpr bool is_tchar(char c) noexcept {
    return tchar_table[static_cast<unsigned char>(c)];
}

// RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB; every other control
// (including CR, LF, NUL and DEL) is invalid inside a value.
constexpr bool is_field_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// Whether the field name `name`, already checked to be a token (tchar only), is `keyword`,
/// which is lowercase letters and '-' (ASCII case-insensitive, RFC 9110 §5.1). For such a
/// keyword, setting the 0x20 bit of a tchar matches exactly: only the letter's two cases
/// reach it ('-' is 0x2d, and 0x0d is no tchar). Inline and unrolled, where iequals's loop
/// through ascii_lower cost about 70 instructions for "host", on every request.
template <std::size_t N>
constexpr bool name_is(std::string_view name, const char (&keyword)[N]) noexcept {
    if (name.size() != N - 1)
        return false;
    for (std::size_t i = 0; i + 1 < N; ++i)
        if ((static_cast<unsigned char>(name[i]) | 0x20) != static_cast<unsigned char>(keyword[i]))
            return false;
    return true;
}

/// ASCII case-insensitive equality (field names, tokens: RFC 9110 §5.1, §5.6.2).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

/// Calls `f(element)` for each non-empty, OWS-trimmed element of a comma-separated list
/// (RFC 9110 §5.6.1: empty elements are ignored). Stops early and returns false when `f`
/// returns false. Quoted strings are not special-cased: callers use it for lists of tokens.
template <class F> constexpr bool for_each_element(std::string_view list, F&& f) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view e = trim_ows(list.substr(0, comma));
        if (!e.empty() && !f(e))
            return false;
        if (comma == std::string_view::npos)
            break;
        list.remove_prefix(comma + 1);
    }
    return true;
}

/// True when the comma-separated `list` holds `token` (ASCII case-insensitive).
constexpr bool list_has_token(std::string_view list, std::string_view token) noexcept {
    bool found = false;
    for_each_element(list, [&](std::string_view e) {
        found = iequals(e, token);
        return !found;
    });
    return found;
}

// SWAR helpers (Bit Twiddling Hacks, "Determine if a word has a byte less than n"): exact as
// a yes/no answer for a whole word, which is all the scanners need before falling back to a
// byte loop. Loads go through memcpy so no alignment is assumed.
inline constexpr std::uint64_t ones8 = 0x0101010101010101ull;
inline constexpr std::uint64_t highs8 = 0x8080808080808080ull;

inline std::uint64_t load8(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

/// Nonzero when any byte of `v` is < 0x20 or == 0x7f (a control: not a plain field byte).
constexpr std::uint64_t has_ctl8(std::uint64_t v) noexcept {
    const std::uint64_t lt20 = (v - ones8 * 0x20) & ~v & highs8;
    const std::uint64_t x = v ^ (ones8 * 0x7f);
    const std::uint64_t del = (x - ones8) & ~x & highs8;
    return lt20 | del;
}

} // namespace pier::http::detail
