// pier/pool/pool.hpp: pier::ws::pool<Handler, Policies>, a WebSocket connection pool embedded in
// a C++ program: every connection authenticated, registered by id, user and topic; broadcasts
// to a topic, a user or a list of connections, from any thread, encoded once; heartbeats,
// stale-connection cleanup and limits; the user's handler decides who may connect and
// subscribe and what messages mean.
//
//     struct app {
//         // optional: typed state in every connection, c.data().app
//         struct connection_data { int score = 0; };
//         // optional: who may subscribe to what
//         template <class C> bool authorize(C& c, std::string_view topic) {
//             return !topic.starts_with("admin.") || c.data().user_id == "root";
//         }
//     };
//     pier::pool::pool_options po;
//     po.keys.current = secret;                      // HS256 tokens: sub = user id
//     pier::ws::pool<app> pool({.port = 8080, .handle_signals = true}, po);
//     pool.start();
//     … from any thread:
//     pool.publish("news", pier::pool::outbound{.data = R"({"title":"hello"})"});
//     pool.wait();
//
// The protocol (pool/envelope.hpp): a client connects to ws://HOST:PORT/ws with its token (the
// `token` query parameter, `Authorization: Bearer`, or a `bearer.<token>` subprotocol) and
// optionally `topics=a,b`. It gets {"type":"welcome","data":{"connection_id","user_id",
// "topics"},"timestamp"}, then may send subscribe, unsubscribe, ping and data envelopes; data
// to a topic it subscribed to goes to every other subscriber. Bad input is answered with an
// error envelope naming the problem and counts against the connection.
//
// Handler hooks (all optional, detected by name; a wrong signature is a compile error):
//   using connection_data = T;     typed per-connection state (c.data().app)
//   pool::auth_result authenticate(const ws::upgrade_request&, std::string_view token);
//                  instead of the bundled HS256 verifier (pool_options::keys)
//   bool authorize(connection&, std::string_view topic);       every subscribe; false answers
//                  {"type":"error","topic":T,"error":"forbidden"}
//   void on_open(connection&);     after the welcome
//   bool on_data(connection&, const pool::inbound&);           a data envelope: true when the
//                  handler took it, false for the default (forward to the topic)
//   void on_close(connection&, ws::close_code, std::string_view reason);
//   bool on_http(connection&, const http::request_view&[, std::string_view body]);
//                  a plain HTTP request on the pool's port outside the admin paths (/api/admin/,
//                  /metrics, /healthz, /admin): reply with connection.send_http(bytes) and return
//                  true, or false for the default answer (426 Upgrade Required). The body is
//                  whole (Content-Length up to ws::options::max_http_body). The connection is
//                  not in the pool (no user, no topics): only send_http applies.
//
// Threads and shards: each connection lives on one shard (shard.hpp) with the shard's part of
// the registry; no lock is taken on the message path. publish/send from another thread cost
// one bounded mailbox post per shard (ws::options::mailbox_budget), carrying one frame shared
// by every recipient. Schedulers: per_thread (default) and shared_pool, and workers (hooks run
// on the loops). A slow consumer meets the backpressure policy (ws::server): with `latest`, a
// topic's queued, unwritten message is replaced by the topic's next one (its frames carry the
// topic as conflation key), so the connection gets the newest of every topic it follows.
//
// Several instances: the backplane policy (concepts.hpp: backplane_policy) joins them. The
// default, pool::local, has none. pool::redis (<pier/pool/redis_backplane.hpp>, CMake target
// pier::redis) shares topics and users through Redis or a Redis Cluster, numbers each topic's
// messages (offset, epoch) so that clients see gaps and recover them with `since`, and carries
// the cluster-wide disconnect and surveys below:
//     pier::ws::pool<app, pier::policies<pier::pool::redis>> pool(so, po, {}, wo, redis_opts);
// Limits (pool_limits) are per instance. With a backplane other than `local`, the admin
// surface shows it: /healthz adds "backplane" (its backplane_state) and says "degraded", still
// with 200, while Redis is unreachable (the instance serves its own clients meanwhile);
// /metrics adds the pier_backplane_* series (label `node`); GET /api/admin/websockets/stats
// adds "cluster" (every node's figures, gathered until redis_options::admin_deadline, and the
// nodes that did not answer); POST /api/admin/websockets/disconnect closes on every node and
// answers {"disconnected": total, "nodes": {node: n}, "missing": [...]}; GET
// /api/admin/websockets/connections keeps this instance's page and adds "cluster": the same
// filter on every node, merged newest first, {"connections": [each with its "node"], "total",
// "nodes": [that answered], "missing"}, paged with the same limit and offset over each node's
// newest 10,000 (beyond, the page is cut and says "truncated": true); GET …/connections/{id}
// asks the other nodes when this one does not have it and names the "node" that has it. Every
// cluster-wide answer says "complete": true when every known node answered; while Redis is
// unreachable the cluster cannot be asked, and it says so: this node's answer alone with
// "complete": false, "error": "backplane_unavailable" and, as "missing", the nodes heard from
// lately.
#pragma once

