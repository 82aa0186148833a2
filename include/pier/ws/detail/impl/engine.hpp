// pier/ws/detail/impl/engine.hpp: out-of-line definitions for <pier/ws/detail/engine.hpp>.
#pragma once

#include <pier/ws/detail/engine.hpp>

#include <algorithm>
#include <cstring>

namespace pier::ws::detail {

// The WebSocket layer's hooks (session.hpp lists them), detected by the core's mechanism
// (detail/hooks.hpp).
PIER_DETAIL_HOOK_CALL(call_on_open, on_open,
                      "pier: the WebSocket handler's on_open must be callable as "
                      "void on_open(session&)")
PIER_DETAIL_HOOK_CALL(call_on_pong, on_pong,
                      "pier: the WebSocket handler's on_pong must be callable as "
                      "void on_pong(session&, std::chrono::milliseconds)")
PIER_DETAIL_HOOK_CALL(call_on_drain, on_drain,
                      "pier: the WebSocket handler's on_drain must be callable as "
                      "void on_drain(session&)")
PIER_DETAIL_HOOK_CALL(call_on_close, on_close,
                      "pier: the WebSocket handler's on_close must be callable as "
                      "void on_close(session&, pier::ws::close_code, std::string_view)")

template <class H, class S>
concept has_ws_on_http = pier::detail::has_on_http<H, S&, const http::request_view&> ||
    pier::detail::has_on_http<H, S&, const http::request_view&, std::string_view>;
template <class H, class S>
concept has_ws_accept = pier::detail::has_accept<H, const upgrade_request&> ||
    pier::detail::has_accept<H, const upgrade_request&, typename S::data_type&>;

// --- session_impl: entry points -------------------------------------------------------------

template <class H, class P> H& session_impl<H, P>::handler() noexcept {
    return shard_->eng->handler();
}
template <class H, class P> ms32 session_impl<H, P>::now() const noexcept {
    return shard_->now();
}
template <class H, class P> pier::detail::shard_counters& session_impl<H, P>::counters() noexcept {
    return *shard_->counters;
}

template <class H, class P> void session_impl<H, P>::start() {
    const auto& o = shard_->eng->ws_options();
    this->state_ = session_state::handshake;
    this->last_read_ = this->last_write_ = now();
    const auto hs = o.handshake_timeout.count();
    this->deadline_ = hs > 0 ? now() + static_cast<ms32>(hs) : 0;
    if (shard_->eng->core().stopping.load(std::memory_order_acquire)) {
        close_now(pier::error::shutting_down);
        return;
    }
    if constexpr (pier::detail::has_handshake<typename P::transport>) {
        ++this->pending_ops_;
        asio::co_spawn(
            socket().get_executor(), P::transport::handshake(stream_, shard_->eng->transport()),
            [this](std::exception_ptr ep, std::error_code ec) {
                entry([&] {
                    --this->pending_ops_;
                    if (this->state_ == session_state::closed)
                        return;
                    if (ep || ec) {
                        counters().handshake_failures.fetch_add(1, std::memory_order_relaxed);
                        const auto remote = this->remote_endpoint();
                        const std::error_code why = ec ? ec : make_error_code(pier::error::closed);
                        pier::detail::call_on_handshake_error(handler(), remote, why);
                        close_now(ec);
                        return;
                    }
                    arm_read();
                });
            });
    } else {
        // A plain TCP session lives in its shard's lot (detail/lot.hpp) from the start: Asio's
        // reactor, which registered the socket on accept, lets go of it at once.
        if constexpr (can_detach) {
            this->parked_ = true;
            enter_lot();
        }
        arm_read();
    }
}

template <class H, class P> void session_impl<H, P>::begin_shutdown() {
    if (this->state_ == session_state::closed || this->shutting_down_)
        return;
    this->shutting_down_ = true;
    const auto& core = shard_->eng->core();
    const auto limit =
        now() +
        static_cast<ms32>(std::max<std::int64_t>(1, core.options.timeouts.shutdown.count()));
    if (this->state_ == session_state::handshake) {
        close_now(pier::error::shutting_down);
        return;
    }
    if (this->state_ == session_state::open && !this->close_sent_)
        this->close(close_code::going_away, "server shutting down");
    // Going away: the TCP connection closes once the Close is out, without waiting for the
    // peer's answer (which the lingering read still takes, if it comes).
    finish_after_flush();
    if (this->deadline_ == 0 || static_cast<std::int32_t>(limit - this->deadline_) < 0)
        this->deadline_ = limit;
}

// --- reading --------------------------------------------------------------------------------

template <class H, class P> void session_impl<H, P>::arm_read() {
    if (this->reading_ || this->state_ == session_state::closed)
        return;
    if constexpr (can_detach) {
        if (detached()) {
            // In the lot: the session wants input; the lot's report of it (or one not read to
            // the end yet) starts the reads.
            this->reading_ = true;
            if (lot_ready_ && !pumping_)
                lot_pump();
            return;
        }
    }
    this->reading_ = true;
    ++this->pending_ops_;
    if (this->parked_) {
        socket().async_wait(asio::socket_base::wait_read,
                            [this](std::error_code ec) { on_readable(ec); });
        return;
    }
    auto room = in_.prepare();
    if (room.size() == 0) {
        // Cannot happen for frames (they stream through); an HTTP head that fills the buffer
        // is refused before. Defensive: a full buffer must not spin.
        --this->pending_ops_;
        this->reading_ = false;
        fail(close_code::message_too_big);
        return;
    }
    stream_.async_read_some(room, [this](std::error_code ec, std::size_t n) { on_read(ec, n); });
}

template <class H, class P> void session_impl<H, P>::on_readable(std::error_code ec) {
    entry([&] {
        --this->pending_ops_;
        this->reading_ = false;
        if (this->state_ == session_state::closed)
            return;
        if (ec && ec != asio::error::operation_aborted)
            return close_now(ec);
        if (ec && this->parking_) {
            // The sweep cancelled the wait to take the socket out of the reactor.
            this->parking_ = false;
            return arm_read();
        }
        this->parked_ = false; // busy again: the next read keeps a buffer and speculates
        arm_read();
    });
}

template <class H, class P> void session_impl<H, P>::on_lot_event(std::uint32_t events) {
    if (this->state_ == session_state::closed)
        return;
    // Edge-triggered (detail/lot.hpp): EPOLLOUT comes with every report while the socket has
    // room, and means something only while a write waits for room.
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && this->writing_) {
        this->writing_ = false;
        flush();
        if (this->state_ == session_state::closed)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        lot_ready_ = true;
        // The peer's FIN (or an error) is in: no report follows it, so the reads go on to
        // the end of the stream, however short the last data before it.
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            lot_ended_ = true;
        if (this->reading_ && !pumping_)
            lot_pump();
    }
}

