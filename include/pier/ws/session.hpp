// pier/ws/session.hpp: one WebSocket connection (RFC 6455) as a handler sees it, and what the
// handler's hooks receive: the upgrade request, the accept decision, messages.
//
//     struct echo {
//         template <class Session> void on_message(Session& s, pier::ws::message m) {
//             m.is_text() ? s.send_text(m.data()) : s.send_binary(m.data());
//         }
//     };
//     pier::ws::server<echo> srv({.port = 9001, .handle_signals = true});
//     srv.run();
//
// Handler hooks (all but on_message optional, detected by name):
//   void on_message(session&, ws::message);                 every complete message
//   void on_open(session&);                                 after the 101 response
//   void on_close(session&, ws::close_code, std::string_view reason);
//                    once: the peer's Close (its code, 1005 if none), the code pier failed
//                    the connection with, or 1006 when the TCP connection ended without one
//   ws::accept_result accept(const ws::upgrade_request&);   accept, reject, attach user data
//   bool on_http(connection&, const http::request_view&);   a non-upgrade request: reply and
//                    return true (the connection stays open when the request allows), or
//                    return false for the default answer (426 Upgrade Required)
#pragma once

#include <pier/buffer/shared_buffer.hpp>
#include <pier/connection.hpp>
#include <pier/http/request.hpp>
#include <pier/ws/close_code.hpp>
#include <pier/ws/deflate.hpp>
#include <pier/ws/frame.hpp>
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

/// What the `accept` hook sees of an opening handshake. Views: valid during the call.
struct upgrade_request {
    const http::request_view& request; ///< method, target, headers
    std::string_view path;
    std::string_view query;
    asio::ip::tcp::endpoint remote;
    /// The client's Sec-WebSocket-Protocol field(s), as sent (comma list), or empty.
    std::string_view offered_subprotocols;
    std::optional<std::string_view> header(std::string_view name) const noexcept {
        return request.find(name);
    }
};

/// The `accept` hook's answer.
struct accept_result {
    /// 0: accept; otherwise the HTTP status to refuse with (4xx/5xx), then close.
    unsigned status = 0;
    /// The refusal's text/plain body (empty: the reason phrase).
    std::string body{};
    /// Subprotocol to answer with; empty: chosen from options::subprotocols.
    std::string subprotocol{};
    /// Per-connection data, reachable as `session.user_data<T>()`.
    std::shared_ptr<void> user_data{};

    static accept_result accept(std::string subprotocol = {}, std::shared_ptr<void> data = {}) {
        return {0, {}, std::move(subprotocol), std::move(data)};
    }
    static accept_result reject(unsigned status, std::string body = {}) {
        return {status, std::move(body), {}, {}};
    }
};

/// A message framed once and sent to many sessions: server frames are unmasked (RFC 6455
/// §5.1), so one buffer serves every subscriber. Sent uncompressed (RFC 7692 lets a
/// sender choose per message).
struct prepared_message {
    shared_buffer frame;
};

/// Frames `payload` as one final frame of `op` (text, binary, ping, pong or close).
prepared_message prepare(opcode op, std::string_view payload);

/// One WebSocket connection over a `pier::connection<Policies>` (which it keeps alive).
///
/// Receiving is pier's: frames are unmasked in place in the read buffer, text is validated
/// incrementally across fragments, pings are answered, protocol errors close with the code
/// of RFC 6455 §7.4.1, and complete messages reach `on_message`. An unfragmented,
/// uncompressed message that is in the read buffer whole is handed over without a copy;
/// others are assembled in a buffer that exists only while a message is incomplete.
///
/// Sending: `send_text`, `send_binary`, `send` (prepared), `ping`, `close` never wait and
/// answer like `connection::try_send` (`queued`, `backpressure` above the high-water mark,
/// `dropped` under backpressure::drop, `closed`); the core's write queue and its
/// backpressure policy bound what a session buffers.
///
/// Thread safety: everything runs on the connection's executor; the send functions and
/// `close` may also be called from any thread (they post there and answer `queued`).
template <class Policies>
class session final : public std::enable_shared_from_this<session<Policies>> {
public:
    using connection_type = pier::connection<Policies>;

