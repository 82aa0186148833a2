// Unit tests for pier/pool/envelope.hpp and pier/pool/codec.hpp: every envelope type through
// decode and encode, each decode_error by its exact name, payloads kept digit for digit,
// escapes and Unicode, the size and depth bounds, RFC 3339 timestamps, and the codec_policy
// concept.
#include <pier/pier.hpp>
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

// Boost.Test prints the operands of a failed check; found by ADL.
// pier-test: no-unity (a printer in pier::pool, found by argument-dependent lookup)
namespace pier::pool {
inline std::ostream& boost_test_print_type(std::ostream& os, decode_error e) {
    return os << to_string(e);
}
inline std::ostream& boost_test_print_type(std::ostream& os, message_type t) {
    return os << to_string(t);
}
inline std::ostream& boost_test_print_type(std::ostream& os, const std::optional<message_type>& t) {
    return t ? os << to_string(*t) : os << "nullopt";
}
} // namespace pier::pool

namespace pool = pier::pool;
using pool::decode_error;
using pool::message_type;

namespace {

using namespace std::chrono;

// 2026-12-04T22:08:06.123Z
const pool::timestamp fixed_time = pool::timestamp{sys_days{year{2026} / December / 4} + hours{22} +
                                                   minutes{8} + seconds{6} + milliseconds{123}};

decode_error decode(std::string_view text, pool::inbound& in, const pool::codec_options& o = {}) {
    return pool::json_codec(o).decode(text, in);
}

decode_error decode_error_of(std::string_view text, const pool::codec_options& o = {}) {
    pool::inbound in;
    return decode(text, in, o);
}

std::string name_of(std::string_view text, const pool::codec_options& o = {}) {
    return std::string(to_string(decode_error_of(text, o)));
}

pool::codec_options server_types() {
    pool::codec_options o;
    o.server_types = true;
    return o;
}

std::string nested(std::size_t levels, std::string_view leaf = "1") {
    std::string s;
    for (std::size_t i = 0; i < levels; ++i)
        s += '[';
    s += leaf;
    for (std::size_t i = 0; i < levels; ++i)
        s += ']';
    return s;
}

// The least a codec needs (here a binary format): keeps codec_policy from asking for more.
struct codec_archetype {
    using category = pier::category::codec;
    static constexpr bool binary = true;
    pool::decode_error decode(std::string_view, pool::inbound&) const {
        return pool::decode_error::none;
    }
    std::string encode(const pool::outbound&) const { return {}; }
};

struct codec_without_category {
    [[maybe_unused]] static constexpr bool binary = true;
    pool::decode_error decode(std::string_view, pool::inbound&) const;
    std::string encode(const pool::outbound&) const;
};

// The pool calls decode on a codec shared by its threads, so it must be const.
struct codec_with_mutable_decode {
    using category = pier::category::codec;
    [[maybe_unused]] static constexpr bool binary = false;
    pool::decode_error decode(std::string_view, pool::inbound&);
    std::string encode(const pool::outbound&) const;
};

std::string timestamp_text(pool::timestamp t) {
    const auto a = pool::format_timestamp(t);
    return std::string(a.data(), a.size());
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_codec)

BOOST_AUTO_TEST_CASE(type_names_round_trip) {
    for (auto t : {message_type::ping, message_type::pong, message_type::welcome,
                   message_type::subscribe, message_type::unsubscribe, message_type::data,
                   message_type::error, message_type::heartbeat}) {
        BOOST_TEST(pool::message_type_from(to_string(t)) == t);
    }
    BOOST_TEST(!pool::message_type_from("PING").has_value());
    BOOST_TEST(!pool::message_type_from("").has_value());
    BOOST_TEST(!pool::message_type_from("publish").has_value());
    BOOST_TEST(pool::client_may_send(message_type::subscribe));
    BOOST_TEST(!pool::client_may_send(message_type::heartbeat));
    BOOST_TEST(!pool::client_may_send(message_type::welcome));
    BOOST_TEST(!pool::client_may_send(message_type::error));
}

BOOST_AUTO_TEST_CASE(decode_error_names_are_stable) {
    BOOST_TEST(to_string(decode_error::none) == "none");
    BOOST_TEST(to_string(decode_error::too_large) == "too_large");
    BOOST_TEST(to_string(decode_error::malformed_json) == "malformed_json");
    BOOST_TEST(to_string(decode_error::too_deep) == "too_deep");
    BOOST_TEST(to_string(decode_error::not_an_object) == "not_an_object");
    BOOST_TEST(to_string(decode_error::duplicate_field) == "duplicate_field");
    BOOST_TEST(to_string(decode_error::missing_type) == "missing_type");
    BOOST_TEST(to_string(decode_error::unknown_type) == "unknown_type");
    BOOST_TEST(to_string(decode_error::unexpected_type) == "unexpected_type");
    BOOST_TEST(to_string(decode_error::bad_field_type) == "bad_field_type");
    BOOST_TEST(to_string(decode_error::field_too_large) == "field_too_large");
    BOOST_TEST(to_string(decode_error::missing_topic) == "missing_topic");
    BOOST_TEST(to_string(decode_error::bad_topic) == "bad_topic");
    BOOST_TEST(to_string(decode_error::missing_data) == "missing_data");
    BOOST_TEST(to_string(decode_error::missing_error) == "missing_error");
    BOOST_TEST(to_string(decode_error::bad_since) == "bad_since");
    BOOST_TEST(to_string(decode_error::bad_offset) == "bad_offset");
}

BOOST_AUTO_TEST_CASE(client_types_decode) {
    pool::inbound in;
    BOOST_TEST(decode(R"({"type":"ping"})", in) == decode_error::none);
    BOOST_TEST((in.type == message_type::ping));
    BOOST_TEST(in.topic.empty());
    BOOST_TEST(in.data.empty());

    BOOST_TEST(decode(R"({"type":"pong"})", in) == decode_error::none);
    BOOST_TEST((in.type == message_type::pong));

    BOOST_TEST(decode(R"({"topic":"news","type":"subscribe"})", in) == decode_error::none);
    BOOST_TEST((in.type == message_type::subscribe));
    BOOST_TEST(in.topic == "news");
    BOOST_TEST(!in.since.has_value());

    BOOST_TEST(decode(R"({"type":"subscribe","topic":"news","since":{"offset":17,"epoch":"e1"}})",
                      in) == decode_error::none);
    BOOST_TEST(in.since.has_value());
    BOOST_TEST(in.since->offset == 17u);
    BOOST_TEST(in.since->epoch == "e1");

    BOOST_TEST(decode(R"({"type":"unsubscribe","topic":"news"})", in) == decode_error::none);
    BOOST_TEST((in.type == message_type::unsubscribe));
    BOOST_TEST(in.topic == "news");
    BOOST_TEST(!in.since.has_value()); // cleared from the previous decode

    BOOST_TEST(decode(R"({"type":"data","topic":"chat","data":{"text":"hi","n":[1,2,3]}})", in) ==
               decode_error::none);
    BOOST_TEST((in.type == message_type::data));
    BOOST_TEST(in.topic == "chat");
    BOOST_TEST(in.data == R"({"text":"hi","n":[1,2,3]})");

    // A data message for the server's handler needs no topic.
    BOOST_TEST(decode(R"({"type":"data","data":"hello"})", in) == decode_error::none);
    BOOST_TEST(in.topic.empty());
    BOOST_TEST(in.data == R"("hello")");
}

BOOST_AUTO_TEST_CASE(server_types_only_when_asked) {
    BOOST_TEST(name_of(R"({"type":"welcome"})") == "unexpected_type");
    BOOST_TEST(name_of(R"({"type":"heartbeat"})") == "unexpected_type");
    BOOST_TEST(name_of(R"({"type":"error","error":"x"})") == "unexpected_type");

    pool::inbound in;
    BOOST_TEST(decode(R"({"type":"welcome","data":{"id":"c1"}})", in, server_types()) ==
               decode_error::none);
    BOOST_TEST((in.type == message_type::welcome));
    BOOST_TEST(in.data == R"({"id":"c1"})");
    BOOST_TEST(decode(R"({"type":"heartbeat","timestamp":"2026-12-04T22:08:06.123Z"})", in,
                      server_types()) == decode_error::none);
    BOOST_TEST((in.type == message_type::heartbeat));
    BOOST_TEST(decode(R"({"type":"error","error":"unknown_type"})", in, server_types()) ==
               decode_error::none);
    BOOST_TEST(in.error == "unknown_type");
    BOOST_TEST(name_of(R"({"type":"error"})", server_types()) == "missing_error");
    BOOST_TEST(name_of(R"({"type":"error","error":""})", server_types()) == "missing_error");
    BOOST_TEST(decode(R"({"type":"data","topic":"t","offset":5,"epoch":"ab","data":1})", in,
                      server_types()) == decode_error::none);
    BOOST_TEST(in.position.has_value());
    BOOST_TEST(in.position->offset == 5u);
    BOOST_TEST(in.position->epoch == "ab");
}

BOOST_AUTO_TEST_CASE(each_error_by_name) {
    BOOST_TEST(name_of(R"({"type":"ping"})") == "none");
    BOOST_TEST(name_of("") == "malformed_json");
    BOOST_TEST(name_of("{") == "malformed_json");
    BOOST_TEST(name_of(R"({"type":"ping"} x)") == "malformed_json");
    BOOST_TEST(name_of(R"({"type":"ping"}{})") == "malformed_json");
    BOOST_TEST(name_of(R"({"type":'ping'})") == "malformed_json");
    BOOST_TEST(name_of("{\"type\":\"ping\",\"x\":\"\xff\"}") == "malformed_json");
    BOOST_TEST(name_of(R"({"type":"ping",})") == "malformed_json");
    BOOST_TEST(name_of(R"({"type":"ping"} // comment)") == "malformed_json");
    BOOST_TEST(name_of("[]") == "not_an_object");
    BOOST_TEST(name_of(R"("ping")") == "not_an_object");
    BOOST_TEST(name_of("42") == "not_an_object");
    BOOST_TEST(name_of("null") == "not_an_object");
    BOOST_TEST(name_of(R"({"type":"ping","type":"pong"})") == "duplicate_field");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"data":2})") == "duplicate_field");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1,"offset":2}})") ==
               "duplicate_field");
    BOOST_TEST(name_of(R"({})") == "missing_type");
    BOOST_TEST(name_of(R"({"topic":"a"})") == "missing_type");
    BOOST_TEST(name_of(R"({"type":"publish"})") == "unknown_type");
    BOOST_TEST(name_of(R"({"type":"PING"})") == "unknown_type");
    BOOST_TEST(name_of(R"({"type":""})") == "unknown_type");
    BOOST_TEST(name_of(R"({"type":1})") == "bad_field_type");
    BOOST_TEST(name_of(R"({"type":null})") == "bad_field_type");
    BOOST_TEST(name_of(R"({"type":["ping"]})") == "bad_field_type");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":7})") == "bad_field_type");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":{"a":1}})") == "bad_field_type");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"epoch":5})", server_types()) ==
               "bad_field_type");
    BOOST_TEST(name_of(R"({"type":"subscribe"})") == "missing_topic");
    BOOST_TEST(name_of(R"({"type":"unsubscribe"})") == "missing_topic");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":""})") == "bad_topic");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a\nb"})") == "bad_topic");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a\u0000b"})") == "bad_topic");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a\u007fb"})") == "bad_topic");
    BOOST_TEST(name_of(R"({"type":"data"})") == "missing_data");
    BOOST_TEST(name_of(R"({"type":"data","topic":"t"})") == "missing_data");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":5})") == "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":[]})") == "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{}})") == "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1}})") == "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"epoch":"e"}})") == "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"offset":-1,"epoch":"e"}})") ==
               "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1.5,"epoch":"e"}})") ==
               "bad_since");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1,"epoch":2}})") ==
               "bad_since");
    BOOST_TEST(
        name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1,"epoch":"e","x":0}})") ==
        "bad_since");
    BOOST_TEST(
        name_of(R"({"type":"subscribe","topic":"a","since":{"offset":{"n":1},"epoch":"e"}})") ==
        "bad_since");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"offset":-1})", server_types()) == "bad_offset");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"offset":"1"})", server_types()) == "bad_offset");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"offset":18446744073709551616})",
                       server_types()) == "bad_offset");
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored) {
    pool::inbound in;
    BOOST_TEST(decode(R"({"x":{"deep":[1,{"y":null}]},"type":"ping","id":42,"z":"s"})", in) ==
               decode_error::none);
    BOOST_TEST((in.type == message_type::ping));
    // A client-side timestamp is not read: the server stamps its own envelopes.
    BOOST_TEST(decode(R"({"type":"ping","timestamp":12})", in) == decode_error::none);
    // Inside an unknown field, names may repeat (only envelope fields must be unique).
    BOOST_TEST(decode(R"({"type":"ping","x":{"a":1,"a":2}})", in) == decode_error::none);
}

