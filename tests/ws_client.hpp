// The WebSocket test client of the integration tests: the loopback client (loopback.hpp) plus
// a hand-written HTTP upgrade and frame codec (masked frames out, server frames in),
// deliberately not pier's frame code, so that a bug cannot hide on both ends.
#pragma once

#include "loopback.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pier_test {

inline bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

/// An HTTP response as received: the head and a Content-Length body.
struct http_response {
    std::string status_line, head, body;
    /// The first field named `name`, or "<absent>".
    std::string header(std::string_view name) const {
        for (std::size_t at = head.find("\r\n"); at != std::string::npos;) {
            const auto end = head.find("\r\n", at + 2);
            if (end == std::string::npos)
                break;
            const std::string_view line(head.data() + at + 2, end - at - 2);
            const auto colon = line.find(':');
            if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
                auto v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ')
                    v.remove_prefix(1);
                return std::string(v);
            }
            at = end;
        }
        return "<absent>";
    }
};

/// A server frame as received. Server frames must be unmasked (RFC 6455 §5.1).
struct frame {
    std::uint8_t b0 = 0; // FIN, RSV, opcode
    bool masked = false;
    std::string payload;
    int op() const { return b0 & 0x0f; }
    bool fin() const { return (b0 & 0x80) != 0; }
    /// A Close frame's status code (0 when it has none).
    unsigned code() const {
        return payload.size() < 2 ? 0
                                  : (static_cast<unsigned char>(payload[0]) << 8 |
                                     static_cast<unsigned char>(payload[1]));
    }
};

/// A client frame: `b0` is FIN|RSV|opcode, the payload masked (unless `masked` is false).
inline std::string wire(std::uint8_t b0, std::string_view payload, bool masked = true) {
    std::string out(1, static_cast<char>(b0));
    const std::uint8_t m = masked ? 0x80 : 0;
    const auto n = payload.size();
    if (n < 126) {
        out += static_cast<char>(m | n);
    } else if (n < 65536) {
        out += static_cast<char>(m | 126);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xff);
    } else {
        out += static_cast<char>(m | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
    }
    const char key[4] = {'\x37', '\xfa', '\x21', '\x3d'};
    if (masked)
        out.append(key, 4);
    for (std::size_t i = 0; i < n; ++i)
        out += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
    return out;
}
inline std::string text_frame(std::string_view s) {
    return wire(0x81, s);
}
inline std::string binary_frame(std::string_view s) {
    return wire(0x82, s);
}
inline std::string close_frame(unsigned code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xff);
    p += reason;
    return wire(0x88, p);
}

/// The RFC 6455 §1.3 example key and its Sec-WebSocket-Accept.
inline constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An upgrade request; `extra` is more header lines, each ending in CRLF.
inline std::string upgrade_request(std::string_view target = "/", std::string_view extra = {}) {
    std::string r = "GET ";
    r += target;
    r += " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: ";
    r += sample_key;
    r += "\r\nSec-WebSocket-Version: 13\r\n";
    r += extra;
    r += "\r\n";
    return r;
}

/// A WebSocket (or plain HTTP) client over the loopback client; received bytes not yet parsed
/// stay in `in_`, where tests may look at them.
class ws_client : public client {
public:
    using client::client;

    /// Waits up to `limit` for bytes (appended to `in_`) or the end.
    io read_more(milliseconds limit = patience) {
        return read_some(in_, 65536, steady::now() + limit);
    }
    /// Reads (keeping what arrives) until the server ends the stream, or the deadline.
    io read_to_end(milliseconds limit = patience) { return read_to_eof(in_, limit); }
    /// The server ended the connection: EOF, or RST, within `limit`.
    bool ended(milliseconds limit = patience) {
        const auto st = read_to_end(limit);
        return st == io::eof || st == io::reset;
    }

    /// One HTTP response (head and Content-Length body), or nullopt on a deadline/EOF.
    std::optional<http_response> read_response(milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        std::size_t head_end;
        while ((head_end = in_.find("\r\n\r\n")) == std::string::npos)
            if (!more(until))
                return std::nullopt;
        http_response r;
        r.head = in_.substr(0, head_end + 2);
        r.status_line = r.head.substr(0, r.head.find("\r\n"));
        const auto cl = r.header("content-length");
        const std::size_t body = cl == "<absent>" ? 0 : std::stoul(cl);
        while (in_.size() < head_end + 4 + body)
            if (!more(until))
                return std::nullopt;
        r.body = in_.substr(head_end + 4, body);
        in_.erase(0, head_end + 4 + body);
        return r;
    }
    /// One server frame, or nullopt on a deadline/EOF.
    std::optional<frame> read_frame(milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        for (;;) {
            if (in_.size() >= 2) {
                frame f;
                f.b0 = static_cast<std::uint8_t>(in_[0]);
                f.masked = (in_[1] & 0x80) != 0;
                std::uint64_t n = in_[1] & 0x7f;
                std::size_t at = 2;
                const std::size_t ext = n == 126 ? 2 : n == 127 ? 8 : 0;
                if (in_.size() >= at + ext) {
                    if (ext > 0) {
                        n = 0;
                        for (std::size_t i = 0; i < ext; ++i)
                            n = n << 8 | static_cast<unsigned char>(in_[at + i]);
                        at += ext;
                    }
                    if (f.masked)
                        at += 4; // (a protocol violation the tests check for)
                    if (in_.size() >= at + n) {
                        f.payload = in_.substr(at, n);
                        in_.erase(0, at + n);
                        return f;
                    }
                }
            }
            if (!more(until))
                return std::nullopt;
        }
    }
    /// The next Close frame, skipping data frames; nullopt if none arrives.
    std::optional<frame> read_close(milliseconds limit = patience) {
        const auto until = steady::now() + limit;
        for (;;) {
            auto f = read_frame(std::chrono::duration_cast<milliseconds>(until - steady::now()));
            if (!f || f->op() == 0x8)
                return f;
        }
    }

    /// Sends the upgrade request and reads the response head.
    std::optional<http_response> handshake(std::string_view target = "/",
                                           std::string_view extra = {}) {
        if (!send(upgrade_request(target, extra)))
            return std::nullopt;
        return read_response();
    }
    /// handshake() that must succeed.
    bool open(std::string_view target = "/", std::string_view extra = {}) {
        auto r = handshake(target, extra);
        return r && r->status_line == "HTTP/1.1 101 Switching Protocols" &&
               r->header("sec-websocket-accept") == sample_accept;
    }
    /// Sends one masked frame with `opcode` (FIN set).
    bool send_frame(unsigned opcode, std::string_view payload) {
        return send(wire(static_cast<std::uint8_t>(0x80 | opcode), payload));
    }
    /// Sends a text message and returns the next message's payload ("<none>" if none).
    std::string round_trip(std::string_view text) {
        if (!send(text_frame(text)))
            return "<send failed>";
        auto f = read_frame();
        return f ? f->payload : "<none>";
    }

    std::string in_; // received and not yet parsed

private:
    bool more(steady::time_point until) {
        const auto left = std::chrono::duration_cast<milliseconds>(until - steady::now());
        return left > milliseconds(0) && read_more(left) == io::ok;
    }
};

} // namespace pier_test
