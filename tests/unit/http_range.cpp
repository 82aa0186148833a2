// Unit tests for pier/http/range.hpp: the Range header (RFC 9110 §14.1-14.2) against a known
// length, and Content-Range formatting.
#include <pier/http/range.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

namespace http = pier::http;
using http::range_status;

namespace {

std::string eval(std::string_view v, std::uint64_t size) {
    const auto r = http::evaluate_range(v, size);
    switch (r.status) {
    case range_status::none:
        return "none";
    case range_status::unsatisfiable:
        return "416";
    case range_status::satisfiable:
        return std::to_string(r.range.first) + "-" + std::to_string(r.range.last);
    case range_status::multiple:
        return "multi " + std::to_string(r.range.first) + "-" + std::to_string(r.range.last);
    }
    return "?";
}

std::string content_range(std::string_view v, std::uint64_t size) {
    const auto r = http::evaluate_range(v, size);
    char buf[64];
    const auto n = http::format_content_range(r, size, buf, sizeof buf);
    return std::string(buf, n);
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_range)

BOOST_AUTO_TEST_CASE(the_three_forms_of_rfc_9110) {
    // RFC 9110 §14.1.2's examples, on a 10000-byte representation.
    BOOST_TEST(eval("bytes=0-499", 10000) == "0-499");
    BOOST_TEST(eval("bytes=500-999", 10000) == "500-999");
    BOOST_TEST(eval("bytes=-500", 10000) == "9500-9999");
    BOOST_TEST(eval("bytes=9500-", 10000) == "9500-9999");
    BOOST_TEST(eval("bytes=0-0", 10000) == "0-0");
    BOOST_TEST(eval("bytes=-1", 10000) == "9999-9999");
}

BOOST_AUTO_TEST_CASE(ranges_are_clipped_to_the_representation) {
    BOOST_TEST(eval("bytes=0-99999", 10000) == "0-9999");
    BOOST_TEST(eval("bytes=-20000", 10000) == "0-9999");
    BOOST_TEST(eval("bytes=9999-", 10000) == "9999-9999");
    BOOST_TEST(http::evaluate_range("bytes=100-", 1000).range.length() == 900);
}

BOOST_AUTO_TEST_CASE(outside_the_representation_is_416) {
    BOOST_TEST(eval("bytes=10000-", 10000) == "416");
    BOOST_TEST(eval("bytes=10000-20000", 10000) == "416");
    BOOST_TEST(eval("bytes=-0", 10000) == "416");
    BOOST_TEST(eval("bytes=20000-,30000-", 10000) == "416");
    BOOST_TEST(content_range("bytes=10000-", 10000) == "bytes */10000");
    BOOST_TEST(content_range("bytes=5-9", 10000) == "bytes 5-9/10000");
}

BOOST_AUTO_TEST_CASE(invalid_or_foreign_headers_are_ignored) {
    BOOST_TEST(eval("", 100) == "none");
    BOOST_TEST(eval("bytes", 100) == "none");
    BOOST_TEST(eval("bytes=", 100) == "none");
    BOOST_TEST(eval("bytes=,", 100) == "none");
    BOOST_TEST(eval("items=0-5", 100) == "none");
    BOOST_TEST(eval("bytes=5-1", 100) == "none"); // last < first: invalid, not 416
    BOOST_TEST(eval("bytes=a-b", 100) == "none");
    BOOST_TEST(eval("bytes=-", 100) == "none");
    BOOST_TEST(eval("bytes=1", 100) == "none");
    BOOST_TEST(eval("bytes=+1-2", 100) == "none");
    BOOST_TEST(eval("bytes = 0-1", 100) == "none");
    BOOST_TEST(eval("bytes=99999999999999999999-", 100) == "none"); // overflows uint64
    // A zero-length representation has no range to give: the whole (empty) one.
    BOOST_TEST(eval("bytes=0-", 0) == "none");
    BOOST_TEST(eval("bytes=-5", 0) == "none");
}

BOOST_AUTO_TEST_CASE(unit_case_and_list_whitespace) {
    BOOST_TEST(eval("BYTES=0-1", 100) == "0-1");
    BOOST_TEST(eval("  bytes=0-1  ", 100) == "0-1");
    BOOST_TEST(eval("bytes=0-1 , ", 100) == "0-1"); // empty list elements are ignored
    BOOST_TEST(eval("bytes= 0-1", 100) == "0-1");
}

BOOST_AUTO_TEST_CASE(several_ranges_are_reported_as_multiple) {
    BOOST_TEST(eval("bytes=0-1,5-6", 100) == "multi 0-1");
    BOOST_TEST(eval("bytes=500-,5-6", 100) == "multi 5-6");
    // Past max_ranges the header is ignored altogether (range amplification).
    std::string many = "bytes=0-0";
    for (std::size_t i = 1; i < http::max_ranges; ++i)
        many += "," + std::to_string(i) + "-" + std::to_string(i);
    BOOST_TEST(eval(many, 100) == "multi 0-0");
    many += ",50-50";
    BOOST_TEST(eval(many, 100) == "none");
}

BOOST_AUTO_TEST_CASE(content_range_needs_room) {
    const auto r = http::evaluate_range("bytes=0-9", 100);
    char small[8];
    BOOST_TEST(http::format_content_range(r, 100, small, sizeof small) == 0u);
    char big[80];
    const auto max = http::range_result{range_status::satisfiable,
                                        {~std::uint64_t{0} - 1, ~std::uint64_t{0} - 1}};
    const auto n = http::format_content_range(max, ~std::uint64_t{0}, big, sizeof big);
    BOOST_TEST(std::string(big, n) ==
               "bytes 18446744073709551614-18446744073709551614/18446744073709551615");
}

BOOST_AUTO_TEST_CASE(usable_at_compile_time) {
    static_assert(http::evaluate_range("bytes=1-2", 10).status == range_status::satisfiable);
    static_assert(http::evaluate_range("bytes=1-2", 10).range.length() == 2);
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_SUITE_END()