BOOST_AUTO_TEST_CASE(payload_keeps_every_digit) {
    pool::inbound in;
    const std::string big = "123456789012345678901234567890";
    BOOST_TEST(decode(R"({"type":"data","data":[)" + big + R"(,-9223372036854775808,)" +
                          R"(18446744073709551615,0.1000,-0.0,1e-7,2.5E3]})",
                      in) == decode_error::none);
    BOOST_TEST(in.data == "[" + big + ",-9223372036854775808,18446744073709551615,0.1000,-0.0," +
                              "1e-7,2.5E3]");
}

BOOST_AUTO_TEST_CASE(payload_overflowing_a_double_is_malformed) {
    BOOST_TEST(name_of(R"({"type":"data","data":1E+400})") == "malformed_json");
}

BOOST_AUTO_TEST_CASE(scalar_payloads) {
    pool::inbound in;
    for (std::string_view v : {"null", "true", "false", "0", "-5", "3.25", R"("")", R"("x")"}) {
        BOOST_TEST(decode(R"({"type":"data","data":)" + std::string(v) + "}", in) ==
                   decode_error::none);
        BOOST_TEST(in.data == v);
    }
    BOOST_TEST(decode(R"({"type":"data","data":{}})", in) == decode_error::none);
    BOOST_TEST(in.data == "{}");
    BOOST_TEST(decode(R"({"type":"data","data":[]})", in) == decode_error::none);
    BOOST_TEST(in.data == "[]");
    BOOST_TEST(decode(R"({"type":"data","data":[[],{},[{}]]})", in) == decode_error::none);
    BOOST_TEST(in.data == "[[],{},[{}]]");
}

