// ws_chat: a chat on the connection pool (pier::ws::pool). Rooms are topics; the page
// (examples/common/chat_page.hpp) is served on GET / of the same port, through the pool
// handler's on_http hook, next to the WebSocket endpoint /ws.
//
//   ws_chat [--secret S] [--token-ttl-s N] [--max-per-topic N] [--max-message-chars N]
//           [common options: --address, --port, --threads, --idle-timeout-ms]
//
// Open http://127.0.0.1:8080/ in two browser windows, pick two names, and talk.
//
// What it shows:
//   - on_http: a page and a JSON endpoint on the pool's own port (no second server);
//   - on_data: the handler takes over data envelopes: a chat message {"text": …} is checked
//     and re-published as {"user": <the token's sub>, "text": …} to the whole room, its sender
//     included, so that no client can speak under another name and every member sees one
//     order;
//   - authorize: room names are checked before any subscription exists.
//
// DEMO ONLY: GET /token?user=NAME hands a signed token for NAME to anyone who asks, so that
// the page works without a login service. A real deployment gets its tokens from its own
// authentication (the pool only verifies them); remove that endpoint. Without --secret a
// random key is made at start, so tokens from an earlier run are refused.
#include "common/chat_page.hpp"
#include "common/cli.hpp"

#include <pier/pool.hpp>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

bool valid_name(std::string_view s, bool lowercase_only) {
    if (s.empty() || s.size() > 32)
        return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                        (!lowercase_only && c >= 'A' && c <= 'Z');
        if (!ok)
            return false;
    }
    return true;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct chat {
    pier::ws::pool<chat>* pool = nullptr; // set before the pool starts
    std::string secret;
    std::chrono::seconds token_ttl{900};
    std::size_t max_message_chars = 1000;

    template <class C> bool authorize(C&, std::string_view room) { return valid_name(room, true); }

    template <class C> bool on_data(C& c, const pier::pool::inbound& in) {
        if (in.topic.empty() || !c.data().subscribed(in.topic))
            return false; // the pool's own answers: missing_topic, not_subscribed
        const std::uint64_t me[] = {c.id()};
        const auto msg = nlohmann::json::parse(in.data, nullptr, false);
        const auto* text = msg.is_object() && msg.contains("text") && msg["text"].is_string()
                               ? msg["text"].get_ptr<const std::string*>()
                               : nullptr;
        if (text == nullptr || text->empty() || text->size() > max_message_chars) {
            pool->send_to(me, {.type = pier::pool::message_type::error,
                               .topic = in.topic,
                               .error = "bad_chat_message"});
            return true;
        }
        const nlohmann::json out{{"user", c.data().user_id}, {"text", *text}};
        pool->publish(in.topic,
                      {.data = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
        return true;
    }

    template <class C> bool on_http(C& c, const pier::http::request_view& r) {
        auto opts = pier::http::reply_options::for_request(r);
        std::string out;
        if (r.method() != "GET" && r.method() != "HEAD")
            return false;
        if (r.path() == "/") {
            pier::http::append_reply(out, 200, "text/html; charset=utf-8", examples::chat_page,
                                     opts);
        } else if (r.path() == "/token") {
            const auto user = pier::http::decoded_query_param(r.query(), "user");
            if (!user || !valid_name(*user, false)) {
                pier::http::append_json_error(out, 400, "bad_user",
                                              "user: 1-32 letters, digits, _ or -", opts);
            } else {
                // DEMO ONLY (see the top of this file): a token for whoever asks.
                const auto exp = unix_now() + token_ttl.count();
                const auto token = pier::pool::sign_hs256({{"sub", *user}, {"exp", exp}}, secret);
                const nlohmann::json body{
                    {"token", token}, {"expires_in", token_ttl.count()}, {"demo", true}};
                pier::http::append_json_reply(out, 200, body.dump(), opts);
            }
        } else {
            return false;
        }
        c.send_http(out);
        return true;
    }
};

std::string random_secret() {
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return {};
    std::string hex;
    for (unsigned char b : raw) {
        static constexpr char digits[] = "0123456789abcdef";
        hex += digits[b >> 4];
        hex += digits[b & 15];
    }
    return hex;
}

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(
        argc, argv, {"secret", "token-ttl-s", "max-per-topic", "max-message-chars"},
        " [--secret S] [--token-ttl-s N] [--max-per-topic N] [--max-message-chars N]");
    pier::raise_fd_limit();
    chat app;
    app.secret = cli.get("secret", "");
    if (app.secret.empty())
        app.secret = random_secret();
    if (app.secret.size() < pier::pool::jwt_min_key_size) {
        std::fprintf(stderr, "%s: --secret must have at least %zu bytes\n", argv[0],
                     pier::pool::jwt_min_key_size);
        return 2;
    }
    app.token_ttl = std::chrono::seconds(cli.get_int("token-ttl-s", 900));
    app.max_message_chars = static_cast<std::size_t>(cli.get_int("max-message-chars", 1000));
    if (app.token_ttl.count() <= 0 || app.max_message_chars == 0) {
        std::fprintf(stderr, "%s: --token-ttl-s and --max-message-chars must be positive\n",
                     argv[0]);
        return 2;
    }
    pier::pool::pool_options po;
    po.keys.current = app.secret;
    po.limits.max_per_topic = static_cast<std::size_t>(cli.get_int("max-per-topic", 1000));
    auto so = cli.options;
    so.max_connections = 0; // the pool's own limit (pool_options) answers 503
    pier::ws::pool<chat> pool(so, po, std::move(app));
    pool.handler().pool = &pool;
    std::fprintf(stderr, "ws_chat: DEMO token endpoint GET /token?user=NAME is open to anyone\n");
    return examples::serve(pool);
}
