// pier/ws/impl/session.hpp: out-of-line definitions of pier::ws::session and its handle.
#pragma once

#include <pier/ws/session.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace pier::ws {

namespace detail {
inline frame_ref make_frame(opcode op, std::string_view payload, bool rsv1 = false) {
    if (is_control(op) && payload.size() > max_control_payload)
        payload = payload.substr(0, max_control_payload);
    std::array<std::uint8_t, max_server_frame_header_size> h;
    const auto hn = write_frame_header(h, op, payload.size(), true, rsv1);
    frame_ref f(frame_buf::make(hn + payload.size()));
    std::memcpy(f.get()->data(), h.data(), hn);
    if (!payload.empty())
        std::memcpy(f.get()->data() + hn, payload.data(), payload.size());
    return f;
}
} // namespace detail

inline prepared_message prepare(opcode op, std::string_view payload, bool compress,
                                const deflate_options& opts) {
    prepared_message m;
    m.frame = detail::make_frame(op, payload);
    if (compress && !is_control(op) && opts.enabled) {
        // A fresh compressor per message, as server_no_context_takeover promises the peer.
        deflate_params p;
        p.server_no_context_takeover = true;
        p.client_no_context_takeover = true;
        deflate_codec codec(p, opts);
        std::string z;
        if (codec.compress({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()},
                           z, true) == deflate_status::ok &&
            z.size() < payload.size())
            m.compressed = detail::make_frame(op, z, true);
    }
    return m;
}

// --- session_handle ---------------------------------------------------------------------------

inline send_result session_handle::send_text(std::string_view text) const {
    if (!sink_)
        return send_result::closed;
    return sink_->deliver(shard_, slot_, gen_, opcode::text, detail::make_frame(opcode::text, text),
                          {}, 0, 0);
}
inline send_result session_handle::send_binary(std::string_view data) const {
    if (!sink_)
        return send_result::closed;
    return sink_->deliver(shard_, slot_, gen_, opcode::binary,
                          detail::make_frame(opcode::binary, data), {}, 0, 0);
}
inline send_result session_handle::send(const prepared_message& m) const {
    if (!sink_ || !m.frame)
        return send_result::closed;
    return sink_->deliver(shard_, slot_, gen_, opcode::binary, m.frame, m.compressed, m.key, 0);
}
inline send_result session_handle::close(close_code code, std::string_view reason) const {
    if (!sink_)
        return send_result::closed;
    std::array<std::uint8_t, max_control_payload> buf;
    const auto n = write_close_payload(buf, code, reason);
    return sink_->deliver(
        shard_, slot_, gen_, opcode::close,
        detail::make_frame(opcode::close, {reinterpret_cast<const char*>(buf.data()), n}), {}, 0,
        static_cast<std::uint16_t>(code));
}

inline http_responder::http_responder(const session_handle& h)
    : handle_(std::make_shared<const session_handle>(h)) {}

inline bool http_responder::reply(std::string response) {
    if (!handle_ || !*handle_)
        return false;
    const auto& h = *handle_;
    detail::frame_ref f(detail::frame_buf::make(response.size()));
    if (!response.empty())
        std::memcpy(f.get()->data(), response.data(), response.size());
    const auto r =
        h.sink_->deliver(h.shard_, h.slot_, h.gen_, opcode::text, std::move(f), {}, 0, 0, true);
    handle_.reset();
    return r == send_result::queued || r == send_result::backpressure;
}

// --- session --------------------------------------------------------------------------------

template <class P, class D> std::size_t session<P, D>::shard() const noexcept {
    return env_->shard;
}

template <class P, class D> asio::ip::tcp::endpoint session<P, D>::remote_endpoint() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    asio::ip::tcp::endpoint ep;
    if (::getpeername(env_->native_handle(this), reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
        len <= ep.capacity()) {
        std::memcpy(ep.data(), &ss, len);
        ep.resize(len);
    }
    return ep;
}

template <class P, class D> std::string_view session<P, D>::subprotocol() const noexcept {
    if (subprotocol_ == 0xff || subprotocol_ >= env_->ws->subprotocols.size())
        return {};
    return env_->ws->subprotocols[subprotocol_];
}

template <class P, class D> session_handle session<P, D>::handle() const noexcept {
    return env_->handle(this);
}

template <class P, class D>
[[gnu::always_inline]] inline send_result
session<P, D>::send_data(opcode op, std::string_view payload, std::uint32_t key) {
    if constexpr (coalesces) {
        // admit's common case, inline in the caller: a message behind others of this pass,
        // uncompressed and under both limits, joins the open entry of the queue
        // (out_queue::join_frame). Nothing else in admit applies: the session is open, the
        // queue is not empty, and no limit is reached.
        if (key == 0 && out_.has_open() && !deflate_ && is_open()) {
            std::array<std::uint8_t, max_server_frame_header_size> h;
            const auto hn = write_frame_header(h, op, payload.size());
            const auto& w = env_->core->write;
            const std::size_t after = out_.cost() + detail::out_queue::cost_of(hn + payload.size());
            if (after <= w.high_water && after <= w.max_queued && out_.join_frame(h, hn, payload)) {
                if (!dirty_)
                    env_->mark_dirty(this);
                return send_result::queued;
            }
        }
    }
    return send_any(op, payload, key);
}

