// pier/ws/deflate.hpp: the permessage-deflate extension (RFC 7692) on zlib: negotiating an
// offer (§5, §7.1), and a per-connection codec that compresses and decompresses messages
// (§7.2) within a memory bound the application picks.
//
// Memory. zlib documents what its streams cost (zconf.h): a compressor takes
// (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes plus about 6 KiB of state, a
// decompressor 1 << windowBits plus about 7 KiB. With zlib's defaults (15, 8) that is about
// 300 KiB per connection, 3 GB for 10,000 connections. pier's defaults (window 12, memLevel 5,
// the same as Python websockets' server) cost 16 + 16 + 6 KiB to compress and 4 + 7 KiB to
// decompress, about 50 KiB (77 KiB for a client that does not let its window be limited, see
// require_client_max_window_bits), and compress typical JSON or text messages of a few KiB
// nearly as well: a window only helps with repeats further apart than it.
// `deflate_options::for_memory_budget` picks the window and memLevel for a byte budget.
// Streams are allocated on first use, and a direction without context takeover can be freed
// between messages (`release_idle`), so idle connections then hold no zlib state at all.
//
// Thread safety: distinct objects safe, shared objects unsafe; free functions reentrant.
#pragma once

#include <pier/http/request.hpp>
#include <pier/ws/close_code.hpp>

#include <zlib.h>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace pier::ws {

/// What the server accepts and how it compresses. Out-of-range values are clamped.
struct deflate_options {
    /// Negotiate permessage-deflate at all. Default true: text protocols (JSON) usually
    /// shrink 3–10×. Turn off for already-compressed payloads, or when the CPU matters more
    /// than bandwidth. (Compression of secrets next to attacker-chosen data in one message
    /// can leak them, as with CRIME: such applications should not enable it.)
    bool enabled = true;
    /// log2 of the compressor's window, 9–15 (zlib cannot do raw deflate with 8, so offers
    /// with server_max_window_bits=8 are declined). Default 12 (4 KiB window): see the
    /// memory note at the top. Sent as server_max_window_bits when below 15.
    std::uint8_t server_max_window_bits = 12;
    /// log2 of the largest window the client may compress with, 8–15: the size of our
    /// decompressor's window. Default 12. The client can be held to a value below 15 only
    /// when its offer has client_max_window_bits (Chromium's and Python websockets' do);
    /// other offers are accepted with a 15-bit (32 KiB) window unless
    /// require_client_max_window_bits is set.
    std::uint8_t client_max_window_bits = 12;
    /// Decline offers without client_max_window_bits when client_max_window_bits < 15, so
    /// that the decompressor never needs more than 1 << client_max_window_bits bytes.
    /// Default false: such clients (Firefox among them) would otherwise get no compression;
    /// for_memory_budget sets it, since a budget is a promise.
    bool require_client_max_window_bits = false;
    /// zlib memLevel of the compressor, 1–9: hash-table size, (1 << (mem_level + 9)) bytes.
    /// Default 5 (16 KiB): see the memory note.
    std::uint8_t mem_level = 5;
    /// zlib compression level, 0–9 (-1 is zlib's default, 6). Default 6; 1 is about twice
    /// as fast for 10–20% larger output.
    int level = 6;
    /// Ask to compress each message on its own (answer server_no_context_takeover), so the
    /// compressor can be freed between messages. Also used whenever the client asks for it.
    /// Default false: context takeover compresses repetitive message streams much better.
    bool server_no_context_takeover = false;
    /// Ask the client to compress each message on its own (client_no_context_takeover), so
    /// the decompressor can be freed between messages. Default false, for the same reason.
    bool client_no_context_takeover = false;
    /// Largest decompressed message, in bytes; more fails with message_too_big (1009), which
    /// stops decompression bombs (a 1 KiB message can inflate to 1 MiB). Default 1 MiB,
    /// matching frame_limits::max_message_size.
    std::uint64_t max_message_size = std::uint64_t{1} << 20;

    /// Options whose zlib streams, both allocated, fit in `bytes` per connection (largest
    /// window first; both directions use the same window). Below about 17 KiB no setting
    /// fits and compression is disabled.
    static deflate_options for_memory_budget(std::size_t bytes) noexcept;
    /// Upper estimate of the zlib memory of one connection with both streams allocated
    /// (with a 15-bit decompressor window unless require_client_max_window_bits).
    std::size_t memory_per_connection() const noexcept;
};

/// The agreed parameters: what the response says (RFC 7692 §7.1).
struct deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    /// 0 when absent from the response (the server may then use up to 15).
    std::uint8_t server_max_window_bits = 0;
    /// 0 when absent from the response (the client may then use up to 15).
    std::uint8_t client_max_window_bits = 0;
};

/// Picks the first acceptable permessage-deflate offer in the request's
/// Sec-WebSocket-Extensions fields (in order; offers of other extensions are skipped). An
/// offer is declined, and the next one tried, when it has an unknown parameter, a parameter
/// twice, a parameter value that is missing, superfluous or out of range, or a setting pier
/// cannot honour (server_max_window_bits=8; no client_max_window_bits while
/// options.require_client_max_window_bits) (RFC 7692 §7.1). A field that is not valid
/// extension-list syntax (RFC 6455 §9.1) is ignored from the point of error. nullopt:
/// answer without permessage-deflate.
std::optional<deflate_params> negotiate_deflate(const http::request_view& req,
                                                const deflate_options& options = {}) noexcept;