template <class H, class P> void session_impl<H, P>::lot_pump() {
    // Bounded, so that a peer that keeps the socket full cannot hold the shard: after this
    // many reads (a sixteenth of a MiB with the default buffer), the rest waits for the
    // sessions already reported.
    constexpr int max_reads = 4;
    pumping_ = true;
    for (int i = 0; lot_ready_ && this->reading_ && this->state_ != session_state::closed; ++i) {
        if (i == max_reads) {
            shard_->lot_later(this);
            break;
        }
        auto room = in_.prepare();
        if (room.size() == 0) {
            // Cannot happen for frames (they stream through); an HTTP head that fills the
            // buffer is refused before. Defensive: a full buffer must not spin.
            fail(close_code::message_too_big);
            break;
        }
        this->reading_ = false;
        std::error_code ec;
        const auto n = pier::detail::raw_recv(fd_, room, ec);
        if (ec == asio::error::would_block) {
            lot_ready_ = false;
            this->reading_ = true;
            in_.release_if_empty();
            break;
        }
        if (!ec && n == 0)
            ec = asio::error::eof;
        // The end of the stream: what the input before it produced (its echo, say) goes out
        // first, as it would have at the end of the pass that read it.
        if (ec && !this->out_.empty())
            flush();
        // Less than there was room for: the socket is read to the end, and the next input
        // brings a report of its own. That saves the read that would only say EAGAIN, which
        // Asio's speculative reads cost on every wake-up. A full buffer may leave more: read
        // again.
        if (ec || (n < room.size() && !lot_ended_))
            lot_ready_ = false;
        // Input again within a sweep period of the last: busy, the session keeps its buffer
        // between reads. A Ping's answer or a rare message leaves it idle.
        const auto since = static_cast<std::int64_t>(now() - this->last_read_);
        if (since < shard_->eng->core().options.timeouts.resolution.count())
            park(false);
        read_done(ec, n);
    }
    pumping_ = false;
    // What this input produced goes now, while it is in the cache, instead of at the end of
    // the pass: a batch of 64 sessions echoing 16 KiB messages queued 2 MiB before the
    // first write, and the kernel's copies then missed the cache (the 16 KiB echo fell to
    // about 60k messages per CPU-second, from 80k-111k). Output from other sessions' input (a
    // broadcast's subscribers) still waits for the end of the pass, one write for all of it.
    if (!this->out_.empty() && !this->writing_ && this->state_ != session_state::closed)
        flush();
}

template <class H, class P> bool session_impl<H, P>::enter_lot() {
    auto* lot = shard_->lot();
    if (!lot)
        return false;
    const int fd = socket().native_handle();
    if (!shard_->lot_add(this->slot_, fd))
        return false;
    std::error_code ec;
    socket().release(ec); // Asio's reactor lets go of the descriptor, which stays open
    if (ec) {
        lot->remove(fd);
        shard_->lot_left();
        return false;
    }
    fd_ = fd;
    if (this->parked_)
        counters().parked.fetch_add(1, std::memory_order_relaxed);
    return true;
}

template <class H, class P> void session_impl<H, P>::park(bool idle) noexcept {
    if (this->parked_ == idle)
        return;
    this->parked_ = idle;
    if (detached()) {
        if (idle)
            counters().parked.fetch_add(1, std::memory_order_relaxed);
        else
            counters().parked.fetch_sub(1, std::memory_order_relaxed);
    }
}

template <class H, class P>
std::size_t session_impl<H, P>::write_now(std::span<const asio::const_buffer> b,
                                          std::error_code& ec) {
    if constexpr (can_detach)
        if (detached())
            return pier::detail::raw_send(fd_, b, ec);
    return P::transport::try_write_some(stream_, b, ec);
}

template <class H, class P> void session_impl<H, P>::close_socket() noexcept {
    std::error_code ignored;
    if (detached()) {
        ::close(take_fd()); // which takes it out of the lot too
        shard_->lot_left();
    } else {
        socket().close(ignored); // pending operations complete with operation_aborted
    }
}

template <class H, class P> void session_impl<H, P>::on_read(std::error_code ec, std::size_t n) {
    entry([&] {
        --this->pending_ops_;
        this->reading_ = false;
        if (this->state_ == session_state::closed)
            return;
        if (ec == asio::error::operation_aborted && this->parking_) {
            this->parking_ = false;
            if (in_.empty() && !P::transport::buffered_input(stream_)) {
                in_.release_if_empty();
                this->parked_ = !P::buffer::holds_storage_when_idle;
            }
            return arm_read();
        }
        this->parking_ = false;
        read_done(ec, n);
    });
}

template <class H, class P> void session_impl<H, P>::read_done(std::error_code ec, std::size_t n) {
    if (ec) {
        if (lingering_)
            return close_now({});
        if (ec == asio::error::operation_aborted)
            return arm_read(); // the socket was cancelled for another reason
        return close_now(ec);
    }
    in_.commit(n);
    counters().bytes_in.fetch_add(n, std::memory_order_relaxed);
    this->last_read_ = now();
    this->ping_sent_ = 0; // any input answers a Ping
    const bool was_handshake = this->state_ == session_state::handshake;
    if (!lingering_)
        process();
    if (finishing_)
        in_.consume(in_.data().size()); // nothing more is taken: we are closing
    if constexpr (!P::buffer::holds_storage_when_idle) {
        // A connection that has just opened is parked at once: most stay quiet for a
        // while (a pool's subscribers), and a connect storm then cycles a few blocks
        // through the thread's pool instead of leaving one touched block per connection
        // (which, freed later by the sweep, stays resident in the allocator's heap).
        if (was_handshake && this->state_ == session_state::open && in_.empty() && !in_frame_ &&
            !P::transport::buffered_input(stream_)) {
            in_.release_if_empty();
            park(true);
        }
    }
    if (this->state_ != session_state::closed)
        arm_read();
}

