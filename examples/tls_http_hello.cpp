// tls_http_hello: the http_hello example over TLS: an HTTP/1.1 keep-alive server answering
// every request with a fixed body (1 kB by default), ALPN "http/1.1", certificates reloaded on
// SIGHUP. For curl, and for wrk against nginx over TLS.
//
//   tls_http_hello --cert FILE --key FILE [--sni NAME=CERT:KEY]... [--alpn P1,P2]
//                  [--handshake-timeout-ms N] [--body-size N] [--address A] [--port P]
//                  [--threads N] [--buffer fixed|pooled] [--sched per-thread|workers]
//
// Try it (tools/make-cert.sh makes a self-signed certificate):
//   tools/make-cert.sh --cert /tmp/cert.pem --key /tmp/key.pem
//   tls_http_hello --cert /tmp/cert.pem --key /tmp/key.pem --port 8443 &
//   curl --cacert /tmp/cert.pem https://localhost:8443/
#include "common/cli.hpp"
#include "common/http_hello.hpp"

#include <pier/pier.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// --- the TLS command line (the same in tls_echo.cpp) -----------------------------------

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    for (std::size_t start = 0;;) {
        const auto end = s.find(sep, start);
        out.emplace_back(s.substr(start, end - start));
        if (end == std::string_view::npos)
            return out;
        start = end + 1;
    }
}

/// Takes `--sni NAME=CERT:KEY` (repeatable, which examples::parse cannot hold) out of argv,
/// then parses the rest with the shared parser plus the TLS keys.
pier::tls::options parse_tls(int argc, char** argv, examples::cli& cli) {
    std::vector<char*> rest{argv[0]};
    std::vector<std::string> sni;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--sni" && i + 1 < argc)
            sni.emplace_back(argv[++i]);
        else
            rest.push_back(argv[i]);
    }
    cli = examples::parse(static_cast<int>(rest.size()), rest.data(),
                          {"cert", "key", "alpn", "handshake-timeout-ms", "body-size"},
                          " --cert FILE --key FILE [--sni NAME=CERT:KEY]... [--alpn P1,P2]\n"
                          "          [--handshake-timeout-ms N] [--body-size N]");
    pier::tls::options tls;
    const std::string cert = cli.get("cert", ""), key = cli.get("key", "");
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr,
                     "%s: --cert and --key are required (tools/make-cert.sh makes a "
                     "self-signed pair)\n",
                     argv[0]);
        std::exit(2);
    }
    tls.certificates.push_back({.cert_chain_file = cert, .key_file = key});
    for (const auto& s : sni) {
        const auto eq = s.find('='), colon = s.rfind(':');
        if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
            std::fprintf(stderr, "%s: --sni wants NAME=CERT:KEY, got '%s'\n", argv[0], s.c_str());
            std::exit(2);
        }
        tls.certificates.push_back({.cert_chain_file = s.substr(eq + 1, colon - eq - 1),
                                    .key_file = s.substr(colon + 1),
                                    .names = {s.substr(0, eq)}});
    }
    // HTTP/1.x is all this server speaks (nginx offers the same list); a client that offers
    // only h2 is refused with no_application_protocol (RFC 7301 §3.2) instead of being
    // answered in the wrong protocol. curl --http1.0 offers only "http/1.0".
    tls.alpn = split(cli.get("alpn", "http/1.1,http/1.0"), ',');
    cli.options.timeouts.handshake =
        std::chrono::milliseconds(cli.get_int("handshake-timeout-ms", 10000));
    return tls;
}

/// SIGHUP: re-read the certificate files. Runs on event loop 0, which pauses for the few
/// milliseconds a reload takes; handshakes already under way finish with the old certificate.
template <class Server> void reload_on_sighup(Server& srv, asio::signal_set& signals) {
    signals.async_wait([&srv, &signals](std::error_code ec, int) {
        if (ec)
            return;
        const auto r = srv.transport().reload();
        if (r.ok())
            std::cout << "pier: certificates reloaded" << std::endl;
        else
            std::cout << "pier: certificate reload failed: " << r.message << std::endl;
        reload_on_sighup(srv, signals);
    });
}

// --- the handler ----------------------------------------------------------------------------

// The HTTP logic is http_hello's (examples/common/http_hello.hpp); only the transport differs.
struct tls_hello {
    const examples::hello_responses* responses;
    template <class Connection> std::size_t on_data(Connection& c, std::string_view in) {
        return examples::handle_hello(c, in, *responses, 4096);
    }
    void on_handshake_error(const asio::ip::tcp::endpoint& peer, std::error_code ec) {
        std::fprintf(stderr, "pier: TLS handshake with %s:%u failed: %s\n",
                     peer.address().to_string().c_str(), unsigned(peer.port()),
                     ec.message().c_str());
    }
};

} // namespace

int main(int argc, char** argv) {
    examples::cli cli;
    const auto tls = parse_tls(argc, argv, cli);
    pier::raise_fd_limit();
    const examples::hello_responses responses(
        static_cast<std::size_t>(cli.get_int("body-size", 1024)));
    try {
        return examples::with_common_policies<pier::transport::tls>(cli, [&]<class Policies>() {
            pier::server<tls_hello, Policies> srv(cli.options, tls, tls_hello{&responses});
            asio::signal_set hup(srv.scheduler().context(0), SIGHUP);
            reload_on_sighup(srv, hup);
            return examples::serve(srv);
        });
    } catch (const std::exception& e) { // e.g. a certificate that cannot be loaded
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
}