BOOST_AUTO_TEST_CASE(whitespace_and_escapes_are_normalised) {
    pool::inbound in;
    BOOST_TEST(decode(" {\n\t\"type\" : \"data\" ,\r\n \"data\" : { \"a\" : [ 1 , 2 ] , "
                      "\"b\" : \"x\" } } ",
                      in) == decode_error::none);
    BOOST_TEST(in.data == R"({"a":[1,2],"b":"x"})");
    // \u escapes of printable characters become UTF-8; quotes, backslashes and controls
    // stay escaped; a surrogate pair becomes one 4-byte character.
    BOOST_TEST(decode(R"({"type":"data","data":"\u00e9\u20ac\ud83d\ude00 \" \\ \/ \n \u0001"})",
                      in) == decode_error::none);
    BOOST_TEST(in.data == "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \\\" \\\\ / \\n \\u0001\"");
    BOOST_TEST(decode(R"({"type":"subscribe","topic":"caf\u00e9 \"q\""})", in) ==
               decode_error::none);
    BOOST_TEST(in.topic == "caf\xc3\xa9 \"q\"");
    // Raw UTF-8 passes; keys inside the payload are escaped like values.
    BOOST_TEST(decode("{\"type\":\"data\",\"data\":{\"k\\\"\xe2\x82\xac\":\"\xe2\x82\xac\"}}",
                      in) == decode_error::none);
    BOOST_TEST(in.data == "{\"k\\\"\xe2\x82\xac\":\"\xe2\x82\xac\"}");
    // A lone surrogate is not UTF-8.
    BOOST_TEST(name_of(R"({"type":"data","data":"\ud83d"})") == "malformed_json");
}

