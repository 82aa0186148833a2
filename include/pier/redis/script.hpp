// pier/redis/script.hpp: a Lua script run with EVALSHA. Each connection sends SCRIPT LOAD
// ahead of a script's first EVALSHA (again after every reconnect, so a restarted or failed-over
// server has it before it is called, and pipelined calls keep their order). When the server
// still does not have it (SCRIPT FLUSH on a live connection: NOSCRIPT) the call falls back to
// EVAL, which caches it again; calls made while that retry is on its way may overtake it.
//
//     static const pier::redis::script next_offset{"return redis.call('INCR', KEYS[1])"};
//     client.script(next_offset, {"offset:{room42}"}, {}, [](std::error_code ec, reply r) {…});
//
// Thread safety: a `script` is immutable; copies share one body and may be used from any
// thread.
#pragma once

#include <pier/redis/detail/callback.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/protocol.hpp>

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace pier::redis {

class script {
public:
    /// Computes the SHA-1 the server names the script by (OpenSSL's, not hand-written).
    explicit script(std::string source);

    const std::string& source() const noexcept { return d_->source; }
    /// Lowercase hex SHA-1 of the source, as SCRIPT LOAD answers.
    const std::string& sha1() const noexcept { return d_->sha1; }

private:
    struct body {
        std::string source;
        std::string sha1;
    };
    std::shared_ptr<const body> d_;
};

inline script::script(std::string source) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(source.data(), source.size(), md, &len, EVP_sha1(), nullptr) != 1 || len != 20)
        throw std::runtime_error("pier.redis: SHA-1 unavailable");
    static constexpr char hex[] = "0123456789abcdef";
    std::string sha(40, '0');
    for (unsigned i = 0; i < 20; ++i) {
        sha[2 * i] = hex[md[i] >> 4];
        sha[2 * i + 1] = hex[md[i] & 15];
    }
    d_ = std::make_shared<const body>(body{std::move(source), std::move(sha)});
}

namespace detail {

/// `verb body numkeys keys… args…`, formatted.
inline std::error_code format_script(std::string_view verb, std::string_view body,
                                     const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args, std::string& out) {
    std::vector<std::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    const auto numkeys = std::to_string(keys.size());
    argv.push_back(verb);
    argv.push_back(body);
    argv.push_back(numkeys);
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return format_command(argv, out);
}

/// EVALSHA through `send(bytes, callback, &s)`, then EVAL through `send(bytes, callback,
/// nullptr)` on NOSCRIPT. The third argument names the script the connection must have loaded
/// before the command runs (command_link::preload).
template <class Send>
void run_script(Send send, const script& s, std::vector<std::string> keys,
                std::vector<std::string> args, callback cb, const any_executor& ex) {
    std::string bytes;
    if (auto ec = format_script("EVALSHA", s.sha1(), keys, args, bytes))
        return post_failure(ex, std::move(cb), ec);
    send(bytes,
         callback([send, s, keys = std::move(keys), args = std::move(args),
                   cb = std::move(cb)](std::error_code ec, reply r) mutable {
             if (ec == error::server_error && r.text().starts_with("NOSCRIPT")) {
                 std::string eval;
                 format_script("EVAL", s.source(), keys, args, eval);
                 return send(eval, std::move(cb), nullptr);
             }
             cb(ec, std::move(r));
         }),
         &s);
}

} // namespace detail
} // namespace pier::redis