template <class H, class P> void session_impl<H, P>::process() {
    if (this->state_ == session_state::handshake) {
        handle_http();
        if (this->state_ != session_state::open && this->state_ != session_state::closing)
            return;
    }
    if (!feed())
        return;
    // The slow-loris clock runs while part of a data message, or of a frame header, is
    // pending, from the pass that first left one (a control frame's payload, at most 125
    // bytes, does not start it). Started here rather than at each frame header: a message
    // taken whole in the pass that read its first byte never starts it, and the time is the
    // same within a pass.
    const bool only_control_payload = in_frame_ && is_control(hdr_.op) && !parser_.in_message();
    if (in_.empty() && !in_frame_ && !parser_.in_message())
        this->partial_since_ = 0;
    else if (this->partial_since_ == 0 && !only_control_payload)
        this->partial_since_ = now();
    in_.release_if_empty();
}

template <class H, class P> void session_impl<H, P>::refuse(unsigned status, std::string response) {
    (void)status;
    this->send_http(response);
    finish_after_flush();
}

template <class H, class P> void session_impl<H, P>::handle_http() {
    const auto& o = shard_->eng->ws_options();
    using session_t = typename session_impl::base_type;
    while (this->state_ == session_state::handshake && !finishing_ && !this->http_pending_) {
        auto in = in_.data();
        if (in.empty())
            return;
        http::request_head req;
        const auto r = http::parse_request(std::string_view(in.data(), in.size()), req, o.http);
        if (r.st == http::parse_result::incomplete) {
            if (in_.room_after_compaction() == 0)
                refuse(431, http_error_response(431));
            else if (this->http_answered_ && this->partial_since_ == 0)
                this->partial_since_ = now(); // the next request of a kept-alive connection
            return;
        }
        if (r.st == http::parse_result::error) {
            refuse(http::status_for(r.err),
                   http_error_response(http::status_for(r.err), http::to_string(r.err)));
            return;
        }
        if (!req.is_upgrade()) {
            if constexpr (has_ws_on_http<H, session_t>) {
                static_assert(
                    requires(H & h, session_t & s, const http::request_view& v,
                             std::string_view b) {
                        { h.on_http(s, v, b) } -> std::convertible_to<bool>;
                    } ||
                        requires(H & h, session_t & s, const http::request_view& v) {
                            { h.on_http(s, v) } -> std::convertible_to<bool>;
                        },
                    "pier: the WebSocket handler's on_http must be callable as bool "
                    "on_http(session&, const pier::http::request_view&[, std::string_view body])");
                // The body, by Content-Length, whole in the buffer.
                std::size_t body_size = 0;
                if (req.chunked()) {
                    refuse(411, http_error_response(411, "a Content-Length is required"));
                    return;
                }
                if (auto cl = req.content_length(); cl && *cl > 0) {
                    if (*cl > o.max_http_body || r.head_size + *cl > buffer_type::capacity) {
                        refuse(413, http_error_response(413, "request body too large"));
                        return;
                    }
                    body_size = static_cast<std::size_t>(*cl);
                    if (in.size() < r.head_size + body_size) {
                        in_.compact();
                        if (this->partial_since_ == 0)
                            this->partial_since_ = now();
                        return; // the rest of the body is on its way
                    }
                }
                const std::string_view body(in.data() + r.head_size, body_size);
                const bool keep = req.keep_alive();
                bool answered = false;
                this->http_deferred_ = false;
                if (!guarded(handler(), counters(), "on_http", [&] {
                        auto& self = static_cast<session_t&>(*this);
                        if constexpr (requires(H & h) {
                                          h.on_http(self, std::as_const(req), body);
                                      })
                            answered = handler().on_http(self, std::as_const(req), body);
                        else
                            answered = handler().on_http(self, std::as_const(req));
                    })) {
                    this->http_deferred_ = false;
                    refuse(500, http_error_response(500));
                    return;
                }
                if (answered) {
                    in_.consume(r.head_size + body_size);
                    this->http_answered_ = true;
                    this->partial_since_ = 0;
                    // Kept alive: the idle deadline applies now, not the handshake's.
                    this->deadline_ = 0;
                    if (this->http_deferred_) {
                        this->http_deferred_ = false;
                        this->http_pending_ = true;
                        this->http_close_ = !keep;
                        const auto t = o.http_reply_timeout.count();
                        this->deadline_ = now() + static_cast<ms32>(t > 0 ? t : 1);
                        return;
                    }
                    if (!keep)
                        finish_after_flush();
                    continue;
                }
            }
            const http::header up[] = {{"Upgrade", "websocket"}};
            refuse(426, http_error_response(426, "this is a WebSocket endpoint", up));
            return;
        }
        if (auto no = screen_upgrade(req, o)) {
            refuse(no->status, std::move(no->response));
            return;
        }
        accept_result decision;
        if constexpr (has_ws_accept<H, session_t>) {
            const upgrade_request u{req, req.path(), req.query(), this->remote_endpoint(),
                                    req.find("sec-websocket-protocol").value_or("")};
            const bool ok = guarded(handler(), counters(), "accept", [&] {
                if constexpr (requires(H & h) { h.accept(u, this->data()); }) {
                    static_assert(
                        requires(H & h) {
                            { h.accept(u, this->data()) } -> std::convertible_to<accept_result>;
                        },
                        "pier: the WebSocket handler's accept must be callable as "
                        "ws::accept_result accept(const ws::upgrade_request&, session_data&)");
                    decision = handler().accept(u, this->data());
                } else {
                    static_assert(
                        requires(H & h) {
                            { h.accept(u) } -> std::convertible_to<accept_result>;
                        },
                        "pier: the WebSocket handler's accept must be callable as "
                        "ws::accept_result accept(const ws::upgrade_request&)");
                    decision = handler().accept(u);
                }
            });
            if (!ok)
                decision = accept_result::reject(500);
        }
        auto plan = negotiate(req, o, decision);
        if (auto* no = std::get_if<handshake_refusal>(&plan)) {
            refuse(no->status, std::move(no->response));
            return;
        }
        auto& p = std::get<handshake_plan>(plan);
        in_.consume(r.head_size);
        this->send_http(p.response());
        this->out_.pin_all();
        this->subprotocol_ = p.subprotocol_index;
        if (p.deflate) {
            this->deflate_ = std::make_unique<deflate_codec>(*p.deflate, o.deflate);
            parser_.allow_rsv1(true);
        }
        this->state_ = session_state::open;
        this->deadline_ = 0;
        this->opened_ = true;
        if (!guarded(handler(), counters(), "on_open",
                     [&] { call_on_open(handler(), static_cast<session_t&>(*this)); }))
            fail(close_code::internal_error);
        if (this->shutting_down_ && this->state_ == session_state::open)
            this->close(close_code::going_away, "server shutting down");
        return;
    }
}

