// examples/common/http_hello.hpp: the HTTP/1.1 logic of the "hello" examples (plain, TLS,
// blocking): answer every request with a fixed body, keep-alive as the client asks.
//
// The workload of Go tcpserver's benchmarks, so that `wrk` numbers read against theirs.
#pragma once

#include <pier/pier.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace examples {

/// Precomputed responses: one per (HTTP version, keep-alive) pair, plus error answers.
class hello_responses {
public:
    explicit hello_responses(std::size_t body_size) {
        std::string body(body_size, 'x');
        for (unsigned minor = 0; minor < 2; ++minor)
            for (int keep = 0; keep < 2; ++keep) {
                pier::http::response_head h;
                h.status = 200;
                h.version_minor = minor;
                h.headers = std::span<const pier::http::header>(headers_);
                h.content_length = body.size();
                h.connection = keep ? pier::http::connection_mode::keep_alive
                                    : pier::http::connection_mode::close;
                std::string& out = ok_[minor][keep];
                pier::http::append_response_head(h, out);
                out += body;
            }
    }

    /// The reply for a valid request.
    std::string_view ok(unsigned minor, bool keep_alive) const noexcept {
        return ok_[minor ? 1 : 0][keep_alive ? 1 : 0];
    }

    /// An error reply (e.g. 400, 413, 431) that closes the connection.
    static std::string error(unsigned status) {
        std::string body =
            std::to_string(status) + " " + std::string(pier::http::reason_phrase(status)) + "\n";
        pier::http::response_head h;
        h.status = status;
        h.content_length = body.size();
        h.connection = pier::http::connection_mode::close;
        std::string out;
        pier::http::append_response_head(h, out);
        return out + body;
    }

private:
    static constexpr std::array<pier::http::header, 2> headers_{{
        {"Server", "pier"},
        {"Content-Type", "text/plain"},
    }};
    std::string ok_[2][2];
};

/// Handles the requests at the front of `in`: replies to the first one and returns the bytes
/// it consumed (0: the request is not complete yet). Bodies (Content-Length) are read and
/// ignored, up to `max_body`; chunked request bodies are refused with 411-style 501.
/// `reply(bytes, last)`: send bytes; `last` is true when nothing else is buffered after it.
template <class Connection>
std::size_t handle_hello(Connection& c, std::string_view in, const hello_responses& r,
                         std::size_t max_body) {
    pier::http::request_head req;
    pier::http::limits lim;
    lim.max_head_size = 8192; // below the 16 KiB read buffer, so an oversized head gets a 431
    auto res = pier::http::parse_request(in, req, lim);
    if (res.st == pier::http::parse_result::incomplete)
        return 0;
    if (res.st == pier::http::parse_result::error) {
        c.try_send(hello_responses::error(pier::http::status_for(res.err)));
        c.close();
        return in.size();
    }
    std::size_t total = res.head_size;
    if (req.chunked()) {
        c.try_send(hello_responses::error(501));
        c.close();
        return in.size();
    }
    if (auto len = req.content_length()) {
        if (*len > max_body) {
            c.try_send(hello_responses::error(413));
            c.close();
            return in.size();
        }
        total += *len;
        if (in.size() < total)
            return 0;
    }
    const bool keep = req.keep_alive();
    // More requests already buffered (pipelining): let their replies leave in one write.
    const auto when = in.size() > total ? pier::flush::deferred : pier::flush::now;
    c.try_send(r.ok(req.version_minor(), keep), when);
    if (!keep)
        c.close();
    return total;
}

} // namespace examples
