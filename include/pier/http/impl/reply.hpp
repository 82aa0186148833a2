// pier/http/impl/reply.hpp: out-of-line definitions for <pier/http/reply.hpp>.
#pragma once

#include <pier/http/reply.hpp>

#include <vector>

namespace pier::http {

inline format_error append_reply(std::string& out, unsigned status, std::string_view content_type,
                                 std::string_view body, const reply_options& o) {
    // The fixed fields and the caller's, in one list: a small vector only when there are
    // extra ones.
    std::array<header, 3> fixed = {header{"Content-Type", content_type},
                                   header{"Cache-Control", "no-store"},
                                   header{"X-Content-Type-Options", "nosniff"}};
    std::vector<header> all;
    std::span<const header> fields = fixed;
    if (!o.headers.empty()) {
        all.assign(fixed.begin(), fixed.end());
        all.insert(all.end(), o.headers.begin(), o.headers.end());
        fields = all;
    }
    response_head h;
    h.status = status;
    h.version_minor = o.version_minor;
    h.headers = fields;
    h.connection = o.connection;
    if (status >= 200 && status != 204 && status != 304)
        h.content_length = body.size();
    if (const format_error e = append_response_head(h, out); e != format_error::none)
        return e;
    if (!o.head && h.content_length)
        out.append(body);
    return format_error::none;
}

inline std::string json_error_body(std::string_view error, std::string_view detail) {
    std::string b = "{\"error\":";
    pier::detail::append_json_string(b, error, 128);
    b += ",\"detail\":";
    pier::detail::append_json_string(b, detail, 1024);
    b += '}';
    return b;
}

inline format_error append_unauthorized(std::string& out, std::string_view why,
                                        const reply_options& o, std::string_view realm) {
    // realm is a quoted-string (RFC 9110 §11.2): refuse the characters that would end it.
    if (realm.find_first_of("\"\\") != std::string_view::npos)
        return format_error::invalid_argument;
    std::string challenge = "Bearer realm=\"";
    challenge += realm;
    challenge += '"';
    std::vector<header> fields(o.headers.begin(), o.headers.end());
    fields.push_back({"WWW-Authenticate", challenge});
    reply_options with = o;
    with.headers = fields;
    return append_json_error(out, 401, "unauthorized", why, with);
}

template <class T>
format_error append_route_failure(std::string& out, const route_match<T>& m,
                                  const reply_options& o) {
    switch (m.status) {
    case route_status::found:
        return format_error::invalid_argument;
    case route_status::not_found:
        return append_json_error(out, 404, "not_found", "no such endpoint", o);
    case route_status::method_not_allowed: {
        std::vector<header> fields(o.headers.begin(), o.headers.end());
        fields.push_back({"Allow", m.allow});
        reply_options with = o;
        with.headers = fields;
        return append_json_error(out, 405, "method_not_allowed", "this endpoint allows " + m.allow,
                                 with);
    }
    case route_status::bad_request:
        return append_json_error(out, 400, m.error, "the request path cannot be read", o);
    }
    return format_error::invalid_argument;
}

} // namespace pier::http