#include <pier/pier.hpp>
#include <pier/pool/backplane.hpp>
#include <pier/pool/codec.hpp>
#include <pier/pool/envelope.hpp>
#include <pier/pool/jwt.hpp>
#include <pier/pool/limits.hpp>
#include <pier/pool/options.hpp>
#include <pier/pool/token.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pier::pool {

/// What `authenticate` answers: a user id (and metadata for the admin API), or a refusal.
struct auth_result {
    /// 0: accepted; otherwise the HTTP status to refuse with (401 for a bad token).
    unsigned status = 0;
    /// Why (for the refusal's body and the log; never the token).
    std::string error{};
    std::string user_id{};
    /// A JSON object (or null): the connection's metadata, shown by the admin API.
    nlohmann::json meta{};
    /// Unix seconds after which the connection is closed (close_codes::token_expired); 0 for
    /// never.
    std::int64_t expires = 0;

    static auth_result refuse(unsigned status, std::string error) {
        auth_result r;
        r.status = status;
        r.error = std::move(error);
        return r;
    }
};

/// A handler that keeps nothing per connection.
struct no_connection_data {};

/// What a send reached. `delivered`: queued on a connection (`backpressure` of them past its
/// high-water mark); `dropped`: refused by a connection's slow-consumer policy or closed;
/// `shards_refused`: shards whose mailbox was full, whose connections did not get it.
struct send_report {
    std::uint64_t delivered = 0;
    std::uint64_t backpressure = 0;
    std::uint64_t dropped = 0;
    std::uint32_t shards_refused = 0;
};

/// Pool-wide figures, summed across shards (ws::pool::stats()).
struct pool_figures {
    std::uint64_t active = 0; ///< connections open now
    std::uint64_t total = 0;  ///< connections ever opened
    std::uint64_t users = 0;  ///< distinct users connected now
    std::uint64_t messages_sent = 0, messages_failed = 0, messages_received = 0;
    std::uint64_t bytes_sent = 0, bytes_received = 0;
    std::uint64_t cleanup_runs = 0, cleanup_removed = 0;
    std::uint64_t errors = 0, auth_failures = 0, subscriptions = 0;
    /// Refusals per limit (pool_limits' field names).
    std::map<std::string, std::uint64_t, std::less<>> refused;
};

/// The states a connection goes through (the admin API's `state`).
enum class connection_state_name : std::uint8_t { connecting, open, closing, closed };
constexpr std::string_view to_string(connection_state_name s) noexcept {
    switch (s) {
    case connection_state_name::connecting:
        return "connecting";
    case connection_state_name::open:
        return "open";
    case connection_state_name::closing:
        return "closing";
    case connection_state_name::closed:
        return "closed";
    }
    return "closed";
}

