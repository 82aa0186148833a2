// Unit tests for pier/http/date.hpp: HTTP-date (RFC 9110 §5.6.7), the IMF-fixdate a server
// sends and the three formats it must accept.
#include <pier/http/date.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace http = pier::http;
using namespace std::chrono;

namespace {

// RFC 9110's example instant: Sun, 06 Nov 1994 08:49:37 GMT.
constexpr sys_seconds example =
    sys_days(year{1994} / November / 6) + hours(8) + minutes(49) + seconds(37);
const sys_seconds now_2026 = sys_days(year{2026} / December / 4);

std::string fmt(sys_seconds t) {
    return std::string(http::format_http_date(t).view());
}

bool parses_to(std::string_view s, sys_seconds expected) {
    const auto r = http::parse_http_date(s, now_2026);
    return r && *r == expected;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_date)

BOOST_AUTO_TEST_CASE(formats_imf_fixdate) {
    BOOST_TEST(fmt(example) == "Sun, 06 Nov 1994 08:49:37 GMT");
    BOOST_TEST(fmt(sys_seconds(seconds(0))) == "Thu, 01 Jan 1970 00:00:00 GMT");
    BOOST_TEST(fmt(sys_days(year{2000} / February / 29) + hours(23) + minutes(59) + seconds(59)) ==
               "Tue, 29 Feb 2000 23:59:59 GMT");
    // Outside what four digits hold: clamped.
    BOOST_TEST(fmt(sys_days(year{12000} / 1 / 1)) == "Fri, 31 Dec 9999 23:59:59 GMT");
    BOOST_TEST(fmt(sys_days(year{-5} / 1 / 1)) == "Sat, 01 Jan 0000 00:00:00 GMT");
}

BOOST_AUTO_TEST_CASE(parses_all_three_formats) {
    BOOST_TEST(parses_to("Sun, 06 Nov 1994 08:49:37 GMT", example));
    BOOST_TEST(parses_to("Sunday, 06-Nov-94 08:49:37 GMT", example));
    BOOST_TEST(parses_to("Sun Nov  6 08:49:37 1994", example));
    BOOST_TEST(parses_to("Sun Nov 16 08:49:37 1994", example + days(10)));
    BOOST_TEST(parses_to("  Sun, 06 Nov 1994 08:49:37 GMT ", example));
}

BOOST_AUTO_TEST_CASE(round_trips) {
    for (auto t : {example, now_2026, sys_seconds(seconds(0)),
                   sys_seconds(sys_days(year{2024} / February / 29)) + seconds(86399)})
        BOOST_TEST(parses_to(fmt(t), t));
}

BOOST_AUTO_TEST_CASE(rfc850_two_digit_years_are_at_most_50_years_ahead) {
    // From 2026: "76" is 2076 (50 years ahead), "77" is 1977.
    BOOST_TEST(parses_to("Monday, 01-Jan-76 00:00:00 GMT", sys_days(year{2076} / 1 / 1)));
    BOOST_TEST(parses_to("Saturday, 01-Jan-77 00:00:00 GMT", sys_days(year{1977} / 1 / 1)));
    BOOST_TEST(parses_to("Friday, 01-Jan-27 00:00:00 GMT", sys_days(year{2027} / 1 / 1)));
}

BOOST_AUTO_TEST_CASE(refuses_anything_else) {
    for (std::string_view bad : {
             "",
             "Sun, 06 Nov 1994 08:49:37 UTC",
             "sun, 06 Nov 1994 08:49:37 GMT", // case-sensitive
             "Sun, 06 nov 1994 08:49:37 GMT",
             "Sun, 6 Nov 1994 08:49:37 GMT",
             "Sun, 06 Nov 94 08:49:37 GMT",
             "Sun, 31 Feb 1994 08:49:37 GMT", // no such day
             "Sun, 06 Nov 1994 24:00:00 GMT",
             "Sun, 06 Nov 1994 08:60:00 GMT",
             "Sun, 06 Nov 1994 08:49:37 GMT x",
             "Xyz, 06 Nov 1994 08:49:37 GMT",
             "Sun,06 Nov 1994 08:49:37 GMT",
             "Sunday, 06-Nov-1994 08:49:37 GMT",
             "Sun Nov 6 08:49:37 1994",
             "Sun Nov  6 08:49:37 94",
             "1994-11-06T08:49:37Z",
         })
        BOOST_TEST(!http::parse_http_date(bad, now_2026).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(leap_second_counts_as_59) {
    BOOST_TEST(
        parses_to("Sat, 31 Dec 2016 23:59:60 GMT",
                  sys_days(year{2016} / December / 31) + hours(23) + minutes(59) + seconds(59)));
}

BOOST_AUTO_TEST_SUITE_END()
