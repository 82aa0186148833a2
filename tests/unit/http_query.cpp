// Unit tests for pier/http/query.hpp: query pairs and percent-decoding (RFC 3986 §2.1, §3.4).
// pier-test: smoke
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace http = pier::http;

namespace {

std::vector<std::pair<std::string, std::string>> pairs(std::string_view q) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : http::query_params(q))
        out.emplace_back(p.name, p.value);
    return out;
}

std::pair<bool, std::string> decode(std::string_view in, bool plus = true, std::size_t max = 64) {
    std::string out;
    const bool ok = http::percent_decode(in, out, plus, max);
    return {ok, out};
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_query)

BOOST_AUTO_TEST_CASE(pairs_in_order_with_empty_ones_skipped) {
    using v = std::vector<std::pair<std::string, std::string>>;
    BOOST_TEST((pairs("") == v{}));
    BOOST_TEST((pairs("a=1") == v{{"a", "1"}}));
    BOOST_TEST((pairs("a=1&b=2") == v{{"a", "1"}, {"b", "2"}}));
    BOOST_TEST((pairs("&&a=1&&b&") == v{{"a", "1"}, {"b", ""}}));
    BOOST_TEST((pairs("a==x&=y") == v{{"a", "=x"}, {"", "y"}}));
    BOOST_TEST((pairs("a=1&a=2") == v{{"a", "1"}, {"a", "2"}}));
}

BOOST_AUTO_TEST_CASE(iterators_compare_by_position) {
    http::query_params q("x=1&y=2");
    auto it = q.begin();
    BOOST_TEST((it != q.end()));
    auto copy = it++;
    BOOST_TEST((copy == q.begin()));
    BOOST_TEST((it != copy));
    ++it;
    BOOST_TEST((it == q.end()));
    BOOST_TEST((http::query_params("&&&").begin() == http::query_params("&&&").end()));
}

BOOST_AUTO_TEST_CASE(first_match_wins) {
    BOOST_TEST(http::query_param("a=1&token=abc&token=def", "token").value() == "abc");
    BOOST_TEST(!http::query_param("a=1", "token").has_value());
    BOOST_TEST(http::query_param("token", "token").value().empty());
    BOOST_TEST(http::decoded_query_param("topics=a%2Cb+c", "topics").value() == "a,b c");
    BOOST_TEST(!http::decoded_query_param("topics=%zz", "topics").has_value());
}

BOOST_AUTO_TEST_CASE(percent_decoding) {
    BOOST_TEST((decode("a%20b") == std::pair<bool, std::string>{true, "a b"}));
    BOOST_TEST((decode("%41%62%7e") == std::pair<bool, std::string>{true, "Ab~"}));
    BOOST_TEST((decode("a+b") == std::pair<bool, std::string>{true, "a b"}));
    BOOST_TEST((decode("a+b", false) == std::pair<bool, std::string>{true, "a+b"}));
    BOOST_TEST((decode("%00") == std::pair<bool, std::string>{true, std::string(1, '\0')}));
    BOOST_TEST(!decode("%").first);
    BOOST_TEST(!decode("%4").first);
    BOOST_TEST(!decode("abc%4").first);
    BOOST_TEST(!decode("%g0").first);
    BOOST_TEST(!decode("%0g").first);
}

BOOST_AUTO_TEST_CASE(output_is_bounded) {
    BOOST_TEST(decode(std::string(64, 'x')).first);
    BOOST_TEST(!decode(std::string(65, 'x')).first);
    // Escapes shrink: 64 decoded bytes from 192 encoded ones still fit.
    std::string enc;
    for (int i = 0; i < 64; ++i)
        enc += "%41";
    BOOST_TEST(decode(enc).first);
}

BOOST_AUTO_TEST_SUITE_END()
