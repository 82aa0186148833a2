// pier/http/date.hpp: HTTP-date (RFC 9110 §5.6.7): formatting IMF-fixdate for Date and
// Last-Modified, parsing all three formats a recipient must accept (If-Modified-Since,
// If-Range).
//
//     auto lm = pier::http::format_http_date(std::chrono::floor<std::chrono::seconds>(mtime));
//     // "Sun, 06 Nov 1994 08:49:37 GMT"
//     if (auto since = pier::http::parse_http_date(*req.find("if-modified-since")))
//         if (mtime_seconds <= *since) … 304
//
// Dates are whole seconds in UTC (`std::chrono::sys_seconds`); the calendar arithmetic is the
// standard library's (C++20 <chrono>), not hand-written.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace pier::http {

/// An IMF-fixdate: exactly 29 characters, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
struct http_date {
    std::array<char, 29> text{};
    std::string_view view() const noexcept { return {text.data(), text.size()}; }
};

/// Formats `t` as IMF-fixdate (the only format a sender may generate). Years outside
/// 0000–9999, which the format cannot hold, are clamped to its first or last second.
inline http_date format_http_date(std::chrono::sys_seconds t) noexcept;

/// Parses an HTTP-date in any of the three formats of RFC 9110 §5.6.7: IMF-fixdate
/// ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37
/// GMT", whose two-digit year is read as the latest year with those digits that is not more
/// than 50 years after `now`) and asctime ("Sun Nov  6 08:49:37 1994"). Case-sensitive, as the
/// RFC defines it; surrounding whitespace is allowed. nullopt for anything else, including
/// impossible dates (Feb 30) and a weekday name that is not one. The weekday is not checked
/// against the date: RFC 9110 only requires the format.
inline std::optional<std::chrono::sys_seconds>
parse_http_date(std::string_view s,
                std::chrono::sys_seconds now = std::chrono::floor<std::chrono::seconds>(
                    std::chrono::system_clock::now())) noexcept;

namespace detail {

inline constexpr std::array<std::string_view, 7> short_days = {"Sun", "Mon", "Tue", "Wed",
                                                               "Thu", "Fri", "Sat"};
inline constexpr std::array<std::string_view, 7> long_days = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
inline constexpr std::array<std::string_view, 12> months = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// `n` digits at the front of `s`, consumed; -1 if they are not all digits.
constexpr int take_digits(std::string_view& s, std::size_t n) noexcept {
    if (s.size() < n)
        return -1;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    s.remove_prefix(n);
    return v;
}

constexpr bool take(std::string_view& s, std::string_view lit) noexcept {
    if (!s.starts_with(lit))
        return false;
    s.remove_prefix(lit.size());
    return true;
}

constexpr int take_month(std::string_view& s) noexcept {
    for (std::size_t i = 0; i < months.size(); ++i)
        if (take(s, months[i]))
            return static_cast<int>(i) + 1;
    return -1;
}

// "HH:MM:SS" into seconds since midnight, or -1. A leap second (60) counts as 59: the
// comparison it feeds has whole-second precision anyway.
constexpr long take_time(std::string_view& s) noexcept {
    const int h = take_digits(s, 2);
    if (h < 0 || h > 23 || !take(s, ":"))
        return -1;
    const int m = take_digits(s, 2);
    if (m < 0 || m > 59 || !take(s, ":"))
        return -1;
    int sec = take_digits(s, 2);
    if (sec < 0 || sec > 60)
        return -1;
    if (sec == 60)
        sec = 59;
    return h * 3600L + m * 60L + sec;
}

inline std::optional<std::chrono::sys_seconds> make_date(int y, int mo, int d, long secs) noexcept {
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                             day{static_cast<unsigned>(d)}};
    if (mo < 1 || d < 1 || !ymd.ok())
        return std::nullopt;
    return sys_seconds(sys_days(ymd)) + seconds(secs);
}

inline void put2(char* p, unsigned v) noexcept {
    p[0] = static_cast<char>('0' + v / 10 % 10);
    p[1] = static_cast<char>('0' + v % 10);
}

} // namespace detail