// A data frame that is a whole message, uncompressed: delivered from the buffer in place.
inline bool unfragmented_data(const frame_header& h) noexcept {
    return !is_control(h.op) && h.fin && h.op != opcode::continuation && !h.rsv1;
}

// A whole unfragmented data message (hdr_) whose masked payload is at `payload` in the buffer,
// `header_left` bytes of its header before it: unmasks, checks UTF-8 for text, delivers, and
// takes it (and the header) off the buffer. Returns whether to go on.
template <class H, class P>
[[gnu::always_inline]] inline bool session_impl<H, P>::whole_data_message(char* payload,
                                                                          std::size_t header_left) {
    const auto n = static_cast<std::size_t>(hdr_.payload_size);
    apply_mask(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(payload), n), hdr_.key);
    const std::string_view msg(payload, n);
    const bool text = hdr_.op == opcode::text;
    if (text && !is_valid_utf8(msg)) {
        fail(close_code::invalid_payload);
        return false;
    }
    this->partial_since_ = 0;
    const bool go_on = deliver_message(msg, text);
    in_.consume(header_left + n);
    return go_on;
}

// Frames: unmasked in place; a data frame whose payload fits the buffer waits until it is
// whole and, if it is a whole message, is delivered without a copy. Returns false when the
// session stopped taking input.
template <class H, class P> bool session_impl<H, P>::feed() {
    const auto& o = shard_->eng->ws_options();
    for (;;) {
        if (this->state_ == session_state::closed || lingering_ || finishing_)
            return false;
        auto in = in_.data();
        if (!in_frame_) {
            if (in.empty())
                return true;
            const auto r = parser_.parse(std::string_view(in.data(), in.size()), hdr_);
            if (r.st == frame_result::incomplete)
                return true; // process() starts the slow-loris clock
            if (r.st == frame_result::error) {
                fail(r.err);
                return false;
            }
            // The common case in one step: a whole unfragmented data message, its payload in
            // the buffer behind its header, without the frame's state (in_frame_, remaining_).
            if (unfragmented_data(hdr_) && in.size() - r.header_size >= hdr_.payload_size) {
                if (!whole_data_message(in.data() + r.header_size, r.header_size))
                    return false;
                continue;
            }
            in_.consume(r.header_size);
            remaining_ = hdr_.payload_size;
            mask_off_ = 0;
            in_frame_ = true;
            if (is_control(hdr_.op)) {
                if (asm_)
                    asm_->ctrl.clear();
            } else if (hdr_.op != opcode::continuation) {
                utf8_.reset();
            }
            in = in_.data();
        }
        const bool control = is_control(hdr_.op);
        const bool whole_message = unfragmented_data(hdr_);
        // A frame that fits the buffer is taken whole, in place (unless its payload already
        // started streaming, when it did not fit a moment ago).
        if (remaining_ == hdr_.payload_size && remaining_ <= buffer_type::capacity &&
            (whole_message || control)) {
            if (in.size() < remaining_) {
                if (in_.room_after_compaction() >= remaining_)
                    in_.compact();
                return true;
            }
            in_frame_ = false;
            const auto n = static_cast<std::size_t>(remaining_);
            remaining_ = 0;
            if (control) {
                // In place: a control frame never needs the assembly buffer when it is whole.
                auto piece = std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(in.data()), n);
                apply_mask(piece, hdr_.key);
                const bool go_on =
                    control_frame(std::string_view(reinterpret_cast<const char*>(piece.data()), n));
                in_.consume(n);
                if (!go_on)
                    return false;
                continue;
            }
            if (!whole_data_message(in.data(), 0))
                return false;
            continue;
        }
        // Streamed: the payload goes through in pieces (an empty one at once).
        if (remaining_ > 0) {
            if (in.empty())
                return true;
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
            auto piece = std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(in.data()), n);
            mask_off_ = static_cast<std::uint8_t>(apply_mask(piece, hdr_.key, mask_off_));
            remaining_ -= n;
            if (control) {
                if (!asm_)
                    asm_ = std::make_unique<assembly>();
                asm_->ctrl.append(reinterpret_cast<const char*>(piece.data()), n);
                in_.consume(n);
            } else {
                const bool ok = data_piece(piece);
                in_.consume(n);
                if (!ok)
                    return false;
            }
            if (remaining_ > 0)
                return true;
        }
        in_frame_ = false;
        if (control) {
            const std::string payload = asm_ ? std::move(asm_->ctrl) : std::string();
            if (asm_ && !assembling_)
                assembly_release();
            if (!control_frame(payload))
                return false;
        } else if (hdr_.fin) {
            if (!end_message())
                return false;
        }
        (void)o;
    }
}

template <class H, class P> bool session_impl<H, P>::assembly_reserve(std::size_t more) {
    const auto budget = shard_->eng->ws_options().assembly_budget;
    if (budget > 0 && shard_->assembling + more > budget) {
        fail(close_code::try_again_later, "assembly budget");
        return false;
    }
    if (!asm_)
        asm_ = std::make_unique<assembly>();
    asm_->reserved += more;
    shard_->assembling += more;
    return true;
}

template <class H, class P> void session_impl<H, P>::assembly_release() noexcept {
    if (!asm_)
        return;
    shard_->assembling -= asm_->reserved;
    asm_.reset();
}

template <class H, class P> bool session_impl<H, P>::data_piece(std::span<std::uint8_t> piece) {
    const bool text = parser_.message_opcode() == opcode::text;
    if (!assembling_) {
        assembling_ = true;
        if (!asm_)
            asm_ = std::make_unique<assembly>();
        asm_->msg.clear();
    }
    const auto before = asm_->msg.size();
    if (parser_.message_compressed()) {
        auto st = this->deflate_->decompress(piece, asm_->msg, false);
        if (st != deflate_status::ok) {
            fail(close_code_for(st));
            return false;
        }
        if (text && !utf8_.write(std::string_view(asm_->msg).substr(before))) {
            fail(close_code::invalid_payload);
            return false;
        }
    } else {
        if (text && !utf8_.write(piece)) {
            fail(close_code::invalid_payload);
            return false;
        }
        asm_->msg.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    }
    const auto grown = asm_->msg.size() - before;
    return grown == 0 || assembly_reserve(grown);
}

