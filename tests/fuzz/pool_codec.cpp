// libFuzzer target for pier/pool/codec.hpp: decode never crashes and never admits what it
// should not; whatever decodes re-encodes to JSON that decodes to the same envelope; and
// normalize agrees with nlohmann/json about what is JSON and what it means.
#include <pier/pool/codec.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace pool = pier::pool;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

pool::codec_options client_options() {
    pool::codec_options o;
    o.server_types = true;
    return o;
}

const pool::json_codec server;
const pool::json_codec client(client_options());

// Reads back what client.encode wrote: an envelope near the size limit grows by its timestamp
// and field names.
pool::codec_options reader_options() {
    pool::codec_options o = client_options();
    o.max_message_size += 4096;
    return o;
}
const pool::json_codec reader(reader_options());

bool has_control(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return true;
    return false;
}

void check_envelope(const pool::inbound& in) {
    const auto& o = client.options();
    CHECK(in.topic.size() <= o.max_name_size);
    CHECK(in.error.size() <= o.max_name_size);
    if (!in.topic.empty())
        CHECK(!has_control(in.topic));
    if (in.type == pool::message_type::subscribe || in.type == pool::message_type::unsubscribe)
        CHECK(!in.topic.empty());
    if (in.type == pool::message_type::data)
        CHECK(!in.data.empty());
    if (in.type == pool::message_type::error)
        CHECK(!in.error.empty());
    if (!in.data.empty()) {
        CHECK(nlohmann::json::accept(in.data));
        std::string again;
        CHECK(client.normalize(in.data, again) == pool::decode_error::none);
        CHECK(again == in.data);
    }
}

void round_trip(const pool::inbound& in) {
    pool::position_view position, since;
    if (in.position)
        position = {in.position->offset, in.position->epoch};
    if (in.since)
        since = {in.since->offset, in.since->epoch};
    const pool::outbound out{.type = in.type,
                             .topic = in.topic,
                             .data = in.data,
                             .error = in.error,
                             .position = in.position ? &position : nullptr,
                             .since = in.since ? &since : nullptr,
                             .time = pool::timestamp{std::chrono::milliseconds{1'765'000'000'123}}};
    const std::string wire = client.encode(out);
    CHECK(nlohmann::json::accept(wire));
    pool::inbound back;
    CHECK(reader.decode(wire, back) == pool::decode_error::none);
    CHECK(back.type == in.type);
    CHECK(back.topic == in.topic);
    CHECK(back.data == in.data);
    CHECK(back.error == in.error);
    CHECK(back.position == in.position);
    CHECK(back.since == in.since);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    pool::inbound in;
    const auto e = server.decode(text, in);
    CHECK(!to_string(e).empty());
    if (e == pool::decode_error::none) {
        CHECK(pool::client_may_send(in.type));
        check_envelope(in);
    }
    // The client's view accepts a superset: the server-only types.
    pool::inbound any;
    const auto e2 = client.decode(text, any);
    if (e == pool::decode_error::none)
        CHECK(e2 == pool::decode_error::none);
    if (e2 == pool::decode_error::none) {
        check_envelope(any);
        round_trip(any);
    }

    std::string normal;
    const auto n = client.normalize(text, normal);
    const bool is_json =
        text.size() <= client.options().max_message_size && nlohmann::json::accept(text);
    if (n == pool::decode_error::none) {
        CHECK(is_json);
        std::string twice;
        CHECK(client.normalize(normal, twice) == pool::decode_error::none);
        CHECK(twice == normal);
        CHECK(nlohmann::json::parse(normal) == nlohmann::json::parse(text));
    } else {
        CHECK(normal.empty());
        CHECK(n == pool::decode_error::malformed_json || n == pool::decode_error::too_deep ||
              n == pool::decode_error::too_large);
        if (is_json)
            CHECK(n == pool::decode_error::too_deep);
        if (n == pool::decode_error::malformed_json)
            CHECK(!is_json);
    }
    return 0;
}
