// libFuzzer target for pier/redis/url.hpp. Beyond "no crash": an accepted URL is
// self-consistent (nodes within bounds, ports set, a cluster only has db 0, hosts of the
// allowed characters), and writing it out again (credentials percent-encoded) parses back to
// the same value.
#include <pier/redis/url.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace redis = pier::redis;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

std::string encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (plain) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string write(const redis::url& u) {
    std::string s = u.tls ? "rediss" : "redis";
    s += u.cluster ? "-cluster://" : "://";
    if (!u.user.empty() || !u.password.empty())
        s += encode(u.user) + ":" + encode(u.password) + "@";
    for (std::size_t i = 0; i < u.nodes.size(); ++i)
        s += (i ? "," : "") + u.nodes[i].to_string();
    s += "/" + std::to_string(u.db);
    return s;
}

bool same(const redis::url& a, const redis::url& b) {
    return a.tls == b.tls && a.cluster == b.cluster && a.nodes == b.nodes && a.user == b.user &&
           a.password == b.password && a.db == b.db;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    redis::url u;
    const auto ec = redis::parse_url(text, u);
    if (ec) {
        CHECK(ec.category() == redis::url_category());
        CHECK(!ec.message().empty());
        return 0;
    }
    CHECK(size <= redis::max_url_size);
    CHECK(!u.nodes.empty() && u.nodes.size() <= redis::max_url_nodes);
    CHECK(u.cluster || u.nodes.size() == 1);
    CHECK(!u.cluster || u.db == 0);
    CHECK(u.db >= 0 && u.db < 1000000000);
    CHECK(u.user.size() <= size && u.password.size() <= size);
    for (const auto& n : u.nodes) {
        CHECK(!n.host.empty() && n.host.size() <= 255);
        CHECK(n.port != 0);
    }
    const auto again = write(u);
    redis::url v;
    const auto ec2 = redis::parse_url(again, v);
    // Re-encoding may lengthen the credentials past the size bound; nothing else may fail.
    CHECK(!ec2 || again.size() > redis::max_url_size);
    if (!ec2)
        CHECK(same(u, v));
    return 0;
}
