// ws_pool: the connection pool of the specification (pier::ws::pool): clients connect to
// ws://HOST:PORT/ws with an HS256 token (?token=…, Authorization: Bearer, or a bearer.<token>
// subprotocol) and optionally ?topics=a,b; they get a welcome, then subscribe, unsubscribe,
// ping, and send data to a topic's other subscribers.
//
//   ws_pool --secret S [--admin-token T]
//           [--max-connections N] [--max-per-topic N] [--max-per-user N] [--max-per-ip N]
//           [--connect-rate-per-ip N] [--message-rate N]
//           [--heartbeat-ms N] [--connection-timeout-ms N] [--cleanup-interval-ms N]
//           [--cert FILE --key FILE]
//           [--redis URL [--node-id ID] [--history-size N]]
//           [common options: --address, --port, --threads, --idle-timeout-ms]
//
// For every limit, 0 turns it off (limits are per instance). Tokens: HS256 with `sub` (the
// user id), `exp`, and an optional `meta` object, signed with --secret (at least 32 bytes).
//
// Several instances behind a load balancer share topics and users through Redis (the
// pier::pool::redis backplane): --redis redis://host:port[/db] for one server,
// --redis redis-cluster://host:port,host:port,… for a Redis Cluster. --node-id names this
// instance in cluster-wide answers (default: random); --history-size is how many messages per
// topic are kept for clients that reconnect with `since` (default 1000). Without --redis the
// instance is on its own (pier::pool::local).
//
// On the same port: the admin API under /api/admin/websockets/ and /metrics (both need
// `Authorization: Bearer <admin token>`), /healthz, and the dashboard at /admin. Lifecycle
// events are logged to stderr as JSON lines.
#include "common/cli.hpp"

#include <pier/pool.hpp>
#if PIER_EXAMPLES_HAVE_REDIS
#include <pier/pool/redis_backplane.hpp>
#endif

#include <cstdio>
#include <string>

namespace {

struct app {}; // the defaults: JWT authentication, every topic open to every user

/// Serves with the backplane `Backplane` (its options `bo`), over TLS when --cert is given.
template <class Backplane>
int run(const examples::cli& cli, const pier::pool::pool_options& po,
        typename Backplane::options bo) {
    auto so = cli.options;
    so.max_connections = 0; // the TCP-level limit stays the descriptor limit; see --max-connections
    const auto cert = cli.get("cert", ""), key = cli.get("key", "");
    try {
        if (!cert.empty()) {
            pier::tls::options tls;
            tls.certificates.push_back({.cert_chain_file = cert, .key_file = key});
            using pool_type = pier::ws::pool<app, pier::policies<pier::transport::tls, Backplane>>;
            pool_type pool(so, tls, po, {}, pool_type::default_ws_options(), std::move(bo));
            return examples::serve(pool);
        }
        using pool_type = pier::ws::pool<app, pier::policies<Backplane>>;
        pool_type pool(so, po, {}, pool_type::default_ws_options(), std::move(bo));
        return examples::serve(pool);
    } catch (const std::exception& e) { // a bad --redis URL or --node-id
        std::fprintf(stderr, "ws_pool: %s\n", e.what());
        return 2;
    }
}

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(
        argc, argv,
        {"secret", "admin-token", "max-per-topic", "max-per-user", "max-per-ip",
         "connect-rate-per-ip", "message-rate", "heartbeat-ms", "connection-timeout-ms",
         "cleanup-interval-ms", "cert", "key", "redis", "node-id", "history-size"},
        " --secret S [--admin-token T] [--max-per-topic N] [--max-per-user N]\n"
        "          [--max-per-ip N] [--connect-rate-per-ip N] [--message-rate N]\n"
        "          [--heartbeat-ms N] [--connection-timeout-ms N] [--cleanup-interval-ms N]\n"
        "          [--cert FILE --key FILE] [--redis URL [--node-id ID] [--history-size N]]");
    pier::raise_fd_limit();
    pier::pool::pool_options po;
    po.keys.current = cli.get("secret", "");
    po.admin_token = cli.get("admin-token", "");
    if (po.keys.current.size() < pier::pool::jwt_min_key_size) {
        std::fprintf(stderr, "%s: --secret is required, at least %zu bytes\n", argv[0],
                     pier::pool::jwt_min_key_size);
        return 2;
    }
    if (cli.get("cert", "").empty() != cli.get("key", "").empty()) {
        std::fprintf(stderr, "%s: --cert and --key go together\n", argv[0]);
        return 2;
    }
    auto& l = po.limits;
    // --max-connections is the pool's limit here (answered with HTTP 503), not the TCP one;
    // given as 0, it is off.
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string_view(argv[i]) == "--max-connections")
            l.max_connections = cli.options.max_connections;
    l.max_per_topic = static_cast<std::size_t>(cli.get_int("max-per-topic", 1000));
    l.max_per_user = static_cast<std::size_t>(cli.get_int("max-per-user", 0));
    l.max_per_ip = static_cast<std::size_t>(cli.get_int("max-per-ip", 0));
    l.connect_rate_per_ip = static_cast<std::uint32_t>(cli.get_int("connect-rate-per-ip", 0));
    l.message_rate = static_cast<std::uint32_t>(cli.get_int("message-rate", 0));
    po.heartbeat_interval = std::chrono::milliseconds(cli.get_int("heartbeat-ms", 30000));
    po.connection_timeout = std::chrono::milliseconds(cli.get_int("connection-timeout-ms", 300000));
    po.cleanup_interval = std::chrono::milliseconds(cli.get_int("cleanup-interval-ms", 60000));
    const auto redis_url = cli.get("redis", "");
    if (redis_url.empty())
        return run<pier::pool::local>(cli, po, {});
#if PIER_EXAMPLES_HAVE_REDIS
    pier::pool::redis_options ro;
    ro.url = redis_url;
    ro.node_id = cli.get("node-id", "");
    ro.history_size = static_cast<std::size_t>(cli.get_int("history-size", 1000));
    return run<pier::pool::redis>(cli, po, std::move(ro));
#else
    std::fprintf(stderr, "%s: built without hiredis: --redis is not available\n", argv[0]);
    return 2;
#endif
}
