// libFuzzer target for pier/redis/protocol.hpp's reply_parser: RESP2 bytes through hiredis's
// reader into `reply` values. Beyond "no crash, no leak": feeding the input whole or in two
// pieces gives the same replies and the same final error; every reply respects the nesting
// depth hiredis allows and the element bound; errors are sticky; and under tight bounds no
// reply passes them (a header such as `*2000000000` is refused, not allocated).
#include <pier/redis/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <vector>

namespace redis = pier::redis;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

struct outcome {
    std::vector<redis::reply> replies;
    std::error_code error;
};

outcome run(std::string_view in, std::size_t split, const redis::protocol_limits& limits) {
    redis::reply_parser p(limits);
    outcome o;
    for (auto piece : {in.substr(0, split), in.substr(split)}) {
        if (!o.error)
            o.error = p.feed(piece);
        redis::reply r;
        while (!o.error && p.next(r, o.error))
            o.replies.push_back(std::move(r));
    }
    if (o.error) { // sticky
        redis::reply r;
        std::error_code again;
        CHECK(!p.next(r, again) && again == o.error);
        CHECK(p.feed("+OK\r\n") == o.error);
    } else {
        CHECK(p.buffered() <= in.size());
    }
    return o;
}

// Depth counts the reply itself: hiredis nests arrays 8 deep (its "depth > 7" refusal counts
// from 0), and the innermost array holds plain values: 9 levels.
std::size_t check_shape(const redis::reply& r, int depth) {
    CHECK(depth <= 9);
    std::size_t elements = r.elements.size();
    if (r.kind != redis::reply_kind::array)
        CHECK(r.elements.empty());
    if (r.kind != redis::reply_kind::string && r.kind != redis::reply_kind::status &&
        r.kind != redis::reply_kind::error)
        CHECK(r.str.empty());
    for (const auto& e : r.elements)
        elements += check_shape(e, depth + 1);
    return elements;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t split = size ? data[0] % (size + 1) : 0;

    // Byte bound above any input: splitting must not change anything.
    redis::protocol_limits roomy;
    roomy.max_reply_bytes = size + 1024;
    roomy.max_reply_elements = 4096;
    const auto whole = run(in, size, roomy);
    const auto pieces = run(in, split, roomy);
    CHECK(whole.error == pieces.error);
    CHECK(whole.replies.size() == pieces.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        CHECK(whole.replies[i] == pieces.replies[i]);
        CHECK(check_shape(whole.replies[i], 1) <= roomy.max_reply_elements);
    }
    if (whole.error)
        CHECK(whole.error.category() == redis::error_category());

    // Tight bounds: whatever comes out respects them.
    redis::protocol_limits tight;
    tight.max_reply_bytes = 16;
    tight.max_reply_elements = 8;
    const auto small = run(in, split, tight);
    for (const auto& r : small.replies)
        CHECK(check_shape(r, 1) <= tight.max_reply_elements);
    return 0;
}
