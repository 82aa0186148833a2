// pier/ws/impl/session.hpp: out-of-line definitions of pier::ws::session.
#pragma once

#include <pier/ws/session.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace pier::ws {

inline prepared_message prepare(opcode op, std::string_view payload) {
    if (is_control(op) && payload.size() > max_control_payload)
        payload = payload.substr(0, max_control_payload);
    std::array<std::uint8_t, max_server_frame_header_size> h;
    const auto hn = write_frame_header(h, op, payload.size());
    std::string frame;
    frame.reserve(hn + payload.size());
    frame.append(reinterpret_cast<const char*>(h.data()), hn);
    frame.append(payload);
    return {shared_buffer(frame)};
}

namespace detail {
// A hook is detected by name or by a matching call, so a misspelt signature is an error.
template <class H, class S>
concept has_ws_on_close = requires {
    &H::on_close;
}
|| requires(H& h, S& s, close_code c, std::string_view r) {
    h.on_close(s, c, r);
};
} // namespace detail

template <class P>
session<P>::session(std::shared_ptr<connection_type> c, const options& o)
    : conn_(std::move(c)), opts_(o), parser_(o.limits, role::server) {}

template <class P>
void session<P>::set_handshake(std::string path, std::string query, std::string subprotocol,
                               std::shared_ptr<void> user,
                               const std::optional<deflate_params>& deflate) {
    path_ = std::move(path);
    query_ = std::move(query);
    subprotocol_ = std::move(subprotocol);
    user_ = std::move(user);
    if (deflate) {
        deflate_ = std::make_unique<deflate_codec>(*deflate, opts_.deflate);
        parser_.allow_rsv1(true);
    }
}

// --- sending ------------------------------------------------------------------------------------

template <class P> send_result session<P>::send(const prepared_message& m, flush when) {
    if (!on_executor()) {
        // The close state belongs to the executor: check it there (the frame is shared).
        asio::post(conn_->get_executor(),
                   [self = this->shared_from_this(), m, when] { self->send(m, when); });
        return send_result::queued;
    }
    if (close_sent_ || done_)
        return send_result::closed;
    return conn_->try_send(m.frame, when);
}