BOOST_AUTO_TEST_CASE(size_bound) {
    pool::codec_options o;
    o.max_message_size = 40;
    const std::string fits = R"({"type":"data","data":")" + std::string(15, 'x') + R"("})";
    BOOST_REQUIRE(fits.size() == 40);
    BOOST_TEST(name_of(fits, o) == "none");
    BOOST_TEST(name_of(R"({"type":"data","data":")" + std::string(16, 'x') + R"("})", o) ==
               "too_large");
    // The limit is checked before parsing: garbage over it is too_large, not malformed.
    BOOST_TEST(name_of(std::string(41, '{'), o) == "too_large");
}

BOOST_AUTO_TEST_CASE(depth_bound) {
    pool::codec_options o;
    o.max_depth = 4; // envelope + 3 levels of payload
    BOOST_TEST(name_of(R"({"type":"data","data":)" + nested(3) + "}", o) == "none");
    BOOST_TEST(name_of(R"({"type":"data","data":)" + nested(4) + "}", o) == "too_deep");
    BOOST_TEST(name_of(R"({"type":"data","data":{"a":{"b":{"c":1}}}})", o) == "none");
    BOOST_TEST(name_of(R"({"type":"data","data":{"a":{"b":{"c":{}}}}})", o) == "too_deep");
    // Unknown fields count too.
    BOOST_TEST(name_of(R"({"type":"ping","x":)" + nested(4) + "}", o) == "too_deep");
    // Far past the limit: refused when the limit is crossed, without reading the rest.
    const std::string deep = R"({"type":"data","data":)" + nested(100000) + "}";
    BOOST_TEST(name_of(deep) == "too_large");
    pool::codec_options big;
    big.max_message_size = deep.size();
    BOOST_TEST(name_of(deep, big) == "too_deep");
    BOOST_TEST(name_of(std::string(50000, '['), big) == "not_an_object");
    BOOST_TEST(name_of("{\"type\":\"ping\",\"x\":" + std::string(50000, '['), big) == "too_deep");
}

