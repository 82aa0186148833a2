// pier/ws/detail/adapter.hpp: the core handler that runs the WebSocket protocol (opening
// handshake, then the frame loop of ws::session) and calls the user's WebSocket handler.
//
// It is a coroutine handler: the session lives in the coroutine frame, which is the
// connection's only per-connection storage the core offers today (a data handler would need
// a per-connection slot in pier::connection; see the report of issue 4).
#pragma once

#include <pier/connection.hpp>
#include <pier/http/request.hpp>
#include <pier/http/response.hpp>
#include <pier/ws/handshake.hpp>
#include <pier/ws/options.hpp>
#include <pier/ws/session.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pier::ws::detail {

/// Writes a complete HTTP error response with a text/plain body, and closes after it.
template <class Connection>
void send_http_error(Connection& c, unsigned status, std::string_view body = {},
                     std::span<const http::header> extra = {}) {
    std::string text(body.empty() ? http::reason_phrase(status) : body);
    text += '\n';
    std::vector<http::header> fields(extra.begin(), extra.end());
    fields.push_back({"Content-Type", "text/plain; charset=utf-8"});
    http::response_head r;
    r.status = status;
    r.headers = fields;
    r.content_length = text.size();
    r.connection = http::connection_mode::close;
    std::string out;
    if (http::append_response_head(r, out) != http::format_error::none) {
        c.abort();
        return;
    }
    out += text;
    c.try_send(out);
    c.close();
}

