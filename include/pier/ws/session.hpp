// pier/ws/session.hpp: one WebSocket connection (RFC 6455) as a handler sees it, and what the
// handler's hooks receive: the upgrade request, the accept decision, messages.
//
//     struct chat {
//         struct session_data { std::string nick; };            // inline in every session
//         template <class Session> void on_open(Session& s) { s.data().nick = "anon"; }
//         template <class Session> void on_message(Session& s, pier::ws::message m) {
//             s.send_text(m.data());
//         }
//     };
//     pier::ws::server<chat> srv({.port = 9001, .handle_signals = true});
//     srv.run();
//
// Handler hooks (all but on_message optional, detected by name; a hook with a wrong signature
// is a compile error, not silently skipped):
//   void on_message(session&, ws::message);                 every complete message
//   void on_open(session&);                                 after the 101 response
//   void on_close(session&, ws::close_code, std::string_view reason);
//                    exactly once for every on_open: the peer's Close (its code, 1005 if
//                    none), the code pier failed the connection with, or 1006 when the TCP
//                    connection ended without a Close
//   void on_pong(session&, std::chrono::milliseconds rtt);  a Pong answered pier's automatic
//                    Ping after `rtt` (keep-alive round-trip time, e.g. for metrics)
//   void on_drain(session&);                                the write queue fell below
//                    write_options::low_water after having passed high_water
//   ws::accept_result accept(const ws::upgrade_request&, session_data&);
//   ws::accept_result accept(const ws::upgrade_request&);   accept or refuse the upgrade
//   bool on_accept(const asio::ip::tcp::endpoint&);         admission, in the accept loop
//                    before TLS or HTTP cost anything; false closes the socket at once
//                    (counted in stats::refused)
//   bool on_http(session&, const http::request_view&, std::string_view body);
//   bool on_http(session&, const http::request_view&);      a plain (non-upgrade) request on
//                    the WebSocket port, with its body (options::max_http_body): reply with
//                    session.send_http(bytes), or later from any thread through
//                    session.defer_http(), and return true; false gives the default answer
//                    (426 Upgrade Required). Keep-alive connections stay open under the idle
//                    deadline; pipelined requests are answered in order.
//   void on_hook_error(std::string_view hook, std::exception_ptr);
//                    a hook threw: counted in stats::handler_errors, the session is failed
//                    with 1011, on_close still runs; without this hook the exception is
//                    dropped (never rethrown)
//   using session_data = T;                                 per-session state, s.data()
//
// Lifetime and threads: a session belongs to one shard (shard.hpp) and is touched only by
// that shard's handlers; a reference to it is valid from on_open until on_close returns
// (and during accept/on_http for those hooks). From elsewhere, keep its `handle()`, which
// posts to the shard through its bounded mailbox and answers at once.
#pragma once

#include <pier/buffer/pooled.hpp>
#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/detail/registry.hpp>
#include <pier/http/request.hpp>
#include <pier/shard.hpp>
#include <pier/write/queue.hpp>
#include <pier/ws/close_code.hpp>
#include <pier/ws/deflate.hpp>
#include <pier/ws/detail/out_queue.hpp>
#include <pier/ws/frame.hpp>
#include <pier/ws/negotiate.hpp>
#include <pier/ws/options.hpp>
#include <pier/ws/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pier::ws {

/// A received message; its bytes are valid only during the on_message call. Text messages
/// were checked to be UTF-8 (RFC 6455 §8.1) and decompressed (RFC 7692) already.
class message {
public:
    message(std::string_view data, bool text) noexcept : data_(data), text_(text) {}
    bool is_text() const noexcept { return text_; }
    bool is_binary() const noexcept { return !text_; }
    std::string_view data() const noexcept { return data_; }
    std::string_view text() const noexcept { return data_; }
    std::string_view binary() const noexcept { return data_; }

private:
    std::string_view data_;
    bool text_;
};

/// A message framed once and sent to many sessions, on any shards: server frames are
/// unmasked (RFC 6455 §5.1), so one buffer serves every subscriber, shared by reference.
/// With `compress`, a compressed copy is made too (with a fresh compressor, i.e. no context
/// takeover), and sessions that negotiated permessage-deflate with server_no_context_takeover
/// get that one; the others get the plain frame (RFC 7692 lets a sender choose per message).
/// Thread safety: immutable; copy and send it from anywhere.
struct prepared_message {
    detail::frame_ref frame;
    detail::frame_ref compressed;
    /// Conflation key for `backpressure::latest` (0: none): a queued message with the same
    /// key that was not yet written is replaced by this one.
    std::uint32_t key = 0;

