// libFuzzer target for pier/http/request.hpp. Beyond "no crash" it checks that a complete head
// is self-consistent (sizes, views inside the head, field syntax, framing), that refusals map
// to the documented statuses, that every prefix of the input gives "incomplete" or the same
// answer as the whole, and that re-serialising a parsed head parses back to the same fields.
#include <pier/http/request.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace http = pier::http;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

bool same(const http::parse_result& a, const http::parse_result& b) {
    return a.st == b.st && a.err == b.err && a.head_size == b.head_size;
}

void check_complete(std::string_view in, const http::request_head& h, const http::parse_result& r,
                    const http::limits& lim) {
    CHECK(r.head_size <= in.size());
    CHECK(r.head_size <= lim.max_head_size);
    CHECK(r.head_size >= 16); // "X / HTTP/1.0\r\n\r\n" is the shortest
    const std::string_view head = in.substr(0, r.head_size);
    CHECK(head.ends_with("\r\n\r\n"));
    CHECK(!h.method().empty() && inside(h.method(), head));
    for (char c : h.method())
        CHECK(http::detail::is_tchar(c));
    CHECK(!h.target().empty() && inside(h.target(), head));
    CHECK(h.path() == "/" || h.path().empty() || inside(h.path(), head));
    CHECK(inside(h.query(), head));
    CHECK(h.version_minor() <= 1);
    CHECK(h.headers().size() <= lim.max_header_count);
    CHECK(h.headers().size() <= http::request_head::capacity);
    for (const http::header& f : h.headers()) {
        CHECK(!f.name.empty() && inside(f.name, head) && inside(f.value, head));
        for (char c : f.name)
            CHECK(http::detail::is_tchar(c));
        for (char c : f.value)
            CHECK(http::detail::is_field_char(c));
        CHECK(f.value.empty() ||
              (!http::detail::is_ows(f.value.front()) && !http::detail::is_ows(f.value.back())));
    }
    CHECK(!(h.content_length() && h.chunked()));
    CHECK(!(h.chunked() && h.version_minor() == 0));
    if (h.version_minor() == 1)
        CHECK(h.count("host") == 1);
    CHECK(h.count("host") <= 1 && h.count("content-length") <= 1);
    if (h.chunked())
        CHECK(h.find("transfer-encoding"));
    // The head alone parses the same.
    http::request_head again;
    CHECK(same(http::parse_request(head, again, lim), r));

    // Re-serialise in canonical form: it must parse back to the same request.
    std::string canon;
    canon.append(h.method()).append(" ").append(h.target()).append(" HTTP/1.");
    canon += static_cast<char>('0' + h.version_minor());
    canon += "\r\n";
    for (const http::header& f : h.headers())
        canon.append(f.name).append(": ").append(f.value).append("\r\n");
    canon += "\r\n";
    // "Name:value" becomes "Name: value", so the head may grow by a byte per field.
    http::limits roomier = lim;
    roomier.max_head_size += h.headers().size();
    http::request_head c;
    const auto rc = http::parse_request(canon, c, roomier);
    CHECK(rc.st == http::parse_result::complete);
    CHECK(rc.head_size == canon.size());
    CHECK(c.method() == h.method() && c.target() == h.target() && c.path() == h.path() &&
          c.query() == h.query() && c.version_minor() == h.version_minor());
    CHECK(c.headers().size() == h.headers().size());
    for (std::size_t i = 0; i < c.headers().size(); ++i)
        CHECK(c.headers()[i].name == h.headers()[i].name &&
              c.headers()[i].value == h.headers()[i].value);
    CHECK(c.keep_alive() == h.keep_alive() && c.chunked() == h.chunked() &&
          c.content_length() == h.content_length() && c.is_upgrade() == h.is_upgrade());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    // The first byte picks the limits: the defaults, or small ones that the fuzzer can hit.
    const std::uint8_t sel = data[0];
    http::limits lim;
    if ((sel & 1) != 0) {
        lim.max_request_line = 8 + (sel >> 1) % 48;
        lim.max_header_count = 1 + (sel >> 4) % 6;
        lim.max_head_size = 16 + sel;
    }
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

    http::request_head h;
    const auto whole = http::parse_request(in, h, lim);
    switch (whole.st) {
    case http::parse_result::complete:
        check_complete(in, h, whole, lim);
        break;
    case http::parse_result::incomplete:
        CHECK(in.size() < lim.max_head_size); // enough bytes always decide
        CHECK(whole.head_size == 0 && whole.err == http::parse_error::none);
        break;
    case http::parse_result::error: {
        const unsigned s = http::status_for(whole.err);
        CHECK(s == 400 || s == 414 || s == 431 || s == 501 || s == 505);
        CHECK(whole.head_size == 0);
        CHECK(!http::to_string(whole.err).empty());
        break;
    }
    }

    // Prefixes: incomplete, or exactly the whole input's answer.
    const std::size_t step = in.size() <= 256 ? 1 : in.size() / 128;
    for (std::size_t n = 0; n < in.size(); n += step) {
        const auto r = http::parse_request(in.substr(0, n), h, lim);
        if (r.st != http::parse_result::incomplete)
            CHECK(same(r, whole));
    }
    return 0;
}