template <class H, class P> bool session_impl<H, P>::end_message() {
    const bool text = parser_.message_opcode() == opcode::text;
    if (!assembling_) { // an empty final fragment, or an empty compressed message
        assembling_ = true;
        if (!asm_)
            asm_ = std::make_unique<assembly>();
        asm_->msg.clear();
    }
    if (parser_.message_compressed()) {
        const auto before = asm_->msg.size();
        auto st = this->deflate_->decompress({}, asm_->msg, true);
        if (st != deflate_status::ok) {
            fail(close_code_for(st));
            return false;
        }
        if (text && !utf8_.write(std::string_view(asm_->msg).substr(before))) {
            fail(close_code::invalid_payload);
            return false;
        }
    }
    if (text && !utf8_.complete()) {
        fail(close_code::invalid_payload);
        return false;
    }
    assembling_ = false;
    this->partial_since_ = 0;
    std::string msg = std::move(asm_->msg);
    assembly_release();
    const bool go_on = deliver_message(msg, text);
    if (this->deflate_)
        this->deflate_->release_idle();
    return go_on;
}

// Inline in the frame loop: the second-hottest call of a small message's path.
template <class H, class P>
[[gnu::always_inline]] inline bool session_impl<H, P>::deliver_message(std::string_view data,
                                                                       bool text) {
    if (this->close_sent_ || this->state_ != session_state::open)
        return this->state_ != session_state::closed; // closing: messages are not delivered
    using session_t = typename session_impl::base_type;
    if (!guarded(handler(), counters(), "on_message", [&] {
            handler().on_message(static_cast<session_t&>(*this), message(data, text));
        })) {
        fail(close_code::internal_error);
        return false;
    }
    return this->state_ != session_state::closed && !finishing_;
}