BOOST_AUTO_TEST_CASE(name_bound) {
    pool::codec_options o;
    o.max_name_size = 8;
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"12345678"})", o) == "none");
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"123456789"})", o) == "field_too_large");
    // Measured after unescaping: 4 two-byte characters written as 24 bytes of escapes.
    BOOST_TEST(name_of(R"({"type":"subscribe","topic":"\u00e9\u00e9\u00e9\u00e9"})", o) == "none");
    BOOST_TEST(
        name_of(R"({"type":"subscribe","topic":"a","since":{"offset":1,"epoch":"123456789"}})",
                o) == "field_too_large");
    o.server_types = true;
    BOOST_TEST(name_of(R"({"type":"error","error":"123456789"})", o) == "field_too_large");
    BOOST_TEST(name_of(R"({"type":"data","data":1,"epoch":"123456789"})", o) == "field_too_large");
}

BOOST_AUTO_TEST_CASE(encode_every_type) {
    pool::json_codec codec;
    auto enc = [&](pool::outbound o) {
        o.time = fixed_time;
        return codec.encode(o);
    };
    const std::string ts = R"("timestamp":"2026-12-04T22:08:06.123Z")";
    BOOST_TEST(enc({.type = message_type::ping}) == R"({"type":"ping",)" + ts + "}");
    BOOST_TEST(enc({.type = message_type::pong}) == R"({"type":"pong",)" + ts + "}");
    BOOST_TEST(enc({.type = message_type::heartbeat}) == R"({"type":"heartbeat",)" + ts + "}");
    BOOST_TEST(enc({.type = message_type::welcome, .data = R"({"client":"c1"})"}) ==
               R"({"type":"welcome",)" + ts + R"(,"data":{"client":"c1"}})");
    BOOST_TEST(enc({.type = message_type::subscribe, .topic = "news"}) ==
               R"({"type":"subscribe","topic":"news",)" + ts + "}");
    const pool::position_view since{17, "e1"};
    BOOST_TEST(enc({.type = message_type::subscribe, .topic = "news", .since = &since}) ==
               R"({"type":"subscribe","topic":"news","since":{"offset":17,"epoch":"e1"},)" + ts +
                   "}");
    BOOST_TEST(enc({.type = message_type::unsubscribe, .topic = "news"}) ==
               R"({"type":"unsubscribe","topic":"news",)" + ts + "}");
    const pool::position_view position{18446744073709551615ull, "xyz"};
    BOOST_TEST(enc({.type = message_type::data,
                    .topic = "news",
                    .data = "[1,2]",
                    .position = &position}) ==
               R"({"type":"data","topic":"news","offset":18446744073709551615,"epoch":"xyz",)" +
                   ts + R"(,"data":[1,2]})");
    const pool::position_view no_epoch{0, ""};
    BOOST_TEST(enc({.type = message_type::data, .data = "1", .position = &no_epoch}) ==
               R"({"type":"data","offset":0,)" + ts + R"(,"data":1})");
    BOOST_TEST(enc({.type = message_type::error, .error = "unknown_type"}) ==
               R"({"type":"error","error":"unknown_type",)" + ts + "}");
    BOOST_TEST(enc({.type = message_type::error, .topic = "t", .error = "bad_topic"}) ==
               R"({"type":"error","topic":"t","error":"bad_topic",)" + ts + "}");
}

