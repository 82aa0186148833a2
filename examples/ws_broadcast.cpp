// ws_broadcast: a WebSocket fan-out server. The benchmark convention, shared with ws_echo's
// clients: a text message that starts with "broadcast:" is sent to every connected client
// (the sender included), framed once and shared by all of them; any other message is echoed
// to its sender only.
//
//   ws_broadcast [--cert FILE --key FILE] [--deflate on|off]
//                [common options: --address, --port, --threads, --accept, --sched, --buffer]
//
// Fan-out cost: one frame (ws::prepare) per broadcast, then per subscriber one reference
// count and a queued write; subscribers on the sender's thread are flushed once per loop
// pass (flush::deferred), those on other threads get one post each.
#include "common/cli.hpp"

#include <pier/pier.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace {

template <class Policies> struct broadcaster {
    using session = pier::ws::session<Policies>;
    struct registry {
        std::mutex mutex;
        std::unordered_map<std::uint64_t, std::shared_ptr<session>> sessions;
    };
    std::shared_ptr<registry> reg = std::make_shared<registry>();

    void on_open(session& s) {
        std::lock_guard lock(reg->mutex);
        reg->sessions.emplace(s.id(), s.shared_from_this());
    }
    void on_close(session& s, pier::ws::close_code, std::string_view) {
        std::lock_guard lock(reg->mutex);
        reg->sessions.erase(s.id());
    }
    void on_message(session& s, pier::ws::message m) {
        if (m.is_text() && m.text().starts_with("broadcast:")) {
            const auto frame = pier::ws::prepare(pier::ws::opcode::text, m.text());
            std::lock_guard lock(reg->mutex);
            for (auto& [id, peer] : reg->sessions)
                peer->send(frame, pier::flush::deferred);
            return;
        }
        if (m.is_text())
            s.send_text(m.data());
        else
            s.send_binary(m.data());
    }
};

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv, {"cert", "key", "deflate"},
                               " [--cert FILE --key FILE] [--deflate on|off]");
    pier::raise_fd_limit();
    pier::ws::options wo;
    wo.deflate.enabled = cli.get("deflate", "on") != "off";
    const auto cert = cli.get("cert", ""), key = cli.get("key", "");
    if (cert.empty() != key.empty()) {
        std::fprintf(stderr, "%s: --cert and --key go together\n", argv[0]);
        return 2;
    }
    if (!cert.empty()) {
        pier::tls::options tls;
        tls.certificates.push_back({.cert_chain_file = cert, .key_file = key});
        return examples::with_common_policies<pier::transport::tls>(cli, [&]<class Policies>() {
            pier::ws::server<broadcaster<Policies>, Policies> srv(cli.options, tls, wo);
            return examples::serve(srv);
        });
    }
    return examples::with_common_policies(cli, [&]<class Policies>() {
        pier::ws::server<broadcaster<Policies>, Policies> srv(cli.options, wo);
        return examples::serve(srv);
    });
}
