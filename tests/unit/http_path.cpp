// Unit tests for pier/http/path.hpp: request paths to relative file paths, with every spelling
// of traversal refused.
#include <pier/http/path.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

namespace http = pier::http;
using http::path_error;

namespace {

struct outcome {
    path_error err;
    std::string rel;
    bool dir;
};

outcome rel(std::string_view p, http::path_limits lim = {}) {
    std::string out;
    const auto r = http::to_relative_path(p, out, lim);
    return {r.err, out, r.directory};
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_path)

BOOST_AUTO_TEST_CASE(plain_paths) {
    BOOST_TEST(rel("/").rel == "");
    BOOST_TEST(rel("/").dir);
    BOOST_TEST(rel("/index.html").rel == "index.html");
    BOOST_TEST(!rel("/index.html").dir);
    BOOST_TEST(rel("/a/b/c.txt").rel == "a/b/c.txt");
    BOOST_TEST(rel("/docs/").rel == "docs");
    BOOST_TEST(rel("/docs/").dir);
}

BOOST_AUTO_TEST_CASE(dots_and_empty_segments_are_dropped) {
    BOOST_TEST(rel("//a///b").rel == "a/b");
    BOOST_TEST(rel("/./a/./b").rel == "a/b");
    BOOST_TEST(rel("/a/.").rel == "a");
    BOOST_TEST(rel("/.hidden").rel == ".hidden");
    BOOST_TEST(rel("/a..b/...").rel == "a..b/...");
}

BOOST_AUTO_TEST_CASE(percent_decoding) {
    BOOST_TEST(rel("/a%20b").rel == "a b");
    BOOST_TEST(rel("/a+b").rel == "a+b"); // '+' is no space in a path
    BOOST_TEST(rel("/%E2%82%AC").rel == "\xE2\x82\xAC");
    BOOST_TEST(rel("/a%2Fb").rel == "a/b"); // an encoded slash separates like a literal one
    BOOST_TEST((rel("/%").err == path_error::bad_escape));
    BOOST_TEST((rel("/%4").err == path_error::bad_escape));
    BOOST_TEST((rel("/%zz").err == path_error::bad_escape));
}

BOOST_AUTO_TEST_CASE(every_spelling_of_dot_dot_is_refused) {
    for (std::string_view p :
         {"/..", "/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/%2e%2e/etc/passwd", "/%2E%2E",
          "/.%2e/x", "/..%2fetc%2fpasswd", "/a/%2e%2e%2f%2e%2e%2fetc", "/..%2F", "/a/b/../c"}) {
        const auto r = rel(p);
        BOOST_TEST((r.err == path_error::dot_dot), p);
        BOOST_TEST(r.rel.empty(), p);
    }
    BOOST_TEST(http::status_for(path_error::dot_dot) == 403u);
}

BOOST_AUTO_TEST_CASE(control_bytes_and_nul_are_refused) {
    BOOST_TEST((rel("/a%00.txt").err == path_error::forbidden_byte));
    BOOST_TEST((rel("/a%0d%0a").err == path_error::forbidden_byte));
    BOOST_TEST((rel(std::string_view("/a\0b", 4)).err == path_error::forbidden_byte));
    BOOST_TEST((rel("/a%7f").err == path_error::forbidden_byte));
}

BOOST_AUTO_TEST_CASE(only_origin_form) {
    BOOST_TEST((rel("").err == path_error::not_origin_form));
    BOOST_TEST((rel("*").err == path_error::not_origin_form));
    BOOST_TEST((rel("a/b").err == path_error::not_origin_form));
    BOOST_TEST(http::status_for(path_error::not_origin_form) == 400u);
}

BOOST_AUTO_TEST_CASE(limits) {
    http::path_limits lim;
    lim.max_size = 8;
    lim.max_segments = 2;
    BOOST_TEST((rel("/abcdefg", lim).err == path_error::none));
    BOOST_TEST((rel("/abcdefgh", lim).err == path_error::too_long));
    BOOST_TEST((rel("/a/b", lim).err == path_error::none));
    BOOST_TEST((rel("/a/b/c", lim).err == path_error::too_deep));
    BOOST_TEST(http::status_for(path_error::too_long) == 414u);
}

BOOST_AUTO_TEST_SUITE_END()
