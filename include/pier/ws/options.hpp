// pier/ws/options.hpp: every run-time tunable of the WebSocket layer, with its default and why.
//
// The TCP-level deadlines (idle, read, write, shutdown) and the write queue's limits
// (`write_options`: high/low water, max_queued) are the core's `server_options`; they apply
// to WebSocket connections unchanged, so a WebSocket connection's buffered amount is bounded
// by the same backpressure policy as any other connection.
#pragma once

#include <pier/http/request.hpp>
#include <pier/ws/deflate.hpp>
#include <pier/ws/frame.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pier::ws {

/// Options of a `ws::server`.
struct options {
    /// Frame and message size limits (1009 when passed). Defaults 1 MiB each, see
    /// frame.hpp: a server with many connections must bound what each can make it buffer.
    /// Frames are streamed through the read buffer, so a frame may be larger than it.
    frame_limits limits{};
    /// Limits of the opening handshake's HTTP request head (431/414 when passed).
    http::limits http{};
    /// The opening handshake (from accept to the 101 response) must complete within this,
    /// else the connection is closed. Default 10 s: a real client sends its request at once;
    /// a slow-loris client must not hold a descriptor. Zero disables it.
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
    /// After pier sent a Close frame, it waits this long for the peer's Close before it
    /// closes the TCP connection anyway (RFC 6455 §7.1.1). Default 5 s.
    std::chrono::milliseconds close_timeout{std::chrono::seconds(5)};
    /// Automatic keep-alive: a connection from which nothing arrived for this long is sent a
    /// Ping (RFC 6455 §5.5.2); browsers and other clients answer with a Pong on their own.
    /// Default 30 s, below the usual 60 s idle timeouts of proxies and NATs, so idle but live
    /// connections survive them. Zero disables pings (and `pong_timeout`).
    std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};
    /// After an automatic Ping, the connection is closed (on_close sees 1006, the stats count
    /// a timeout) if nothing at all arrives within this. Default 15 s: a dead peer or a
    /// vanished NAT mapping is found within ping_interval + pong_timeout, long before TCP's
    /// own retransmission timeout (about 15 minutes). Zero: ping, but never close for it.
    std::chrono::milliseconds pong_timeout{std::chrono::seconds(15)};
    /// Origins (e.g. "https://example.com") allowed to open connections; empty (default)
    /// allows all. Browsers always send Origin, so a list stops other sites' pages from
    /// using a user's cookies (cross-site WebSocket hijacking, RFC 6455 §10.2).
    std::vector<std::string> allowed_origins{};
    /// With a non-empty allow-list: whether a request without Origin (non-browser clients)
    /// is accepted. Default true.
    bool allow_missing_origin = true;
    /// Subprotocols the server speaks, in its order of preference; the first one the client
    /// also offers is answered (RFC 6455 §4.2.2). Empty (default): none is answered unless
    /// the handler's `accept` hook picks one.
    std::vector<std::string> subprotocols{};
    /// permessage-deflate (RFC 7692): enabled by default with a 4 KiB window both ways,
    /// about 50 KiB of zlib state per connection while compressing, allocated on first use
    /// and kept (context takeover) for as long as the connection lives. For many connections,
    /// set `deflate.server_no_context_takeover` and `deflate.client_no_context_takeover`:
    /// the zlib state then exists only while a message is compressed or decompressed (an
    /// idle connection holds none), and broadcasts prepared with compression
    /// (`prepare(op, payload, true)`) are compressed once and shared by every such session.
    /// `deflate_options::for_memory_budget(bytes)` picks settings for a per-connection bound.
    deflate_options deflate{};
    /// A message that started arriving must be complete within this (from its first byte to
    /// its last fragment), else the connection is failed with 1008: a client trickling
    /// fragments or bytes cannot hold an assembly buffer or its connection forever
    /// (slow-loris). Default 30 s. Zero disables it.
    std::chrono::milliseconds message_timeout{std::chrono::seconds(30)};
    /// Bytes that the partly received messages of one shard may hold in assembly buffers
    /// (fragmented, compressed, or larger than the read buffer); a session whose message
    /// would pass it is failed with 1013 (try again later). Default 64 MiB per shard, so
    /// that many clients each sending a message just under max_message_size slowly cannot
    /// pin max_message_size times the connection count. Zero: no shared bound (each message
    /// is still bounded by limits and deflate.max_message_size).
    std::size_t assembly_budget = std::size_t{64} << 20;
    /// Bytes that sends from other threads (session_handle, cross-thread broadcasts) may have
    /// waiting in one shard's mailbox. Checked by the sender: past half of it a send answers
    /// `backpressure`, past all of it `dropped`, so a producer thread faster than the shard
    /// cannot grow memory without bound. Default 64 MiB per shard.
    std::size_t mailbox_budget = std::size_t{64} << 20;
    /// Plain HTTP requests on the WebSocket port (the handler's `on_http`): the largest
    /// request body taken, by Content-Length; a larger one is answered 413, a chunked one 411.
    /// Default 8 KiB, enough for an admin API's JSON; at most the read buffer's size less the
    /// request head (buffer::pooled<16384> by default).
    std::size_t max_http_body = 8192;
    /// A reply deferred by `on_http` (session::defer_http) must come within this, else the
    /// client gets 503 and the connection closes. Default 10 s.
    std::chrono::milliseconds http_reply_timeout{std::chrono::seconds(10)};
    /// Outgoing messages smaller than this are sent uncompressed even when deflate was
    /// negotiated (RFC 7692 allows either per message): below ~64 bytes deflate's framing
    /// overhead eats the gain and the CPU is wasted. Default 64.
    std::size_t deflate_min_size = 64;
};

} // namespace pier::ws