template <class H, class P> bool session_impl<H, P>::control_frame(std::string_view payload) {
    switch (hdr_.op) {
    case opcode::ping:
        if (!this->close_sent_)
            this->send_control(opcode::pong, payload);
        break;
    case opcode::pong:
        if (this->ping_at_ != 0) {
            const auto rtt =
                std::chrono::milliseconds(static_cast<std::int32_t>(now() - this->ping_at_));
            this->ping_at_ = 0;
            using session_t = typename session_impl::base_type;
            guarded(handler(), counters(), "on_pong",
                    [&] { call_on_pong(handler(), static_cast<session_t&>(*this), rtt); });
        }
        break;
    case opcode::close: {
        auto c = parse_close_payload(
            {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
        if (!c.ok) {
            fail(c.err);
            return false;
        }
        if (!this->close_sent_) {
            // Echo the status code (RFC 6455 §5.5.1); an empty Close is answered empty.
            std::array<std::uint8_t, max_control_payload> buf;
            std::size_t n = 0;
            if (c.code != static_cast<std::uint16_t>(close_code::no_status))
                n = write_close_payload(buf, static_cast<close_code>(c.code));
            this->close_sent_ = true;
            this->send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
        }
        this->state_ = session_state::closing;
        peer_closed_ = true;
        const std::string reason(c.reason);
        assembly_release();
        report_close(static_cast<close_code>(c.code), reason);
        // The server closes the TCP connection first (RFC 6455 §7.1.1).
        finish_after_flush();
        return false;
    }
    default:
        break;
    }
    return true;
}

template <class H, class P>
void session_impl<H, P>::report_close(close_code code, std::string_view reason) {
    if (close_reported_ || !this->opened_)
        return;
    close_reported_ = true;
    using session_t = typename session_impl::base_type;
    guarded(handler(), counters(), "on_close", [&] {
        call_on_close(handler(), static_cast<session_t&>(*this), std::as_const(code),
                      std::as_const(reason));
    });
}

// --- writing ----------------------------------------------------------------------------------

template <class H, class P> void session_impl<H, P>::flush() {
    if (this->state_ == session_state::closed || this->writing_)
        return;
    // Output queued into an empty queue since the last flush (session::admit cleared the
    // stamp then): the write timeout counts from now, unless this flush moves it all.
    // Stamped here rather than for each message queued: the same time within a pass (now()
    // is read once per entry point), without a call through the session's environment.
    if (this->stall_since_ == 0 && !this->out_.empty())
        this->stall_since_ = now();
    auto& c = counters();
    const auto& w = shard_->eng->core().options.write;
    while (!this->out_.empty()) {
        const auto nbuf = this->out_.gather(std::span<asio::const_buffer>(
            shard_->iov.data(), std::min(shard_->iov.size(), w.max_gather)));
        if (nbuf == 0) {
            // Only messages dropped in place are left (consume() pops them, so this is a
            // guard): an empty write would loop here for ever.
            this->out_.clear();
            break;
        }
        std::size_t total = 0;
        for (std::size_t i = 0; i < nbuf; ++i)
            total += shard_->iov[i].size();
        auto bufs = std::span<const asio::const_buffer>(shard_->iov.data(), nbuf);
        // Small frames from different places (a broadcast's shared frames, say) are copied
        // into one range first: the kernel's copy walks its ranges one by one, and that walk
        // cost 7% of a 64-byte broadcast's CPU against 1% for one range (perf).
        asio::const_buffer staged;
        if (nbuf > 1 && total <= shard_->stage.size()) {
            char* p = shard_->stage.data();
            for (const auto& b : bufs) {
                std::memcpy(p, b.data(), b.size());
                p += b.size();
            }
            staged = asio::const_buffer(shard_->stage.data(), total);
            bufs = std::span<const asio::const_buffer>(&staged, 1);
        }
        std::error_code ec;
        const auto n = write_now(bufs, ec);
        if (ec == asio::error::would_block)
            return arm_write();
        if (ec)
            return close_now(ec);
        this->out_.consume(n);
        c.bytes_out.fetch_add(n, std::memory_order_relaxed);
        this->last_write_ = now();
        this->stall_since_ = this->out_.empty() ? 0 : this->last_write_;
        if (this->over_high_ && this->out_.cost() <= w.low_water) {
            this->over_high_ = false;
            using session_t = typename session_impl::base_type;
            guarded(handler(), c, "on_drain",
                    [&] { call_on_drain(handler(), static_cast<session_t&>(*this)); });
            if (this->state_ == session_state::closed)
                return;
        }
        if (n < total)
            return arm_write(); // the socket buffer is full: wait instead of one more EAGAIN
    }
    this->stall_since_ = 0;
    if (finishing_ && !lingering_) {
        // Everything, the Close frame included, went out: FIN, then read until the peer's
        // FIN (or the linger deadline), so that unread input does not turn into an RST that
        // could destroy what we sent. Unless the peer began the closing handshake: our Close
        // answered its Close, the handshake is complete, and the server closes the TCP
        // connection first (RFC 6455 §7.1.1); a peer sends nothing after its Close (§5.5.1),
        // so there is no input left to turn into an RST.
        const auto linger = shard_->eng->core().options.timeouts.linger.count();
        if (linger <= 0 || peer_closed_)
            return close_now({});
        if (detached()) {
            ::shutdown(fd_, SHUT_WR);
        } else {
            std::error_code ignored;
            socket().shutdown(asio::socket_base::shutdown_send, ignored);
        }
        lingering_ = true;
        in_.consume(in_.data().size());
        const auto until = now() + static_cast<ms32>(linger);
        if (this->deadline_ == 0 || until < this->deadline_)
            this->deadline_ = until;
    }
}

template <class H, class P> void session_impl<H, P>::arm_write() {
    if (this->writing_ || this->state_ == session_state::closed)
        return;
    this->writing_ = true;
    if constexpr (can_detach)
        if (detached())
            return; // the lot reports room to write (EPOLLOUT), edge-triggered
    ++this->pending_ops_;
    socket().async_wait(asio::socket_base::wait_write,
                        [this](std::error_code ec) { on_writable(ec); });
}

template <class H, class P> void session_impl<H, P>::on_writable(std::error_code ec) {
    entry([&] {
        --this->pending_ops_;
        this->writing_ = false;
        if (this->state_ == session_state::closed)
            return;
        if (ec && ec != asio::error::operation_aborted)
            return close_now(ec);
        flush();
    });
}

template <class H, class P> void session_impl<H, P>::finish_after_flush() {
    finishing_ = true;
    if (this->state_ == session_state::handshake || this->state_ == session_state::open)
        this->state_ = session_state::closing;
    const auto t = shard_->eng->ws_options().close_timeout.count();
    if (t > 0) {
        const auto until = now() + static_cast<ms32>(t);
        if (this->deadline_ == 0 || until < this->deadline_)
            this->deadline_ = until;
    }
    shard_->mark_dirty(this);
}

template <class H, class P>
void session_impl<H, P>::fail(close_code code, std::string_view reason) {
    if (this->state_ == session_state::closed)
        return;
    // Drop what was not started; a partly written message is finished first, and the
    // handshake's response (pinned) still goes out before the Close.
    this->out_.drop_unsent();
    if (this->state_ != session_state::handshake && !this->close_sent_) {
        std::array<std::uint8_t, max_control_payload> buf;
        const auto n = write_close_payload(buf, code, reason);
        this->close_sent_ = true;
        this->state_ = session_state::closing; // send_control enqueues in any state but closed
        this->send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
    }
    assembly_release();
    report_close(code, reason);
    finish_after_flush();
}

template <class H, class P> void session_impl<H, P>::close_now(std::error_code why) {
    if (this->state_ == session_state::closed)
        return;
    (void)why;
    this->state_ = session_state::closed;
    close_socket();
    this->out_.clear();
    assembly_release();
    in_.release();
    this->deflate_.reset();
    report_close(close_code::abnormal, {});
}

// --- sweep and mail -------------------------------------------------------------------------

template <class H, class P> void session_impl<H, P>::sweep(ms32 t) {
    if (this->state_ == session_state::closed)
        return;
    auto& c = counters();
    const auto& o = shard_->eng->ws_options();
    const auto& to = shard_->eng->core().options.timeouts;
    auto elapsed = [t](ms32 since) { return static_cast<std::int64_t>(t - since); };
    if (this->deadline_ != 0 && static_cast<std::int32_t>(t - this->deadline_) >= 0 &&
        this->http_pending_) {
        // The deferred reply did not come.
        this->deadline_ = 0;
        this->http_pending_ = false;
        this->send_http(http_error_response(503, "the reply did not come in time"));
        return finish_after_flush();
    }
    if (this->state_ == session_state::handshake && this->http_answered_ &&
        this->partial_since_ != 0 && o.handshake_timeout.count() > 0 &&
        elapsed(this->partial_since_) >= o.handshake_timeout.count()) {
        c.timeouts.fetch_add(1, std::memory_order_relaxed); // a slow request, not a handshake
        return close_now(pier::error::read_timeout);
    }
    if (this->deadline_ != 0 && static_cast<std::int32_t>(t - this->deadline_) >= 0) {
        if (this->state_ == session_state::handshake && !finishing_) {
            c.handshake_failures.fetch_add(1, std::memory_order_relaxed);
            const auto remote = this->remote_endpoint();
            const std::error_code why = pier::error::handshake_timeout;
            pier::detail::call_on_handshake_error(handler(), remote, why);
        }
        return close_now(pier::error::closed);
    }
    if (this->stall_since_ != 0 && to.write.count() > 0 &&
        elapsed(this->stall_since_) >= to.write.count()) {
        c.timeouts.fetch_add(1, std::memory_order_relaxed);
        return close_now(pier::error::write_timeout);
    }
    if (this->state_ == session_state::open && this->partial_since_ != 0 &&
        o.message_timeout.count() > 0 &&
        elapsed(this->partial_since_) >= o.message_timeout.count()) {
        c.timeouts.fetch_add(1, std::memory_order_relaxed);
        return fail(close_code::policy_violation, "message timeout");
    }
    const auto quiet = std::min(elapsed(this->last_read_), elapsed(this->last_write_));
    if (to.idle.count() > 0 && quiet >= to.idle.count()) {
        c.timeouts.fetch_add(1, std::memory_order_relaxed);
        return close_now(pier::error::idle_timeout);
    }
    if (this->state_ == session_state::open && o.ping_interval.count() > 0) {
        if (this->ping_sent_ != 0) {
            // While output is queued the Ping may wait behind it: the wait counts from when
            // the queue was last seen empty (a peer that stopped reading is the write
            // timeout's business).
            if (!this->out_.empty())
                this->ping_sent_ = t;
            else if (o.pong_timeout.count() > 0 &&
                     elapsed(this->ping_sent_) >= o.pong_timeout.count()) {
                c.timeouts.fetch_add(1, std::memory_order_relaxed);
                return close_now(pier::error::keepalive_timeout);
            }
        } else if (elapsed(this->last_read_) >= o.ping_interval.count() && !this->close_sent_) {
            if (this->send_control(opcode::ping, {}) != send_result::closed)
                this->ping_sent_ = this->ping_at_ = t == 0 ? 1 : t;
        }
    }
    // Parking: a session that received nothing for a sweep period gives its read buffer back
    // and waits for readiness instead. In the lot (plain TCP) that is bookkeeping only: the
    // lot reports input either way. In Asio's reactor (TLS, or a lot the kernel refused) the
    // pending read is cancelled, and its completion waits for readiness instead (one
    // epoll_ctl per wake-up).
    if constexpr (!P::buffer::holds_storage_when_idle) {
        const bool quiet = !this->parked_ && in_.empty() && !in_frame_ && !lingering_ &&
                           elapsed(this->last_read_) >= to.resolution.count() &&
                           !P::transport::buffered_input(stream_);
        if (quiet && detached()) {
            park(true);
            in_.release_if_empty();
        } else if (quiet && this->reading_ && !this->parking_) {
            this->parking_ = true;
            std::error_code ignored;
            socket().cancel(ignored);
        }
    }
}

template <class H, class P> void session_impl<H, P>::deliver(mail& m) {
    if (m.http) {
        // A deferred reply to a plain HTTP request: out, then the requests queued behind it.
        if (this->state_ != session_state::handshake || !this->http_pending_)
            return;
        this->http_pending_ = false;
        this->deadline_ = 0;
        this->send_http(m.frame.view());
        if (this->http_close_)
            return finish_after_flush();
        process();
        if (this->state_ != session_state::closed)
            arm_read();
        return;
    }
    if (this->state_ != session_state::open || this->close_sent_)
        return;
    if (m.op == opcode::close) {
        this->close(static_cast<close_code>(m.close_code));
        return;
    }
    prepared_message pm{m.frame, m.compressed, m.key};
    if (this->send(pm) == send_result::dropped)
        return;
}

// --- shard -----------------------------------------------------------------------------------

template <class Impl>
shard<Impl>::shard(engine_type& e, std::size_t i, executor_type ex)
    : eng(&e), index(i), executor(std::move(ex)), box(e.ws_options().mailbox_budget),
      counters(&e.core().shards[i]->counters), epoch_(pier::detail::coarse_now_ms()) {
    env.ws = &e.ws_options();
    env.core = &e.core().options;
    env.shard = i;
    env.counters = counters;
    env.mark_dirty = [](session_base* s) noexcept {
        static_cast<Impl*>(s)->shard_of().mark_dirty(s);
    };
    // (Used by the send path for the slow-consumer policies only.)
    env.fail = [](session_base* s, close_code c) noexcept {
        static_cast<Impl*>(s)->fail(c, "slow consumer");
    };
    env.native_handle = [](const session_base* s) noexcept {
        return const_cast<Impl*>(static_cast<const Impl*>(s))->native_handle();
    };
    env.handle = [](const session_base* s) noexcept {
        return static_cast<const Impl*>(s)->shard_of().handle_of(s);
    };
    env.now = [](const session_base* s) noexcept {
        return static_cast<const Impl*>(s)->shard_of().now();
    };
}

template <class Impl> shard<Impl>::~shard() {
    destroy_all();
}

template <class Impl> void shard<Impl>::destroy_all() noexcept {
    // Sessions left after the loops stopped (a deadline cut the shutdown short) are freed
    // without callbacks, while their io_context still exists.
    for (session_base* s = head_; s;) {
        auto* next = s->next_;
        delete static_cast<Impl*>(s);
        s = next;
    }
    head_ = nullptr;
    dirty_head_ = nullptr;
    finished_.clear();
    lot_.close();
}

template <class Impl> void shard<Impl>::lot_report(std::uint64_t key, std::uint32_t events) {
    if (Impl* s = resolve(key)) {
        s->on_lot_event(events);
        retire_if_finished(s);
    }
}

template <class Impl> void shard<Impl>::lot_resume(std::uint64_t key) {
    if (Impl* s = resolve(key)) {
        s->lot_pump();
        retire_if_finished(s);
    }
}

template <class Impl> ms32 shard<Impl>::now() const noexcept {
    // Read once per entry point: every read and flush stamps its session.
    return depth_ > 0 ? now_ : clock();
}

template <class Impl> ms32 shard<Impl>::clock() const noexcept {
    // CLOCK_MONOTONIC_COARSE (detail/clock.hpp): steady_clock's rdtsc-based read was 4.5% of
    // the server's CPU in a 64-byte echo. Its few-millisecond granularity is far below the
    // sweep's resolution that checks deadlines.
    const auto ms = pier::detail::coarse_now_ms() - epoch_;
    // Wraps after 49 days; comparisons use differences, so a wrap is harmless as long as no
    // deadline is more than 24 days away. Never 0, which means "none".
    const auto v = static_cast<ms32>(ms);
    return v == 0 ? 1 : v;
}

template <class Impl> std::uint64_t shard<Impl>::next_id() {
    if (ids_left_ == 0) {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(ids_.data()),
                       static_cast<int>(sizeof ids_)) != 1)
            throw std::runtime_error("pier: RAND_bytes failed");
        ids_left_ = ids_.size();
    }
    const auto id = ids_[--ids_left_];
    return id == 0 ? next_id() : id;
}

