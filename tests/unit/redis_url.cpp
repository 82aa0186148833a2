// Unit tests for pier/redis/url.hpp: redis://, rediss://, redis-cluster:// URLs and their
// specific refusals.
#include <pier/redis/url.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <system_error>

namespace redis = pier::redis;
using redis::url_error;

namespace {

redis::url parse(const std::string& text) {
    redis::url u;
    const auto ec = redis::parse_url(text, u);
    BOOST_TEST_REQUIRE(!ec, text << ": " << ec.message());
    return u;
}

std::error_code code(url_error e) {
    return redis::make_error_code(e);
}

std::error_code refuse(const std::string& text) {
    redis::url u;
    return redis::parse_url(text, u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_url)

BOOST_AUTO_TEST_CASE(standalone) {
    auto u = parse("redis://127.0.0.1:6380");
    BOOST_TEST(!u.tls);
    BOOST_TEST(!u.cluster);
    BOOST_TEST_REQUIRE(u.nodes.size() == 1u);
    BOOST_TEST(u.nodes[0].host == "127.0.0.1");
    BOOST_TEST(u.nodes[0].port == 6380);
    BOOST_TEST(u.db == 0);
    BOOST_TEST(u.user.empty());
    BOOST_TEST(u.password.empty());

    u = parse("redis://cache.example.com");
    BOOST_TEST(u.nodes[0].host == "cache.example.com");
    BOOST_TEST(u.nodes[0].port == 6379);

    u = parse("redis://localhost:6379/15");
    BOOST_TEST(u.db == 15);
    BOOST_TEST(parse("redis://h/").db == 0);
    BOOST_TEST(parse("redis://h/000000007").db == 7);
    BOOST_TEST(parse("rediss://h:6390").tls);
    BOOST_TEST(parse("REDIS://h").nodes[0].host == "h");
    BOOST_TEST(parse("Rediss-Cluster://h").cluster);
}

BOOST_AUTO_TEST_CASE(credentials) {
    auto u = parse("redis://:s3cret@h:1");
    BOOST_TEST(u.user.empty());
    BOOST_TEST(u.password == "s3cret");
    u = parse("redis://alice:pw@h");
    BOOST_TEST(u.user == "alice");
    BOOST_TEST(u.password == "pw");
    // Percent-encoded '@', ':' and '/', and a literal '+' that is not a space.
    u = parse("redis://us%3Aer:p%40ss%2Fw+rd@h/2");
    BOOST_TEST(u.user == "us:er");
    BOOST_TEST(u.password == "p@ss/w+rd");
    BOOST_TEST(u.db == 2);
    // An unescaped '@' in the password: the host after the last '@' is still found.
    u = parse("redis://:a@b@h");
    BOOST_TEST(u.password == "a@b");
    BOOST_TEST(u.nodes[0].host == "h");
    BOOST_TEST(parse("redis://:@h").password.empty());
}

BOOST_AUTO_TEST_CASE(ipv6) {
    auto u = parse("redis://[::1]:6380/3");
    BOOST_TEST(u.nodes[0].host == "::1");
    BOOST_TEST(u.nodes[0].port == 6380);
    BOOST_TEST(u.db == 3);
    BOOST_TEST(u.nodes[0].to_string() == "[::1]:6380");
    BOOST_TEST(parse("redis://[fe80::1:2]").nodes[0].port == 6379);
    BOOST_TEST(parse("redis://h:7").nodes[0].to_string() == "h:7");
    BOOST_TEST(refuse("redis://[zz]:1") == code(url_error::bad_ipv6));
    BOOST_TEST(refuse("redis://[::1:1") == code(url_error::bad_ipv6));
    BOOST_TEST(refuse("redis://[::1]x") == code(url_error::bad_ipv6));
    BOOST_TEST(refuse("redis://[]") == code(url_error::bad_ipv6));
    BOOST_TEST(refuse("redis://[127.0.0.1]") == code(url_error::bad_ipv6));
    BOOST_TEST(refuse("redis://[::1]:") == code(url_error::bad_port));
}

BOOST_AUTO_TEST_CASE(cluster) {
    auto u = parse("redis-cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002");
    BOOST_TEST(u.cluster);
    BOOST_TEST(!u.tls);
    BOOST_TEST(u.password == "pw");
    BOOST_TEST_REQUIRE(u.nodes.size() == 3u);
    BOOST_TEST(u.nodes[1].host == "10.0.0.2");
    BOOST_TEST(u.nodes[1].port == 7001);
    BOOST_TEST(u.nodes[2].host == "::1");
    BOOST_TEST(parse("rediss-cluster://h1,h2/0").tls);
    BOOST_TEST(parse("redis-cluster://h").nodes.size() == 1u);

    std::string many = "redis-cluster://";
    for (std::size_t i = 0; i < redis::max_url_nodes; ++i)
        many += (i ? ",h" : "h") + std::to_string(i);
    BOOST_TEST(parse(many).nodes.size() == redis::max_url_nodes);
    BOOST_TEST(refuse(many + ",one-more") == code(url_error::too_many_hosts));
    BOOST_TEST(refuse("redis-cluster://h1,h2/1") == code(url_error::db_in_cluster));
    BOOST_TEST(refuse("redis-cluster://h1,,h2") == code(url_error::missing_host));
    BOOST_TEST(refuse("redis-cluster://h1,") == code(url_error::missing_host));
    BOOST_TEST(refuse("redis://h1,h2") == code(url_error::multiple_hosts));
}

BOOST_AUTO_TEST_CASE(specific_refusals) {
    BOOST_TEST(refuse("") == code(url_error::bad_scheme));
    BOOST_TEST(refuse("http://h") == code(url_error::bad_scheme));
    BOOST_TEST(refuse("redis:/h") == code(url_error::bad_scheme));
    BOOST_TEST(refuse("redis-sentinel://h") == code(url_error::bad_scheme));
    BOOST_TEST(refuse("redis://") == code(url_error::missing_host));
    BOOST_TEST(refuse("redis://:6379") == code(url_error::missing_host));
    BOOST_TEST(refuse("redis://:pw@") == code(url_error::missing_host));
    BOOST_TEST(refuse("redis://user@h") == code(url_error::bad_userinfo));
    BOOST_TEST(refuse("redis://:%zz@h") == code(url_error::bad_userinfo));
    BOOST_TEST(refuse("redis://%4@h") == code(url_error::bad_userinfo));
    BOOST_TEST(refuse("redis://bad host") == code(url_error::bad_host));
    BOOST_TEST(refuse("redis://h%41") == code(url_error::bad_host));
    BOOST_TEST(refuse("redis://" + std::string(256, 'a')) == code(url_error::bad_host));
    BOOST_TEST(!refuse("redis://" + std::string(255, 'a')));
    BOOST_TEST(refuse("redis://h:") == code(url_error::bad_port));
    BOOST_TEST(refuse("redis://h:0") == code(url_error::bad_port));
    BOOST_TEST(refuse("redis://h:65536") == code(url_error::bad_port));
    BOOST_TEST(refuse("redis://h:123456") == code(url_error::bad_port));
    BOOST_TEST(refuse("redis://h:12a") == code(url_error::bad_port));
    BOOST_TEST(refuse("redis://h:-1") == code(url_error::bad_port));
    BOOST_TEST(!refuse("redis://h:65535"));
    BOOST_TEST(refuse("redis://h/abc") == code(url_error::bad_db));
    BOOST_TEST(refuse("redis://h/-1") == code(url_error::bad_db));
    BOOST_TEST(refuse("redis://h/1000000000") == code(url_error::bad_db));
    BOOST_TEST(!refuse("redis://h/999999999"));
    BOOST_TEST(refuse("redis://h/1/2") == code(url_error::unsupported_part));
    BOOST_TEST(refuse("redis://h/0123456789/") == code(url_error::unsupported_part));
    BOOST_TEST(refuse("redis://h?timeout=1") == code(url_error::unsupported_part));
    BOOST_TEST(refuse("redis://h/0#x") == code(url_error::unsupported_part));
    BOOST_TEST(refuse("redis://h/" + std::string(redis::max_url_size, '0')) ==
               code(url_error::too_long));
}

BOOST_AUTO_TEST_CASE(error_codes_name_themselves) {
    const std::error_code ec = code(url_error::bad_port);
    BOOST_TEST(ec.category().name() == std::string("pier.redis.url"));
    BOOST_TEST(ec.message() == "redis URL port must be 1-65535");
    for (int e = static_cast<int>(url_error::too_long);
         e <= static_cast<int>(url_error::unsupported_part); ++e)
        BOOST_TEST(redis::make_error_code(static_cast<url_error>(e)).message() !=
                   "unknown redis URL error");
}

BOOST_AUTO_TEST_SUITE_END()
