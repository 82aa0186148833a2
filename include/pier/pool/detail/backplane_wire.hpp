// pier/pool/detail/backplane_wire.hpp: what the Redis backplane (pool/redis_backplane.hpp)
// writes into Redis: channel and key names, and the messages on its channels. Socket-free and
// Redis-free, so that the parsers can be unit-tested and fuzzed (tests/fuzz/pool_backplane.cpp).
//
// Names. Everything lives under a prefix (default "pier:"), so that several pools can share a
// Redis. The part in braces is the Redis Cluster hash tag: a topic's channel, its counter and
// its history hash to one slot, which the Lua script that numbers, stores and publishes a
// message needs (a cluster script may only touch keys, and sharded channels, of one slot).
//
//     <prefix>t:{news}     topic channel (SSUBSCRIBE/SPUBLISH)
//     <prefix>m:{news}     topic meta hash: e (epoch), s (last offset)
//     <prefix>s:{news}     topic history stream, entry id <offset>-0, field b (the body)
//     <prefix>u:{alice}    user channel (SSUBSCRIBE/SPUBLISH)
//     <prefix>ctl          control channel, every node (SUBSCRIBE/PUBLISH)
//     <prefix>ctl:<node>   one node's replies and probes (SUBSCRIBE/PUBLISH)
//     <prefix>nodes        sorted set: node id → last presence, ms
//
// A name with `{` or `}`, or an empty one, cannot be its own hash tag (Redis takes the text
// up to the first `}`, and hashes the whole name when the tag is empty, which would split a
// topic's keys across slots): its tag is then `#` and 16 hex digits of its FNV-1a hash, and
// the name follows the braces, e.g. `pier:t:{#9f1c…}a{b}`.
//
// Messages. The first byte says what follows:
//
//     t<offset>:<epoch>:<body>    a topic message, numbered by the publish script
//     u<body>                     a user message
//     c<JSON object>              a control message (requests, replies, probes)
//
// A body (binary, little-endian):
//
//     u8  version (1)            u8  envelope type (pool::message_type)
//     u8  flags (bit 0: the payload is the whole encoded envelope, else its `data`)
//     i64 timestamp, ms          u64 sequence number of the origin
//     u8  origin length, origin  u16 error length, error
//     u8  type name length, type name (an application's own type; empty: the standard name)
//     u32 excluded ids, u64 each
//     the payload, to the end
//
// Topic bodies carry the envelope's fields (each node encodes the envelope once, with the
// offset and epoch the script assigned); user bodies carry the encoded envelope itself.
#pragma once

#include <pier/pool/envelope.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pier::pool::detail::wire {

inline constexpr std::uint8_t version = 1;
/// Longest node id, epoch and prefix (bytes). Node ids are chosen by operators; 64 fits a
/// host name and a UUID.
inline constexpr std::size_t max_node_id = 64;
inline constexpr std::size_t max_epoch = 64;

inline std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

/// `<prefix><kind>{<tag>}[name]` (see Names above).
inline std::string name(std::string_view prefix, std::string_view kind, std::string_view key) {
    std::string out;
    out.reserve(prefix.size() + kind.size() + key.size() + 20);
    out.append(prefix).append(kind).push_back('{');
    const bool own_tag = !key.empty() && key.find_first_of("{}") == std::string_view::npos;
    if (own_tag) {
        out.append(key).push_back('}');
        return out;
    }
    static constexpr char hex[] = "0123456789abcdef";
    const auto h = fnv1a(key);
    out.push_back('#');
    for (int i = 60; i >= 0; i -= 4)
        out.push_back(hex[(h >> i) & 15]);
    out.push_back('}');
    out.append(key);
    return out;
}

inline std::string topic_channel(std::string_view prefix, std::string_view topic) {
    return name(prefix, "t:", topic);
}
inline std::string topic_meta(std::string_view prefix, std::string_view topic) {
    return name(prefix, "m:", topic);
}
inline std::string topic_stream(std::string_view prefix, std::string_view topic) {
    return name(prefix, "s:", topic);
}
inline std::string user_channel(std::string_view prefix, std::string_view user) {
    return name(prefix, "u:", user);
}
inline std::string control_channel(std::string_view prefix) {
    return std::string(prefix) + "ctl";
}
inline std::string reply_channel(std::string_view prefix, std::string_view node) {
    return std::string(prefix) + "ctl:" + std::string(node);
}
inline std::string presence_key(std::string_view prefix) {
    return std::string(prefix) + "nodes";
}