template <class Impl> void shard<Impl>::link(Impl* s) {
    s->prev_ = nullptr;
    s->next_ = head_;
    if (head_)
        head_->prev_ = s;
    head_ = s;
    ++sessions;
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
        slots_[slot] = s;
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.push_back(s);
        gens_.push_back(1);
    }
    s->slot_ = slot;
    s->id_ = next_id();
}

template <class Impl> void shard<Impl>::unlink(Impl* s) noexcept {
    auto* prev = s->prev_;
    auto* next = s->next_;
    if (prev)
        prev->next_ = next;
    else
        head_ = next;
    if (next)
        next->prev_ = prev;
    --sessions;
    const auto slot = s->slot_;
    slots_[slot] = nullptr;
    ++gens_[slot];
    free_slots_.push_back(slot);
}

template <class Impl> void shard<Impl>::adopt(Impl* s) {
    enter([&] {
        link(s);
        s->start();
        retire_if_finished(s);
    });
}

template <class Impl> void shard<Impl>::mark_dirty(session_base* s) noexcept {
    if (s->dirty_)
        return;
    s->dirty_ = true;
    s->dirty_next_ = dirty_head_;
    dirty_head_ = s;
    if (depth_ == 0 && !flush_posted_) {
        // A send from outside pier's entry points (a user's own handler on this shard):
        // flush at the end of this pass, one post for all the sessions touched in it.
        flush_posted_ = true;
        asio::post(executor, [this] {
            flush_posted_ = false;
            enter([] {});
        });
    }
}