BOOST_AUTO_TEST_CASE(encode_escapes_strings) {
    pool::json_codec codec;
    const std::string s = codec.encode({.type = message_type::data,
                                        .topic = "a\"b\\c\n\x01\x1f\x7f\xc3\xa9",
                                        .data = "0",
                                        .time = fixed_time});
    BOOST_TEST(s.find(R"("topic":"a\"b\\c\n\u0001\u001f)"
                      "\x7f\xc3\xa9\"") != std::string::npos);
    // And what comes out is JSON whose topic is the original.
    const auto j = nlohmann::json::parse(s);
    BOOST_TEST(j.at("topic").get<std::string>() == "a\"b\\c\n\x01\x1f\x7f\xc3\xa9");
}

BOOST_AUTO_TEST_CASE(encode_stamps_the_current_time) {
    pool::json_codec codec;
    const auto before = pool::now();
    const std::string s = codec.encode({.type = message_type::heartbeat});
    const auto after = pool::now();
    const auto j = nlohmann::json::parse(s);
    const std::string ts = j.at("timestamp").get<std::string>();
    BOOST_TEST(ts.size() == pool::timestamp_size);
    BOOST_TEST((ts >= timestamp_text(before) && ts <= timestamp_text(after)));
}

BOOST_AUTO_TEST_CASE(decode_encode_decode_round_trip) {
    pool::json_codec server;
    pool::json_codec client(server_types());
    const std::string inputs[] = {
        R"({"type":"ping"})",
        R"({"type":"subscribe","topic":"caf\u00e9","since":{"offset":0,"epoch":""}})",
        R"({"type":"unsubscribe","topic":"x y"})",
        R"({"type":"data","topic":"t","data":{"n":123456789012345678901234567890,"f":1.50}})",
        R"({"type":"data","data":"\"quoted\"\u0000"})",
    };
    for (const auto& text : inputs) {
        pool::inbound a, b;
        BOOST_TEST_REQUIRE(server.decode(text, a) == decode_error::none);
        pool::position_view since;
        pool::outbound o{.type = a.type, .topic = a.topic, .data = a.data, .time = fixed_time};
        if (a.since) {
            since = {a.since->offset, a.since->epoch};
            o.since = &since;
        }
        const std::string wire = server.encode(o);
        BOOST_TEST_REQUIRE(client.decode(wire, b) == decode_error::none);
        BOOST_TEST((b.type == a.type));
        BOOST_TEST(b.topic == a.topic);
        BOOST_TEST(b.data == a.data);
        BOOST_TEST((b.since == a.since));
    }
}