template <class P>
send_result session<P>::send_frame(opcode op, std::string_view payload, flush when) {
    if (!on_executor()) {
        // The deflate codec and the close state belong to the executor: go there with a copy.
        asio::post(conn_->get_executor(),
                   [self = this->shared_from_this(), op, data = std::string(payload), when] {
                       self->send_frame(op, data, when);
                   });
        return send_result::queued;
    }
    if (close_sent_ || done_)
        return send_result::closed;
    std::array<std::uint8_t, max_server_frame_header_size> h;
    if (deflate_ && payload.size() >= opts_.deflate_min_size) {
        std::string z;
        auto st = deflate_->compress(
            {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, z, true);
        if (st == deflate_status::ok) {
            const auto hn = write_frame_header(h, op, z.size(), true, true);
            const std::string_view parts[] = {{reinterpret_cast<const char*>(h.data()), hn}, z};
            return conn_->try_send_parts(parts, when);
        }
    }
    const auto hn = write_frame_header(h, op, payload.size());
    const std::string_view parts[] = {{reinterpret_cast<const char*>(h.data()), hn}, payload};
    return conn_->try_send_parts(parts, when);
}

template <class P> send_result session<P>::send_control(opcode op, std::string_view payload) {
    std::array<std::uint8_t, max_server_frame_header_size> h;
    payload = payload.substr(0, std::min(payload.size(), max_control_payload));
    const auto hn = write_frame_header(h, op, payload.size());
    const std::string_view parts[] = {{reinterpret_cast<const char*>(h.data()), hn}, payload};
    return conn_->try_send_parts(parts);
}

template <class P> send_result session<P>::ping(std::string_view payload) {
    if (!on_executor()) {
        asio::post(conn_->get_executor(), [self = this->shared_from_this(),
                                           data = std::string(payload)] { self->ping(data); });
        return send_result::queued;
    }
    if (close_sent_ || done_)
        return send_result::closed;
    return send_control(opcode::ping, payload);
}

template <class P> send_result session<P>::close(close_code code, std::string_view reason) {
    if (!on_executor()) {
        asio::post(conn_->get_executor(), [self = this->shared_from_this(), code,
                                           r = std::string(reason)] { self->close(code, r); });
        return send_result::queued;
    }
    if (close_sent_ || done_)
        return send_result::closed;
    std::array<std::uint8_t, max_control_payload> buf;
    const auto n = write_close_payload(buf, code, reason);
    close_sent_ = true;
    auto r = send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
    arm_close_deadline();
    return r;
}

// Keep-alive: the core's sweep calls the probe, on the executor, when nothing arrived for
// ping_interval; any input (the Pong) answers it. No timer per connection.
template <class P> void session<P>::arm_keepalive() noexcept {
    if (opts_.ping_interval.count() > 0)
        conn_->set_keepalive(&session::keepalive_probe, this);
}

template <class P> bool session<P>::keepalive_probe(void* p) {
    auto& s = *static_cast<session*>(p);
    if (s.close_sent_ || s.done_)
        return false;
    const auto r = s.send_control(opcode::ping, {});
    return r == send_result::queued || r == send_result::backpressure;
}

// The core's sweeper enforces the wait for the peer's Close: a phase deadline costs no timer.
template <class P> void session<P>::arm_close_deadline() noexcept {
    const auto t = opts_.close_timeout.count();
    if (t <= 0)
        return;
    auto& c = *conn_;
    c.phase_kind.store(pier::detail::connection_base::phase::none, std::memory_order_relaxed);
    c.phase_deadline_ms.store(pier::detail::coarse_now_ms() + t, std::memory_order_relaxed);
}

// --- receiving ----------------------------------------------------------------------------------

template <class P>
template <class Handler>
void session<P>::report_close(Handler& h, close_code code, std::string_view why) {
    if (close_reported_)
        return;
    close_reported_ = true;
    if constexpr (detail::has_ws_on_close<Handler, session>) {
        static_assert(
            requires(Handler & hh, session & s) { hh.on_close(s, code, why); },
            "pier: the WebSocket handler's on_close must be callable as "
            "void on_close(session&, pier::ws::close_code, std::string_view)");
        h.on_close(*this, code, why);
    }
}

// Fails the connection (RFC 6455 §7.1.7): Close with `code`, then the TCP close. The peer's
// Close is not waited for: after a protocol error nothing it sends is trusted.
template <class P> template <class Handler> void session<P>::fail(Handler& h, close_code code) {
    if (!close_sent_) {
        std::array<std::uint8_t, max_control_payload> buf;
        const auto n = write_close_payload(buf, code);
        close_sent_ = true;
        send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
    }
    done_ = true;
    std::string().swap(msg_);
    report_close(h, code, {});
    conn_->close();
}

template <class P>
template <class Handler>
std::size_t session<P>::feed(Handler& h, std::span<char> in) {
    std::size_t used = 0;
    while (!done_) {
        if (!in_frame_) {
            const std::string_view rest(in.data() + used, in.size() - used);
            const auto r = parser_.parse(rest, hdr_);
            if (r.st == frame_result::incomplete)
                break;
            if (r.st == frame_result::error) {
                fail(h, r.err);
                break;
            }
            used += r.header_size;
            remaining_ = hdr_.payload_size;
            mask_off_ = 0;
            in_frame_ = true;
            if (is_control(hdr_.op)) {
                ctrl_.clear();
            } else if (hdr_.op != opcode::continuation) {
                utf8_.reset();
                // Fast path: a whole unfragmented, uncompressed message is in the buffer.
                if (hdr_.fin && !hdr_.rsv1 && in.size() - used >= remaining_) {
                    auto piece = std::span<std::uint8_t>(
                        reinterpret_cast<std::uint8_t*>(in.data() + used), remaining_);
                    apply_mask(piece, hdr_.key);
                    used += remaining_;
                    remaining_ = 0;
                    in_frame_ = false;
                    const bool text = hdr_.op == opcode::text;
                    if (text && !(utf8_.write(piece) && utf8_.complete())) {
                        fail(h, close_code::invalid_payload);
                        break;
                    }
                    if (close_sent_)
                        continue; // closing: messages are no longer delivered
                    h.on_message(
                        *this,
                        message({reinterpret_cast<const char*>(piece.data()), piece.size()}, text));
                    continue;
                }
                msg_.clear();
                assembling_ = true;
            }
        }
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - used));
        if (n > 0) {
            auto piece =
                std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(in.data() + used), n);
            mask_off_ = apply_mask(piece, hdr_.key, mask_off_);
            used += n;
            remaining_ -= n;
            if (is_control(hdr_.op))
                ctrl_.append(reinterpret_cast<const char*>(piece.data()), n);
            else if (!data_piece(h, piece))
                break;
        }
        if (remaining_ > 0)
            break;
        in_frame_ = false;
        if (is_control(hdr_.op)) {
            if (!control_frame(h))
                break;
        } else if (hdr_.fin) {
            if (!end_message(h))
                break;
        }
    }
    return used;
}