namespace detail {
struct topic;
/// Where a connection is in a numbered topic (sequenced backplanes): the last offset it was
/// sent (a message or a position notice), in the epoch of `epoch_gen` (the shard's topic
/// numbers its epochs, so that memberships compare integers, not strings), and whether a
/// position request is pending (live messages are held back until it is answered).
template <bool Sequenced> struct sub_position {};
template <> struct sub_position<true> {
    std::uint64_t last = 0;
    std::uint32_t epoch_gen = 0;
    bool recovering = false;
};
/// A connection's membership in one topic: the topic, and its place in the topic's list.
/// Without a sequenced backplane the position takes no room.
template <bool Sequenced = false> struct membership {
    topic* t = nullptr;
    std::uint32_t index = 0;
    [[no_unique_address]] sub_position<Sequenced> pos{};
};
} // namespace detail

/// The pool's part of every connection (the WebSocket session's session_data): the registry's
/// fields, the counters, and the handler's own `connection_data` as `app`. `Sequenced` is the
/// backplane's (positions per topic membership).
template <class AppData, bool Sequenced = false> struct connection_data {
    // What every delivery writes comes first, right after the session's own fields, so that
    // a broadcast touches as few cache lines per recipient as it can.
    std::uint64_t messages_out = 0, bytes_out = 0;
    std::uint32_t send_failures = 0; ///< in a row
    std::uint32_t errors = 0;
    std::uint64_t messages_in = 0, bytes_in = 0;
    std::string user_id;
    /// (key, JSON text of the value) pairs from the token's `meta` claim.
    std::vector<std::pair<std::string, std::string>> metadata;
    std::vector<detail::membership<Sequenced>> topics;
    std::int64_t connected_at_us = 0; ///< system clock, microseconds (orders listings)
    std::int64_t last_activity_ms = 0;
    std::int64_t expires = 0; ///< Unix seconds; 0: never
    token_bucket rate{};
    asio::ip::address remote{};
    bool counted = false; ///< holds the pool's per-user/per-IP counts (release on close)
    AppData app{};

    bool subscribed(std::string_view topic) const noexcept;
};

template <class Handler, class Policies> class pool_engine;

} // namespace pier::pool