/// An epoch (`colon` false), node id or prefix (`colon` true): 1..`max` printable ASCII
/// characters without space, `{` or `}` (they would change a name's hash tag), nor `:` for an
/// epoch (it separates a topic message's fields).
inline bool valid_token(std::string_view s, std::size_t max, bool colon = false) noexcept {
    if (s.empty() || s.size() > max)
        return false;
    for (unsigned char c : s)
        if (c <= ' ' || c > '~' || c == '{' || c == '}' || (c == ':' && !colon))
            return false;
    return true;
}

/// The fields of a body, to write (views: copied by write_body).
struct body_fields {
    message_type type = message_type::data;
    bool encoded = false;
    std::int64_t time_ms = 0;
    std::uint64_t seq = 0;
    std::string_view origin{};
    std::string_view error{};
    std::string_view type_name{};
    std::span<const std::uint64_t> exclude{};
    std::string_view payload{};
};

/// A parsed body: views into the message it was parsed from.
struct body_view {
    message_type type = message_type::data;
    bool encoded = false;
    std::int64_t time_ms = 0;
    std::uint64_t seq = 0;
    std::string_view origin{};
    std::string_view error{};
    std::string_view type_name{};
    std::string_view exclude_bytes{}; ///< 8 bytes per id, little-endian
    std::string_view payload{};

    std::size_t exclude_count() const noexcept { return exclude_bytes.size() / 8; }
    std::uint64_t exclude(std::size_t i) const noexcept {
        std::uint64_t v = 0;
        for (int b = 7; b >= 0; --b)
            v = (v << 8) | static_cast<unsigned char>(exclude_bytes[i * 8 + b]);
        return v;
    }
    bool excludes(std::uint64_t id) const noexcept {
        for (std::size_t i = 0; i < exclude_count(); ++i)
            if (exclude(i) == id)
                return true;
        return false;
    }
};

namespace le {
template <class T> void put(std::string& out, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i)
        out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
}
template <class T> bool get(std::string_view& in, T& v) {
    if (in.size() < sizeof(T))
        return false;
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        x |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    v = static_cast<T>(x);
    in.remove_prefix(sizeof(T));
    return true;
}
} // namespace le

/// Where a body's sequence number is (a node assigns it after writing the body).
inline constexpr std::size_t seq_at = 11;

/// Overwrites the sequence number of a body written by write_body.
inline void set_seq(std::string& body, std::uint64_t seq) noexcept {
    for (std::size_t i = 0; i < 8; ++i)
        body[seq_at + i] = static_cast<char>((seq >> (8 * i)) & 0xff);
}

/// Bytes write_body appends for `f`.
inline std::size_t body_size(const body_fields& f) noexcept {
    return 1 + 1 + 1 + 8 + 8 + 1 + std::min<std::size_t>(f.origin.size(), 255) + 2 +
           std::min<std::size_t>(f.error.size(), 65535) + 1 +
           std::min<std::size_t>(f.type_name.size(), 255) + 4 + 8 * f.exclude.size() +
           f.payload.size();
}

/// Appends `f` as a body. The origin and type name are cut at 255 bytes and the error at
/// 65535 (node ids, type and error names are far shorter); more than 2^32 - 1 excluded ids is
/// not representable and is cut too.
inline void write_body(std::string& out, const body_fields& f) {
    out.reserve(out.size() + body_size(f));
    le::put<std::uint8_t>(out, version);
    le::put<std::uint8_t>(out, static_cast<std::uint8_t>(f.type));
    le::put<std::uint8_t>(out, f.encoded ? 1 : 0);
    le::put<std::int64_t>(out, f.time_ms);
    le::put<std::uint64_t>(out, f.seq);
    const auto origin = f.origin.substr(0, 255);
    le::put<std::uint8_t>(out, static_cast<std::uint8_t>(origin.size()));
    out.append(origin);
    const auto error = f.error.substr(0, 65535);
    le::put<std::uint16_t>(out, static_cast<std::uint16_t>(error.size()));
    out.append(error);
    const auto type_name = f.type_name.substr(0, 255);
    le::put<std::uint8_t>(out, static_cast<std::uint8_t>(type_name.size()));
    out.append(type_name);
    const auto n = std::min<std::size_t>(f.exclude.size(), 0xffffffffu);
    le::put<std::uint32_t>(out, static_cast<std::uint32_t>(n));
    for (std::size_t i = 0; i < n; ++i)
        le::put<std::uint64_t>(out, f.exclude[i]);
    out.append(f.payload);
}

