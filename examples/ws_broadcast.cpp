// ws_broadcast: a WebSocket fan-out server. The benchmark convention, shared with ws_echo's
// clients: a text message that starts with "broadcast:" is sent to every connected client
// (the sender included), framed once and shared by all of them; any other message is echoed
// to its sender only.
//
//   ws_broadcast [--cert FILE --key FILE] [--deflate on|off]
//                [common options: --address, --port, --threads, --accept, --sched, --buffer]
//
// Fan-out cost: one frame (ws::prepare) per broadcast; on the sender's shard, one queued
// reference per subscriber and one gather write per subscriber at the end of the pass (pier
// corks); to every other shard, one mailbox post carrying the shared frame.
#include "common/cli.hpp"

#include <pier/pier.hpp>

#include <cstdio>

namespace {

template <class Policies> struct broadcaster {
    using server_type = pier::ws::server<broadcaster, Policies>;
    server_type* srv = nullptr; // set once the server exists, before it starts

    template <class Session> void on_message(Session& s, pier::ws::message m) {
        if (m.is_text() && m.text().starts_with("broadcast:")) {
            const auto frame = pier::ws::prepare(pier::ws::opcode::text, m.text());
            for (std::size_t i = 0; i < srv->shard_count(); ++i) {
                if (i == s.shard()) {
                    srv->for_each_session(i, [&](auto& peer) { peer.send(frame); });
                    continue;
                }
                auto* server = srv;
                srv->post_mail(
                    i,
                    [server, i, frame] {
                        server->for_each_session(i, [&](auto& peer) { peer.send(frame); });
                    },
                    frame.size());
            }
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
            typename broadcaster<Policies>::server_type srv(cli.options, tls, wo);
            srv.ws_handler().srv = &srv;
            return examples::serve(srv);
        });
    }
    return examples::with_common_policies(cli, [&]<class Policies>() {
        typename broadcaster<Policies>::server_type srv(cli.options, wo);
        srv.ws_handler().srv = &srv;
        return examples::serve(srv);
    });
}
