// examples/common/http_hello.hpp: the HTTP/1.1 logic of the "hello" examples (plain, TLS,
// blocking): answer every request with a fixed body, keep-alive as the client asks; or, for
// Go tcpserver's tests 3 and 4, with that body encrypted anew per request (aes_responses).
//
// The workload of Go tcpserver's benchmarks, so that `wrk` numbers read against theirs.
#pragma once

#include <pier/pier.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
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

/// Go tcpserver's tests 3 and 4 (its `-aes128` flag): every response body is the fixed body
/// encrypted with AES-128-CBC under a fixed key and a fresh random IV, sent as IV ||
/// ciphertext with PKCS#7 padding (16 + 1040 = 1056 bytes for a 1 kB body). The encryption is
/// OpenSSL's EVP interface, one context per thread reused across requests: the per-request
/// work is the cipher, not allocation.
class aes_responses {
public:
    /// The key tcpserver's benchmark uses.
    static constexpr std::string_view key = "0123456789ABCDEF";

    explicit aes_responses(std::size_t body_size) : plain_(body_size, 'x') {
        cipher_size_ = 16 + (plain_.size() / 16 + 1) * 16;
        for (unsigned minor = 0; minor < 2; ++minor)
            for (int keep = 0; keep < 2; ++keep) {
                pier::http::response_head h;
                h.version_minor = minor;
                h.headers = std::span<const pier::http::header>(headers_);
                h.content_length = cipher_size_;
                h.connection = keep ? pier::http::connection_mode::keep_alive
                                    : pier::http::connection_mode::close;
                pier::http::append_response_head(h, heads_[minor][keep]);
            }
    }

    /// The whole response (head and a freshly encrypted body) in `out`, which is reused; false
    /// if OpenSSL failed (the caller answers 500).
    bool build(unsigned minor, bool keep_alive, std::string& out) const {
        struct ctx_free {
            void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
        };
        thread_local std::unique_ptr<EVP_CIPHER_CTX, ctx_free> ctx(EVP_CIPHER_CTX_new());
        if (!ctx)
            return false;
        const std::string& head = heads_[minor ? 1 : 0][keep_alive ? 1 : 0];
        out.resize(head.size() + cipher_size_);
        std::copy(head.begin(), head.end(), out.begin());
        auto* iv = reinterpret_cast<unsigned char*>(out.data() + head.size());
        auto* body = iv + 16;
        int n1 = 0, n2 = 0;
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()), iv) != 1 ||
            EVP_EncryptUpdate(ctx.get(), body, &n1,
                              reinterpret_cast<const unsigned char*>(plain_.data()),
                              static_cast<int>(plain_.size())) != 1 ||
            EVP_EncryptFinal_ex(ctx.get(), body + n1, &n2) != 1)
            return false;
        return static_cast<std::size_t>(16 + n1 + n2) == cipher_size_;
    }

private:
    static constexpr std::array<pier::http::header, 2> headers_{{
        {"Server", "pier"},
        {"Content-Type", "application/octet-stream"},
    }};
    std::string plain_;
    std::size_t cipher_size_ = 0;
    std::string heads_[2][2];
};

/// Handles the requests at the front of `in`: replies to the first one and returns the bytes
/// it consumed (0: the request is not complete yet). Bodies (Content-Length) are read and
/// ignored, up to `max_body`; chunked request bodies are refused with 411-style 501.
/// `reply(bytes, last)`: send bytes; `last` is true when nothing else is buffered after it.
template <class Connection>
std::size_t handle_hello(Connection& c, std::string_view in, const hello_responses& r,
                         std::size_t max_body, const aes_responses* aes = nullptr) {
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
    if (aes) {
        thread_local std::string reply;
        if (!aes->build(req.version_minor(), keep, reply)) {
            c.try_send(hello_responses::error(500));
            c.close();
            return in.size();
        }
        c.try_send(reply, when);
    } else {
        c.try_send(r.ok(req.version_minor(), keep), when);
    }
    if (!keep)
        c.close();
    return total;
}

} // namespace examples
