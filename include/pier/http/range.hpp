// pier/http/range.hpp: the Range request header (RFC 9110 §14.1-14.2) evaluated against a
// representation of known length: what to answer (200, 206 with one range, or 416).
//
//     auto r = pier::http::evaluate_range(req.find("range").value_or(""), file_size);
//     switch (r.status) {
//     case pier::http::range_status::satisfiable:   // 206, Content-Range: bytes a-b/size
//     case pier::http::range_status::unsatisfiable: // 416, Content-Range: bytes */size
//     default:                                      // 200, the whole representation
//     }
//
// Pure functions on views, no allocation.
#pragma once

#include <pier/http/detail/chars.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pier::http {

/// One byte range, both ends included (RFC 9110 §14.1.2: "bytes 0-499" is the first 500).
struct byte_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    constexpr std::uint64_t length() const noexcept { return last - first + 1; }
};

/// What a Range header asks of a representation.
enum class range_status : std::uint8_t {
    /// No Range, or one to ignore: an unknown range unit, invalid syntax (RFC 9110 §14.2 lets a
    /// server ignore Range, and a client that sent a malformed one gets the whole
    /// representation rather than an error), a zero-length representation, or more than
    /// `max_ranges` ranges. Answer 200 with the whole representation.
    none,
    /// One satisfiable range, clipped to the representation (`range`): answer 206 with
    /// Content-Range: bytes first-last/size.
    satisfiable,
    /// No range overlaps the representation (every first-pos at or past its end, or a
    /// zero-length suffix): answer 416 with Content-Range: bytes */size (RFC 9110 §15.5.17).
    unsatisfiable,
    /// Several ranges, at least one satisfiable. RFC 9110 §14.2 lets a server answer them with
    /// the whole representation (200), which pier's file server does rather than build a
    /// multipart/byteranges body; `range` holds the first satisfiable one.
    multiple,
};

struct range_result {
    range_status status = range_status::none;
    byte_range range{};
};

/// At most this many ranges are looked at; a header with more is ignored (status none): a
/// client asking for hundreds of small ranges is how range amplification attacks work (RFC
/// 9110 §17.15).
inline constexpr std::size_t max_ranges = 16;

/// The longest Content-Range value: "bytes " and three 20-digit numbers.
inline constexpr std::size_t max_content_range = 6 + 20 + 1 + 20 + 1 + 20;

/// Evaluates the value of a Range header (`bytes=0-499`, `bytes=500-`, `bytes=-500`, lists of
/// those) for a representation of `size` bytes (RFC 9110 §14.1.1 syntax, §14.1.2 meaning).
constexpr range_result evaluate_range(std::string_view value, std::uint64_t size) noexcept;

/// Formats `bytes first-last/size` (or `bytes */size` for 416) into `out`, returning the
/// length written (at most `max_content_range` bytes), or 0 when `out` is too small.
constexpr std::size_t format_content_range(const range_result& r, std::uint64_t size, char* out,
                                           std::size_t out_size) noexcept;

namespace detail {

// 1*DIGIT without overflow; false for anything else (signs, spaces, empty).
constexpr bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty())
        return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (~std::uint64_t{0} - d) / 10)
            return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

constexpr std::size_t put_u64(std::uint64_t v, char* out) noexcept {
    char tmp[20];
    std::size_t n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = tmp[n - 1 - i];
    return n;
}

} // namespace detail

constexpr range_result evaluate_range(std::string_view value, std::uint64_t size) noexcept {
    range_result none{};
    value = detail::trim_ows(value);
    const auto eq = value.find('=');
    if (eq == std::string_view::npos)
        return none;
    // range-unit is a token compared case-insensitively (RFC 9110 §14.1); no whitespace
    // around '=' (the ABNF has none).
    if (!detail::iequals(value.substr(0, eq), "bytes"))
        return none;
    std::string_view set = value.substr(eq + 1);

    std::size_t count = 0;
    bool any_satisfiable = false;
    byte_range first_satisfiable{};
    while (true) {
        const auto comma = set.find(',');
        const std::string_view spec = detail::trim_ows(set.substr(0, comma));
        // RFC 9110 §5.6.1: empty list elements are ignored (but at least one must exist).
        if (!spec.empty()) {
            if (++count > max_ranges)
                return none;
            const auto dash = spec.find('-');
            if (dash == std::string_view::npos)
                return none;
            const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
            byte_range r{};
            bool satisfiable = false;
            if (a.empty()) {
                // suffix-range: the last b bytes.
                std::uint64_t suffix = 0;
                if (!detail::parse_u64(b, suffix))
                    return none;
                if (suffix > 0 && size > 0) {
                    r.first = suffix >= size ? 0 : size - suffix;
                    r.last = size - 1;
                    satisfiable = true;
                }
            } else {
                std::uint64_t first = 0, last = 0;
                if (!detail::parse_u64(a, first))
                    return none;
                const bool open = b.empty();
                if (!open && !detail::parse_u64(b, last))
                    return none;
                if (!open && last < first)
                    return none; // invalid int-range: the whole header is invalid
                if (first < size) {
                    r.first = first;
                    r.last = open || last >= size ? size - 1 : last;
                    satisfiable = true;
                }
            }
            if (satisfiable && !any_satisfiable) {
                any_satisfiable = true;
                first_satisfiable = r;
            }
        }
        if (comma == std::string_view::npos)
            break;
        set.remove_prefix(comma + 1);
    }
    if (count == 0 || size == 0)
        return none;
    if (!any_satisfiable)
        return {range_status::unsatisfiable, {}};
    return {count == 1 ? range_status::satisfiable : range_status::multiple, first_satisfiable};
}

constexpr std::size_t format_content_range(const range_result& r, std::uint64_t size, char* out,
                                           std::size_t out_size) noexcept {
    char buf[max_content_range];
    std::size_t n = 0;
    for (char c : std::string_view("bytes "))
        buf[n++] = c;
    if (r.status == range_status::unsatisfiable) {
        buf[n++] = '*';
    } else {
        n += detail::put_u64(r.range.first, buf + n);
        buf[n++] = '-';
        n += detail::put_u64(r.range.last, buf + n);
    }
    buf[n++] = '/';
    n += detail::put_u64(size, buf + n);
    if (n > out_size)
        return 0;
    for (std::size_t i = 0; i < n; ++i)
        out[i] = buf[i];
    return n;
}

} // namespace pier::http