    session(std::shared_ptr<connection_type> c, const options& o);

    /// The connection's id (unique within the server, never 0).
    std::uint64_t id() const noexcept { return conn_->id(); }
    const asio::ip::tcp::endpoint& remote_endpoint() const noexcept {
        return conn_->remote_endpoint();
    }
    connection_type& connection() noexcept { return *conn_; }
    std::string_view path() const noexcept { return path_; }
    std::string_view query() const noexcept { return query_; }
    /// The negotiated subprotocol, or empty.
    std::string_view subprotocol() const noexcept { return subprotocol_; }
    /// Whether permessage-deflate was negotiated.
    bool compressed() const noexcept { return deflate_ != nullptr; }
    /// The data the accept hook attached (nullptr if none); T must be its type.
    template <class T> T* user_data() const noexcept { return static_cast<T*>(user_.get()); }
    /// Open: no Close frame sent or received yet.
    bool is_open() const noexcept { return !close_sent_ && !done_ && conn_->is_open(); }

    send_result send_text(std::string_view text, flush when = flush::now) {
        return send_frame(opcode::text, text, when);
    }
    send_result send_binary(std::string_view data, flush when = flush::now) {
        return send_frame(opcode::binary, data, when);
    }
    /// Sends a frame prepared once for many sessions (`prepare`); the payload is shared, not
    /// copied. Like the other sends, refused (`send_result::closed`) once a Close was sent.
    send_result send(const prepared_message& m, flush when = flush::now);
    /// Sends a Ping (payload cut to 125 bytes); the peer answers with a Pong.
    send_result ping(std::string_view payload = {});
    /// Starts the closing handshake (RFC 6455 §7.1.2): sends Close with `code` and `reason`
    /// (cut to fit 123 bytes), delivers no further messages, and closes the TCP connection
    /// when the peer's Close arrives or after options::close_timeout.
    send_result close(close_code code = close_code::normal, std::string_view reason = {});

    // --- used by ws::detail::adapter -------------------------------------------------------
    void set_handshake(std::string path, std::string query, std::string subprotocol,
                       std::shared_ptr<void> user, const std::optional<deflate_params>& deflate);
    /// Processes input (unmasking it in place); returns the bytes consumed.
    template <class Handler> std::size_t feed(Handler& h, std::span<char> in);
    /// Whether the session wants no more input.
    bool done() const noexcept { return done_; }
    /// The connection ended: reports on_close (1006 unless a close was already reported).
    template <class Handler> void ended(Handler& h, std::error_code why);
    /// Lets the core's keep-alive sweep ping this session (until `ended`).
    void arm_keepalive() noexcept;

private:
    send_result send_frame(opcode op, std::string_view payload, flush when);
    send_result send_control(opcode op, std::string_view payload);
    template <class Handler> void fail(Handler& h, close_code code);
    template <class Handler> bool data_piece(Handler& h, std::span<std::uint8_t> piece);
    template <class Handler> bool end_message(Handler& h);
    template <class Handler> bool control_frame(Handler& h);
    template <class Handler> void report_close(Handler& h, close_code code, std::string_view why);
    void arm_close_deadline() noexcept;
    static bool keepalive_probe(void* self);
    bool on_executor() const noexcept { return conn_->get_executor().running_in_this_thread(); }

    std::shared_ptr<connection_type> conn_;
    const options& opts_;
    frame_parser parser_;
    frame_header hdr_{};
    std::uint64_t remaining_ = 0; // payload bytes of the current frame still to come
    std::size_t mask_off_ = 0;
    std::string msg_;  // the message being assembled (fragmented, compressed or split)
    std::string ctrl_; // the control frame being received
    utf8_validator utf8_;
    std::unique_ptr<deflate_codec> deflate_;
    std::shared_ptr<void> user_;
    std::string path_, query_, subprotocol_;
    bool in_frame_ = false;
    bool assembling_ = false;
    bool close_sent_ = false;
    bool close_reported_ = false;
    bool done_ = false;
};

} // namespace pier::ws

#include <pier/ws/impl/session.hpp>