    std::size_t size() const noexcept { return frame.view().size(); }
};

/// Frames `payload` as one final frame of `op` (text, binary, ping, pong or close); with
/// `compress`, also the compressed variant (deflate settings of `opts`).
prepared_message prepare(opcode op, std::string_view payload, bool compress = false,
                         const deflate_options& opts = {});

/// The state inside every session that the handler does not define.
enum class session_state : std::uint8_t {
    handshake, ///< reading the upgrade request (or plain HTTP requests)
    open,      ///< messages flow
    closing,   ///< a Close frame was sent or received; no more messages are delivered
    closed,    ///< the TCP connection is closed; on_close has run or is about to
};

/// An empty `session_data` for handlers that keep none.
struct no_data {};

namespace detail {
template <class Handler, class Policies> class session_impl;
template <class Impl> class shard;
struct session_access;
} // namespace detail

template <class Policies, class Data = no_data> class session;

class session_handle;

/// Answers one plain HTTP request later, from any thread (session::defer_http): once. If
/// `reply` does not come within options::http_reply_timeout, the client gets 503 and the
/// connection closes. A responder dropped without replying leaves that to the deadline.
class http_responder {
public:
    http_responder() = default;
    /// A complete HTTP response (head and body). False if it could not be delivered (the
    /// connection closed, or the shard's mailbox is full).
    bool reply(std::string response);

private:
    template <class Policies, class Data> friend class session;
    explicit http_responder(const session_handle& h);
    std::shared_ptr<const session_handle> handle_;
};

/// A reference to a session that may be kept anywhere and used from any thread: it goes to the
/// session's shard through that shard's mailbox (bounded by ws::options::mailbox_budget).
/// Each call answers at once: `queued` (accepted for delivery), `backpressure` (accepted; the
/// mailbox is past half its budget), `dropped` (refused: the mailbox is full) or `closed`
/// (the handle is empty). A session that closed before the message arrives does not get it.
class session_handle {
public:
    session_handle() = default;
    explicit operator bool() const noexcept { return sink_ != nullptr; }
    std::size_t shard() const noexcept { return shard_; }
    std::uint64_t id() const noexcept { return id_; }

    send_result send_text(std::string_view text) const;
    send_result send_binary(std::string_view data) const;
    send_result send(const prepared_message& m) const;
    send_result close(close_code code = close_code::normal, std::string_view reason = {}) const;

    friend bool operator==(const session_handle& a, const session_handle& b) noexcept {
        return a.sink_ == b.sink_ && a.shard_ == b.shard_ && a.slot_ == b.slot_ && a.gen_ == b.gen_;
    }

    /// Where handles deliver: implemented by the WebSocket server (its shards' mailboxes).
    /// `http` set: `frame` holds a deferred HTTP response, not a WebSocket frame.
    struct sink {
        virtual send_result deliver(std::size_t shard, std::uint32_t slot, std::uint32_t gen,
                                    opcode op, detail::frame_ref frame,
                                    detail::frame_ref compressed, std::uint32_t key,
                                    std::uint16_t close_code, bool http = false) = 0;

    protected:
        ~sink() = default;
    };

private:
    template <class Impl> friend class detail::shard;
    friend class http_responder;
    session_handle(sink* s, std::size_t shard, std::uint32_t slot, std::uint32_t gen,
                   std::uint64_t id) noexcept
        : sink_(s), shard_(shard), slot_(slot), gen_(gen), id_(id) {}

    sink* sink_ = nullptr;
    std::size_t shard_ = 0;
    std::uint32_t slot_ = 0;
    std::uint32_t gen_ = 0;
    std::uint64_t id_ = 0;
};

namespace detail {

/// Deadlines in milliseconds since the shard's epoch, in 32 bits: 49 days of range, which
/// `shard` renews by moving its epoch long before. 0 means "none".
using ms32 = std::uint32_t;

/// The part of every session that knows neither the handler nor the transport: identity,
/// shard links, deadlines and state. The shard's list and its sweep work on this.
class session_base {
public:
    session_base() = default;
    session_base(const session_base&) = delete;
    session_base& operator=(const session_base&) = delete;

