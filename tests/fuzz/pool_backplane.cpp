// libFuzzer target for pier/pool/detail/backplane_wire.hpp, the parsers of what the Redis
// backplane reads from Redis (where any client of that Redis may write). The first byte picks
// the parser: a topic message frame, a body, or a stream entry id. Beyond "no crash": an
// accepted body is canonical (writing its fields again gives the same bytes), its views lie
// inside the input, and an accepted frame or id prints back to the same text.
#include <pier/pool/detail/backplane_wire.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace wire = pier::pool::detail::wire;

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

void check_body(std::string_view in) {
    const auto b = wire::parse_body(in);
    if (!b)
        return;
    CHECK(inside(b->origin, in) && inside(b->error, in) && inside(b->type_name, in) &&
          inside(b->payload, in));
    CHECK(b->exclude_bytes.size() % 8 == 0);
    std::vector<std::uint64_t> ex(b->exclude_count());
    for (std::size_t i = 0; i < ex.size(); ++i)
        ex[i] = b->exclude(i);
    const wire::body_fields f{.type = b->type,
                              .encoded = b->encoded,
                              .time_ms = b->time_ms,
                              .seq = b->seq,
                              .origin = b->origin,
                              .error = b->error,
                              .type_name = b->type_name,
                              .exclude = ex,
                              .payload = b->payload};
    std::string out;
    wire::write_body(out, f);
    CHECK(out == in);
    CHECK(wire::body_size(f) == in.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
    case 0: {
        const auto t = wire::parse_topic_message(in);
        if (!t)
            return 0;
        CHECK(t->offset != 0);
        CHECK(wire::valid_token(t->epoch, wire::max_epoch));
        CHECK(inside(t->body, in));
        CHECK("t" + std::to_string(t->offset) + ":" + std::string(t->epoch) + ":" +
                  std::string(t->body) ==
              in);
        check_body(t->body);
        return 0;
    }
    case 1:
        check_body(in);
        return 0;
    default:
        if (const auto id = wire::parse_entry_id(in))
            CHECK(std::to_string(*id) + "-0" == in);
        return 0;
    }
}