template <class P, class D>
send_result session<P, D>::send_any(opcode op, std::string_view payload, std::uint32_t key) {
    if (!is_open())
        return send_result::closed;
    std::array<std::uint8_t, max_server_frame_header_size> h;
    if (deflate_ && payload.size() >= env_->ws->deflate_min_size) {
        std::string z;
        auto st = deflate_->compress(
            {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, z, true);
        if (st == deflate_status::ok) {
            const auto hn = write_frame_header(h, op, z.size(), true, true);
            const std::string_view parts[] = {{reinterpret_cast<const char*>(h.data()), hn}, z};
            return enqueue(parts, nullptr, key, false);
        }
    }
    const auto hn = write_frame_header(h, op, payload.size());
    return admit(hn + payload.size(), key, false,
                 [&](bool coalesce) { out_.push_frame(h, hn, payload, key, coalesce); });
}

template <class P, class D> send_result session<P, D>::send(const prepared_message& m) {
    if (!is_open() || !m.frame)
        return send_result::closed;
    // The shared compressed frame needs a fresh compressor on the peer's side of the
    // agreement: only sessions that negotiated server_no_context_takeover may take it.
    const bool z = m.compressed && deflate_ && deflate_->params().server_no_context_takeover;
    return enqueue({}, z ? &m.compressed : &m.frame, m.key, false);
}

template <class P, class D>
send_result session<P, D>::send_control(opcode op, std::string_view payload) {
    std::array<std::uint8_t, max_server_frame_header_size> h;
    payload = payload.substr(0, std::min(payload.size(), max_control_payload));
    const auto hn = write_frame_header(h, op, payload.size());
    const std::string_view parts[] = {{reinterpret_cast<const char*>(h.data()), hn}, payload};
    return enqueue(parts, nullptr, 0, true);
}

template <class P, class D> send_result session<P, D>::ping(std::string_view payload) {
    if (!is_open())
        return send_result::closed;
    return send_control(opcode::ping, payload);
}

template <class P, class D>
send_result session<P, D>::close(close_code code, std::string_view reason) {
    if (state_ != session_state::open || close_sent_)
        return send_result::closed;
    std::array<std::uint8_t, max_control_payload> buf;
    const auto n = write_close_payload(buf, code, reason);
    close_sent_ = true;
    state_ = session_state::closing;
    const auto r = send_control(opcode::close, {reinterpret_cast<const char*>(buf.data()), n});
    const auto t = env_->ws->close_timeout.count();
    deadline_ = t > 0 ? env_->now(this) + static_cast<detail::ms32>(t) : 0;
    if (deadline_ == 0 && t > 0)
        deadline_ = 1;
    return r;
}

template <class P, class D> http_responder session<P, D>::defer_http() {
    if (state_ != session_state::handshake)
        return {};
    http_deferred_ = true;
    return http_responder(handle());
}

template <class P, class D> send_result session<P, D>::send_http(std::string_view bytes) {
    if (state_ != session_state::handshake)
        return send_result::closed;
    return enqueue(std::span<const std::string_view>(&bytes, 1), nullptr, 0, true);
}

template <class P, class D>
send_result session<P, D>::enqueue(std::span<const std::string_view> parts,
                                   const detail::frame_ref* shared, std::uint32_t key,
                                   bool control) {
    std::size_t size = shared ? shared->view().size() : 0;
    for (auto p : parts)
        size += p.size();
    return admit(size, key, control, [&](bool coalesce) {
        if (shared)
            out_.push_shared(*shared, key);
        else
            out_.push_copy(parts, key, coalesce);
    });
}

template <class P, class D>
template <class Push>
send_result session<P, D>::admit(std::size_t size, std::uint32_t key, bool control, Push&& push) {
    if (state_ == session_state::closed)
        return send_result::closed;
    constexpr auto action = P::backpressure::action;
    const auto& w = env_->core->write;
    const std::size_t need = detail::out_queue::cost_of(size);
    // What the queue costs now (read once: a message queued adds exactly `need`).
    std::size_t cost = out_.cost();
    if (!control) {
        if constexpr (action == backpressure_action::close) {
            if (cost + need > w.high_water) {
                env_->counters->slow_consumers.fetch_add(1, std::memory_order_relaxed);
                env_->fail(this, close_code::policy_violation);
                return send_result::closed;
            }
        } else if constexpr (action == backpressure_action::drop) {
            if (cost + need > w.high_water) {
                env_->counters->dropped_messages.fetch_add(1, std::memory_order_relaxed);
                return send_result::dropped;
            }
        } else if constexpr (action == backpressure_action::drop_oldest ||
                             action == backpressure_action::latest) {
            if (cost + need > w.high_water) {
                bool fits = false;
                const auto policy = action == backpressure_action::latest
                                        ? detail::overflow::latest
                                        : detail::overflow::drop_oldest;
                const auto n = out_.make_room(need, w.high_water, policy, key, fits);
                if (n > 0)
                    env_->counters->dropped_messages.fetch_add(n, std::memory_order_relaxed);
                if (!fits) {
                    env_->counters->dropped_messages.fetch_add(1, std::memory_order_relaxed);
                    return send_result::dropped;
                }
                cost = out_.cost();
            }
        }
    }
    // The hard limit, for every policy: nothing a peer does buffers more than max_queued (a
    // control frame alone may pass it by its 127 bytes).
    if (cost + need > w.max_queued && !(control && need <= 256)) {
        env_->counters->slow_consumers.fetch_add(1, std::memory_order_relaxed);
        env_->fail(this, close_code::policy_violation);
        return send_result::closed;
    }
    if (size == 0)
        return send_result::queued;
    // Into an empty queue (however it was emptied: written, or dropped by the policy or a
    // failure), the write timeout starts again: the flush this schedules stamps it.
    if (out_.empty())
        stall_since_ = 0;
    push(coalesces);
    if (!dirty_)
        env_->mark_dirty(this);
    if (cost + need > w.high_water) {
        over_high_ = true;
        return send_result::backpressure;
    }
    return send_result::queued;
}

} // namespace pier::ws
