// pier/pool/codec.hpp: `json_codec`, the pool's default codec policy (see codec_policy in
// <pier/concepts.hpp>): envelopes (pool/envelope.hpp) as JSON text frames, on nlohmann/json.
//
//     pier::pool::json_codec codec;
//     pier::pool::inbound in;
//     if (auto e = codec.decode(frame_text, in); e != pier::pool::decode_error::none)
//         send(codec.encode({.type = message_type::error, .error = to_string(e)}));
//     …
//     std::string payload = pier::pool::json_codec::to_data({{"title", "hello"}});
//     std::string wire = codec.encode({.type = message_type::data, .topic = "news",
//                                      .data = payload});           // once per broadcast
//
// Decoding is one pass of nlohmann/json's SAX parser, with no DOM: the envelope's fields are
// read as they arrive, and the `data` value is re-written compactly as it is parsed (numbers
// keep their original digits, so a 30-digit integer or 0.1000 survives unchanged instead of
// being rounded through a double). Size is checked before parsing, depth during it (the parse
// stops at the first level too deep). Field order is free; unknown fields are ignored, so
// clients may send fields a later version understands; a field given twice is refused, since
// parsers disagree about which one counts.
//
// Encoding writes the fields in a fixed order — type, topic, offset, epoch, since, error,
// timestamp, data — into one string sized up front; `data` is copied verbatim. The payload
// comes last so that a reader sees what a message is about before its largest part.
//
// Thread safety: a json_codec holds only its options; its const members may be called from
// any number of threads at once.
#pragma once

#include <pier/fwd.hpp>
#include <pier/pool/envelope.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace pier::pool {

/// Limits json_codec applies to what it decodes. Encoding trusts its input (the pool's own
/// envelopes) and has no limits.
struct codec_options {
    /// Longest message decoded, in bytes. Default 65536: chat, presence and notification
    /// payloads are far below it, and a larger message is more likely a mistake or an attack
    /// than a feature; an application that streams documents raises it (the WebSocket layer's
    /// own message limit must allow it too).
    std::size_t max_message_size = 64 * 1024;
    /// Deepest nesting decoded, the envelope object counting as level 1. Default 32: real
    /// payloads rarely pass 10 levels, and every recipient's parser has to cope with what the
    /// pool forwards (many JSON parsers recurse per level).
    std::size_t max_depth = 32;
    /// Longest `topic`, `epoch` and `error` string, in bytes after unescaping. Default 256:
    /// topics become registry keys and, with the backplane, Redis channel names; 256 bytes fit
    /// any naming scheme ("org:1234:room:5678:thread:…") without letting one client make
    /// every lookup hash kilobytes.
    std::size_t max_name_size = 256;
    /// Accept the server-only types (welcome, error, heartbeat) too. Default false: a server
    /// decodes what clients send, and a client has no business sending those. Clients written
    /// with pier (tests, benches) set it to read the server's messages.
    bool server_types = false;
};

/// The JSON codec. Models pier::codec_policy.
class json_codec {
public:
    using category = pier::category::codec;
    /// JSON travels in text frames (RFC 6455 §5.6): browsers hand them to JavaScript as
    /// strings, and the WebSocket layer has already checked that they are UTF-8.
    static constexpr bool binary = false;

    json_codec() = default;
    explicit json_codec(const codec_options& options) : options_(options) {}

    const codec_options& options() const noexcept { return options_; }

    /// Decodes one client message into `out` (cleared first; its capacity is reused). On an
    /// error `out` holds whatever was read before it and must not be used.
    decode_error decode(std::string_view text, inbound& out) const;

    /// Writes `e` as one JSON object. `e.data` must be one valid JSON value (see
    /// envelope.hpp); everything else is escaped as needed, so any topic is safe.
    std::string encode(const outbound& e) const;

    /// Checks that `json_text` is exactly one JSON value within the size and depth limits and
    /// writes it compactly to `out` (replacing its contents), in the form `inbound::data`
    /// has: for a payload the application holds as text, so that encode can trust it.
    decode_error normalize(std::string_view json_text, std::string& out) const;

    /// A payload from an nlohmann::json value, ready for `outbound::data`: compact, with
    /// invalid UTF-8 in strings replaced by U+FFFD (instead of an exception) and NaN and
    /// infinities written as null, as nlohmann/json does.
    static std::string to_data(const nlohmann::json& value);

private:
    codec_options options_{};
};

} // namespace pier::pool

#include <pier/pool/impl/codec.hpp>
