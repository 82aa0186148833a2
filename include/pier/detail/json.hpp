// pier/detail/json.hpp: writing JSON strings and numbers (RFC 8259) straight into a buffer,
// for the structured log and the HTTP error replies. Internal: never in a public signature.
//
// Hand-written rather than nlohmann/json because pier's core headers do not depend on it, and
// because the log needs two things a DOM library does not give: bounded output (a string is
// cut at a code point once it passes a byte budget) and a fixed, documented answer for bytes
// that are not UTF-8 (nlohmann throws on them by default).
//
// Strings:
// - `"` and `\` are escaped; the controls U+0000–U+001F and DEL get the short escapes
//   (\b \f \n \r \t) where RFC 8259 §7 has one, else \u00XX with lowercase hex. DEL needs no
//   escape in JSON; it is escaped so a log line shown on a terminal cannot carry one.
// - Well-formed UTF-8 (Unicode Table 3-7: no overlongs, no surrogates, nothing above
//   U+10FFFF) is copied as is.
// - Anything else becomes U+FFFD, one per "maximal subpart" (Unicode §3.9, U+FFFD
//   substitution of maximal subparts; what browsers and Python's errors="replace" do): a
//   truncated sequence such as E2 82 becomes one U+FFFD, a stray continuation byte one each.
// - With a byte budget, the escaped text stops at the last whole character that fits and
//   "…" (U+2026, 3 bytes, not counted in the budget) marks the cut.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pier::detail {

/// Length of the well-formed UTF-8 sequence at the start of `s` (1–4), or 0 when it is not
/// one; `*bad` then gets the length of the maximal subpart to replace (at least 1).
inline std::size_t utf8_sequence(std::string_view s, std::size_t* bad) noexcept {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf; // the range of the second byte (Table 3-7)
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *bad = 1;
        return 0;
    }
    for (std::size_t i = 1; i < n; ++i) {
        if (i >= s.size() || b(i) < (i == 1 ? lo : 0x80) || b(i) > (i == 1 ? hi : 0xbf)) {
            *bad = i;
            return 0;
        }
    }
    return n;
}

/// Appends the JSON escaping of `s` (without quotes) to `out`, using at most `budget` bytes
/// of output; returns true when `s` was cut (and "…" appended).
inline bool append_json_escaped(std::string& out, std::string_view s,
                                std::size_t budget = std::string::npos) {
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t used = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        // Plain printable ASCII needs no escaping: copy a run of it at once.
        std::size_t run = i;
        while (run < s.size()) {
            const auto u = static_cast<unsigned char>(s[run]);
            if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\')
                break;
            ++run;
        }
        if (run > i) {
            std::size_t take = run - i;
            if (used + take > budget) {
                out.append(s.data() + i, budget - used);
                out += "\xe2\x80\xa6";
                return true;
            }
            out.append(s.data() + i, take);
            used += take;
            i = run;
            continue;
        }
        const auto u = static_cast<unsigned char>(s[i]);
        char esc[6];
        std::size_t esc_size = 0;
        std::size_t consumed = 1;
        const char* src = esc;
        if (u == '"' || u == '\\') {
            esc[0] = '\\';
            esc[1] = static_cast<char>(u);
            esc_size = 2;
        } else if (u < 0x20 || u == 0x7f) {
            esc[0] = '\\';
            esc_size = 2;
            switch (u) {
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[u >> 4];
                esc[5] = hex[u & 15];
                esc_size = 6;
            }
        } else {
            std::size_t bad = 0;
            const std::size_t n = utf8_sequence(s.substr(i), &bad);
            if (n != 0) {
                src = s.data() + i;
                esc_size = consumed = n;
            } else {
                src = "\xef\xbf\xbd"; // U+FFFD
                esc_size = 3;
                consumed = bad;
            }
        }
        if (used + esc_size > budget) {
            out += "\xe2\x80\xa6";
            return true;
        }
        out.append(src, esc_size);
        used += esc_size;
        i += consumed;
    }
    return false;
}

/// Appends `s` as a quoted JSON string; see append_json_escaped for `budget`.
inline bool append_json_string(std::string& out, std::string_view s,
                               std::size_t budget = std::string::npos) {
    out += '"';
    const bool cut = append_json_escaped(out, s, budget);
    out += '"';
    return cut;
}

template <class Int> inline void append_json_integer(std::string& out, Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

/// Shortest round-trip form; NaN and infinities, which JSON cannot express, become null.
inline void append_json_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace pier::detail