BOOST_AUTO_TEST_CASE(inbound_is_reused) {
    pool::json_codec codec;
    pool::inbound in;
    BOOST_TEST(
        codec.decode(R"({"type":"data","topic":"t","data":")" + std::string(1000, 'x') + R"("})",
                     in) == decode_error::none);
    const auto capacity = in.data.capacity();
    BOOST_TEST(codec.decode(R"({"type":"ping"})", in) == decode_error::none);
    BOOST_TEST(in.data.empty());
    BOOST_TEST(in.topic.empty());
    BOOST_TEST(in.data.capacity() == capacity);
}

BOOST_AUTO_TEST_CASE(normalize_checks_application_payloads) {
    pool::json_codec codec;
    std::string out = "stale";
    BOOST_TEST(codec.normalize(R"( { "a" : [ 1 , 2.50 , "x" ] } )", out) == decode_error::none);
    BOOST_TEST(out == R"({"a":[1,2.50,"x"]})");
    BOOST_TEST(codec.normalize("17", out) == decode_error::none);
    BOOST_TEST(out == "17");
    BOOST_TEST(codec.normalize("{", out) == decode_error::malformed_json);
    BOOST_TEST(out.empty());
    BOOST_TEST(codec.normalize("1 2", out) == decode_error::malformed_json);
    BOOST_TEST(codec.normalize("", out) == decode_error::malformed_json);
    BOOST_TEST(codec.normalize(nested(32), out) == decode_error::none);
    BOOST_TEST(codec.normalize(nested(33), out) == decode_error::too_deep);
    pool::codec_options small;
    small.max_message_size = 4;
    BOOST_TEST(pool::json_codec(small).normalize("12345", out) == decode_error::too_large);
}

BOOST_AUTO_TEST_CASE(to_data_from_nlohmann) {
    const nlohmann::json j = {{"title", "h\xc3\xa9llo"}, {"n", 3}, {"list", {1, 2}}};
    BOOST_TEST(pool::json_codec::to_data(j) == R"({"list":[1,2],"n":3,"title":"h)"
                                               "\xc3\xa9"
                                               R"(llo"})");
    // Invalid UTF-8 becomes U+FFFD instead of throwing.
    BOOST_TEST(pool::json_codec::to_data(nlohmann::json("a\xff")) == "\"a\xef\xbf\xbd\"");
}

BOOST_AUTO_TEST_CASE(timestamps_are_rfc3339_utc_with_milliseconds) {
    BOOST_TEST(timestamp_text(fixed_time) == "2026-12-04T22:08:06.123Z");
    BOOST_TEST(timestamp_text(pool::timestamp{}) == "1970-01-01T00:00:00.000Z");
    BOOST_TEST(timestamp_text(pool::timestamp{milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
    BOOST_TEST(timestamp_text(pool::timestamp{sys_days{year{2024} / February / 29} +
                                              milliseconds{86399999}}) ==
               "2024-02-29T23:59:59.999Z");
    BOOST_TEST(timestamp_text(pool::timestamp{sys_days{year{2000} / March / 1} +
                                              milliseconds{7}}) == "2000-03-01T00:00:00.007Z");
    // The per-thread cache must not leak one second's text into the next.
    BOOST_TEST(timestamp_text(fixed_time + milliseconds{876}) == "2026-12-04T22:08:06.999Z");
    BOOST_TEST(timestamp_text(fixed_time + milliseconds{877}) == "2026-12-04T22:08:07.000Z");
    BOOST_TEST(timestamp_text(fixed_time) == "2026-12-04T22:08:06.123Z");
    // Clamped to four-digit years.
    BOOST_TEST(timestamp_text(pool::timestamp{sys_days{year{12000} / 1 / 1}}) ==
               "9999-12-31T23:59:59.999Z");
    BOOST_TEST(timestamp_text(pool::timestamp{sys_days{year{-5} / 1 / 1}}) ==
               "0000-01-01T00:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(json_codec_models_codec_policy) {
    static_assert(pier::codec_policy<pool::json_codec>);
    static_assert(pier::codec_policy<codec_archetype>);
    static_assert(!pier::codec_policy<codec_without_category>);
    static_assert(!pier::codec_policy<codec_with_mutable_decode>);
    BOOST_TEST(!pool::json_codec::binary);
    BOOST_TEST(codec_archetype::binary);
}

BOOST_AUTO_TEST_SUITE_END()
