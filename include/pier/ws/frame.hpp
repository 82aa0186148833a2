// pier/ws/frame.hpp: WebSocket framing (RFC 6455 §5): header parsing with every protocol
// check a server must make, the fragmentation state machine, the server's header writer,
// masking, and Close frame payloads (§5.5.1, §7.4).
//
// `frame_parser::parse` reads one frame header from the front of a buffer. It is
// stateless between incomplete calls (call again with more bytes from the same start) and
// decides every error as early as the bytes allow: opcode, RSV bits, masking and
// fragmentation errors after 2 bytes, length errors once the extended length is in, so a
// hostile peer is refused before it sends more. Everything a frame can do wrong maps to the
// close code to fail the connection with (§7.4.1):
// - unmasked client frame (masked server frame when parsing as a client): 1002 (§5.1);
// - RSV1 without permessage-deflate, on a continuation or control frame: 1002 (RFC 7692
//   §6); RSV2/RSV3 (no extension of pier uses them): 1002 (§5.2);
// - reserved opcodes 3–7 and 11–15: 1002 (§5.2);
// - control frame with FIN clear or a payload over 125 bytes: 1002 (§5.5);
// - length not in its minimal encoding, or a 64-bit length with the top bit set: 1002
//   (§5.2: "the minimal number of bytes MUST be used"; "the most significant bit MUST be 0");
// - continuation with no message started, or a new text/binary frame before the previous
//   message's final fragment: 1002 (§5.4); control frames between fragments are fine;
// - a frame over frame_limits::max_frame_size, or a message whose fragments add up to more
//   than max_message_size: 1009 (§7.4.1).
// The payload is not the parser's business: after `complete` the caller reads
// `payload_size` bytes, unmasks them with `apply_mask` (in as many pieces as it likes), checks
// text with utf8_validator and Close payloads with parse_close_payload.
//
// Thread safety: distinct objects safe, shared objects unsafe; free functions reentrant.
#pragma once

#include <pier/ws/close_code.hpp>
#include <pier/ws/utf8.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pier::ws {

/// Frame opcodes (RFC 6455 §5.2); the others are reserved.
enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

/// Close, ping and pong (opcodes with the high bit set, RFC 6455 §5.5).
constexpr bool is_control(opcode op) noexcept {
    return (static_cast<std::uint8_t>(op) & 0x8) != 0;
}

/// Which side of the connection parses: client frames are masked, server frames are not.
enum class role : std::uint8_t { server, client };

/// The longest frame header: 2 + 8 (64-bit length) + 4 (masking key).
inline constexpr std::size_t max_frame_header_size = 14;
/// The longest header a server writes (it never masks).
inline constexpr std::size_t max_server_frame_header_size = 10;
/// The largest payload of a control frame (RFC 6455 §5.5).
inline constexpr std::size_t max_control_payload = 125;

/// A decoded frame header.
struct frame_header {
    opcode op = opcode::continuation;
    bool fin = false;
    bool rsv1 = false; ///< "compressed" when permessage-deflate is negotiated (RFC 7692 §6)
    bool rsv2 = false;
    bool rsv3 = false;
    bool masked = false;
    /// Header bytes, 2–14: the payload starts there.
    std::uint8_t size = 0;
    std::uint64_t payload_size = 0;
    /// The masking key when `masked` (RFC 6455 §5.3).
    std::array<std::uint8_t, 4> key{};
};

/// Size limits, both answered with 1009 (message_too_big).
struct frame_limits {
    /// Largest payload of a single data frame. Default 1 MiB (the same as a message: by
    /// default a message may come as one frame); lower it when the transport buffers
    /// whole frames and messages are streamed.
    std::uint64_t max_frame_size = std::uint64_t{1} << 20;
    /// Largest message, summed over its fragments (on the wire: before decompression; the
    /// deflate codec limits the decompressed size). Default 1 MiB, as Python websockets'
    /// max_size: a server with many connections must bound what each may make it buffer,
    /// and applications exchanging bigger messages raise it knowingly. A handler that sends
    /// messages this big back (echo, relays) needs `server_options::write.max_queued` above
    /// it too: no send passes that limit (16 MiB by default), and one that would closes the
    /// connection with 1008.
    std::uint64_t max_message_size = std::uint64_t{1} << 20;
};

/// The outcome of one frame_parser::parse call.
struct frame_result {
    enum status : std::uint8_t {
        complete,   ///< header decoded; the payload starts at header_size
        incomplete, ///< call again with more bytes (same start)
        error,      ///< fail the connection with `err`
    };
    status st = incomplete;
    std::size_t header_size = 0;
    /// The close code to fail the connection with; meaningful only when st == error.
    close_code err = close_code::normal;
};

namespace detail {
struct frame_parser_access;
} // namespace detail

