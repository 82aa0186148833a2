// pier/pool/envelope.hpp: the messages a pool exchanges with its clients, independent of how
// they are written on the wire (pool/codec.hpp's json_codec writes them as JSON).
//
//     {"type":"data","topic":"news","offset":17,"epoch":"e1",
//      "timestamp":"2026-12-04T22:08:06.123Z","data":{"title":"…"}}
//
// Every envelope has a `type` and (from the server) a `timestamp`, RFC 3339 in UTC with
// milliseconds. The other fields depend on the type:
//
//   type         sent by   fields
//   ping, pong   both      -                         a ping is answered with a pong
//   welcome      server    data?                     first message after the handshake
//   subscribe    client    topic, since?             server: the same type acknowledges it
//                server    topic, offset?, epoch?    (with a position: see below)
//   unsubscribe  client    topic                     server: the same type acknowledges it
//   data         both      topic?, data, offset?, epoch?
//   error        server    error, topic?             after malformed or refused input
//   heartbeat    server    -                         keeps idle connections visibly alive
//
// `offset` and `epoch` number a topic's messages for the Redis backplane
// (pool/redis_backplane.hpp): the offset-th message of the topic's history `epoch` (one run of
// it: a new epoch starts when Redis lost or expired the old one). A server `subscribe` with a
// position is a position notice: "your subscription is at offset N of epoch E; every message
// up to N meant for you was sent before this notice, or reported missing by an error
// envelope". It acknowledges a subscribe, and stands in for a message the connection was
// excluded from (its own). So, per topic, a client sees positions (of data and notices) that
// go up by one, or jump only after an error ("epoch_changed", "history_trimmed",
// "recovery_unavailable"); it keeps the last one and, when it reconnects, subscribes with
// `since` = that position to get what it missed, or the error saying why it cannot.
//
// `data` is the application's payload. It is kept as encoded text (JSON text for json_codec)
// from decoding to encoding, so a broadcast is serialised once, whatever the recipient count.
//
// Thread safety: plain values and pure functions. `format_timestamp` keeps a per-thread cache.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pier::pool {

/// The standard envelope types. The wire names are the enumerator names (`to_string`).
enum class message_type : std::uint8_t {
    ping,
    pong,
    welcome,
    subscribe,
    unsubscribe,
    data,
    error,
    heartbeat,
};

/// The wire name: "ping", "pong", "welcome", "subscribe", "unsubscribe", "data", "error",
/// "heartbeat".
constexpr std::string_view to_string(message_type t) noexcept;

/// The type named `name` (exact, case-sensitive), or nullopt for any other string.
constexpr std::optional<message_type> message_type_from(std::string_view name) noexcept;

/// Whether a client may send `t`: ping, pong, subscribe, unsubscribe and data. welcome, error
/// and heartbeat come only from the server; a client sending one gets `unexpected_type`.
constexpr bool client_may_send(message_type t) noexcept;

/// A position in a topic's message stream (Redis backplane): the `offset`-th message of the
/// topic's history `epoch`. Offsets only compare within one epoch.
struct stream_position {
    std::uint64_t offset = 0;
    std::string epoch{};

    friend bool operator==(const stream_position&, const stream_position&) = default;
};

/// A decoded envelope. Strings are owned (escapes are undone while decoding); keep one
/// `inbound` per connection and decode into it again: `clear()` keeps the capacity, so a
/// steady stream of messages does not allocate.
struct inbound {
    message_type type = message_type::ping;
    /// Empty when absent. Never empty for subscribe and unsubscribe.
    std::string topic;
    /// The payload, re-encoded compactly in the codec's format (JSON text for json_codec):
    /// insignificant whitespace is dropped and string escapes are normalised, numbers keep
    /// their digits. Empty when absent; never empty for `data`.
    std::string data;
    /// An error name (error envelopes decoded by a client; see codec_options::server_types).
    std::string error;
    /// `offset`/`epoch` of a data envelope (decoded by a client).
    std::optional<stream_position> position;
    /// `since` of a subscribe request: the last position the client saw.
    std::optional<stream_position> since;

    void clear() noexcept {
        type = message_type::ping;
        topic.clear();
        data.clear();
        error.clear();
        position.reset();
        since.reset();
    }
};