inline http_date format_http_date(std::chrono::sys_seconds t) noexcept {
    using namespace std::chrono;
    constexpr sys_days lowest = sys_days(year{0} / January / 1);
    constexpr sys_days highest = sys_days(year{9999} / December / 31);
    if (t < sys_seconds(lowest))
        t = sys_seconds(lowest);
    if (t >= sys_seconds(highest) + days(1))
        t = sys_seconds(highest) + days(1) - seconds(1);
    const sys_days day_point = floor<days>(t);
    const year_month_day ymd(day_point);
    const hh_mm_ss<seconds> tod(t - day_point);
    const unsigned wd = weekday(day_point).c_encoding();
    http_date out;
    char* p = out.text.data();
    const auto copy = [&](std::string_view s) {
        for (char c : s)
            *p++ = c;
    };
    copy(detail::short_days[wd]);
    copy(", ");
    detail::put2(p, static_cast<unsigned>(ymd.day()));
    p += 2;
    *p++ = ' ';
    copy(detail::months[static_cast<unsigned>(ymd.month()) - 1]);
    *p++ = ' ';
    const unsigned y = static_cast<unsigned>(static_cast<int>(ymd.year()));
    detail::put2(p, y / 100);
    detail::put2(p + 2, y % 100);
    p += 4;
    *p++ = ' ';
    detail::put2(p, static_cast<unsigned>(tod.hours().count()));
    p[2] = ':';
    detail::put2(p + 3, static_cast<unsigned>(tod.minutes().count()));
    p[5] = ':';
    detail::put2(p + 6, static_cast<unsigned>(tod.seconds().count()));
    p += 8;
    copy(" GMT");
    return out;
}

inline std::optional<std::chrono::sys_seconds>
parse_http_date(std::string_view s, std::chrono::sys_seconds now) noexcept {
    using detail::take;
    using detail::take_digits;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);

    // IMF-fixdate: day-name "," SP date1 SP time-of-day SP GMT, date1 = day SP month SP year.
    for (auto name : detail::short_days) {
        std::string_view r = s;
        if (!take(r, name))
            continue;
        if (take(r, ", ")) {
            const int d = take_digits(r, 2);
            if (d < 0 || !take(r, " "))
                return std::nullopt;
            const int mo = detail::take_month(r);
            if (mo < 0 || !take(r, " "))
                return std::nullopt;
            const int y = take_digits(r, 4);
            if (y < 0 || !take(r, " "))
                return std::nullopt;
            const long t = detail::take_time(r);
            if (t < 0 || r != " GMT")
                return std::nullopt;
            return detail::make_date(y, mo, d, t);
        }
        // asctime: day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year.
        if (take(r, " ")) {
            const int mo = detail::take_month(r);
            if (mo < 0 || !take(r, " "))
                return std::nullopt;
            int d;
            if (take(r, " "))
                d = take_digits(r, 1);
            else
                d = take_digits(r, 2);
            if (d < 0 || !take(r, " "))
                return std::nullopt;
            const long t = detail::take_time(r);
            if (t < 0 || !take(r, " "))
                return std::nullopt;
            const int y = take_digits(r, 4);
            if (y < 0 || !r.empty())
                return std::nullopt;
            return detail::make_date(y, mo, d, t);
        }
        break; // a short day name followed by neither: maybe a long name ("Sunday")
    }
    // rfc850-date: day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP GMT.
    for (auto name : detail::long_days) {
        std::string_view r = s;
        if (!take(r, name) || !take(r, ", "))
            continue;
        const int d = take_digits(r, 2);
        if (d < 0 || !take(r, "-"))
            return std::nullopt;
        const int mo = detail::take_month(r);
        if (mo < 0 || !take(r, "-"))
            return std::nullopt;
        const int yy = take_digits(r, 2);
        if (yy < 0 || !take(r, " "))
            return std::nullopt;
        const long t = detail::take_time(r);
        if (t < 0 || r != " GMT")
            return std::nullopt;
        // RFC 9110 §5.6.7: a date that appears more than 50 years in the future is in the
        // past century.
        using namespace std::chrono;
        const int this_year = static_cast<int>(year_month_day(floor<days>(now)).year());
        int y = this_year - this_year % 100 + yy;
        if (y > this_year + 50)
            y -= 100;
        return detail::make_date(y, mo, d, t);
    }
    return std::nullopt;
}

} // namespace pier::http