/// Decodes and validates frame headers and tracks fragmented messages (RFC 6455 §5.2–§5.5).
/// One per connection and direction. After an error it keeps returning that error.
class frame_parser {
public:
    explicit frame_parser(const frame_limits& lim = {}, role r = role::server) noexcept
        : lim_(lim), role_(r) {}

    /// Accepts RSV1 on the first frame of a data message: call after permessage-deflate
    /// was negotiated (RFC 7692 §6).
    void allow_rsv1(bool allow) noexcept { rsv1_ok_ = allow; }

    /// Parses the frame header at the front of `in`. On complete, `out` describes the frame
    /// and the message state has advanced; otherwise nothing changed (except that an error
    /// is remembered). Never reads past in.size(); looks at no more than 14 bytes.
    frame_result parse(std::span<const std::uint8_t> in, frame_header& out) noexcept;
    [[gnu::always_inline]] frame_result parse(std::string_view in, frame_header& out) noexcept {
        return parse({reinterpret_cast<const std::uint8_t*>(in.data()), in.size()}, out);
    }

    /// A fragmented message is open: the next data frame must be a continuation.
    bool in_message() const noexcept { return in_message_; }
    /// text or binary: the message the last data frame belongs to.
    opcode message_opcode() const noexcept { return msg_op_; }
    /// That message had RSV1 set on its first frame (permessage-deflate, RFC 7692 §6.1).
    bool message_compressed() const noexcept { return compressed_; }
    /// Payload bytes of that message announced so far (over its frames).
    std::uint64_t message_size() const noexcept { return msg_size_; }
    const frame_limits& limits() const noexcept { return lim_; }
    /// Forgets any message in progress and any error.
    void reset() noexcept;

private:
    friend struct detail::frame_parser_access;
    frame_result fail(close_code c) noexcept;
    frame_result parse_any(std::span<const std::uint8_t> in, frame_header& out) noexcept;

    frame_limits lim_;
    role role_;
    bool rsv1_ok_ = false;
    bool in_message_ = false;
    bool compressed_ = false;
    opcode msg_op_ = opcode::binary;
    std::uint16_t failed_ = 0;
    std::uint64_t msg_size_ = 0;
};

namespace detail {
/// The general path of frame_parser::parse, which its inline common case falls back to: for
/// the unit test that holds the two to the same answers.
struct frame_parser_access {
    static frame_result parse_any(frame_parser& p, std::span<const std::uint8_t> in,
                                  frame_header& out) noexcept {
        return p.parse_any(in, out);
    }
};
} // namespace detail

/// XORs `data` with the masking `key` (RFC 6455 §5.3), starting at key byte `offset % 4`, and
/// returns the offset for the next piece, so a payload can be (un)masked in any number of
/// pieces: `off = apply_mask(piece, key, off)`. Sixteen bytes per step (eight without GCC's
/// vector extensions), any alignment.
std::size_t apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                       std::size_t offset = 0) noexcept;

/// Writes an unmasked (server) frame header; returns its size, 2–10 bytes. All 10 bytes of
/// `out` are written: those past the header are scratch, for the payload to overwrite.
std::size_t write_frame_header(std::span<std::uint8_t, max_server_frame_header_size> out, opcode op,
                               std::uint64_t payload_size, bool fin = true,
                               bool rsv1 = false) noexcept;

/// Writes a masked (client) frame header; returns its size, 6–14 bytes. The payload must
/// then be masked with the same key. (pier is a server; this serves tests and clients.) The
/// first 10 bytes of `out` are written whatever the size: those past the header are scratch.
std::size_t write_masked_frame_header(std::span<std::uint8_t, max_frame_header_size> out, opcode op,
                                      std::uint64_t payload_size,
                                      const std::array<std::uint8_t, 4>& key, bool fin = true,
                                      bool rsv1 = false) noexcept;

/// A validated Close frame payload (RFC 6455 §5.5.1).
struct close_payload_result {
    bool ok = false;
    /// Why it was refused: protocol_error (1-byte payload, or a code that may not be
    /// received, §7.4) or invalid_payload (reason not UTF-8, §8.1).
    close_code err = close_code::normal;
    /// The received code; 1005 (no_status) when the payload was empty.
    std::uint16_t code = static_cast<std::uint16_t>(close_code::no_status);
    /// The UTF-8 reason, a view into the payload.
    std::string_view reason;
};

/// Validates an (unmasked) Close payload.
close_payload_result parse_close_payload(std::span<const std::uint8_t> payload) noexcept;

/// Writes a Close payload: the code, then `reason` cut at a UTF-8 boundary to fit 125 bytes.
/// Returns its size. Codes that must not be sent (1005, 1006, 1015, or any code
/// is_valid_close_code refuses) give an empty payload; a reason that is not UTF-8 is
/// dropped, since the peer would fail the connection over it.
std::size_t write_close_payload(std::span<std::uint8_t, max_control_payload> out, close_code code,
                                std::string_view reason = {}) noexcept;

} // namespace pier::ws

#include <pier/ws/impl/frame.hpp>