/// The time an envelope carries: milliseconds of the system clock (UTC).
using timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

/// A stream_position as views, for encoding.
struct position_view {
    std::uint64_t offset = 0;
    std::string_view epoch{};
};

/// An envelope to encode. Views only: nothing is copied until the codec writes the one string
/// every recipient shares, and the views need to live only for that call. Every member has an
/// initializer, so that `{.type = …, .topic = …}` leaves the rest empty without GCC's
/// -Wmissing-field-initializers. (Pointers rather than std::optional for the positions: GCC 12
/// warns, wrongly, that an optional's value "may be used uninitialized" where it is read.)
struct outbound {
    message_type type = message_type::data;
    /// When not empty, written as `type` instead of the standard name: an application's own
    /// type (the admin API's broadcast takes any `message_type`). The caller validates it.
    std::string_view type_name{};
    /// Empty: no `topic` field.
    std::string_view topic{};
    /// Already-encoded payload in the codec's format: for json_codec one valid JSON value, as
    /// `inbound::data`, `json_codec::to_data` or `json_codec::normalize` produce it. The codec
    /// copies it verbatim. Empty: no `data` field.
    std::string_view data{};
    /// An error name, e.g. to_string(decode_error). Empty: no `error` field.
    std::string_view error{};
    /// `offset` and `epoch` of a data envelope from the backplane (an empty epoch is left
    /// out); null for none.
    const position_view* position = nullptr;
    /// `since` of a subscribe request (clients written with pier: tests, benches); null for
    /// none.
    const position_view* since = nullptr;
    /// Left at its default (the Unix epoch, which no real envelope carries), the codec stamps
    /// the envelope with the system clock's current time.
    pool::timestamp time{};
};

/// Why a client's message was refused. The pool answers with an error envelope whose `error`
/// field is `to_string(e)`, and counts it against the connection.
enum class decode_error : std::uint8_t {
    none,
    too_large,       ///< longer than codec_options::max_message_size
    malformed_json,  ///< not one well-formed value (syntax, invalid UTF-8, trailing bytes)
    too_deep,        ///< nested deeper than codec_options::max_depth
    not_an_object,   ///< the top-level value is not an object
    duplicate_field, ///< a top-level field (or one in `since`) appears twice
    missing_type,    ///< no `type`
    unknown_type,    ///< `type` is not one of the standard types
    unexpected_type, ///< a server-only type (welcome, error, heartbeat) sent by a client
    bad_field_type,  ///< a known field has the wrong JSON type (e.g. a numeric `topic`)
    field_too_large, ///< `topic`, `epoch` or `error` longer than codec_options::max_name_size
    missing_topic,   ///< subscribe/unsubscribe without `topic`
    bad_topic,       ///< an empty topic, or one with control characters
    missing_data,    ///< a data envelope without `data`
    missing_error,   ///< an error envelope without `error`, or with an empty one
    bad_since,       ///< `since` is not {"offset": unsigned integer, "epoch": string}
    bad_offset,      ///< `offset` is not an unsigned 64-bit integer
};

/// The stable snake_case name of `e` ("malformed_json", …; "none"), for error envelopes and
/// logs. Names are never reused for another meaning.
constexpr std::string_view to_string(decode_error e) noexcept;

/// Length of a formatted timestamp: "2026-12-04T22:08:06.123Z".
inline constexpr std::size_t timestamp_size = 24;

/// Writes `t` as an RFC 3339 UTC date-time with milliseconds (RFC 3339 §5.6), e.g.
/// "2026-12-04T22:08:06.123Z". Times outside years 0000–9999 are clamped to that range.
/// Runs once per broadcast and per heartbeat: the formatted second is cached per thread, so a
/// call within the same second as this thread's previous one costs a copy and three digits.
void format_timestamp(timestamp t, std::span<char, timestamp_size> out) noexcept;

/// format_timestamp into a fixed array (no allocation).
inline std::array<char, timestamp_size> format_timestamp(timestamp t) noexcept {
    std::array<char, timestamp_size> out;
    format_timestamp(t, out);
    return out;
}

/// The system clock's time, truncated to milliseconds.
inline timestamp now() noexcept {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

} // namespace pier::pool

#include <pier/pool/impl/envelope.hpp>
