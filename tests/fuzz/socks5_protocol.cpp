// libFuzzer target for pier/socks5/protocol.hpp. The input is a client's byte stream: the
// first byte picks which message is parsed (greeting, credentials, request), the rest is fed
// whole and as every prefix. Checked: a result never claims more bytes than it got, views stay
// inside the input, an incomplete answer never turns into an error or a different completion
// when bytes are only appended, and a complete message parses the same again from its own
// bytes.
#include <pier/socks5/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

namespace socks5 = pier::socks5;

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

socks5::parse_result parse(int which, std::string_view in) {
    switch (which) {
    case 0: {
        socks5::greeting g;
        const auto r = socks5::parse_greeting(in, g);
        if (r.st == socks5::parse_status::complete) {
            CHECK(!g.methods.empty());
            CHECK(g.methods.size() + 2 == r.size);
            CHECK(reinterpret_cast<const char*>(g.methods.data()) >= in.data());
        }
        return r;
    }
    case 1: {
        socks5::credentials c;
        const auto r = socks5::parse_credentials(in, c);
        if (r.st == socks5::parse_status::complete) {
            CHECK(inside(c.username, in.substr(0, r.size)));
            CHECK(inside(c.password, in.substr(0, r.size)));
            CHECK(!c.username.empty() && !c.password.empty());
            CHECK(c.username.size() + c.password.size() + 3 == r.size);
        }
        return r;
    }
    default: {
        socks5::request q;
        const auto r = socks5::parse_request(in, q);
        if (r.st == socks5::parse_status::complete) {
            CHECK(q.cmd == socks5::command::connect);
            if (q.type == socks5::address_type::domain) {
                CHECK(inside(q.domain, in.substr(0, r.size)));
                CHECK(!q.domain.empty() && q.domain.size() <= 255);
                for (char c : q.domain)
                    CHECK(static_cast<unsigned char>(c) > 0x20);
            } else {
                CHECK(q.type == socks5::address_type::ipv4 || q.type == socks5::address_type::ipv6);
            }
        }
        if (r.st == socks5::parse_status::error) {
            const auto rep = socks5::reply_for(r.err);
            CHECK(rep != socks5::reply::succeeded);
        }
        return r;
    }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const int which = data[0] % 3;
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    const auto whole = parse(which, in);
    CHECK(whole.size <= in.size());
    CHECK((whole.st == socks5::parse_status::error) == (whole.err != socks5::error::none));
    // Prefixes: incomplete until the answer the whole input gives; never a different answer.
    bool settled = false;
    for (std::size_t n = 0; n <= in.size() && n <= 600; ++n) {
        const auto r = parse(which, in.substr(0, n));
        CHECK(r.size <= n);
        if (!settled && r.st != socks5::parse_status::incomplete) {
            settled = true;
            CHECK(r.st == whole.st);
            CHECK(r.err == whole.err);
            CHECK(r.size == whole.size);
        }
    }
    if (whole.st == socks5::parse_status::complete) {
        const auto again = parse(which, in.substr(0, whole.size));
        CHECK(again.st == socks5::parse_status::complete && again.size == whole.size);
    }
    return 0;
}