/// The same for one Sec-WebSocket-Extensions field value.
std::optional<deflate_params> negotiate_deflate(std::string_view extensions,
                                                const deflate_options& options = {}) noexcept;

/// Enough for any response format_deflate_response writes.
inline constexpr std::size_t max_deflate_response_size = 128;

/// Writes the Sec-WebSocket-Extensions value accepting `p`, e.g.
/// "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12". Returns its
/// length.
std::size_t format_deflate_response(const deflate_params& p,
                                    std::span<char, max_deflate_response_size> out) noexcept;

/// How a codec call ended.
enum class deflate_status : std::uint8_t {
    ok,
    too_big,       ///< the message inflates past max_message_size: close with 1009
    corrupt,       ///< not valid DEFLATE data: 1007
    out_of_memory, ///< zlib could not allocate its state: 1011
};

/// The close code for a failed codec call (normal for ok).
constexpr close_code close_code_for(deflate_status s) noexcept {
    switch (s) {
    case deflate_status::ok:
        return close_code::normal;
    case deflate_status::too_big:
        return close_code::message_too_big;
    case deflate_status::corrupt:
        return close_code::invalid_payload;
    case deflate_status::out_of_memory:
        return close_code::internal_error;
    }
    return close_code::internal_error;
}

/// A contiguous, resizable byte container the codec appends to: std::string,
/// std::vector<char>, std::vector<std::uint8_t>, …
template <class B>
concept deflate_buffer = requires(B& b, std::size_t n) {
    { b.size() } -> std::convertible_to<std::size_t>;
    b.resize(n);
    {b.data()};
    requires sizeof(*b.data()) == 1;
};

/// Per-connection permessage-deflate state for a server: compresses outgoing messages and
/// decompresses incoming ones (RFC 7692 §7.2), one message at a time in each direction.
/// Allocates each zlib stream on first use. Movable, not copyable.
class deflate_codec {
public:
    explicit deflate_codec(const deflate_params& agreed,
                           const deflate_options& options = {}) noexcept;
    ~deflate_codec();
    deflate_codec(deflate_codec&&) noexcept = default;
    deflate_codec& operator=(deflate_codec&&) noexcept = default;

    /// Compresses the next piece of an outgoing message and appends the result to `out`;
    /// `fin` ends the message: the output is flushed and its trailing 00 00 ff ff removed
    /// (§7.2.1), and without context takeover the compressor is reset. The message's frames
    /// carry the appended bytes with RSV1 on the first. ok or out_of_memory.
    template <deflate_buffer Buffer>
    deflate_status compress(std::span<const std::uint8_t> in, Buffer& out, bool fin = true);

    /// Decompresses the next piece (unmasked frame payload, any split) of an incoming
    /// compressed message and appends to `out`; `fin` ends the message (§7.2.2 appends the
    /// 00 00 ff ff tail). On any status but ok the message is abandoned and the decompressor
    /// reset: fail the connection with close_code_for(status).
    template <deflate_buffer Buffer>
    deflate_status decompress(std::span<const std::uint8_t> in, Buffer& out, bool fin);

    /// Frees the streams that carry nothing from one message to the next: the compressor
    /// under server_no_context_takeover, the decompressor under client_no_context_takeover,
    /// unless a message is half done. Call when the connection goes idle.
    void release_idle() noexcept;
    /// Bytes zlib holds for this codec right now.
    std::size_t memory_in_use() const noexcept;
    const deflate_params& params() const noexcept { return params_; }
    /// Window (log2) of the compressor and of the decompressor.
    int deflate_window_bits() const noexcept { return deflate_bits_; }
    int inflate_window_bits() const noexcept { return inflate_bits_; }

private:
    struct zstream;
    struct zstream_deleter {
        bool deflater;
        void operator()(zstream* z) const noexcept;
    };
    using zstream_ptr = std::unique_ptr<zstream, zstream_deleter>;

    bool ensure_deflate() noexcept;
    bool ensure_inflate() noexcept;
    template <deflate_buffer Buffer>
    deflate_status inflate_piece(const std::uint8_t* data, std::size_t size, Buffer& out);
    bool inflate_stream_end();

    deflate_params params_;
    int level_;
    int mem_level_;
    int deflate_bits_;
    int inflate_bits_;
    std::uint64_t max_message_size_;
    std::uint64_t inflated_ = 0; // bytes of the current incoming message
    std::uint64_t deflated_ = 0; // bytes of the current outgoing message
    unsigned stream_ends_ = 0;   // DEFLATE streams ended within the current incoming message
    bool deflate_mid_ = false;   // an outgoing message is half done
    bool inflate_mid_ = false;   // an incoming message is half done
    zstream_ptr deflater_{nullptr, {true}};
    zstream_ptr inflater_{nullptr, {false}};
};

} // namespace pier::ws

#include <pier/ws/impl/deflate.hpp>
