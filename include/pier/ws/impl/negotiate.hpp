// pier/ws/impl/negotiate.hpp: out-of-line definitions for <pier/ws/negotiate.hpp>.
#pragma once

#include <pier/ws/negotiate.hpp>

#include <vector>

namespace pier::ws {

inline std::string http_error_response(unsigned status, std::string_view body,
                                       std::span<const http::header> extra) {
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
        // Only a status outside 100–999 gets here (from a handler's accept decision).
        out.clear();
        r.status = 500;
        text = "500 Internal Server Error\n";
        r.content_length = text.size();
        http::append_response_head(r, out);
    }
    return out + text;
}

inline std::optional<handshake_refusal> screen_upgrade(const http::request_view& req,
                                                       const options& opts) {
    if (auto e = check_upgrade(req); e != handshake_error::none) {
        std::array<char, 512> buf;
        auto f = format_handshake_error(e, buf);
        if (f.ok())
            return handshake_refusal{status_for(e), std::string(buf.data(), f.size)};
        return handshake_refusal{status_for(e), http_error_response(status_for(e))};
    }
    if (!opts.allowed_origins.empty()) {
        std::vector<std::string_view> allowed(opts.allowed_origins.begin(),
                                              opts.allowed_origins.end());
        if (!origin_allowed(req, allowed, opts.allow_missing_origin))
            return handshake_refusal{403, http_error_response(403, "origin not allowed")};
    }
    return std::nullopt;
}

inline std::variant<handshake_plan, handshake_refusal>
negotiate(const http::request_view& req, const options& opts, const accept_result& decision) {
    if (decision.status != 0)
        return handshake_refusal{decision.status,
                                 http_error_response(decision.status, decision.body)};
    handshake_plan plan;
    std::string_view proto = decision.subprotocol;
    if (proto.empty() && !opts.subprotocols.empty()) {
        std::vector<std::string_view> supported(opts.subprotocols.begin(), opts.subprotocols.end());
        if (auto p = select_subprotocol(req, supported))
            proto = *p;
    }
    for (std::size_t i = 0; i < opts.subprotocols.size() && i < 0xff; ++i)
        if (!proto.empty() && opts.subprotocols[i] == proto)
            plan.subprotocol_index = static_cast<std::uint8_t>(i);
    std::array<char, max_deflate_response_size> ext{};
    std::size_t ext_size = 0;
    if (opts.deflate.enabled) {
        plan.deflate = negotiate_deflate(req, opts.deflate);
        if (plan.deflate)
            ext_size = format_deflate_response(*plan.deflate, ext);
    }
    const auto key = req.find("sec-websocket-key");
    auto f = format_accept_response(key.value_or(""), plan.buffer, proto,
                                    std::string_view(ext.data(), ext_size));
    if (!f.ok())
        return handshake_refusal{500, http_error_response(500)};
    plan.size = f.size;
    return plan;
}

} // namespace pier::ws