template <class Handler, class Policies> class adapter {
public:
    using connection_type = pier::connection<Policies>;
    using session_type = session<Policies>;

    adapter() = default;
    adapter(options o, Handler h) : opts_(std::move(o)), handler_(std::move(h)) {}

    Handler& handler() noexcept { return handler_; }
    const options& ws_options() const noexcept { return opts_; }

    asio::awaitable<void> operator()(connection_type& c) {
        auto s = co_await handshake(c);
        if (!s)
            co_return;
        if constexpr (
            requires { &Handler::on_open; } ||
            requires(Handler & h, session_type & ss) { h.on_open(ss); }) {
            static_assert(
                requires(Handler & h, session_type & ss) { h.on_open(ss); },
                "pier: the WebSocket handler's on_open must be callable as "
                "void on_open(session&)");
            handler_.on_open(*s);
        }
        s->arm_keepalive();
        std::error_code ec;
        try {
            for (;;) {
                auto in = c.mutable_input();
                if (!in.empty()) {
                    const auto n = s->feed(handler_, in);
                    c.consume(n);
                    if (s->done())
                        break;
                }
                // (g++ 12 miscompiles co_await inside a loop condition: keep it a statement.)
                ec = co_await c.read();
                if (ec)
                    break;
            }
        } catch (...) {
            // A throwing on_message: on_close still runs once (the core then counts a
            // handler error and closes), so registries of sessions stay consistent.
            s->ended(handler_, pier::error::closed);
            throw;
        }
        if (ec == pier::error::shutting_down && s->is_open()) {
            s->close(close_code::going_away);
            co_await c.flush_all();
        }
        s->ended(handler_, ec);
    }

private:
    // Reads and answers the opening handshake; nullptr when the connection is to end.
    asio::awaitable<std::shared_ptr<session_type>> handshake(connection_type& c) {
        using pier::detail::connection_base;
        const auto hs = opts_.handshake_timeout.count();
        if (hs > 0) {
            c.phase_kind.store(connection_base::phase::handshake, std::memory_order_relaxed);
            c.phase_deadline_ms.store(pier::detail::coarse_now_ms() + hs,
                                      std::memory_order_relaxed);
        }
        // After a plain request answered by on_http, the next one (or the upgrade) may be in
        // the buffer already (pipelining): parse before waiting for more bytes.
        bool need_read = true;
        for (;;) {
            if (need_read) {
                auto ec = co_await c.read();
                if (ec) {
                    if (ec == pier::error::buffer_full)
                        send_http_error(c, 431);
                    co_return nullptr;
                }
            }
            need_read = true;
            http::request_head req;
            const auto r = http::parse_request(c.input(), req, opts_.http);
            if (r.st == http::parse_result::incomplete)
                continue;
            if (r.st == http::parse_result::error) {
                send_http_error(c, http::status_for(r.err), http::to_string(r.err));
                co_return nullptr;
            }
            if (!req.is_upgrade()) {
                if constexpr (
                    requires { &Handler::on_http; } ||
                    requires(Handler & h, connection_type & cc, const http::request_view& v) {
                        h.on_http(cc, v);
                    }) {
                    static_assert(
                        requires(Handler & h, connection_type & cc, const http::request_view& v) {
                            { h.on_http(cc, v) } -> std::convertible_to<bool>;
                        },
                        "pier: the WebSocket handler's on_http must be callable as "
                        "bool on_http(connection&, const pier::http::request_view&)");
                    if (req.has_body()) {
                        send_http_error(c, 413, "request bodies are not accepted here");
                        co_return nullptr;
                    }
                    const bool keep = req.keep_alive();
                    if (handler_.on_http(c, std::as_const(req))) {
                        c.consume(r.head_size);
                        if (!keep) {
                            c.close();
                            co_return nullptr;
                        }
                        if (!c.is_open()) // on_http closed it, or its reply failed
                            co_return nullptr;
                        need_read = c.input().empty();
                        continue;
                    }
                }
                const http::header up[] = {{"Upgrade", "websocket"}};
                send_http_error(c, 426, "this is a WebSocket endpoint", up);
                co_return nullptr;
            }
            if (auto e = check_upgrade(req); e != handshake_error::none) {
                std::array<char, 512> buf;
                auto f = format_handshake_error(e, buf);
                if (f.ok())
                    c.try_send(std::string_view(buf.data(), f.size));
                c.close();
                co_return nullptr;
            }
            if (!opts_.allowed_origins.empty()) {
                std::vector<std::string_view> allowed(opts_.allowed_origins.begin(),
                                                      opts_.allowed_origins.end());
                if (!origin_allowed(req, allowed, opts_.allow_missing_origin)) {
                    send_http_error(c, 403, "origin not allowed");
                    co_return nullptr;
                }
            }
            accept_result ar;
            if constexpr (
                requires { &Handler::accept; } ||
                requires(Handler & h, const upgrade_request& u) { h.accept(u); }) {
                static_assert(
                    requires(Handler & h, const upgrade_request& u) {
                        { h.accept(u) } -> std::convertible_to<accept_result>;
                    },
                    "pier: the WebSocket handler's accept must be callable as "
                    "pier::ws::accept_result accept(const pier::ws::upgrade_request&)");
                const upgrade_request u{req, req.path(), req.query(), c.remote_endpoint(),
                                        req.find("sec-websocket-protocol").value_or("")};
                ar = handler_.accept(u);
                if (ar.status != 0) {
                    send_http_error(c, ar.status, ar.body);
                    co_return nullptr;
                }
            }
            std::string proto = ar.subprotocol;
            if (proto.empty() && !opts_.subprotocols.empty()) {
                std::vector<std::string_view> supported(opts_.subprotocols.begin(),
                                                        opts_.subprotocols.end());
                if (auto p = select_subprotocol(req, supported))
                    proto = *p;
            }
            std::optional<deflate_params> dp;
            std::array<char, max_deflate_response_size> ext{};
            std::size_t ext_size = 0;
            if (opts_.deflate.enabled) {
                dp = negotiate_deflate(req, opts_.deflate);
                if (dp)
                    ext_size = format_deflate_response(*dp, ext);
            }
            std::array<char, 1024> out;
            auto f = format_accept_response(*req.find("sec-websocket-key"), out, proto,
                                            std::string_view(ext.data(), ext_size));
            if (!f.ok()) {
                send_http_error(c, 500);
                co_return nullptr;
            }
            auto s = std::make_shared<session_type>(c.shared_from_this(), opts_);
            s->set_handshake(std::string(req.path()), std::string(req.query()), std::move(proto),
                             std::move(ar.user_data), dp);
            c.consume(r.head_size);
            c.phase_kind.store(connection_base::phase::none, std::memory_order_relaxed);
            c.phase_deadline_ms.store(0, std::memory_order_relaxed);
            if (c.try_send(std::string_view(out.data(), f.size)) == send_result::closed)
                co_return nullptr;
            co_return s;
        }
    }

    options opts_{};
    Handler handler_{};
};

} // namespace pier::ws::detail
