// pier/ws/impl/handshake.hpp: out-of-line definitions for <pier/ws/handshake.hpp>.
#pragma once

#include <pier/ws/handshake.hpp>

#include <openssl/evp.h>

#include <cstring>

namespace pier::ws {

constexpr unsigned status_for(handshake_error e) noexcept {
    switch (e) {
    case handshake_error::none:
        return 101;
    case handshake_error::not_get:
        return 405;
    case handshake_error::not_upgrade:
    case handshake_error::bad_version:
        return 426;
    case handshake_error::origin_not_allowed:
        return 403;
    default:
        return 400;
    }
}

constexpr std::string_view to_string(handshake_error e) noexcept {
    switch (e) {
    case handshake_error::none:
        return "no error";
    case handshake_error::not_get:
        return "a WebSocket handshake must be a GET";
    case handshake_error::bad_http_version:
        return "a WebSocket handshake needs HTTP/1.1";
    case handshake_error::not_upgrade:
        return "this resource needs a WebSocket upgrade";
    case handshake_error::bad_version:
        return "Sec-WebSocket-Version must be 13";
    case handshake_error::missing_key:
        return "missing Sec-WebSocket-Key";
    case handshake_error::bad_key:
        return "invalid Sec-WebSocket-Key";
    case handshake_error::origin_not_allowed:
        return "origin not allowed";
    }
    return "invalid WebSocket handshake";
}

inline bool is_valid_key(std::string_view key) noexcept {
    // EVP_DecodeBlock checks the alphabet but takes '=' anywhere, hence the explicit
    // placement check: 22 data characters and two pads are exactly 16 bytes.
    if (key.size() != 24 || key.find('=') != 22 || key[23] != '=')
        return false;
    unsigned char raw[18];
    return EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

inline handshake_error check_upgrade(const http::request_view& req) noexcept {
    if (req.method() != "GET")
        return handshake_error::not_get;
    if (req.version_minor() < 1)
        return handshake_error::bad_http_version;
    if (!req.is_upgrade("websocket"))
        return handshake_error::not_upgrade;
    std::size_t versions = 0, keys = 0;
    bool version_ok = false, key_ok = false;
    for (const http::header& h : req.headers()) {
        if (http::detail::iequals(h.name, "sec-websocket-version")) {
            ++versions;
            version_ok = h.value == "13";
        } else if (http::detail::iequals(h.name, "sec-websocket-key")) {
            ++keys;
            key_ok = is_valid_key(h.value);
        }
    }
    if (versions != 1 || !version_ok)
        return handshake_error::bad_version;
    if (keys == 0)
        return handshake_error::missing_key;
    if (keys != 1 || !key_ok)
        return handshake_error::bad_key;
    return handshake_error::none;
}

inline bool make_accept_key(std::string_view client_key,
                            std::span<char, accept_key_size> out) noexcept {
    // key (24 in practice) + GUID (36); a longer key is hashed in two updates.
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    const bool ok = EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, client_key.data(), client_key.size()) == 1 &&
                    EVP_DigestUpdate(ctx, handshake_guid.data(), handshake_guid.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return false;
    unsigned char b64[accept_key_size + 1]; // EVP_EncodeBlock adds a NUL
    if (EVP_EncodeBlock(b64, md, 20) != static_cast<int>(accept_key_size))
        return false;
    std::memcpy(out.data(), b64, accept_key_size);
    return true;
}

inline std::optional<std::string_view>
select_subprotocol(const http::request_view& req,
                   std::span<const std::string_view> supported) noexcept {
    for (std::string_view want : supported) {
        for (const http::header& h : req.headers()) {
            if (!http::detail::iequals(h.name, "sec-websocket-protocol"))
                continue;
            const bool found = !http::detail::for_each_element(
                h.value, [&](std::string_view e) noexcept { return e != want; });
            if (found)
                return want;
        }
    }
    return std::nullopt;
}

inline bool origin_allowed(const http::request_view& req, std::span<const std::string_view> allowed,
                           bool allow_missing) noexcept {
    std::optional<std::string_view> origin;
    for (const http::header& h : req.headers()) {
        if (!http::detail::iequals(h.name, "origin"))
            continue;
        if (origin)
            return false;
        origin = h.value;
    }
    if (!origin)
        return allow_missing;
    for (std::string_view a : allowed)
        if (http::detail::iequals(*origin, a))
            return true;
    return false;
}

inline http::format_result format_accept_response(std::string_view client_key, std::span<char> out,
                                                  std::string_view protocol,
                                                  std::string_view extensions,
                                                  std::span<const http::header> extra) noexcept {
    if (!is_valid_key(client_key))
        return {0, http::format_error::invalid_argument};
    std::array<char, accept_key_size> accept;
    if (!make_accept_key(client_key, accept))
        return {0, http::format_error::library_failure};
    std::array<http::header, 4 + max_extra_accept_fields> fields;
    std::size_t n = 0;
    fields[n++] = {"Upgrade", "websocket"};
    fields[n++] = {"Sec-WebSocket-Accept", {accept.data(), accept.size()}};
    if (!protocol.empty())
        fields[n++] = {"Sec-WebSocket-Protocol", protocol};
    if (!extensions.empty())
        fields[n++] = {"Sec-WebSocket-Extensions", extensions};
    if (extra.size() > fields.size() - n)
        return {0, http::format_error::invalid_argument};
    for (const http::header& h : extra)
        fields[n++] = h;
    http::response_head r;
    r.status = 101;
    r.headers = {fields.data(), n};
    r.connection = http::connection_mode::upgrade;
    return http::format_response_head(r, out);
}

inline http::format_result format_handshake_error(handshake_error e, std::span<char> out) noexcept {
    std::array<http::header, 4> fields;
    std::size_t n = 0;
    fields[n++] = {"Content-Type", "text/plain; charset=utf-8"};
    if (e == handshake_error::not_get)
        fields[n++] = {"Allow", "GET"};
    if (e == handshake_error::not_upgrade || e == handshake_error::bad_version)
        fields[n++] = {"Upgrade", "websocket"};
    if (e == handshake_error::bad_version)
        fields[n++] = {"Sec-WebSocket-Version", "13"};
    const std::string_view body = to_string(e);
    http::response_head r;
    r.status = status_for(e) == 101 ? 400 : status_for(e);
    r.headers = {fields.data(), n};
    r.content_length = body.size() + 1;
    r.connection = http::connection_mode::close;
    // Measure first so that nothing is written unless head and body both fit.
    const http::format_result m = http::format_response_head(r, {});
    const std::size_t total = m.size + body.size() + 1;
    if (m.err != http::format_error::buffer_too_small)
        return m;
    if (total > out.size())
        return {total, http::format_error::buffer_too_small};
    http::format_result res = http::format_response_head(r, out);
    std::memcpy(out.data() + res.size, body.data(), body.size());
    out[res.size + body.size()] = '\n';
    res.size += body.size() + 1;
    return res;
}

} // namespace pier::ws
