// A client of pier::ws::pool for the integration tests: connects to /ws with an HS256 token,
// reads JSON envelopes (answering pings), and a log of what one client saw on one topic with
// the check of the sequenced backplane's promise (pool/redis_backplane.hpp): positions never
// go back, never repeat a message, and never jump without an error envelope before the jump.
#pragma once

#include <pier/pool/jwt.hpp>

#include "support.hpp"
#include "ws_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pier_test {

/// An HS256 token for `sub`, valid for `exp_in` seconds.
inline std::string pool_token(const std::string& secret, const std::string& sub,
                              std::int64_t exp_in = 3600, nlohmann::json meta = nullptr) {
    nlohmann::json c;
    c["sub"] = sub;
    c["exp"] = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() +
               exp_in;
    if (!meta.is_null())
        c["meta"] = std::move(meta);
    return pier::pool::sign_hs256(c, secret);
}

struct pool_client : ws_client {
    pool_client() = default;
    explicit pool_client(const asio::ip::tcp::endpoint& ep, int rcvbuf = 0)
        : ws_client(ep, rcvbuf) {}

    /// The opening handshake at `target`, whatever its answer.
    std::optional<http_response> upgrade(std::string_view target, std::string_view extra = {}) {
        return handshake(target, extra);
    }

    /// Upgrades at /ws with `tok` (and ?topics=); true on 101.
    bool join(const std::string& tok, std::string_view topics = {}) {
        std::string target = "/ws?token=" + tok;
        if (!topics.empty())
            target += "&topics=" + std::string(topics);
        auto r = handshake(target);
        return r && r->status_line == "HTTP/1.1 101 Switching Protocols";
    }
    /// The next envelope (pings answered), or nullopt on a deadline or a Close (`close_code`).
    std::optional<nlohmann::json> next(std::chrono::milliseconds limit = patience) {
        for (;;) {
            auto f = read_frame(limit);
            if (!f)
                return std::nullopt;
            if (f->op() == 0x9) {
                send(pier_test::wire(0x8a, f->payload));
                continue;
            }
            if (f->op() == 0x8) {
                close_code = f->code();
                close_reason = f->payload.size() > 2 ? f->payload.substr(2) : "";
                return std::nullopt;
            }
            return nlohmann::json::parse(f->payload, nullptr, false);
        }
    }
    /// The next envelope that is not a heartbeat.
    std::optional<nlohmann::json> next_msg(std::chrono::milliseconds limit = patience) {
        for (;;) {
            auto j = next(limit);
            if (!j || (*j)["type"] != "heartbeat")
                return j;
        }
    }
    bool say(const nlohmann::json& j) { return send(text_frame(j.dump())); }
    /// Joins and reads the welcome; the connection id it names (empty on failure).
    std::string welcome(const std::string& tok, std::string_view topics = {}) {
        if (!join(tok, topics))
            return {};
        auto w = next_msg();
        if (!w || (*w)["type"] != "welcome")
            return {};
        id = (*w)["data"]["connection_id"].get<std::string>();
        return id;
    }

    std::string id;
    unsigned close_code = 0;
    std::string close_reason;
};

/// What one client saw on one topic, in order (across its reconnections), and the sequenced
/// backplane's promise checked over it.
struct topic_log {
    struct item {
        std::string type; // data, subscribe (an acknowledgement or position notice), error
        std::optional<std::uint64_t> offset;
        std::string epoch;
        nlohmann::json data;
        std::string error;
    };
    std::vector<item> items;

    /// Records `env` if it is about this log's topic (data, subscribe, error).
    void add(const nlohmann::json& env) {
        item it;
        it.type = env.value("type", "");
        if (it.type != "data" && it.type != "subscribe" && it.type != "error")
            return;
        if (auto o = env.find("offset"); o != env.end() && o->is_number_unsigned())
            it.offset = o->get<std::uint64_t>();
        it.epoch = env.value("epoch", "");
        if (auto d = env.find("data"); d != env.end())
            it.data = *d;
        it.error = env.value("error", "");
        items.push_back(std::move(it));
    }
    /// "" when the promise holds: within an epoch each position (a message's or a notice's)
    /// is the previous one or the next (a message: only the next), and a jump forward or to
    /// another epoch comes only after an error envelope. Otherwise what broke it.
    std::string check() const {
        std::optional<std::pair<std::string, std::uint64_t>> last;
        bool excused = false;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto& it = items[i];
            if (it.type == "error") {
                excused = true;
                continue;
            }
            if (!it.offset)
                continue; // unnumbered (Redis was down), or an acknowledgement without one
            const auto at = " at item " + std::to_string(i) + " (" + it.type + " " + it.epoch +
                            ":" + std::to_string(*it.offset) + ")";
            if (last && last->first == it.epoch) {
                const bool data = it.type == "data";
                if (*it.offset < last->second || (data && *it.offset == last->second))
                    return "went back or repeated" + at;
                if (*it.offset > last->second + 1 && !excused)
                    return "jumped without an error" + at;
            } else if (last && !excused) {
                return "changed epoch without an error" + at;
            }
            last = {it.epoch, *it.offset};
            excused = false;
        }
        return {};
    }
    /// The last position seen (for `since`).
    std::optional<std::pair<std::string, std::uint64_t>> last() const {
        for (auto it = items.rbegin(); it != items.rend(); ++it)
            if (it->offset)
                return std::pair{it->epoch, *it->offset};
        return std::nullopt;
    }
    std::size_t errors() const {
        std::size_t n = 0;
        for (const auto& it : items)
            n += it.type == "error";
        return n;
    }
};

} // namespace pier_test