/// Parses a body; nullopt for anything malformed (a wrong version, a field running past the
/// end, an unknown envelope type or flag).
inline std::optional<body_view> parse_body(std::string_view in) noexcept {
    body_view b;
    std::uint8_t v = 0, type = 0, flags = 0, origin_len = 0, type_name_len = 0;
    std::uint16_t error_len = 0;
    std::uint32_t n = 0;
    if (!le::get(in, v) || v != version || !le::get(in, type) ||
        type > static_cast<std::uint8_t>(message_type::heartbeat) || !le::get(in, flags) ||
        flags > 1 || !le::get(in, b.time_ms) || !le::get(in, b.seq) || !le::get(in, origin_len) ||
        in.size() < origin_len)
        return std::nullopt;
    b.type = static_cast<message_type>(type);
    b.encoded = flags == 1;
    b.origin = in.substr(0, origin_len);
    in.remove_prefix(origin_len);
    if (!le::get(in, error_len) || in.size() < error_len)
        return std::nullopt;
    b.error = in.substr(0, error_len);
    in.remove_prefix(error_len);
    if (!le::get(in, type_name_len) || in.size() < type_name_len)
        return std::nullopt;
    b.type_name = in.substr(0, type_name_len);
    in.remove_prefix(type_name_len);
    if (!le::get(in, n) || in.size() / 8 < n)
        return std::nullopt;
    b.exclude_bytes = in.substr(0, std::size_t{n} * 8);
    in.remove_prefix(std::size_t{n} * 8);
    b.payload = in;
    return b;
}

/// A topic message as published by the script: `t<offset>:<epoch>:<body>`.
struct topic_message {
    std::uint64_t offset = 0;
    std::string_view epoch{};
    std::string_view body{};
};

/// Parses a topic message's frame (not its body); nullopt unless it is `t`, a decimal offset
/// of 1..20 digits without a sign or leading zero that fits 64 bits and is not 0, `:`, a
/// valid epoch, `:`.
inline std::optional<topic_message> parse_topic_message(std::string_view m) noexcept {
    if (m.size() < 2 || m[0] != 't')
        return std::nullopt;
    m.remove_prefix(1);
    const auto colon = m.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 20 || m[0] == '0')
        return std::nullopt;
    topic_message t;
    const auto r = std::from_chars(m.data(), m.data() + colon, t.offset);
    if (r.ec != std::errc{} || r.ptr != m.data() + colon)
        return std::nullopt;
    m.remove_prefix(colon + 1);
    const auto colon2 = m.find(':');
    if (colon2 == std::string_view::npos || !valid_token(m.substr(0, colon2), max_epoch))
        return std::nullopt;
    t.epoch = m.substr(0, colon2);
    t.body = m.substr(colon2 + 1);
    return t;
}

/// A stream entry id `<offset>-0` → offset; nullopt for any other id.
inline std::optional<std::uint64_t> parse_entry_id(std::string_view id) noexcept {
    if (id.size() < 3 || id.substr(id.size() - 2) != "-0")
        return std::nullopt;
    id.remove_suffix(2);
    if (id.size() > 20 || id[0] == '0')
        return std::nullopt;
    std::uint64_t v = 0;
    const auto r = std::from_chars(id.data(), id.data() + id.size(), v);
    if (r.ec != std::errc{} || r.ptr != id.data() + id.size())
        return std::nullopt;
    return v;
}

} // namespace pier::pool::detail::wire
