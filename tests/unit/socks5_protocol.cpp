// Unit tests for pier/socks5/protocol.hpp: RFC 1928 greetings, requests and replies, RFC 1929
// credentials, each fed whole, byte by byte and malformed.
#include <pier/socks5/protocol.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace socks5 = pier::socks5;
using socks5::parse_status;

namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int x : b)
        s.push_back(static_cast<char>(x));
    return s;
}

// Every proper prefix of a complete message is incomplete (never an error, never complete).
template <class Parse> bool prefixes_incomplete(const std::string& msg, Parse parse) {
    for (std::size_t n = 0; n < msg.size(); ++n)
        if (parse(std::string_view(msg).substr(0, n)).st != parse_status::incomplete)
            return false;
    return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(socks5_protocol)

BOOST_AUTO_TEST_CASE(greeting) {
    socks5::greeting g;
    const auto msg = bytes({5, 2, 0, 2});
    const auto input = msg + "extra"; // g's methods are a view into it
    const auto r = socks5::parse_greeting(input, g);
    BOOST_TEST((r.st == parse_status::complete));
    BOOST_TEST(r.size == 4u);
    BOOST_TEST(g.offers(socks5::method::no_auth));
    BOOST_TEST(g.offers(socks5::method::username_password));
    BOOST_TEST(!g.offers(socks5::method::gssapi));
    BOOST_TEST(prefixes_incomplete(
        msg, [&](std::string_view in) { return socks5::parse_greeting(in, g); }));
}

BOOST_AUTO_TEST_CASE(malformed_greetings) {
    socks5::greeting g;
    BOOST_TEST((socks5::parse_greeting(bytes({4, 1, 0}), g).err == socks5::error::bad_version));
    BOOST_TEST((socks5::parse_greeting("GET / HTTP/1.1\r\n", g).err == socks5::error::bad_version));
    BOOST_TEST((socks5::parse_greeting(bytes({5, 0}), g).err == socks5::error::no_methods));
    // The answer to a greeting the server cannot accept: X'FF'.
    const auto reply = socks5::select_method(socks5::method::none_acceptable);
    BOOST_TEST(reply[0] == 5);
    BOOST_TEST(reply[1] == 0xFF);
}

BOOST_AUTO_TEST_CASE(credentials) {
    socks5::credentials c;
    const auto msg = bytes({1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'});
    const auto r = socks5::parse_credentials(msg, c);
    BOOST_TEST((r.st == parse_status::complete));
    BOOST_TEST(r.size == msg.size());
    BOOST_TEST(c.username == "alice");
    BOOST_TEST(c.password == "secret");
    BOOST_TEST(prefixes_incomplete(
        msg, [&](std::string_view in) { return socks5::parse_credentials(in, c); }));
    BOOST_TEST((socks5::parse_credentials(bytes({5, 1, 'a', 1, 'b'}), c).err ==
                socks5::error::bad_version));
    BOOST_TEST(
        (socks5::parse_credentials(bytes({1, 0, 1, 'b'}), c).err == socks5::error::empty_username));
    BOOST_TEST(
        (socks5::parse_credentials(bytes({1, 1, 'a', 0}), c).err == socks5::error::empty_username));
    BOOST_TEST(socks5::auth_status(true)[1] == 0);
    BOOST_TEST(socks5::auth_status(false)[1] != 0);
}

BOOST_AUTO_TEST_CASE(connect_requests_of_every_address_type) {
    socks5::request req;
    const auto v4 = bytes({5, 1, 0, 1, 127, 0, 0, 1, 0x1F, 0x90});
    auto r = socks5::parse_request(v4, req);
    BOOST_TEST((r.st == parse_status::complete));
    BOOST_TEST(r.size == 10u);
    BOOST_TEST((req.type == socks5::address_type::ipv4));
    BOOST_TEST(req.address[0] == 127);
    BOOST_TEST(req.address[3] == 1);
    BOOST_TEST(req.port == 8080);
    BOOST_TEST(prefixes_incomplete(
        v4, [&](std::string_view in) { return socks5::parse_request(in, req); }));

    std::string v6 = bytes({5, 1, 0, 4});
    for (int i = 0; i < 15; ++i)
        v6.push_back(0);
    v6 += bytes({1, 0, 80});
    r = socks5::parse_request(v6, req);
    BOOST_TEST((r.st == parse_status::complete));
    BOOST_TEST(r.size == 22u);
    BOOST_TEST((req.type == socks5::address_type::ipv6));
    BOOST_TEST(req.address[15] == 1);
    BOOST_TEST(req.port == 80);

    const auto name = bytes({5, 1, 0, 3, 9}) + "localhost" + bytes({0x01, 0xBB});
    r = socks5::parse_request(name, req);
    BOOST_TEST((r.st == parse_status::complete));
    BOOST_TEST(r.size == name.size());
    BOOST_TEST((req.type == socks5::address_type::domain));
    BOOST_TEST(req.domain == "localhost");
    BOOST_TEST(req.port == 443);
    BOOST_TEST(prefixes_incomplete(
        name, [&](std::string_view in) { return socks5::parse_request(in, req); }));
}

BOOST_AUTO_TEST_CASE(refused_requests_get_the_rfc_reply_code) {
    socks5::request req;
    // BIND and UDP ASSOCIATE: refused once the whole request is in, X'07'.
    auto r = socks5::parse_request(bytes({5, 2, 0, 1, 1, 2, 3, 4, 0, 80}), req);
    BOOST_TEST((r.err == socks5::error::unsupported_command));
    BOOST_TEST(r.size == 10u);
    BOOST_TEST((socks5::reply_for(r.err) == socks5::reply::command_not_supported));
    BOOST_TEST(
        (socks5::parse_request(bytes({5, 2, 0, 1, 1, 2, 3}), req).st == parse_status::incomplete));
    r = socks5::parse_request(bytes({5, 3, 0, 1, 0, 0, 0, 0, 0, 0}), req);
    BOOST_TEST((socks5::reply_for(r.err) == socks5::reply::command_not_supported));
    // Unknown address type: X'08'.
    r = socks5::parse_request(bytes({5, 1, 0, 2, 1, 2}), req);
    BOOST_TEST((r.err == socks5::error::unsupported_address));
    BOOST_TEST((socks5::reply_for(r.err) == socks5::reply::address_type_not_supported));
    // Malformed: X'01'.
    BOOST_TEST((socks5::parse_request(bytes({4, 1, 0, 1}), req).err == socks5::error::bad_version));
    BOOST_TEST(
        (socks5::parse_request(bytes({5, 1, 1, 1}), req).err == socks5::error::bad_reserved));
    BOOST_TEST((socks5::parse_request(bytes({5, 1, 0, 3, 0, 0, 80}), req).err ==
                socks5::error::empty_domain));
    BOOST_TEST((socks5::parse_request(bytes({5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80}), req).err ==
                socks5::error::bad_domain));
    BOOST_TEST((socks5::reply_for(socks5::error::bad_reserved) == socks5::reply::general_failure));
}

BOOST_AUTO_TEST_CASE(replies) {
    std::array<std::uint8_t, 22> out{};
    const std::array<std::uint8_t, 4> a{10, 0, 0, 7};
    auto n =
        socks5::format_reply(socks5::reply::succeeded, socks5::address_type::ipv4, a, 0x1234, out);
    BOOST_TEST(n == 10u);
    BOOST_TEST(out[0] == 5);
    BOOST_TEST(out[1] == 0);
    BOOST_TEST(out[3] == 1);
    BOOST_TEST(out[7] == 7);
    BOOST_TEST(out[8] == 0x12);
    BOOST_TEST(out[9] == 0x34);
    std::array<std::uint8_t, 16> six{};
    six[15] = 1;
    n = socks5::format_reply(socks5::reply::succeeded, socks5::address_type::ipv6, six, 80, out);
    BOOST_TEST(n == 22u);
    BOOST_TEST(out[3] == 4);
    BOOST_TEST(out[19] == 1);
    const auto f = socks5::failure_reply(socks5::reply::not_allowed);
    BOOST_TEST(f.size() == 10u);
    BOOST_TEST(f[1] == 2);
}

BOOST_AUTO_TEST_CASE(secrets_compare_whole) {
    BOOST_TEST(socks5::equal_secret("secret", "secret"));
    BOOST_TEST(!socks5::equal_secret("secret", "secreT"));
    BOOST_TEST(!socks5::equal_secret("secret", "secret2"));
    BOOST_TEST(!socks5::equal_secret("", "x"));
    BOOST_TEST(socks5::equal_secret("", ""));
}

BOOST_AUTO_TEST_SUITE_END()
