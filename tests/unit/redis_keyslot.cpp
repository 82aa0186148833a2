// Unit tests for pier/redis/cluster.hpp: CRC16 and hash slots (with the cluster spec's vectors
// and hash-tag cases), MOVED/ASK parsing and CLUSTER SLOTS parsing. (The integration test
// redis_cluster also compares keyslot() with a real server's CLUSTER KEYSLOT.)
#include <pier/redis/cluster.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace redis = pier::redis;
using redis::reply;
using redis::reply_kind;

namespace {

reply integer(long long v) {
    reply r;
    r.kind = reply_kind::integer;
    r.integer = v;
    return r;
}
reply string(std::string s) {
    reply r;
    r.kind = reply_kind::string;
    r.str = std::move(s);
    return r;
}
reply array(std::vector<reply> e) {
    reply r;
    r.kind = reply_kind::array;
    r.elements = std::move(e);
    return r;
}
reply range(long long first, long long last, std::string host, long long port) {
    return array({integer(first), integer(last),
                  array({string(std::move(host)), integer(port), string("id")})});
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_keyslot)

BOOST_AUTO_TEST_CASE(crc16_xmodem) {
    // The check value of CRC-16/XMODEM, and the cluster spec's example.
    static_assert(redis::crc16("123456789") == 0x31C3);
    BOOST_TEST(redis::crc16("") == 0);
    BOOST_TEST(redis::keyslot("123456789") == 12739);
}

BOOST_AUTO_TEST_CASE(known_slots) {
    // As CLUSTER KEYSLOT answers them.
    BOOST_TEST(redis::keyslot("foo") == 12182);
    BOOST_TEST(redis::keyslot("bar") == 5061);
    BOOST_TEST(redis::keyslot("hello") == 866);
    BOOST_TEST(redis::keyslot("") == 0);
}

BOOST_AUTO_TEST_CASE(hash_tags_from_the_cluster_spec) {
    // {user1000}.following and {user1000}.followers hash "user1000".
    BOOST_TEST(redis::keyslot("{user1000}.following") == redis::keyslot("user1000"));
    BOOST_TEST(redis::keyslot("{user1000}.followers") == redis::keyslot("user1000"));
    // foo{}{bar}: the first {} is empty, so the whole key is hashed.
    BOOST_TEST(redis::keyslot("foo{}{bar}") == (redis::crc16("foo{}{bar}") & 16383));
    // foo{{bar}}zap: "{bar" is hashed (from the first '{' to the first '}' after it).
    BOOST_TEST(redis::keyslot("foo{{bar}}zap") == redis::keyslot("{bar"));
    BOOST_TEST(redis::keyslot("foo{{bar}}zap") == (redis::crc16("{bar") & 16383));
    // foo{bar}{zap}: "bar".
    BOOST_TEST(redis::keyslot("foo{bar}{zap}") == redis::keyslot("bar"));
    // No closing brace: the whole key.
    BOOST_TEST(redis::keyslot("foo{bar") == (redis::crc16("foo{bar") & 16383));
    BOOST_TEST(redis::keyslot("}{x}") == redis::keyslot("x"));
    BOOST_TEST(redis::keyslot("room:{42}") == redis::keyslot("offset:{42}"));
}

BOOST_AUTO_TEST_CASE(redirects) {
    auto r = redis::parse_redirect("MOVED 3999 127.0.0.1:6381", "x");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(!r->ask);
    BOOST_TEST(r->slot == 3999);
    BOOST_TEST(r->to.host == "127.0.0.1");
    BOOST_TEST(r->to.port == 6381);

    r = redis::parse_redirect("ASK 16383 ::1:7000", "x");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->ask);
    BOOST_TEST(r->slot == 16383);
    BOOST_TEST(r->to.host == "::1");
    BOOST_TEST(r->to.port == 7000);

    r = redis::parse_redirect("MOVED 1 :7001", "10.1.1.1");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->to.host == "10.1.1.1");
    BOOST_TEST(redis::parse_redirect("MOVED 1 [::1]:7001", "x")->to.host == "::1");

    for (const char* bad :
         {"ERR unknown command", "MOVED", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 12 h",
          "MOVED 12 h:0", "MOVED 12 h:65536", "MOVED 12 h:", "MOVED x h:1", "MOVED  h:1",
          "ASK 123456 h:1", "moved 1 h:1", "TRYAGAIN Multiple keys request during rehashing"})
        BOOST_TEST(!redis::parse_redirect(bad, "x").has_value(), bad);
}

BOOST_AUTO_TEST_CASE(cluster_slots) {
    std::vector<redis::slot_range> out;
    auto r = array({range(0, 5460, "127.0.0.1", 7000), range(5461, 10922, "", 7001),
                    range(10923, 16383, "?", 7002)});
    BOOST_TEST(!redis::parse_cluster_slots(r, "seed.local", out));
    BOOST_TEST_REQUIRE(out.size() == 2u); // the '?' (unknown endpoint) range is left out
    BOOST_TEST(out[0].first == 0);
    BOOST_TEST(out[0].last == 5460);
    BOOST_TEST(out[0].master.host == "127.0.0.1");
    BOOST_TEST(out[0].master.port == 7000);
    BOOST_TEST(out[1].master.host == "seed.local");
    BOOST_TEST(out[1].master.port == 7001);

    // Replicas after the master are ignored; so is the node id and Redis 7's metadata.
    auto with_replica = range(0, 1, "h", 1);
    with_replica.elements.push_back(array({string("r"), integer(2), string("id2")}));
    BOOST_TEST(!redis::parse_cluster_slots(array({with_replica}), "x", out));
    BOOST_TEST(out.size() == 1u);
    BOOST_TEST(!redis::parse_cluster_slots(array({}), "x", out));
    BOOST_TEST(out.empty());

    const auto bad = redis::make_error_code(redis::error::unexpected_reply);
    BOOST_TEST(redis::parse_cluster_slots(string("x"), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({range(5, 4, "h", 1)}), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({range(0, 16384, "h", 1)}), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({range(-1, 3, "h", 1)}), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({range(0, 3, "h", 0)}), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({range(0, 3, "h", 70000)}), "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(array({array({integer(0), integer(1)})}), "x", out) ==
               bad);
    BOOST_TEST(redis::parse_cluster_slots(array({array({integer(0), integer(1), string("h")})}),
                                          "x", out) == bad);
    BOOST_TEST(redis::parse_cluster_slots(
                   array({array({integer(0), integer(1), array({integer(1), integer(2)})})}), "x",
                   out) == bad);
}

BOOST_AUTO_TEST_SUITE_END()
