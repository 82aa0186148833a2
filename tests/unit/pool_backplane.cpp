// Unit tests for the Redis backplane's socket-free parts: channel and key names (a topic's
// channel, counter and history share one cluster slot, whatever the topic's characters), the
// message body (round trip, every truncation refused), topic message frames, stream entry ids,
// the position script's reply read against `since` (ok, epoch_changed, history_trimmed, a
// history with a hole), and both backplanes modelling backplane_policy.
#include <pier/pool.hpp>
#include <pier/pool/redis_backplane.hpp>
#include <pier/redis/cluster.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace wire = pier::pool::detail::wire;
using pier::pool::position_result;
using pier::pool::stream_position;
using pier::redis::reply;
using pier::redis::reply_kind;

static_assert(pier::backplane_policy<pier::pool::local>);
static_assert(pier::backplane_policy<pier::pool::redis>);
static_assert(!pier::pool::local::node<pier::pool::detail::pool_archetype>::sequenced);
static_assert(pier::pool::redis::node<pier::pool::detail::pool_archetype>::sequenced);
// `local` costs a subscription nothing: the position is an empty member.
static_assert(sizeof(pier::pool::detail::membership<false>) == 16);

namespace {

reply str(std::string s) {
    reply r;
    r.kind = reply_kind::string;
    r.str = std::move(s);
    return r;
}
reply arr(std::vector<reply> e) {
    reply r;
    r.kind = reply_kind::array;
    r.elements = std::move(e);
    return r;
}
std::string body(std::string_view payload, std::vector<std::uint64_t> exclude = {}) {
    std::string b;
    wire::write_body(b, {.type = pier::pool::message_type::data,
                         .encoded = false,
                         .time_ms = 1,
                         .seq = 1,
                         .origin = "n1",
                         .error = {},
                         .type_name = {},
                         .exclude = exclude,
                         .payload = payload});
    return b;
}
/// A position script reply: top, epoch, and entries (offset → payload).
reply position(std::uint64_t top, std::string epoch, std::vector<std::uint64_t> offsets = {},
               bool with_entries = true) {
    std::vector<reply> e = {str(std::to_string(top)), str(std::move(epoch))};
    if (with_entries) {
        std::vector<reply> entries;
        for (auto o : offsets)
            entries.push_back(arr(
                {str(std::to_string(o) + "-0"), arr({str("b"), str(body(std::to_string(o)))})}));
        e.push_back(arr(std::move(entries)));
    }
    return arr(std::move(e));
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_backplane)

BOOST_AUTO_TEST_CASE(names_share_a_slot_per_topic) {
    BOOST_TEST(wire::topic_channel("pier:", "news") == "pier:t:{news}");
    BOOST_TEST(wire::topic_meta("pier:", "news") == "pier:m:{news}");
    BOOST_TEST(wire::topic_stream("pier:", "news") == "pier:s:{news}");
    BOOST_TEST(wire::user_channel("pier:", "alice") == "pier:u:{alice}");
    BOOST_TEST(wire::control_channel("app:") == "app:ctl");
    BOOST_TEST(wire::reply_channel("app:", "n1") == "app:ctl:n1");
    for (std::string topic : {"news", "a}b", "{x}", "}", "", "room:{42}", "é", "a b"}) {
        const auto c = wire::topic_channel("pier:", topic);
        const auto m = wire::topic_meta("pier:", topic);
        const auto s = wire::topic_stream("pier:", topic);
        BOOST_TEST(pier::redis::keyslot(c) == pier::redis::keyslot(m), topic);
        BOOST_TEST(pier::redis::keyslot(c) == pier::redis::keyslot(s), topic);
    }
    // Braces (and the empty name) hash: the name still follows, so that two such topics
    // never share a channel.
    const auto h = wire::topic_channel("pier:", "a}b");
    BOOST_TEST(h.starts_with("pier:t:{#"));
    BOOST_TEST(h.ends_with("}a}b"));
    BOOST_TEST(wire::topic_channel("pier:", "a}b") != wire::topic_channel("pier:", "a}c"));
    // Different topics, different slots (for these two, by CRC16).
    BOOST_TEST(pier::redis::keyslot(wire::topic_channel("pier:", "news")) !=
               pier::redis::keyslot(wire::topic_channel("pier:", "sport")));
}

BOOST_AUTO_TEST_CASE(tokens) {
    BOOST_TEST(wire::valid_token("0123abcdef", 64));
    BOOST_TEST(!wire::valid_token("", 64));
    BOOST_TEST(!wire::valid_token("a:b", 64));
    BOOST_TEST(wire::valid_token("a:b", 64, true));
    BOOST_TEST(!wire::valid_token("a b", 64, true));
    BOOST_TEST(!wire::valid_token("a{b", 64, true));
    BOOST_TEST(!wire::valid_token("a\x7f", 64, true));
    BOOST_TEST(!wire::valid_token(std::string(65, 'a'), 64, true));
}

BOOST_AUTO_TEST_CASE(body_round_trip_and_truncations) {
    const std::uint64_t ex[] = {1, 0xffffffffffffffffull, 42};
    std::string b = "u";
    wire::write_body(b, {.type = pier::pool::message_type::error,
                         .encoded = true,
                         .time_ms = -5,
                         .seq = 7,
                         .origin = "node-1",
                         .error = "boom",
                         .type_name = "chat.message",
                         .exclude = ex,
                         .payload = R"({"a":1})"});
    BOOST_TEST(b.size() == 1 + wire::body_size({.origin = "node-1",
                                                .error = "boom",
                                                .type_name = "chat.message",
                                                .exclude = ex,
                                                .payload = R"({"a":1})"}));
    auto v = wire::parse_body(std::string_view(b).substr(1));
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST((v->type == pier::pool::message_type::error));
    BOOST_TEST(v->encoded);
    BOOST_TEST(v->time_ms == -5);
    BOOST_TEST(v->seq == 7u);
    BOOST_TEST(v->origin == "node-1");
    BOOST_TEST(v->error == "boom");
    BOOST_TEST(v->type_name == "chat.message");
    BOOST_TEST(v->exclude_count() == 3u);
    BOOST_TEST(v->exclude(1) == 0xffffffffffffffffull);
    BOOST_TEST(v->excludes(42));
    BOOST_TEST(!v->excludes(43));
    BOOST_TEST(v->payload == R"({"a":1})");
    // The sequence number is patched in place.
    std::string patched(b.substr(1));
    wire::set_seq(patched, 0x0102030405060708ull);
    BOOST_TEST(wire::parse_body(patched)->seq == 0x0102030405060708ull);
    // Every cut before the payload is refused; cuts inside the payload shorten it.
    const auto whole = std::string_view(b).substr(1);
    const auto fixed = whole.size() - 7;
    for (std::size_t n = 0; n < fixed; ++n)
        BOOST_TEST(!wire::parse_body(whole.substr(0, n)).has_value(), n);
    BOOST_TEST(wire::parse_body(whole.substr(0, fixed))->payload.empty());
    // Bad version, type and flags.
    std::string bad(whole);
    bad[0] = 2;
    BOOST_TEST(!wire::parse_body(bad).has_value());
    bad = whole;
    bad[1] = 8;
    BOOST_TEST(!wire::parse_body(bad).has_value());
    bad = whole;
    bad[2] = 2;
    BOOST_TEST(!wire::parse_body(bad).has_value());
    // An exclusion count past the end.
    bad = whole;
    bad[1 + 1 + 1 + 8 + 8 + 1 + 6 + 2 + 4 + 1 + 12] = '\xff';
    BOOST_TEST(!wire::parse_body(bad).has_value());
}

BOOST_AUTO_TEST_CASE(topic_message_frames) {
    auto t = wire::parse_topic_message("t17:e1:BODY");
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST(t->offset == 17u);
    BOOST_TEST(t->epoch == "e1");
    BOOST_TEST(t->body == "BODY");
    BOOST_TEST(wire::parse_topic_message("t18446744073709551615:e:")->offset ==
               18446744073709551615ull);
    for (std::string_view bad :
         {"", "t", "u1:e:x", "t:e:x", "t0:e:x", "t01:e:x", "t-1:e:x", "t1:e", "t1::x",
          "t18446744073709551616:e:x", "t1:e e:x", "t1:e{:x", "tx:e:x"})
        BOOST_TEST(!wire::parse_topic_message(bad).has_value(), bad);
    BOOST_TEST(wire::parse_entry_id("5-0").value() == 5u);
    for (std::string_view bad : {"5-1", "0-0", "05-0", "-0", "5", "x-0", "5-00"})
        BOOST_TEST(!wire::parse_entry_id(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(position_replies) {
    using pier::pool::detail::read_position_reply;
    using status = position_result::status;
    // No since: the position only.
    auto r = read_position_reply(position(10, "E", {}, false), std::nullopt);
    BOOST_TEST((r.status == status::ok));
    BOOST_TEST(r.position.offset == 10u);
    BOOST_TEST(r.position.epoch == "E");
    BOOST_TEST(r.bodies.empty());
    // Since 7: 8, 9, 10.
    r = read_position_reply(position(10, "E", {8, 9, 10}), stream_position{7, "E"});
    BOOST_TEST((r.status == status::ok));
    BOOST_TEST_REQUIRE(r.bodies.size() == 3u);
    BOOST_TEST(r.bodies[0].first == 8u);
    BOOST_TEST(wire::parse_body(r.bodies[2].second)->payload == "10");
    // Up to date.
    r = read_position_reply(position(10, "E", {}, false), stream_position{10, "E"});
    BOOST_TEST((r.status == status::ok));
    BOOST_TEST(r.bodies.empty());
    // Trimmed: the script found too many wanted, or the history starts later, or has a hole.
    r = read_position_reply(position(10, "E", {}, false), stream_position{2, "E"});
    BOOST_TEST((r.status == status::history_trimmed));
    r = read_position_reply(position(10, "E", {9, 10}), stream_position{7, "E"});
    BOOST_TEST((r.status == status::history_trimmed));
    BOOST_TEST(r.bodies.empty());
    r = read_position_reply(position(10, "E", {8, 10, 10}), stream_position{7, "E"});
    BOOST_TEST((r.status == status::history_trimmed));
    // Another epoch: the new one's history from its start, if it is all there.
    r = read_position_reply(position(2, "F", {1, 2}), stream_position{7, "E"});
    BOOST_TEST((r.status == status::epoch_changed));
    BOOST_TEST(r.bodies.size() == 2u);
    r = read_position_reply(position(2, "F", {2}), stream_position{7, "E"});
    BOOST_TEST((r.status == status::epoch_changed));
    BOOST_TEST(r.bodies.empty());
    // A position from the future is another history too.
    r = read_position_reply(position(3, "E", {}, false), stream_position{9, "E"});
    BOOST_TEST((r.status == status::epoch_changed));
    // Malformed replies: unavailable.
    BOOST_TEST((read_position_reply(str("x"), std::nullopt).status == status::unavailable));
    BOOST_TEST((read_position_reply(arr({str("x"), str("E")}), std::nullopt).status ==
                status::unavailable));
    BOOST_TEST((read_position_reply(arr({str("1"), str("E:")}), std::nullopt).status ==
                status::unavailable));
}

BOOST_AUTO_TEST_SUITE_END()