template <class P>
template <class Handler>
bool session<P>::data_piece(Handler& h, std::span<std::uint8_t> piece) {
    const bool text = parser_.message_opcode() == opcode::text;
    if (parser_.message_compressed()) {
        const auto before = msg_.size();
        auto st = deflate_->decompress(piece, msg_, false);
        if (st != deflate_status::ok) {
            fail(h, close_code_for(st));
            return false;
        }
        if (text && !utf8_.write(std::string_view(msg_).substr(before))) {
            fail(h, close_code::invalid_payload);
            return false;
        }
        return true;
    }
    if (text && !utf8_.write(piece)) {
        fail(h, close_code::invalid_payload);
        return false;
    }
    msg_.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    return true;
}

template <class P> template <class Handler> bool session<P>::end_message(Handler& h) {
    const bool text = parser_.message_opcode() == opcode::text;
    if (parser_.message_compressed()) {
        const auto before = msg_.size();
        auto st = deflate_->decompress({}, msg_, true);
        if (st != deflate_status::ok) {
            fail(h, close_code_for(st));
            return false;
        }
        if (text && !utf8_.write(std::string_view(msg_).substr(before))) {
            fail(h, close_code::invalid_payload);
            return false;
        }
    }
    if (text && !utf8_.complete()) {
        fail(h, close_code::invalid_payload);
        return false;
    }
    assembling_ = false;
    if (!close_sent_)
        h.on_message(*this, message(msg_, text));
    // No buffer is kept between messages: idle connections cost none.
    std::string().swap(msg_);
    if (deflate_)
        deflate_->release_idle();
    return !done_;
}

template <class P> template <class Handler> bool session<P>::control_frame(Handler& h) {
    switch (hdr_.op) {
    case opcode::ping:
        if (!close_sent_)
            send_control(opcode::pong, ctrl_);
        return true;
    case opcode::pong:
        return true;
    case opcode::close: {
        auto c = parse_close_payload(
            {reinterpret_cast<const std::uint8_t*>(ctrl_.data()), ctrl_.size()});
        if (!c.ok) {
            fail(h, c.err);
            return false;
        }
        if (!close_sent_) {
            // Echo the status code (RFC 6455 §5.5.1); an empty Close is answered empty.
            std::array<std::uint8_t, max_control_payload> buf;
            std::size_t n = 0;
            if (c.code != static_cast<std::uint16_t>(close_code::no_status))
                n = write_close_payload(buf, static_cast<close_code>(c.code));
            close_sent_ = true;
            send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
        }
        done_ = true;
        std::string().swap(msg_);
        report_close(h, static_cast<close_code>(c.code), c.reason);
        // The server closes the TCP connection first (RFC 6455 §7.1.1).
        conn_->close();
        return false;
    }
    default:
        return true;
    }
}

template <class P>
template <class Handler>
void session<P>::ended(Handler& h, std::error_code why) {
    (void)why;
    conn_->set_keepalive(nullptr, nullptr);
    done_ = true;
    std::string().swap(msg_);
    report_close(h, close_code::abnormal, {});
}

} // namespace pier::ws
