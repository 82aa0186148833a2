// pier/pool/impl/pool.hpp: the pool's engine (the WebSocket handler behind ws::pool) and the
// out-of-line definitions of ws::pool.
#pragma once

#include <pier/detail/hooks.hpp>
#include <pier/pool/pool.hpp>

#include <pier/http/auth.hpp>
#include <pier/http/reply.hpp>
#include <pier/http/router.hpp>
#include <pier/log.hpp>
#include <pier/metrics/pool.hpp>
#include <pier/metrics/registry.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>
#include <type_traits>
#include <unordered_set>

namespace pier::pool {

namespace detail {

/// One topic on one shard: its local subscribers. Each subscriber's membership records its
/// place here, so that leaving is O(1) (swap with the last).
struct topic {
    std::string name;
    /// (session, index of this topic in the session's memberships)
    std::vector<std::pair<void*, std::uint32_t>> subs;
    /// Sequenced backplanes: the epoch of the last numbered message seen on this shard, and
    /// its number here (memberships keep the number).
    std::string epoch;
    std::uint32_t epoch_gen = 0;
    /// Deliveries looping over `subs` now (nested when a send's on_close publishes). A send
    /// can close its connection, whose on_close leaves the topic; a pinned topic that loses
    /// its last subscriber stays allocated (on the spare list, never reused while pinned),
    /// so that the loop can see `subs` empty and stop.
    std::uint32_t pins = 0;
};

/// Pins a topic for the scope of a delivery loop (topic::pins).
struct topic_pin {
    topic& t;
    explicit topic_pin(topic& x) noexcept : t(x) { ++t.pins; }
    ~topic_pin() { --t.pins; }
    topic_pin(const topic_pin&) = delete;
    topic_pin& operator=(const topic_pin&) = delete;
};

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

/// A count per key, shared by the shards (per-topic subscriber counts, per-user connection
/// counts): taken only when a connection opens, closes, subscribes or leaves, never on the
/// message path. Striped locks, so that two shards rarely wait for each other.
class shared_counts {
public:
    /// Adds one to `key` unless it is at `limit` (0: none); returns whether it did, and in
    /// `first` whether the key went from 0 to 1.
    bool acquire(std::string_view key, std::size_t limit, bool& first) {
        auto& st = stripe(key);
        std::lock_guard lock(st.m);
        auto it = st.counts.find(key);
        const std::size_t now = it == st.counts.end() ? 0 : it->second;
        if (limit != 0 && now >= limit)
            return false;
        first = now == 0;
        if (it == st.counts.end())
            st.counts.emplace(std::string(key), 1);
        else
            ++it->second;
        return true;
    }
    /// Takes one from `key`; true when it reached 0 (and is forgotten).
    bool release(std::string_view key) {
        auto& st = stripe(key);
        std::lock_guard lock(st.m);
        auto it = st.counts.find(key);
        if (it == st.counts.end())
            return false;
        if (--it->second > 0)
            return false;
        st.counts.erase(it);
        return true;
    }
    /// The count of `key` (0 when absent).
    std::size_t count(std::string_view key) const {
        auto& st = stripe(key);
        std::lock_guard lock(st.m);
        auto it = st.counts.find(key);
        return it == st.counts.end() ? 0 : it->second;
    }
    std::size_t keys() const {
        std::size_t n = 0;
        for (auto& st : stripes_) {
            std::lock_guard lock(st.m);
            n += st.counts.size();
        }
        return n;
    }
    template <class F> void for_each(F&& f) const {
        for (auto& st : stripes_) {
            std::lock_guard lock(st.m);
            for (auto& [k, v] : st.counts)
                f(std::string_view(k), v);
        }
    }

private:
    struct alignas(64) part {
        mutable std::mutex m;
        std::unordered_map<std::string, std::size_t, string_hash, std::equal_to<>> counts;
    };
    part& stripe(std::string_view key) {
        return stripes_[std::hash<std::string_view>{}(key) % stripes_.size()];
    }
    const part& stripe(std::string_view key) const {
        return stripes_[std::hash<std::string_view>{}(key) % stripes_.size()];
    }
    std::array<part, 16> stripes_;
};

/// The limits, by the names the stats and the admin API use.
enum class limit : std::uint8_t {
    connections,
    per_user,
    per_ip,
    connect_rate,
    per_topic,
    topics_per_connection,
    message_rate,
    message_size,
    errors,
    count_
};
inline constexpr std::array<std::string_view, static_cast<std::size_t>(limit::count_)> limit_names =
    {"max_connections",     "max_per_user",     "max_per_ip",
     "connect_rate_per_ip", "max_per_topic",    "max_topics_per_connection",
     "message_rate",        "max_message_size", "max_errors"};

/// One shard's counters: written by that shard, read by anyone (relaxed atomics).
struct shard_counters {
    std::atomic<std::uint64_t> total{0}, messages_sent{0}, messages_failed{0}, messages_received{0},
        bytes_sent{0}, bytes_received{0}, cleanup_runs{0}, cleanup_removed{0}, errors{0},
        auth_failures{0}, subscriptions{0};
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(limit::count_)> refused{};
    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
};

/// The admin surface's routes.
enum class admin_route : std::uint8_t {
    healthz,
    metrics,
    dashboard,
    stats,
    connections,
    connection,
    disconnect,
    cleanup,
    broadcast,
};

inline http::router<admin_route> make_admin_routes() {
    http::router<admin_route> r;
    const auto add = [&](std::string_view m, std::string_view p, admin_route t) {
        [[maybe_unused]] const auto e = r.add(m, p, t);
    };
    add("GET", "/healthz", admin_route::healthz);
    add("GET", "/metrics", admin_route::metrics);
    add("GET", "/admin", admin_route::dashboard);
    add("GET", "/api/admin/websockets/stats", admin_route::stats);
    add("GET", "/api/admin/websockets/connections", admin_route::connections);
    add("GET", "/api/admin/websockets/connections/{id}", admin_route::connection);
    add("POST", "/api/admin/websockets/disconnect", admin_route::disconnect);
    add("POST", "/api/admin/websockets/cleanup", admin_route::cleanup);
    add("POST", "/api/admin/websockets/broadcast", admin_route::broadcast);
    return r;
}

struct body_error;

inline std::int64_t system_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace detail

template <class AppData, bool Sequenced>
bool connection_data<AppData, Sequenced>::subscribed(std::string_view name) const noexcept {
    for (const auto& m : topics)
        if (m.t->name == name)
            return true;
    return false;
}

template <class H> struct app_data_of { using type = no_connection_data; };
template <class H>
requires requires {
    typename H::connection_data;
}
struct app_data_of<H> {
    using type = typename H::connection_data;
};

/// The WebSocket handler behind ws::pool: registry, protocol, limits, sends.
template <class Handler, class Policies> class pool_engine {
public:
    using app_data = typename app_data_of<Handler>::type;
    using node_type = typename Policies::backplane::template node<pool_engine>;
    /// Topic messages carry positions (offset, epoch): subscribes wait for theirs.
    static constexpr bool sequenced = node_type::sequenced;
    using session_data = connection_data<app_data, sequenced>;
    using session_type = ws::session<Policies, session_data>;
    using codec_type = typename Policies::codec;
    using server_type = ws::server<pool_engine, Policies>;

    pool_engine(pool_options o, Handler h, typename Policies::backplane::options bo)
        : opts_(std::move(o)), handler_(std::move(h)), codec_(opts_.codec), log_(opts_.log),
          metrics_(metrics_reg_), routes_(detail::make_admin_routes()), admin_(opts_.admin_token),
          ips_(ip_limits{.max_connections = static_cast<std::uint32_t>(opts_.limits.max_per_ip),
                         .connect_rate = {.per_second = opts_.limits.connect_rate_per_ip,
                                          .burst = opts_.limits.connect_rate_per_ip * 2}}),
          node_(*this, bo) {
        register_backplane_metrics();
    }
    pool_engine(pool_engine&&) = delete;

    /// Another instance can be reached (any backplane but `local`): /healthz and /metrics
    /// show its state (impl/admin.hpp).
    static constexpr bool has_backplane =
        !std::is_same_v<typename Policies::backplane, pier::pool::local>;

    /// Called once the server exists (it owns this engine).
    void bind(server_type& srv) {
        srv_ = &srv;
        shards_ = std::make_unique<std::vector<shard_state>>(srv.shard_count());
    }

    Handler& handler() noexcept { return handler_; }
    const pool_options& options() const noexcept { return opts_; }
    const codec_type& codec() const noexcept { return codec_; }
    node_type& backplane() noexcept { return node_; }
    server_type& server() noexcept { return *srv_; }

    // --- ws hooks ---------------------------------------------------------------------------
    ws::accept_result accept(const ws::upgrade_request& u, session_data& d);
    /// The admin surface (impl/admin.hpp); other paths go to the handler's own on_http.
    bool on_http(session_type& s, const http::request_view& req, std::string_view body);
    void on_pong(session_type& s, std::chrono::milliseconds rtt) {
        (void)s;
        metrics_.heartbeat_rtt.observe(std::chrono::duration<double>(rtt).count());
    }
    void on_open(session_type& s);
    void on_message(session_type& s, ws::message m);
    void on_close(session_type& s, ws::close_code code, std::string_view reason);
    void on_tick(std::size_t shard);

    // --- sends (any thread) ------------------------------------------------------------------
    using done_fn = std::function<void(const send_report&)>;
    enum class target_kind : std::uint8_t { topic, user, ids };
    void send(target_kind kind, std::string key, std::vector<std::uint64_t> ids,
              const outbound& env, std::vector<std::uint64_t> exclude, done_fn done,
              bool to_backplane = true);
    /// The same with an already encoded envelope (from the backplane). A topic message with an
    /// `offset` (not 0) is numbered: its recipients skip it if they had it, hold it back while
    /// their position is pending, and excluded ones get a position notice instead.
    void send_encoded(target_kind kind, std::string key, std::vector<std::uint64_t> ids,
                      std::string encoded, std::vector<std::uint64_t> exclude, done_fn done,
                      std::uint64_t offset = 0, std::string epoch = {});

    // --- for the backplane (any thread) --------------------------------------------------
    /// Whether this process has subscribers of `topic`, connections of `user`, now.
    bool has_topic(std::string_view topic) const { return topic_counts_.count(topic) != 0; }
    bool has_user(std::string_view user) const { return user_counts_.count(user) != 0; }
    /// The answer to node_type::request_position: posted to the connection's shard, which
    /// sends what it says (sequenced backplanes only).
    void answer_position(std::size_t shard, std::uint64_t connection, std::string topic,
                         std::uint64_t generation, position_result r);
    /// This process's part of a cluster-wide survey (ws::pool::cluster_survey); `done` may
    /// run on any thread.
    void local_survey(std::string_view kind, const nlohmann::json& args,
                      std::function<void(nlohmann::json)> done);
    /// This process's part of a cluster-wide disconnect.
    void local_disconnect(const cluster_selector& select, std::uint16_t code, std::string reason,
                          std::function<void(std::size_t)> done);

    /// Closes the selected connections of every shard.
    void disconnect(std::function<bool(session_type&)> select, std::uint16_t code,
                    std::string reason, std::function<void(std::size_t)> done);
    void cleanup(std::function<void(std::size_t)> done);
    void for_each_connection(std::function<void(session_type&)> visit, std::function<void()> done);
    /// Runs the cleanup pass on this shard; returns how many it closed.
    std::size_t cleanup_shard(std::size_t shard, std::int64_t now_ms);

    pool_figures figures() const;
    std::vector<std::pair<std::string, std::uint64_t>> topic_counts() const;
    /// `since`: the client's last position (sequenced backplanes recover from it).
    bool subscribe(session_type& s, std::string_view topic, bool acknowledge,
                   const stream_position* since = nullptr);
    void unsubscribe(session_type& s, std::string_view topic, bool acknowledge);
    /// Sends an envelope to one connection (encoded for it alone).
    void reply(session_type& s, const outbound& env);
    void error(session_type& s, std::string_view name, std::string_view topic = {},
               bool counts = true);

    pier::log::logger& log() noexcept { return log_; }
    pier::metrics::registry& metrics() noexcept { return metrics_reg_; }

private:
    /// A pending position request of one membership (sequenced backplanes).
    struct recovery {
        std::uint64_t generation = 0;
        /// What the next request asks for: the messages after it.
        std::optional<stream_position> since;
        /// The client got its acknowledgement (later rounds send no second one).
        bool acknowledged = false;
        /// The last numbered message held back meanwhile: if the answer's position is before
        /// it, another round fetches the rest.
        std::optional<stream_position> dropped;
    };
    static std::string recovery_key(std::uint64_t id, std::string_view topic) {
        std::string k(reinterpret_cast<const char*>(&id), sizeof id);
        k.append(topic);
        return k;
    }
    struct connection_filter {
        std::optional<std::uint64_t> id;
        std::string user_id, topic, state;
        std::int64_t idle_over_ms = -1;
        std::size_t limit = 100, offset = 0;
    };
    static std::optional<detail::body_error> parse_filter(std::string_view query,
                                                          connection_filter& f);
    static connection_state_name state_of(const session_type& s) noexcept {
        switch (s.state()) {
        case ws::session_state::handshake:
            return connection_state_name::connecting;
        case ws::session_state::open:
            return connection_state_name::open;
        case ws::session_state::closing:
            return connection_state_name::closing;
        default:
            return connection_state_name::closed;
        }
    }
    nlohmann::json describe(session_type& c, std::int64_t now_ms);
    /// The listing of the admin API, {"connections": [newest first, from `offset`, at most
    /// `limit`], "total": n} (`done(json, total)` on a shard's thread).
    void admin_connections(connection_filter f,
                           std::function<void(nlohmann::json, std::size_t)> done);
    /// A survey's `args` as a filter: the query parameters' names and meanings, "limit" from 1 to
    /// cluster_listing_window (default 1,000), "id" in 16 hex digits; anything else is ignored.
    static connection_filter filter_of(const nlohmann::json& args);
    /// The filter as a survey's `args` (what filter_of reads back).
    static nlohmann::json args_of(const connection_filter& f);
    /// The cluster's listing (a survey of every node with the same filter) added to this node's
    /// (`local`) as "cluster": {"connections" (each with its "node"), "total", "nodes",
    /// "missing", "complete"[, "error"][, "truncated"]}.
    void admin_cluster_connections(connection_filter f, nlohmann::json local,
                                   std::function<void(nlohmann::json)> done);
    void admin_stats(std::function<void(std::string)> done);
    void refresh_gauges() {}
    /// The backplane's figures as pier_backplane_* series of the pool's registry, read from
    /// node_type::state() at each scrape (nothing with `local`).
    void register_backplane_metrics();
    /// How long the admin API waits for other nodes' answers: the backplane's
    /// `admin_deadline()` when it has one, else 2 s.
    std::chrono::milliseconds admin_deadline() const {
        if constexpr (requires(const node_type& n) { n.admin_deadline(); })
            return node_.admin_deadline();
        else
            return std::chrono::milliseconds(2000);
    }
    void refused_log(detail::limit l, const ws::upgrade_request& u, std::string_view user);

    struct alignas(64) shard_state {
        std::unordered_map<std::string, std::unique_ptr<detail::topic>, detail::string_hash,
                           std::equal_to<>>
            topics;
        std::vector<std::unique_ptr<detail::topic>> spare_topics; // reused, bounded
        std::unordered_map<std::uint64_t, session_type*> ids;
        std::unordered_map<std::string, std::vector<session_type*>, detail::string_hash,
                           std::equal_to<>>
            users;
        detail::shard_counters counters;
        std::int64_t next_heartbeat_ms = 0;
        std::int64_t next_cleanup_ms = 0;
        inbound in; // decoded into, message after message (capacity reused)
        std::string scratch;
        // Sequenced backplanes: memberships whose position is pending, by recovery_key.
        std::unordered_map<std::string, recovery> recoveries;
        std::uint64_t recovery_gen = 0;
        // A send to a user delivers from a copy of the user's list (a close during a send
        // changes it): this one, reused, so that the steady state allocates nothing.
        std::vector<session_type*> user_scratch;
        bool user_scratch_busy = false;
    };
    struct job {
        ws::prepared_message frame;
        std::uint64_t offset = 0; // numbered topic message: its position
        std::string epoch;
        target_kind kind;
        std::string key;
        std::vector<std::uint64_t> ids;
        std::vector<std::uint64_t> exclude;
        std::atomic<std::uint64_t> delivered{0}, backpressure{0}, dropped{0};
        std::atomic<std::uint32_t> refused{0};
        std::atomic<std::size_t> left{0};
        done_fn done;
        std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
        pier::metrics::histogram* fanout = nullptr;
        void finish_one() {
            if (left.fetch_sub(1, std::memory_order_acq_rel) != 1)
                return;
            if (fanout)
                fanout->observe(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                        .count());
            if (done) {
                send_report r;
                r.delivered = delivered.load();
                r.backpressure = backpressure.load();
                r.dropped = dropped.load();
                r.shards_refused = refused.load();
                done(r);
            }
        }
    };

    shard_state& local(std::size_t shard) noexcept { return (*shards_)[shard]; }
    detail::shard_counters& counters(std::size_t shard) noexcept { return local(shard).counters; }
    void refuse_count(std::size_t shard, detail::limit l) noexcept {
        detail::shard_counters::add(counters(shard).refused[static_cast<std::size_t>(l)]);
    }
    ws::prepared_message frame_for(std::string_view encoded) const {
        return ws::prepare(codec_type::binary ? ws::opcode::binary : ws::opcode::text, encoded);
    }
    /// The conflation key of a topic's messages (ws::prepared_message::key), so that
    /// backpressure::latest keeps one queued message per topic: 32 bits of the name's hash,
    /// never 0 (no key). Two topics whose hashes collide conflate each other's messages on a
    /// connection subscribed to both, at odds of about 2^-32 per pair of topics.
    static std::uint32_t topic_key(std::string_view topic) noexcept {
        const std::uint64_t h = std::hash<std::string_view>{}(topic);
        const auto k = static_cast<std::uint32_t>(h ^ (h >> 32));
        return k != 0 ? k : 1;
    }
    struct tally {
        std::uint64_t delivered = 0, backpressure = 0, dropped = 0;
    };
    void deliver(std::size_t shard, job& j);
    /// How many subscribers ahead a delivery loop prefetches (session_base::prefetch).
    static constexpr std::size_t prefetch_ahead = 4;
    void deliver_numbered(std::size_t shard, detail::topic& t, job& j, tally& tl);
    void deliver_to(session_type& s, job& j, tally& t);
    /// Sends `frame` to `s` alone, counted; the send's result.
    send_result send_counted(session_type& s, const ws::prepared_message& frame, std::size_t shard);
    void begin_recovery(session_type& s, std::size_t index, const stream_position* since);
    void finish_position(std::size_t shard, std::uint64_t connection, const std::string& topic,
                         std::uint64_t generation, position_result r);
    /// A position notice: {"type":"subscribe","topic":T,"offset":N,"epoch":E}.
    void notice(session_type& s, std::string_view topic, std::uint64_t offset,
                std::string_view epoch);
    void run_job(std::shared_ptr<job> j);
    void drop_membership(session_type& s, std::size_t index);
    void close_with(session_type& s, std::uint16_t code, std::string_view reason);

    pool_options opts_;
    Handler handler_;
    codec_type codec_;
    pier::log::logger log_;
    pier::metrics::registry metrics_reg_;
    pier::metrics::pool_metrics metrics_;
    http::router<detail::admin_route> routes_;
    http::bearer_token admin_;
    ip_table ips_;
    detail::shared_counts topic_counts_, user_counts_;
    std::atomic<std::uint64_t> active_{0};
    server_type* srv_ = nullptr;
    std::unique_ptr<std::vector<shard_state>> shards_;
    node_type node_;
};

// --- admission --------------------------------------------------------------------------------

template <class H, class P>
ws::accept_result pool_engine<H, P>::accept(const ws::upgrade_request& u, session_data& d) {
    const std::size_t shard = this_shard();
    auto& c = counters(shard);
    if (u.path != opts_.path)
        return ws::accept_result::reject(404, "no WebSocket endpoint here");
    const auto refuse = [&](detail::limit l, unsigned status, std::string body,
                            std::string_view user = {}) {
        refuse_count(shard, l);
        refused_log(l, u, user);
        return ws::accept_result::reject(status, std::move(body));
    };
    const auto auth_failed = [&](std::string_view why, unsigned status, std::string body) {
        detail::shard_counters::add(c.auth_failures);
        metrics_.refused(pier::metrics::refusal_limit::unauthorized).inc();
        pier::log::auth_failure(log_, u.remote.address().to_string(), why);
        return ws::accept_result::reject(status, std::move(body));
    };
    // The connection limit first: it costs nothing to check.
    const auto before = active_.fetch_add(1, std::memory_order_acq_rel);
    bool reserved = true;
    auto unreserve = [&] {
        if (reserved)
            active_.fetch_sub(1, std::memory_order_acq_rel);
        reserved = false;
    };
    if (opts_.limits.max_connections != 0 && before >= opts_.limits.max_connections) {
        unreserve();
        return refuse(detail::limit::connections, 503, "connection limit reached");
    }
    // Authentication.
    std::string scratch;
    auth_result who;
    const auto tok = extract_token(u.request, scratch, opts_.token);
    if constexpr (requires(H & h) { h.authenticate(u, std::string_view()); }) {
        if (!tok && tok.error != token_error::missing) {
            unreserve();
            return auth_failed(std::string(to_string(tok.error)) + "_token", 401,
                               std::string(to_string(tok.error)) + "_token");
        }
        who = handler_.authenticate(u, tok.token);
    } else {
        if (!tok) {
            unreserve();
            const std::string why = std::string(to_string(tok.error)) + "_token";
            return auth_failed(
                why, 401, tok.error == token_error::missing ? std::string("token required") : why);
        }
        const auto now_s = detail::system_ms() / 1000;
        auto v = verify_hs256(tok.token, opts_.keys, now_s, opts_.jwt);
        if (!v) {
            who = auth_result::refuse(401, std::string(to_string(v.error)));
        } else {
            who.user_id = std::move(v.claims.sub);
            who.meta = std::move(v.claims.meta);
            who.expires = v.claims.exp;
        }
    }
    if (who.status != 0) {
        unreserve();
        return auth_failed(who.error.empty() ? std::string_view("unauthorized") : who.error,
                           who.status, who.error.empty() ? "unauthorized" : who.error);
    }
    // Per user and per address.
    bool first_of_user = false;
    if (!user_counts_.acquire(who.user_id, opts_.limits.max_per_user, first_of_user)) {
        unreserve();
        return refuse(detail::limit::per_user, 503, "too many connections for this user",
                      who.user_id);
    }
    const bool ip_limited = opts_.limits.max_per_ip != 0 || opts_.limits.connect_rate_per_ip != 0;
    if (ip_limited) {
        const auto verdict = ips_.admit(u.remote.address(), detail::system_ms());
        if (verdict != ip_verdict::allowed) {
            unreserve();
            // Its result (whether that was the user's last connection) does not matter: the
            // user's interest was never announced, that happens in on_open.
            (void)user_counts_.release(who.user_id);
            if (verdict == ip_verdict::rate_limited)
                return refuse(detail::limit::connect_rate, 503, "connecting too fast", who.user_id);
            return refuse(detail::limit::per_ip, 503, "too many connections from this address",
                          who.user_id);
        }
    }
    reserved = false; // kept: released in on_close
    d.counted = true;
    d.remote = u.remote.address();
    d.user_id = std::move(who.user_id);
    d.expires = who.expires;
    if (who.meta.is_object())
        for (auto& [k, v] : who.meta.items())
            d.metadata.emplace_back(
                k, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (first_of_user)
        node_.user_interest(d.user_id, true);
    // Topics asked for in the query are subscribed in on_open (after the welcome's id exists).
    if (auto t = u.request.query(); !t.empty())
        if (auto topics = http::decoded_query_param(t, "topics"); topics && !topics->empty())
            d.metadata.emplace_back("\x01topics", std::move(*topics));
    // Answer the pool's subprotocol if offered; never a token-carrying one.
    std::string proto;
    if (!opts_.subprotocol.empty()) {
        const std::string_view offered = u.offered_subprotocols;
        std::size_t at = 0;
        while (at <= offered.size()) {
            auto comma = offered.find(',', at);
            auto item =
                offered.substr(at, comma == std::string_view::npos ? offered.npos : comma - at);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
                item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
                item.remove_suffix(1);
            if (item == opts_.subprotocol)
                proto = opts_.subprotocol;
            if (comma == std::string_view::npos)
                break;
            at = comma + 1;
        }
    }
    return ws::accept_result::accept(std::move(proto));
}

template <class H, class P>
void pool_engine<H, P>::refused_log(detail::limit l, const ws::upgrade_request& u,
                                    std::string_view user) {
    using pier::metrics::refusal_limit;
    switch (l) {
    case detail::limit::connections:
        metrics_.refused(refusal_limit::max_connections).inc();
        break;
    case detail::limit::per_user:
        metrics_.refused(refusal_limit::max_connections_per_user).inc();
        break;
    case detail::limit::per_ip:
        metrics_.refused(refusal_limit::max_connections_per_ip).inc();
        break;
    case detail::limit::connect_rate:
        metrics_.refused(refusal_limit::connect_rate).inc();
        break;
    default:
        break;
    }
    pier::log::limit_refused(log_, detail::limit_names[static_cast<std::size_t>(l)],
                             u.remote.address().to_string(), user);
}

template <class H, class P> void pool_engine<H, P>::on_open(session_type& s) {
    const std::size_t shard = s.shard();
    auto& st = local(shard);
    auto& d = s.data();
    d.connected_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    d.last_activity_ms = d.connected_at_us / 1000;
    detail::shard_counters::add(st.counters.total);
    metrics_.connections.inc();
    metrics_.accepted.inc();
    pier::log::connection_open(log_, s.id(), d.user_id, d.remote.to_string());
    st.ids.emplace(s.id(), &s);
    st.users[d.user_id].push_back(&s);
    if (opts_.limits.message_rate != 0)
        d.rate.reset({opts_.limits.message_rate, opts_.limits.message_burst
                                                     ? opts_.limits.message_burst
                                                     : opts_.limits.message_rate * 2},
                     d.last_activity_ms);
    // The topics asked for with ?topics=a,b.
    std::string wanted;
    if (!d.metadata.empty() && d.metadata.back().first == "\x01topics") {
        wanted = std::move(d.metadata.back().second);
        d.metadata.pop_back();
    }
    if (!wanted.empty()) {
        // One burst of interest for the backplane, however long this loop takes (released on
        // every way out, a throwing authorize hook included).
        node_.hold_interest();
        struct interest_hold {
            node_type& n;
            ~interest_hold() { n.release_interest(); }
        } hold{node_};
        std::size_t at = 0;
        while (at <= wanted.size()) {
            const auto comma = wanted.find(',', at);
            const auto t = std::string_view(wanted).substr(
                at, comma == std::string::npos ? std::string::npos : comma - at);
            if (!t.empty())
                subscribe(s, t, false);
            if (comma == std::string::npos)
                break;
            at = comma + 1;
        }
    }
    // The welcome.
    nlohmann::json w;
    w["connection_id"] = ws::pool<H, P>::id_text(s.id());
    w["user_id"] = d.user_id;
    auto topics = nlohmann::json::array();
    for (auto& m : d.topics)
        topics.push_back(m.t->name);
    w["topics"] = std::move(topics);
    const auto data = w.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    reply(s, outbound{.type = message_type::welcome, .data = data});
    if constexpr (requires(H & h) { h.on_open(s); })
        handler_.on_open(s);
}

template <class H, class P>
void pool_engine<H, P>::on_close(session_type& s, ws::close_code code, std::string_view reason) {
    auto& d = s.data();
    if (!d.counted)
        return;
    const std::size_t shard = s.shard();
    auto& st = local(shard);
    if constexpr (requires(H & h) { h.on_close(s, code, reason); })
        handler_.on_close(s, code, reason);
    {
        using pier::metrics::close_reason;
        const auto n = static_cast<std::uint16_t>(code);
        close_reason why = close_reason::client;
        std::string_view cause = "client";
        if (n == close_codes::disconnected)
            why = close_reason::admin, cause = "admin";
        else if (n == close_codes::stale || n == close_codes::token_expired ||
                 n == close_codes::send_failures)
            why = close_reason::timeout, cause = "timeout";
        else if (n == 1001 && reason == "server shutting down")
            why = close_reason::shutdown, cause = "shutdown";
        else if (n == 1008 && reason == "slow consumer")
            why = close_reason::slow_consumer, cause = "slow_consumer";
        else if (n == 1002 || n == 1007 || n == 1009 || n == close_codes::too_many_errors)
            why = close_reason::protocol_error, cause = "protocol_error";
        else if (n == 1011)
            why = close_reason::error, cause = "error";
        metrics_.connections.dec();
        metrics_.closed(why).inc();
        pier::log::connection_close(log_, s.id(), d.user_id, n, reason, cause);
    }
    while (!d.topics.empty())
        drop_membership(s, d.topics.size() - 1);
    st.ids.erase(s.id());
    if (auto it = st.users.find(d.user_id); it != st.users.end()) {
        std::erase(it->second, &s);
        if (it->second.empty())
            st.users.erase(it);
    }
    if (user_counts_.release(d.user_id))
        node_.user_interest(d.user_id, false);
    if (opts_.limits.max_per_ip != 0 || opts_.limits.connect_rate_per_ip != 0)
        ips_.release(d.remote);
    active_.fetch_sub(1, std::memory_order_acq_rel);
    d.counted = false;
}

// --- the protocol -------------------------------------------------------------------------------

template <class H, class P> void pool_engine<H, P>::reply(session_type& s, const outbound& env) {
    const auto text = codec_.encode(env);
    const auto r = codec_type::binary ? s.send_binary(text) : s.send_text(text);
    auto& d = s.data();
    if (r == send_result::queued || r == send_result::backpressure) {
        ++d.messages_out;
        d.bytes_out += text.size();
        detail::shard_counters::add(counters(s.shard()).messages_sent);
        detail::shard_counters::add(counters(s.shard()).bytes_sent, text.size());
        metrics_.messages_sent.inc();
        metrics_.sent_bytes.inc(text.size());
    } else {
        detail::shard_counters::add(counters(s.shard()).messages_failed);
        metrics_.messages_dropped.inc();
    }
}

template <class H, class P>
void pool_engine<H, P>::error(session_type& s, std::string_view name, std::string_view topic,
                              bool counts) {
    reply(s, outbound{.type = message_type::error, .topic = topic, .error = name});
    if (!counts)
        return;
    auto& d = s.data();
    ++d.errors;
    detail::shard_counters::add(counters(s.shard()).errors);
    if (opts_.limits.max_errors != 0 && d.errors >= opts_.limits.max_errors && s.is_open()) {
        refuse_count(s.shard(), detail::limit::errors);
        close_with(s, close_codes::too_many_errors, "too many errors");
    }
}

template <class H, class P>
void pool_engine<H, P>::close_with(session_type& s, std::uint16_t code, std::string_view reason) {
    s.close(static_cast<ws::close_code>(code), reason);
}

template <class H, class P> void pool_engine<H, P>::on_message(session_type& s, ws::message m) {
    const std::size_t shard = s.shard();
    auto& st = local(shard);
    auto& d = s.data();
    const auto now = detail::system_ms();
    d.last_activity_ms = now;
    ++d.messages_in;
    d.bytes_in += m.data().size();
    detail::shard_counters::add(st.counters.messages_received);
    detail::shard_counters::add(st.counters.bytes_received, m.data().size());
    metrics_.messages_received.inc();
    metrics_.received_bytes.inc(m.data().size());
    if (opts_.limits.message_rate != 0 &&
        !d.rate.try_take({opts_.limits.message_rate, opts_.limits.message_burst
                                                         ? opts_.limits.message_burst
                                                         : opts_.limits.message_rate * 2},
                         now)) {
        refuse_count(shard, detail::limit::message_rate);
        return error(s, "rate_limited");
    }
    if (m.is_binary() != codec_type::binary)
        return error(s, codec_type::binary ? "text_not_accepted" : "binary_not_accepted");
    const auto e = codec_.decode(m.data(), st.in);
    if (e != decode_error::none)
        return error(s, to_string(e));
    auto& in = st.in;
    switch (in.type) {
    case message_type::ping:
        return reply(s, outbound{.type = message_type::pong});
    case message_type::pong:
        return;
    case message_type::subscribe:
        subscribe(s, in.topic, true, in.since ? &*in.since : nullptr);
        return;
    case message_type::unsubscribe:
        unsubscribe(s, in.topic, true);
        return;
    case message_type::data: {
        if constexpr (requires(H & h) {
                          { h.on_data(s, in) } -> std::convertible_to<bool>;
                      }) {
            if (handler_.on_data(s, std::as_const(in)))
                return;
        }
        if (in.topic.empty())
            return error(s, "missing_topic");
        if (!d.subscribed(in.topic))
            return error(s, "not_subscribed", in.topic);
        const std::uint64_t me[] = {s.id()};
        send(target_kind::topic, in.topic, {},
             outbound{.type = message_type::data, .topic = in.topic, .data = in.data},
             std::vector<std::uint64_t>(me, me + 1), {});
        return;
    }
    default:
        return error(s, "unexpected_type");
    }
}

template <class H, class P>
bool pool_engine<H, P>::subscribe(session_type& s, std::string_view name, bool acknowledge,
                                  const stream_position* since) {
    auto& d = s.data();
    const std::size_t shard = s.shard();
    if (name.empty())
        return error(s, "bad_topic"), false;
    for (std::size_t i = 0; i < d.topics.size(); ++i) {
        if (d.topics[i].t->name != name)
            continue;
        // Subscribed already: the acknowledgement again (with a sequenced backplane, after the
        // position, and the messages after `since`).
        if constexpr (sequenced)
            begin_recovery(s, i, since);
        else if (acknowledge)
            reply(s, outbound{.type = message_type::subscribe, .topic = name});
        return true;
    }
    if (opts_.limits.max_topics_per_connection != 0 &&
        d.topics.size() >= opts_.limits.max_topics_per_connection) {
        refuse_count(shard, detail::limit::topics_per_connection);
        error(s, "too_many_topics", name, false);
        return false;
    }
    if constexpr (requires(H & h) {
                      { h.authorize(s, name) } -> std::convertible_to<bool>;
                  }) {
        if (!handler_.authorize(s, name)) {
            error(s, "forbidden", name);
            return false;
        }
    }
    bool first = false;
    if (!topic_counts_.acquire(name, opts_.limits.max_per_topic, first)) {
        refuse_count(shard, detail::limit::per_topic);
        error(s, "topic_full", name, false);
        return false;
    }
    if (first) {
        node_.topic_interest(name, true);
        metrics_.topics.inc();
    }
    metrics_.subscriptions.inc();
    auto& st = local(shard);
    auto it = st.topics.find(name);
    if (it == st.topics.end()) {
        std::unique_ptr<detail::topic> t;
        if (!st.spare_topics.empty() && st.spare_topics.back()->pins == 0) {
            t = std::move(st.spare_topics.back());
            st.spare_topics.pop_back();
        } else {
            t = std::make_unique<detail::topic>();
        }
        t->name.assign(name);
        it = st.topics.emplace(t->name, std::move(t)).first;
    }
    detail::topic* t = it->second.get();
    t->subs.emplace_back(static_cast<void*>(&s), static_cast<std::uint32_t>(d.topics.size()));
    detail::membership<sequenced> m;
    m.t = t;
    m.index = static_cast<std::uint32_t>(t->subs.size() - 1);
    d.topics.push_back(m);
    detail::shard_counters::add(st.counters.subscriptions);
    if constexpr (sequenced) {
        // Acknowledged with the topic's position once the backplane has it; the topics of
        // ?topics= too (after the welcome).
        begin_recovery(s, d.topics.size() - 1, since);
        return true;
    }
    if (acknowledge)
        reply(s, outbound{.type = message_type::subscribe, .topic = name});
    return true;
}

template <class H, class P>
void pool_engine<H, P>::begin_recovery(session_type& s, std::size_t index,
                                       const stream_position* since) {
    if constexpr (sequenced) {
        auto& st = local(s.shard());
        auto& m = s.data().topics[index];
        m.pos.recovering = true;
        auto& rec = st.recoveries[recovery_key(s.id(), m.t->name)];
        rec = recovery{};
        rec.generation = ++st.recovery_gen;
        if (since)
            rec.since = *since;
        position_request req;
        req.shard = s.shard();
        req.connection = s.id();
        req.generation = rec.generation;
        req.topic = m.t->name;
        req.since = rec.since;
        node_.request_position(std::move(req));
    }
}

template <class H, class P>
void pool_engine<H, P>::notice(session_type& s, std::string_view topic, std::uint64_t offset,
                               std::string_view epoch) {
    const position_view pv{offset, epoch};
    reply(s, outbound{.type = message_type::subscribe, .topic = topic, .position = &pv});
}

template <class H, class P>
void pool_engine<H, P>::answer_position(std::size_t shard, std::uint64_t connection,
                                        std::string topic, std::uint64_t generation,
                                        position_result r) {
    srv_->post_to_shard(shard, [this, shard, connection, topic = std::move(topic), generation,
                                r = std::move(r)]() mutable {
        finish_position(shard, connection, topic, generation, std::move(r));
    });
}

template <class H, class P>
void pool_engine<H, P>::finish_position(std::size_t shard, std::uint64_t connection,
                                        const std::string& topic, std::uint64_t generation,
                                        position_result r) {
    if constexpr (sequenced) {
        using status = position_result::status;
        auto& st = local(shard);
        const auto key = recovery_key(connection, topic);
        // Everything is looked up again after each send: a send can close the connection (a
        // slow consumer), whose on_close drops its memberships and recoveries.
        auto find = [&]() -> std::pair<session_type*, std::size_t> {
            auto rit = st.recoveries.find(key);
            if (rit == st.recoveries.end() || rit->second.generation != generation)
                return {nullptr, 0};
            auto sit = st.ids.find(connection);
            if (sit != st.ids.end())
                for (std::size_t i = 0; i < sit->second->data().topics.size(); ++i)
                    if (sit->second->data().topics[i].t->name == topic)
                        return {sit->second, i};
            st.recoveries.erase(rit);
            return {nullptr, 0};
        };
        auto [s, index] = find();
        if (!s)
            return;
        auto rec = st.recoveries[key]; // a copy: the sends below may erase it
        if (r.result == status::unavailable) {
            if (rec.since)
                error(*s, to_string(r.result), topic, false);
            if (!rec.acknowledged)
                reply(*s, outbound{.type = message_type::subscribe, .topic = topic});
            if (auto [again, i] = find(); again) {
                again->data().topics[i].pos.recovering = false;
                st.recoveries.erase(key);
            }
            return;
        }
        if (r.result != status::ok)
            error(*s, to_string(r.result), topic, false);
        for (auto& [offset, text] : r.entries) {
            if (!find().first)
                return;
            if (text.empty()) // not for this connection (it was excluded): its position only
                notice(*s, topic, offset, r.position.epoch);
            else
                send_counted(*s, frame_for(text), shard);
        }
        if ((!rec.acknowledged || r.result != status::ok) && find().first)
            notice(*s, topic, r.position.offset, r.position.epoch);
        std::tie(s, index) = find();
        if (!s)
            return;
        auto& m = s->data().topics[index];
        auto& t = *m.t;
        if (t.epoch != r.position.epoch) {
            t.epoch = r.position.epoch;
            ++t.epoch_gen;
        }
        m.pos.last = r.position.offset;
        m.pos.epoch_gen = t.epoch_gen;
        auto& live = st.recoveries[key];
        live.acknowledged = true;
        if (live.dropped && !(live.dropped->epoch == r.position.epoch &&
                              live.dropped->offset <= r.position.offset)) {
            // Held back meanwhile and after this position: one more round fetches it.
            live.since = r.position;
            live.dropped.reset();
            live.generation = ++st.recovery_gen;
            position_request req;
            req.shard = shard;
            req.connection = connection;
            req.generation = live.generation;
            req.topic = topic;
            req.since = live.since;
            node_.request_position(std::move(req));
            return;
        }
        m.pos.recovering = false;
        st.recoveries.erase(key);
    } else {
        (void)shard, (void)connection, (void)topic, (void)generation, (void)r;
    }
}

template <class H, class P>
void pool_engine<H, P>::drop_membership(session_type& s, std::size_t index) {
    auto& d = s.data();
    auto& st = local(s.shard());
    const auto m = d.topics[index];
    detail::topic* t = m.t;
    // Out of the topic's list: the last subscriber takes this one's place.
    auto& subs = t->subs;
    const auto pos = m.index;
    if (pos + 1 != subs.size()) {
        subs[pos] = subs.back();
        auto* moved = static_cast<session_type*>(subs[pos].first);
        moved->data().topics[subs[pos].second].index = pos;
    }
    subs.pop_back();
    // Out of the session's list, likewise.
    if (index + 1 != d.topics.size()) {
        d.topics[index] = d.topics.back();
        const auto& mm = d.topics[index];
        mm.t->subs[mm.index].second = static_cast<std::uint32_t>(index);
    }
    d.topics.pop_back();
    if constexpr (sequenced)
        st.recoveries.erase(recovery_key(s.id(), t->name));
    metrics_.subscriptions.dec();
    if (topic_counts_.release(t->name)) {
        node_.topic_interest(t->name, false);
        metrics_.topics.dec();
    }
    if (subs.empty()) {
        auto it = st.topics.find(t->name);
        auto owned = std::move(it->second);
        st.topics.erase(it);
        // Kept for reuse (capacity and all), up to a bound, so that a topic that comes and
        // goes does not allocate every time; and always while a delivery loops over it.
        if (st.spare_topics.size() < 64 || owned->pins != 0)
            st.spare_topics.push_back(std::move(owned));
    }
}

template <class H, class P>
void pool_engine<H, P>::unsubscribe(session_type& s, std::string_view name, bool acknowledge) {
    auto& d = s.data();
    for (std::size_t i = 0; i < d.topics.size(); ++i)
        if (d.topics[i].t->name == name) {
            drop_membership(s, i);
            break;
        }
    if (acknowledge)
        reply(s, outbound{.type = message_type::unsubscribe, .topic = name});
}

// --- sending ------------------------------------------------------------------------------------

template <class H, class P>
void pool_engine<H, P>::send(target_kind kind, std::string key, std::vector<std::uint64_t> ids,
                             const outbound& env, std::vector<std::uint64_t> exclude, done_fn done,
                             bool to_backplane) {
    outbound e = env;
    if (kind == target_kind::topic)
        e.topic = key;
    // A sequenced backplane numbers topic messages and delivers them here too, in its order;
    // when it cannot take one (its queue is full), it is delivered here now, unnumbered.
    if (to_backplane && kind == target_kind::topic && node_.publish_topic(key, e, exclude, done))
        return;
    std::string encoded = codec_.encode(e);
    if (to_backplane && kind == target_kind::user)
        node_.publish_user(key, encoded, exclude);
    send_encoded(kind, std::move(key), std::move(ids), std::move(encoded), std::move(exclude),
                 std::move(done));
}

template <class H, class P>
void pool_engine<H, P>::send_encoded(target_kind kind, std::string key,
                                     std::vector<std::uint64_t> ids, std::string encoded,
                                     std::vector<std::uint64_t> exclude, done_fn done,
                                     std::uint64_t offset, std::string epoch) {
    auto j = std::make_shared<job>();
    j->frame = frame_for(encoded);
    if (kind == target_kind::topic)
        j->frame.key = topic_key(key);
    j->offset = offset;
    j->epoch = std::move(epoch);
    j->kind = kind;
    j->key = std::move(key);
    j->ids = std::move(ids);
    j->exclude = std::move(exclude);
    j->done = std::move(done);
    j->fanout = &metrics_.broadcast_fanout;
    run_job(std::move(j));
}

template <class H, class P> void pool_engine<H, P>::run_job(std::shared_ptr<job> j) {
    const std::size_t n = srv_->shard_count();
    j->left.store(n, std::memory_order_relaxed);
    const std::size_t here = this_shard();
    for (std::size_t i = 0; i < n; ++i) {
        if (i == here)
            continue; // below, after the posts: the other shards start meanwhile
        const auto r = srv_->post_mail(
            i, [this, j, i] { deliver(i, *j), j->finish_one(); }, j->frame.size());
        if (r == send_result::dropped) {
            j->refused.fetch_add(1, std::memory_order_relaxed);
            j->finish_one();
        }
    }
    if (here < n) {
        deliver(here, *j);
        j->finish_one();
    }
}

template <class H, class P>
send_result pool_engine<H, P>::send_counted(session_type& s, const ws::prepared_message& frame,
                                            std::size_t shard) {
    auto& d = s.data();
    const auto r = s.send(frame);
    auto& c = counters(shard);
    if (r == send_result::queued || r == send_result::backpressure) {
        ++d.messages_out;
        d.bytes_out += frame.size();
        d.send_failures = 0;
        detail::shard_counters::add(c.messages_sent);
        detail::shard_counters::add(c.bytes_sent, frame.size());
        metrics_.messages_sent.inc();
        metrics_.sent_bytes.inc(frame.size());
    } else {
        ++d.send_failures;
        detail::shard_counters::add(c.messages_failed);
        metrics_.messages_dropped.inc();
    }
    return r;
}

template <class H, class P> void pool_engine<H, P>::deliver_to(session_type& s, job& j, tally& t) {
    for (auto x : j.exclude)
        if (x == s.id())
            return;
    auto& d = s.data();
    const auto r = s.send(j.frame);
    if (r == send_result::queued || r == send_result::backpressure) {
        ++d.messages_out;
        d.bytes_out += j.frame.size();
        d.send_failures = 0;
        ++t.delivered;
        t.backpressure += r == send_result::backpressure;
    } else {
        ++d.send_failures;
        ++t.dropped;
    }
}

template <class H, class P>
void pool_engine<H, P>::deliver_numbered(std::size_t shard, detail::topic& t, job& j, tally& tl) {
    auto& st = local(shard);
    if (t.epoch != j.epoch) {
        t.epoch = j.epoch;
        ++t.epoch_gen;
    }
    const auto gen = t.epoch_gen;
    std::optional<ws::prepared_message> notice_frame; // for excluded subscribers, made once
    const detail::topic_pin pin(t);
    auto& subs = t.subs;
    for (std::size_t i = 0; i < subs.size();) {
        auto* s = static_cast<session_type*>(subs[i].first);
        auto& m = s->data().topics[subs[i].second];
        if constexpr (sequenced) {
            if (m.pos.recovering) {
                // Its position is pending: the answer (or another round) covers this one.
                if (auto it = st.recoveries.find(recovery_key(s->id(), t.name));
                    it != st.recoveries.end())
                    it->second.dropped = stream_position{j.offset, j.epoch};
                ++i;
                continue;
            }
            if (m.pos.epoch_gen == gen && m.pos.last >= j.offset) {
                ++i; // had it (a resynchronisation fetched it again)
                continue;
            }
            m.pos.last = j.offset;
            m.pos.epoch_gen = gen;
        }
        if (std::find(j.exclude.begin(), j.exclude.end(), s->id()) != j.exclude.end()) {
            // Not for it, but its position moves on: a notice keeps its offsets gap-free.
            if (!notice_frame) {
                const position_view pv{j.offset, j.epoch};
                notice_frame = frame_for(codec_.encode(
                    outbound{.type = message_type::subscribe, .topic = t.name, .position = &pv}));
            }
            send_counted(*s, *notice_frame, shard);
        } else {
            deliver_to(*s, j, tl);
        }
        if (i < subs.size() && subs[i].first == s)
            ++i;
        if (subs.empty())
            return; // the topic went with its last subscriber (pinned: still allocated)
    }
}

template <class H, class P> void pool_engine<H, P>::deliver(std::size_t shard, job& j) {
    auto& st = local(shard);
    tally t;
    // Counted once per shard and job, not per recipient: the loop is the broadcast's hot path.
    struct flush_tally {
        pool_engine& e;
        job& j;
        tally& t;
        detail::shard_counters& c;
        ~flush_tally() {
            if (t.delivered + t.dropped == 0)
                return;
            j.delivered.fetch_add(t.delivered, std::memory_order_relaxed);
            j.backpressure.fetch_add(t.backpressure, std::memory_order_relaxed);
            j.dropped.fetch_add(t.dropped, std::memory_order_relaxed);
            detail::shard_counters::add(c.messages_sent, t.delivered);
            detail::shard_counters::add(c.bytes_sent, t.delivered * j.frame.size());
            detail::shard_counters::add(c.messages_failed, t.dropped);
            e.metrics_.messages_sent.inc(t.delivered);
            e.metrics_.sent_bytes.inc(t.delivered * j.frame.size());
            if (t.dropped)
                e.metrics_.messages_dropped.inc(t.dropped);
        }
    } flush{*this, j, t, st.counters};
    switch (j.kind) {
    case target_kind::topic: {
        auto it = st.topics.find(j.key);
        if (it == st.topics.end())
            return;
        if constexpr (sequenced)
            if (j.offset != 0)
                return deliver_numbered(shard, *it->second, j, t);
        const detail::topic_pin pin(*it->second);
        auto& subs = it->second->subs;
        // A send can close its connection (a slow consumer), whose on_close leaves the topic:
        // the last subscriber then takes its place, which is looked at next.
        for (std::size_t i = 0; i < subs.size();) {
            // Subscribers are scattered over the heap: asking for those a few places ahead
            // overlaps their cache misses with this delivery (at 10,000 subscribers, loading
            // each session was most of the loop's time).
            if (i + prefetch_ahead < subs.size())
                static_cast<session_type*>(subs[i + prefetch_ahead].first)->prefetch();
            auto* s = static_cast<session_type*>(subs[i].first);
            deliver_to(*s, j, t);
            if (i < subs.size() && subs[i].first == s)
                ++i;
            if (subs.empty())
                return; // the topic went with its last subscriber (pinned: still allocated)
        }
        return;
    }
    case target_kind::user: {
        auto it = st.users.find(j.key);
        if (it == st.users.end())
            return;
        // A close during a send changes the list (and may erase it): deliver from a copy, in
        // the shard's reused vector unless a hook's nested send is using it.
        const bool nested = st.user_scratch_busy;
        std::vector<session_type*> own;
        auto& list = nested ? own : st.user_scratch;
        list.assign(it->second.begin(), it->second.end());
        st.user_scratch_busy = true;
        for (auto* s : list)
            deliver_to(*s, j, t);
        st.user_scratch_busy = nested;
        if (list.capacity() > 4096)
            list = {}; // a user with very many connections does not pin its list's size
        return;
    }
    case target_kind::ids:
        for (auto id : j.ids)
            if (auto it = st.ids.find(id); it != st.ids.end())
                deliver_to(*it->second, j, t);
        return;
    }
}

// --- maintenance --------------------------------------------------------------------------------

template <class H, class P> void pool_engine<H, P>::on_tick(std::size_t shard) {
    auto& st = local(shard);
    const auto now = detail::system_ms();
    if (st.next_heartbeat_ms == 0) {
        // Spread the shards' passes over their intervals.
        st.next_heartbeat_ms = now + opts_.heartbeat_interval.count();
        st.next_cleanup_ms = now + opts_.cleanup_interval.count();
    }
    if (opts_.heartbeat_envelope && opts_.heartbeat_interval.count() > 0 &&
        now >= st.next_heartbeat_ms) {
        st.next_heartbeat_ms = now + opts_.heartbeat_interval.count();
        const auto text = codec_.encode(outbound{.type = message_type::heartbeat});
        const auto frame = frame_for(text);
        for (auto& [id, s] : st.ids)
            s->send(frame);
    }
    if (opts_.cleanup_interval.count() > 0 && now >= st.next_cleanup_ms) {
        st.next_cleanup_ms = now + opts_.cleanup_interval.count();
        cleanup_shard(shard, now);
    }
    // Tokens that expired close their connections within a sweep, whatever the intervals.
    const auto now_s = now / 1000;
    for (auto& [id, s] : st.ids)
        if (s->data().expires != 0 && now_s >= s->data().expires && s->is_open())
            close_with(*s, close_codes::token_expired, "token expired");
}

template <class H, class P>
std::size_t pool_engine<H, P>::cleanup_shard(std::size_t shard, std::int64_t now) {
    auto& st = local(shard);
    detail::shard_counters::add(st.counters.cleanup_runs);
    std::vector<session_type*> stale;
    for (auto& [id, s] : st.ids) {
        if (!s->is_open())
            continue;
        const auto& d = s->data();
        // Stale: no message and no other input, a Pong to the keep-alive Ping included
        // (pool_options::connection_timeout), so a live client that sends nothing stays.
        if (opts_.connection_timeout.count() > 0 &&
            now - d.last_activity_ms >= opts_.connection_timeout.count() &&
            s->quiet_ms() >= opts_.connection_timeout.count())
            stale.push_back(s);
        else if (opts_.limits.max_send_failures != 0 &&
                 d.send_failures >= opts_.limits.max_send_failures)
            stale.push_back(s);
    }
    for (auto* s : stale) {
        const bool failing = opts_.limits.max_send_failures != 0 &&
                             s->data().send_failures >= opts_.limits.max_send_failures;
        close_with(*s, failing ? close_codes::send_failures : close_codes::stale,
                   failing ? "sends keep failing" : "stale connection");
    }
    detail::shard_counters::add(st.counters.cleanup_removed, stale.size());
    metrics_.cleanup_runs.inc();
    metrics_.cleanup_removed.inc(stale.size());
    pier::log::cleanup(
        log_, stale.size(),
        std::chrono::duration<double, std::milli>(detail::system_ms() - now).count());
    if (shard == 0)
        log_.flush_suppressed();
    return stale.size();
}

template <class H, class P> void pool_engine<H, P>::cleanup(std::function<void(std::size_t)> done) {
    const auto now = detail::system_ms();
    gather(
        *srv_, [this, now](std::size_t i) { return cleanup_shard(i, now); },
        [done = std::move(done)](std::vector<std::size_t> v) {
            std::size_t n = 0;
            for (auto x : v)
                n += x;
            if (done)
                done(n);
        });
}

template <class H, class P>
void pool_engine<H, P>::disconnect(std::function<bool(session_type&)> select, std::uint16_t code,
                                   std::string reason, std::function<void(std::size_t)> done) {
    auto sel = std::make_shared<std::function<bool(session_type&)>>(std::move(select));
    gather(
        *srv_,
        [this, sel, code, reason](std::size_t i) {
            std::vector<session_type*> picked;
            for (auto& [id, s] : local(i).ids)
                if (s->is_open() && (*sel)(*s))
                    picked.push_back(s);
            for (auto* s : picked)
                close_with(*s, code, reason);
            return picked.size();
        },
        [done = std::move(done)](std::vector<std::size_t> v) {
            std::size_t n = 0;
            for (auto x : v)
                n += x;
            if (done)
                done(n);
        });
}

template <class H, class P>
void pool_engine<H, P>::for_each_connection(std::function<void(session_type&)> visit,
                                            std::function<void()> done) {
    auto v = std::make_shared<std::function<void(session_type&)>>(std::move(visit));
    gather(
        *srv_,
        [this, v](std::size_t i) {
            for (auto& [id, s] : local(i).ids)
                (*v)(*s);
            return 0;
        },
        [done = std::move(done)](std::vector<int>) {
            if (done)
                done();
        });
}

template <class H, class P> pool_figures pool_engine<H, P>::figures() const {
    pool_figures f;
    auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    std::array<std::uint64_t, static_cast<std::size_t>(detail::limit::count_)> refused{};
    for (auto& st : *shards_) {
        const auto& c = st.counters;
        f.total += get(c.total);
        f.messages_sent += get(c.messages_sent);
        f.messages_failed += get(c.messages_failed);
        f.messages_received += get(c.messages_received);
        f.bytes_sent += get(c.bytes_sent);
        f.bytes_received += get(c.bytes_received);
        f.cleanup_runs += get(c.cleanup_runs);
        f.cleanup_removed += get(c.cleanup_removed);
        f.errors += get(c.errors);
        f.auth_failures += get(c.auth_failures);
        f.subscriptions += get(c.subscriptions);
        for (std::size_t i = 0; i < refused.size(); ++i)
            refused[i] += get(c.refused[i]);
    }
    f.active = active_.load(std::memory_order_relaxed);
    f.users = user_counts_.keys();
    for (std::size_t i = 0; i < refused.size(); ++i)
        f.refused.emplace(detail::limit_names[i], refused[i]);
    return f;
}

template <class H, class P>
std::vector<std::pair<std::string, std::uint64_t>> pool_engine<H, P>::topic_counts() const {
    std::vector<std::pair<std::string, std::uint64_t>> v;
    topic_counts_.for_each([&](std::string_view k, std::size_t n) { v.emplace_back(k, n); });
    std::sort(v.begin(), v.end());
    return v;
}

// --- cluster-wide requests, this process's part -------------------------------------------------

namespace detail {
/// Most entries one node puts in a survey's answer, and so how deep a cluster-wide listing
/// pages (the admin API asks each node for its newest offset + limit connections, at most
/// this many). 10,000: a listing entry is about 400 bytes, so an answer stays near 4 MB, under
/// redis_options::max_control_message (8 MiB).
inline constexpr std::size_t cluster_listing_window = 10000;
/// `args.limit`, within [1, cluster_listing_window]; 1,000 when absent or not a number. Bounds
/// what one node puts in an answer (and so in a Redis message).
inline std::size_t survey_limit(const nlohmann::json& args) {
    if (args.is_object())
        if (auto it = args.find("limit"); it != args.end() && it->is_number_unsigned())
            return std::clamp<std::uint64_t>(it->get<std::uint64_t>(), 1, cluster_listing_window);
    return 1000;
}
inline std::string survey_string(const nlohmann::json& args, const char* key) {
    if (args.is_object())
        if (auto it = args.find(key); it != args.end() && it->is_string())
            return it->get<std::string>();
    return {};
}
inline nlohmann::json figures_json(const pool_figures& f) {
    nlohmann::json refused = nlohmann::json::object();
    for (const auto& [k, v] : f.refused)
        refused[k] = v;
    return nlohmann::json{{"active", f.active},
                          {"total", f.total},
                          {"users", f.users},
                          {"messages_sent", f.messages_sent},
                          {"messages_failed", f.messages_failed},
                          {"messages_received", f.messages_received},
                          {"bytes_sent", f.bytes_sent},
                          {"bytes_received", f.bytes_received},
                          {"cleanup_runs", f.cleanup_runs},
                          {"cleanup_removed", f.cleanup_removed},
                          {"errors", f.errors},
                          {"auth_failures", f.auth_failures},
                          {"subscriptions", f.subscriptions},
                          {"refused", std::move(refused)}};
}
} // namespace detail

template <class H, class P>
void pool_engine<H, P>::local_survey(std::string_view kind, const nlohmann::json& args,
                                     std::function<void(nlohmann::json)> done) {
    if (kind == "stats") {
        auto j = detail::figures_json(figures());
        j["backplane"] = to_json(node_.state());
        return done(std::move(j));
    }
    const auto limit = detail::survey_limit(args);
    if (kind == "topics") {
        auto list = nlohmann::json::array();
        for (const auto& [name, n] : topic_counts()) {
            if (list.size() >= limit)
                break;
            list.push_back(nlohmann::json{{"topic", name}, {"subscribers", n}});
        }
        return done(nlohmann::json{{"topics", std::move(list)}});
    }
    if (kind != "connections")
        return done(nlohmann::json{{"error", "unknown_survey"}});
    // The admin API's own listing, its filter read from `args`: one piece of code answers for
    // this node and for every node's part of a cluster-wide listing.
    admin_connections(filter_of(args), [done = std::move(done)](nlohmann::json j, std::size_t) {
        done(std::move(j));
    });
}

template <class H, class P>
void pool_engine<H, P>::local_disconnect(const cluster_selector& select, std::uint16_t code,
                                         std::string reason,
                                         std::function<void(std::size_t)> done) {
    auto keys =
        std::make_shared<std::unordered_set<std::string, detail::string_hash, std::equal_to<>>>(
            select.keys.begin(), select.keys.end());
    std::function<bool(session_type&)> pick;
    switch (select.by) {
    case cluster_selector::kind::user:
        pick = [keys](session_type& s) { return keys->contains(s.data().user_id); };
        break;
    case cluster_selector::kind::topic:
        pick = [keys](session_type& s) {
            for (const auto& m : s.data().topics)
                if (keys->contains(m.t->name))
                    return true;
            return false;
        };
        break;
    case cluster_selector::kind::ids: {
        auto ids = std::make_shared<std::unordered_set<std::uint64_t>>();
        for (const auto& k : select.keys)
            if (auto id = ws::pool<H, P>::parse_id(k))
                ids->insert(*id);
        pick = [ids](session_type& s) { return ids->contains(s.id()); };
        break;
    }
    }
    disconnect(std::move(pick), code, std::move(reason), std::move(done));
}

} // namespace pier::pool

// --- ws::pool ---------------------------------------------------------------------------------

namespace pier::ws {

template <class H, class P> ws::options pool<H, P>::default_ws_options() {
    ws::options o;
    // Envelopes are small and many: the pool's own limit (pool_limits::max_message_size)
    // applies, and deflate is off unless asked for (its memory per connection).
    o.limits.max_message_size = 64 * 1024;
    o.limits.max_frame_size = 64 * 1024;
    o.deflate.enabled = false;
    return o;
}

template <class H, class P>
pool<H, P>::pool(server_options so, pier::pool::pool_options po, H h, ws::options wo,
                 typename backplane_type::options bo) {
    wo.limits.max_message_size = po.limits.max_message_size;
    wo.limits.max_frame_size = po.limits.max_message_size;
    wo.deflate.max_message_size = po.limits.max_message_size;
    wo.ping_interval = po.heartbeat_interval;
    server_ = std::make_unique<server_type>(std::move(so), std::move(wo), std::in_place,
                                            std::move(po), std::move(h), std::move(bo));
    server_->ws_handler().bind(*server_);
}

template <class H, class P>
pool<H, P>::pool(server_options so, typename server_type::transport_options to,
                 pier::pool::pool_options po, H h, ws::options wo,
                 typename backplane_type::options bo) {
    wo.limits.max_message_size = po.limits.max_message_size;
    wo.limits.max_frame_size = po.limits.max_message_size;
    wo.deflate.max_message_size = po.limits.max_message_size;
    wo.ping_interval = po.heartbeat_interval;
    server_ =
        std::make_unique<server_type>(std::move(so), std::move(to), std::move(wo), std::in_place,
                                      std::move(po), std::move(h), std::move(bo));
    server_->ws_handler().bind(*server_);
}

template <class H, class P> pool<H, P>::~pool() {
    // The backplane first: nothing from other nodes reaches the shards while they stop.
    server_->ws_handler().backplane().stop();
    stop();
    wait();
}

template <class H, class P> void pool<H, P>::start() {
    server_->start();
    server_->ws_handler().backplane().start();
}
template <class H, class P> void pool<H, P>::run() {
    start();
    wait();
}
template <class H, class P> void pool<H, P>::stop() noexcept {
    server_->stop();
}
template <class H, class P> void pool<H, P>::wait() {
    server_->wait();
}
template <class H, class P> H& pool<H, P>::handler() noexcept {
    return server_->ws_handler().handler();
}
template <class H, class P> const pier::pool::pool_options& pool<H, P>::options() const noexcept {
    return server_->ws_handler().options();
}

template <class H, class P>
void pool<H, P>::publish(std::string_view topic, pier::pool::outbound env,
                         std::span<const std::uint64_t> exclude, done_fn done) {
    server_->ws_handler().send(engine_type::target_kind::topic, std::string(topic), {}, env,
                               {exclude.begin(), exclude.end()}, std::move(done));
}
template <class H, class P>
void pool<H, P>::send_to_user(std::string_view user, pier::pool::outbound env,
                              std::span<const std::uint64_t> exclude, done_fn done) {
    server_->ws_handler().send(engine_type::target_kind::user, std::string(user), {}, env,
                               {exclude.begin(), exclude.end()}, std::move(done));
}
template <class H, class P>
void pool<H, P>::send_to(std::span<const std::uint64_t> ids, pier::pool::outbound env,
                         done_fn done) {
    server_->ws_handler().send(engine_type::target_kind::ids, {}, {ids.begin(), ids.end()}, env, {},
                               std::move(done), false);
}
template <class H, class P>
void pool<H, P>::disconnect(std::function<bool(connection&)> select, std::uint16_t code,
                            std::string reason, std::function<void(std::size_t)> done) {
    server_->ws_handler().disconnect(std::move(select), code, std::move(reason), std::move(done));
}
template <class H, class P> void pool<H, P>::cleanup(std::function<void(std::size_t)> done) {
    server_->ws_handler().cleanup(std::move(done));
}
template <class H, class P>
void pool<H, P>::for_each_connection(std::function<void(connection&)> visit,
                                     std::function<void()> done) {
    server_->ws_handler().for_each_connection(std::move(visit), std::move(done));
}
template <class H, class P>
void pool<H, P>::cluster_disconnect(pier::pool::cluster_selector select, std::uint16_t code,
                                    std::string reason, std::chrono::milliseconds deadline,
                                    answer_fn done) {
    server_->ws_handler().backplane().cluster_disconnect(std::move(select), code, std::move(reason),
                                                         deadline, std::move(done));
}
template <class H, class P>
void pool<H, P>::cluster_survey(std::string kind, nlohmann::json args,
                                std::chrono::milliseconds deadline, answer_fn done) {
    server_->ws_handler().backplane().cluster_survey(std::move(kind), std::move(args), deadline,
                                                     std::move(done));
}
template <class H, class P> pier::pool::backplane_state pool<H, P>::backplane_state() const {
    return server_->ws_handler().backplane().state();
}
template <class H, class P> std::string_view pool<H, P>::node_id() const noexcept {
    return server_->ws_handler().backplane().node_id();
}
template <class H, class P> typename pool<H, P>::figures pool<H, P>::stats() const {
    return server_->ws_handler().figures();
}
template <class H, class P>
std::vector<std::pair<std::string, std::uint64_t>> pool<H, P>::topics() const {
    return server_->ws_handler().topic_counts();
}

template <class H, class P> std::string pool<H, P>::id_text(std::uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return std::string(buf, 16);
}
template <class H, class P>
std::optional<std::uint64_t> pool<H, P>::parse_id(std::string_view text) {
    if (text.size() != 16)
        return std::nullopt;
    std::uint64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v, 16);
    if (r.ec != std::errc{} || r.ptr != text.data() + text.size())
        return std::nullopt;
    for (char c : text)
        if (c >= 'A' && c <= 'F')
            return std::nullopt; // one spelling: lowercase
    return v;
}

} // namespace pier::ws

#include <pier/pool/impl/admin.hpp>
