// ws_echo: a WebSocket echo server (ws://, or wss:// with --cert/--key): every message is
// sent back as it came, text as text, binary as binary. This is the server the Autobahn
// conformance cases (1–13) are run against.
//
//   ws_echo [--cert FILE --key FILE] [--deflate on|off] [--max-message BYTES]
//           [common options: --address, --port, --threads, --accept, --sched, --buffer]
//
// Try it: python3 -m websockets ws://127.0.0.1:8080/
// GET / (a plain HTTP request on the same port) serves a test page that opens a WebSocket
// back (examples/common/ws_page.hpp); other plain requests get 426 Upgrade Required.
#include "common/cli.hpp"
#include "common/ws_page.hpp"

#include <pier/pier.hpp>

#include <algorithm>
#include <cstdio>

namespace {

struct echo {
    template <class Session> void on_message(Session& s, pier::ws::message m) {
        if (m.is_text())
            s.send_text(m.data());
        else
            s.send_binary(m.data());
    }
    template <class Session> bool on_http(Session& s, const pier::http::request_view& r) {
        if (r.method() != "GET" || r.path() != "/")
            return false;
        pier::http::response_head head;
        const pier::http::header fields[] = {{"Content-Type", "text/html; charset=utf-8"},
                                             {"Cache-Control", "no-store"}};
        head.headers = fields;
        head.content_length = examples::ws_test_page.size();
        head.version_minor = r.version_minor();
        head.connection = r.keep_alive() ? pier::http::connection_mode::keep_alive
                                         : pier::http::connection_mode::close;
        std::string out;
        pier::http::append_response_head(head, out);
        out += examples::ws_test_page;
        s.send_http(out);
        return true;
    }
};

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv, {"cert", "key", "deflate", "max-message"},
                               " [--cert FILE --key FILE] [--deflate on|off] [--max-message N]");
    pier::raise_fd_limit();
    pier::ws::options wo;
    wo.deflate.enabled = cli.get("deflate", "on") != "off";
    if (auto m = cli.get_int("max-message", 0); m > 0) {
        wo.limits.max_message_size = static_cast<std::uint64_t>(m);
        wo.limits.max_frame_size = static_cast<std::uint64_t>(m);
        wo.deflate.max_message_size = static_cast<std::uint64_t>(m);
        // An echo queues what it received: the write queue's hard limit must hold a message
        // this big (and the one before it, still being written).
        const auto need = 2 * static_cast<std::size_t>(m) + 4096;
        cli.options.write.max_queued = std::max(cli.options.write.max_queued, need);
    }
    const auto cert = cli.get("cert", ""), key = cli.get("key", "");
    if (cert.empty() != key.empty()) {
        std::fprintf(stderr, "%s: --cert and --key go together\n", argv[0]);
        return 2;
    }
    if (!cert.empty()) {
        pier::tls::options tls;
        tls.certificates.push_back({.cert_chain_file = cert, .key_file = key});
        return examples::with_common_policies<pier::transport::tls>(cli, [&]<class Policies>() {
            pier::ws::server<echo, Policies> srv(cli.options, tls, wo);
            return examples::serve(srv);
        });
    }
    return examples::with_common_policies(cli, [&]<class Policies>() {
        pier::ws::server<echo, Policies> srv(cli.options, wo);
        return examples::serve(srv);
    });
}