namespace pier::ws {

/// The pool. `Policies` are pier::policies<…>: those of ws::server (accept, scheduler,
/// buffer, backpressure, transport), plus the pool's codec (default pool::json_codec) and
/// backplane (default pool::local).
template <class Handler, class Policies = default_policies> class pool {
public:
    using handler_type = Handler;
    using engine_type = pier::pool::pool_engine<Handler, Policies>;
    using server_type = ws::server<engine_type, Policies>;
    using connection = typename server_type::session_type;
    using codec_type = typename Policies::codec;
    using backplane_type = typename Policies::backplane;

    static_assert(codec_policy<codec_type>,
                  "pier: the pool's codec does not model pier::codec_policy");
    static_assert(backplane_policy<backplane_type>,
                  "pier: the pool's backplane does not model pier::backplane_policy");

    pool(server_options so, pier::pool::pool_options po, Handler h = {},
         ws::options wo = default_ws_options(), typename backplane_type::options bo = {});
    pool(server_options so, typename server_type::transport_options to, pier::pool::pool_options po,
         Handler h = {}, ws::options wo = default_ws_options(),
         typename backplane_type::options bo = {});
    ~pool();
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    void start();
    void run();
    /// Every client gets a 1001 Close ("server shutting down"); queued messages go out first;
    /// done within server_options::timeouts.shutdown.
    void stop() noexcept;
    void wait();

    asio::ip::tcp::endpoint local_endpoint() const { return server_->local_endpoint(); }
    server_type& server() noexcept { return *server_; }
    Handler& handler() noexcept;
    const pier::pool::pool_options& options() const noexcept;
    std::size_t shard_count() const noexcept { return server_->shard_count(); }

    // --- sending, from any thread -------------------------------------------------------------
    // Each encodes `env` once and frames it once; every recipient shares that frame. `done`,
    // when given, is called once with the report after every shard has delivered (on the last
    // shard), e.g. to answer an admin request.

    using done_fn = std::function<void(const pier::pool::send_report&)>;
    /// To every subscriber of `topic` (env.topic is set to it) except the `exclude`d ids.
    void publish(std::string_view topic, pier::pool::outbound env,
                 std::span<const std::uint64_t> exclude = {}, done_fn done = {});
    /// To every connection of `user_id`.
    void send_to_user(std::string_view user_id, pier::pool::outbound env,
                      std::span<const std::uint64_t> exclude = {}, done_fn done = {});
    /// To the connections with these ids.
    void send_to(std::span<const std::uint64_t> ids, pier::pool::outbound env, done_fn done = {});

    // --- surveying, from any thread ----------------------------------------------------------

    /// Closes (with `code` and `reason`) the connections `select(connection&)` picks, on every
    /// shard; `done(n)` gets how many.
    void disconnect(std::function<bool(connection&)> select, std::uint16_t code, std::string reason,
                    std::function<void(std::size_t)> done = {});
    /// Runs the stale-connection pass now on every shard; `done(removed)`.
    void cleanup(std::function<void(std::size_t)> done = {});
    /// Calls `visit(connection&)` for every connection, shard by shard (on each shard);
    /// `done()` after the last.
    void for_each_connection(std::function<void(connection&)> visit,
                             std::function<void()> done = {});

    // --- cluster-wide, from any thread -------------------------------------------------------
    // On every instance of the pool, through the backplane (this process alone with `local`).
    // `done(answer)` is called once, on the backplane's thread (with `local`, on a shard or the
    // caller's thread), with every node's answer, this node's first, when every node that
    // announced itself answered or at `deadline` (cut to redis_options::max_deadline), naming
    // the nodes that did not answer. They are what the admin API calls.

    using answer_fn = std::function<void(pier::pool::cluster_answer)>;
    /// Closes (with `code` and `reason`) every connection the selector picks, on every node;
    /// each node answers {"disconnected": n}.
    void cluster_disconnect(pier::pool::cluster_selector select, std::uint16_t code,
                            std::string reason, std::chrono::milliseconds deadline, answer_fn done);
    /// Asks every node for one `kind` of figures, each answering what `local_survey` does:
    ///   "stats"        the node's pool_figures (field names) and "backplane": its state
    ///   "topics"       {"topics": [{"topic", "subscribers"}, …]} (args: {"limit": N},
    ///                  default 1,000, at most 10,000)
    ///   "connections"  the admin API's listing: {"total": n, "connections": [{"connection_id",
    ///                  "user_id", "topics", "state", "remote_address", "connected_at",
    ///                  "last_activity", "messages_sent", "messages_received", "errors",
    ///                  "metadata"}, …] newest first} (args: the listing's query parameters,
    ///                  {"user_id", "topic", "state", "idle_over_ms", "offset", "limit", "id"};
    ///                  limit as above)
    ///   anything else  {"error": "unknown_survey"}
    void cluster_survey(std::string kind, nlohmann::json args, std::chrono::milliseconds deadline,
                        answer_fn done);
    /// The backplane's state, for /healthz and /metrics (any thread).
    pier::pool::backplane_state backplane_state() const;
    /// This node's id in the cluster ("local" without a backplane).
    std::string_view node_id() const noexcept;

    /// Pool-wide figures (summed across shards; any thread).
    using figures = pier::pool::pool_figures;
    figures stats() const;
    /// Subscribers per topic, over every shard (any thread; takes the counts' locks).
    std::vector<std::pair<std::string, std::uint64_t>> topics() const;

    /// The textual id the protocol and the admin API use: 16 lowercase hex digits.
    static std::string id_text(std::uint64_t id);
    static std::optional<std::uint64_t> parse_id(std::string_view text);

    static ws::options default_ws_options();

private:
    std::unique_ptr<server_type> server_;
};

} // namespace pier::ws

#include <pier/pool/impl/pool.hpp>