    /// Starts loading what a send touches (this part, the queue and the start of the handler
    /// data that follow it) into the cache, without waiting. A loop over many sessions held in
    /// an array (the pool's topic broadcast) calls it a few sessions ahead, so that their
    /// cache misses overlap instead of queueing one behind the other. (The shard's own list
    /// gains nothing from it: measured, prefetching the next session there changed nothing.)
    void prefetch() const noexcept {
        const auto* p = reinterpret_cast<const char*>(this);
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
        __builtin_prefetch(p + 128);
    }

protected:
    template <class Impl> friend class shard;
    friend struct session_access;

    // The shard's intrusive lists: every session, and those with unflushed output.
    session_base* prev_ = nullptr;
    session_base* next_ = nullptr;
    session_base* dirty_next_ = nullptr;
    std::uint64_t id_ = 0;
    std::uint32_t slot_ = 0; ///< in the shard's handle table
    ms32 last_read_ = 0;     ///< last input (keep-alive, parking, idle)
    ms32 last_write_ = 0;    ///< last output handed to the kernel (idle)
    ms32 deadline_ = 0;      ///< the current phase's: handshake, closing, shutdown
    ms32 partial_since_ = 0; ///< first byte of the message still incomplete (slow-loris)
    ms32 stall_since_ = 0;   ///< output queued and not moving (write timeout)
    ms32 ping_sent_ = 0;     ///< an automatic Ping is unanswered since then
    ms32 ping_at_ = 0;       ///< the last automatic Ping, until its Pong (round-trip time)
    session_state state_ = session_state::handshake;
    std::uint8_t pending_ops_ = 0; ///< Asio operations in flight (the object outlives them)
    // One bit each: an idle session is mostly these fields, and a million of them add up.
    bool dirty_ : 1 = false;
    bool retired_ : 1 = false; ///< on its shard's list of sessions to destroy (once)
    bool writing_ : 1 = false; ///< a write-readiness wait is in flight
    bool reading_ : 1 = false; ///< a read (or read-readiness wait) is in flight
    bool parked_ : 1 = false;  ///< idle: no read buffer, waiting for readiness
    bool parking_ : 1 = false; ///< the busy read is being cancelled to park
    bool close_sent_ : 1 = false;
    bool opened_ : 1 = false;    ///< on_open ran, so on_close must
    bool over_high_ : 1 = false; ///< the queue passed high_water since the last on_drain
    bool shutting_down_ : 1 = false;
    bool http_pending_ : 1 = false;   ///< a deferred HTTP reply is awaited
    bool http_close_ : 1 = false;     ///< ... after which the connection closes
    bool http_deferred_ : 1 = false;  ///< set by defer_http() during on_http
    bool http_answered_ : 1 = false;  ///< a plain request was answered (keep-alive, not handshake)
    std::uint8_t subprotocol_ = 0xff; ///< index into options::subprotocols, 0xff: none
};

} // namespace detail