template <class Impl> template <class F> void shard<Impl>::enter(F&& f) {
    const pier::detail::shard_scope scope(index);
    // References to shared frames taken and dropped in this pass skip the atomic count; the
    // spares left go back after the flush below (out_queue.hpp).
    const ref_cache::scope refs;
    if (depth_++ == 0)
        now_ = clock();
    f();
    if (--depth_ == 0) {
        flush_dirty();
        reap();
    }
}

template <class Impl> void shard<Impl>::flush_dirty() {
    // Flushing can dirty sessions again (on_drain sends, a Close after a failure): loop.
    while (dirty_head_) {
        session_base* list = std::exchange(dirty_head_, nullptr);
        while (list) {
            auto* s = static_cast<Impl*>(list);
            list = list->dirty_next_;
            s->dirty_ = false;
            ++depth_; // sends from on_drain join this flush
            s->flush();
            --depth_;
            retire_if_finished(s);
        }
    }
    reap();
}

template <class Impl> void shard<Impl>::reap() {
    // Sessions with nothing in flight after their close are destroyed here, outside any of
    // their own frames.
    while (!finished_.empty()) {
        Impl* s = finished_.back();
        finished_.pop_back();
        // Each session is on the list once (retire_if_finished), so it is alive here.
        if (!s->finished()) {
            s->retired_ = false; // cannot happen: a session is retired once finished
            continue;
        }
        unlink(s);
        s->slot_ = static_cast<std::uint32_t>(-1);
        if (s->dirty_) {
            // Still on the dirty list: take it off before freeing.
            session_base** p = &dirty_head_;
            while (*p && *p != s)
                p = &(*p)->dirty_next_;
            if (*p)
                *p = s->dirty_next_;
        }
        delete s;
        counters->closed.fetch_add(1, std::memory_order_relaxed);
        eng->core().connection_closed();
    }
}

template <class Impl> void shard<Impl>::sweep(std::int64_t) {
    enter([&] {
        const auto t = now();
        for_each([&](Impl& s) {
            s.sweep(t);
            retire_if_finished(&s);
        });
        // The sessions' spare input blocks that a burst left behind give their pages back.
        Impl::buffer_type::pool::trim();
        // So do the write queues' spare blocks (freed: they are smaller than a page).
        out_queue::shrink_pools();
        // The handler's own periodic work on this shard (the pool's heartbeats and cleanup).
        auto& h = eng->handler();
        if constexpr (requires { h.on_tick(index); })
            guarded(h, *counters, "on_tick", [&] { h.on_tick(index); });
    });
}

template <class Impl> void shard<Impl>::begin_shutdown() {
    enter([&] {
        for_each([&](Impl& s) {
            s.begin_shutdown();
            retire_if_finished(&s);
        });
    });
}

template <class Impl> void shard<Impl>::drain_mail() {
    enter([&] {
        box.take(inbox_);
        std::size_t cost = 0;
        for (auto& m : inbox_) {
            cost += m.cost;
            if (m.task) {
                m.task();
                continue;
            }
            if (Impl* s = resolve(m.slot, m.gen)) {
                s->deliver(m);
                retire_if_finished(s);
            }
        }
        inbox_.clear();
        box.done(cost);
    });
}

template <class Impl> session_handle shard<Impl>::handle_of(const session_base* s) const noexcept {
    auto* b = const_cast<session_base*>(s);
    const auto slot = b->slot_;
    return session_handle(eng, index, slot, gens_[slot], b->id_);
}

template <class Impl>
Impl* shard<Impl>::resolve(std::uint32_t slot, std::uint32_t gen) const noexcept {
    if (slot >= slots_.size() || gens_[slot] != gen)
        return nullptr;
    return slots_[slot];
}

// --- engine ------------------------------------------------------------------------------------

template <class H, class P>
template <class Scheduler>
void engine<H, P>::attach(pier::detail::server_core& core, Scheduler& sched,
                          transport_context& tctx) {
    core_ = &core;
    tctx_ = &tctx;
    for (std::size_t i = 0; i < sched.size(); ++i)
        shards_.push_back(std::make_unique<shard_type>(*this, i, sched.shard_executor(i)));
}

template <class H, class P>
void engine<H, P>::adopt(std::size_t i, socket_type&& s, const asio::ip::tcp::endpoint&) {
    auto& sh = *shards_[i];
    auto* impl = new impl_type(sh, std::move(s));
    asio::dispatch(sh.executor, [&sh, impl] { sh.adopt(impl); });
}

template <class H, class P>
send_result engine<H, P>::deliver(std::size_t shard, std::uint32_t slot, std::uint32_t gen,
                                  opcode op, frame_ref frame, frame_ref compressed,
                                  std::uint32_t key, std::uint16_t close_code, bool http) {
    if (shard >= shards_.size())
        return send_result::closed;
    auto& sh = *shards_[shard];
    mail m;
    m.slot = slot;
    m.gen = gen;
    m.op = op;
    m.close_code = close_code;
    m.key = key;
    m.http = http;
    m.cost = frame.view().size() + compressed.view().size() + mailbox::overhead;
    m.frame = std::move(frame);
    m.compressed = std::move(compressed);
    bool schedule = false;
    const auto r = sh.box.push(std::move(m), schedule);
    if (r == send_result::dropped)
        sh.counters->dropped_messages.fetch_add(1, std::memory_order_relaxed);
    if (schedule)
        asio::post(sh.executor, [&sh] { sh.drain_mail(); });
    return r;
}

template <class H, class P>
send_result engine<H, P>::post_mail(std::size_t shard, std::function<void()> fn, std::size_t cost) {
    auto& sh = *shards_[shard];
    mail m;
    m.task = std::move(fn);
    m.cost = cost + mailbox::overhead;
    bool schedule = false;
    const auto r = sh.box.push(std::move(m), schedule);
    if (r == send_result::dropped)
        sh.counters->dropped_messages.fetch_add(1, std::memory_order_relaxed);
    if (schedule)
        asio::post(sh.executor, [&sh] { sh.drain_mail(); });
    return r;
}

} // namespace pier::ws::detail