/// One WebSocket connection: the object a handler's hooks receive. It is the connection
/// itself (socket, buffers, parser and queue in one allocation, with the handler's
/// `session_data` inline), owned by its shard.
///
/// Receiving is pier's: frames are unmasked in place in the read buffer, text is validated
/// incrementally across fragments, pings are answered, protocol errors close with the code of
/// RFC 6455 §7.4.1, and complete messages reach `on_message`. A message whose frame fits the
/// read buffer is handed over without a copy; a fragmented, compressed or larger one is
/// assembled in a buffer that exists only while it is incomplete (bounded in time by
/// options::message_timeout and per shard by options::assembly_budget).
///
/// Sending: the send functions never wait and never write at once: output is corked and
/// leaves in one gather write per session at the end of the current handler (for sessions
/// touched while handling another session's input, a broadcast for example, at the end of
/// that input's processing), as uWebSockets does. They answer `queued`, `backpressure` (past
/// write_options::high_water: slow down), `dropped` (refused by the slow-consumer policy) or
/// `closed`. What a slow consumer can make pier buffer is bounded by the backpressure
/// policy (ws/options.hpp).
///
/// Thread safety: the session's shard only. Use `handle()` from elsewhere.
template <class Policies, class Data> class session : public detail::session_base {
public:
    using data_type = Data;
    using policies_type = Policies;

    /// 64 random bits from OpenSSL's RNG (RAND_bytes): unique and not guessable.
    std::uint64_t id() const noexcept { return id_; }
    /// The shard that owns this session.
    std::size_t shard() const noexcept;
    /// The peer's address (getpeername: one system call).
    asio::ip::tcp::endpoint remote_endpoint() const;
    /// The handler's per-session state, constructed before `accept` and destroyed after
    /// `on_close`.
    Data& data() noexcept { return data_; }
    const Data& data() const noexcept { return data_; }
    session_state state() const noexcept { return state_; }
    /// Open: no Close frame sent or received yet.
    bool is_open() const noexcept { return state_ == session_state::open && !close_sent_; }
    /// The negotiated subprotocol when it is one of options::subprotocols, else empty.
    std::string_view subprotocol() const noexcept;
    /// Whether permessage-deflate was negotiated.
    bool compressed() const noexcept { return deflate_ != nullptr; }
    /// Bytes queued for the peer and not yet handed to the kernel.
    std::size_t buffered_amount() const noexcept { return out_.bytes(); }
    /// Milliseconds since anything last arrived from the peer: a message, a Ping, a Pong (the
    /// answer to the keep-alive Ping), any frame. Read by liveness checks above this layer
    /// (the pool's stale-connection pass), at the resolution of the shard's clock.
    std::uint32_t quiet_ms() const noexcept { return env_->now(this) - last_read_; }
    /// A reference for other threads.
    session_handle handle() const noexcept;

    // Inline in the handler, as is send_data's common case (a message behind others of the
    // same pass joins the write queue's open entry).
    [[gnu::always_inline]] send_result send_text(std::string_view text, std::uint32_t key = 0) {
        return send_data(opcode::text, text, key);
    }
    [[gnu::always_inline]] send_result send_binary(std::string_view data, std::uint32_t key = 0) {
        return send_data(opcode::binary, data, key);
    }
    /// Sends a frame prepared once for many sessions (`prepare`): shared, not copied.
    send_result send(const prepared_message& m);
    /// Sends a Ping (payload cut to 125 bytes); the peer answers with a Pong.
    send_result ping(std::string_view payload = {});
    /// Starts the closing handshake (RFC 6455 §7.1.2): sends Close with `code` and `reason`
    /// (cut to fit 123 bytes), delivers no further messages, and closes the TCP connection
    /// when the peer's Close arrives or after options::close_timeout.
    send_result close(close_code code = close_code::normal, std::string_view reason = {});
    /// Only from `on_http`: queues raw bytes (a complete HTTP response). Responses to
    /// pipelined requests leave in order.
    send_result send_http(std::string_view bytes);
    /// Only from `on_http`: the answer will come later, through the responder (any thread,
    /// once; options::http_reply_timeout). Requests pipelined behind wait for it.
    http_responder defer_http();

protected:
    template <class Impl> friend class detail::shard;

    session() = default;
    ~session() = default;

    // Whether the slow-consumer policy lets small copied messages share a queue entry (it
    // never drops single messages): out_queue::push_copy's `coalesce`, and join_frame.
    static constexpr bool coalesces =
        Policies::backpressure::action != backpressure_action::drop_oldest &&
        Policies::backpressure::action != backpressure_action::latest;

    send_result send_data(opcode op, std::string_view payload, std::uint32_t key);
    // send_data's general case (out of line): compression, the first message of a burst, a
    // key, a limit reached.
    [[gnu::noinline]] send_result send_any(opcode op, std::string_view payload, std::uint32_t key);
    send_result send_control(opcode op, std::string_view payload);
    send_result enqueue(std::span<const std::string_view> parts, const detail::frame_ref* shared,
                        std::uint32_t key, bool control);
    // The queue's limits and slow-consumer policy for a message of `size` bytes; `push(bool
    // coalesce)` queues it if they let it in.
    template <class Push>
    send_result admit(std::size_t size, std::uint32_t key, bool control, Push&& push);

    // Set by the implementation (which knows the handler and the transport).
    struct env {
        const options* ws;
        const server_options* core;
        std::size_t shard;
        void (*mark_dirty)(detail::session_base*) noexcept;
        void (*fail)(detail::session_base*, close_code) noexcept;
        int (*native_handle)(const detail::session_base*) noexcept;
        session_handle (*handle)(const detail::session_base*) noexcept;
        std::uint32_t (*now)(const detail::session_base*) noexcept;
        pier::detail::shard_counters* counters;
    };
    const env* env_ = nullptr;
    detail::out_queue out_;
    std::unique_ptr<deflate_codec> deflate_;
    Data data_{};
};

} // namespace pier::ws

#include <pier/ws/impl/session.hpp>
