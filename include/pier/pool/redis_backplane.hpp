// pier/pool/redis_backplane.hpp: `pier::pool::redis`, the backplane that joins several
// instances of a pool (ws::pool) through Redis 7 or a Redis Cluster, so that every client gets
// what is published to its topics or its user, whichever instance it is connected to. Needs
// hiredis: link the CMake target pier::redis, and include this header explicitly (<pier/pool.hpp>
// does not, so that builds without hiredis keep the pool).
//
//     pier::pool::redis_options ro;
//     ro.url = "redis-cluster://10.0.0.1:7000,10.0.0.2:7000";     // or redis://host:6379/0
//     ro.node_id = "eu-1";                                        // default: random
//     pier::ws::pool<app, pier::policies<pier::pool::redis>> pool(so, po, {}, ws_opts, ro);
//     pool.start();
//     pool.publish("news", {.data = R"({"title":"hello"})"});    // every instance's subscribers
//
// Data plane, interest-based (as Centrifugo and SignalR, not `PSUBSCRIBE *` as Socket.IO's
// and Soketi's adapters): a node subscribes to a topic's channel only while it has local
// subscribers of that topic, and to a user's channel only while that user has local
// connections; it unsubscribes when the last one leaves. Interest changes are gathered and
// applied on the node's Redis thread, where the Redis client batches a loop pass's
// subscribes into one SSUBSCRIBE (per slot in a cluster), so a burst of joins costs one
// command. Channels are sharded (SSUBSCRIBE/SPUBLISH), routed by hash slot to the owning
// master in a cluster; the client follows MOVED and slot moves (pier/redis/client.hpp).
//
// Topics are numbered. A topic publish runs a Lua script at the topic's master that takes the
// next offset of the topic's counter (creating the topic's epoch, a random name for this run
// of its history, if there is none), appends the message to a bounded per-topic stream
// (history_size entries, kept history_ttl after the last publish) and SPUBLISHes it, all in
// one atomic step. So every node, the publishing one included, receives a topic's messages
// from one ordered source, with their offset and epoch, and each node encodes the envelope
// once ({"type":"data","topic":T,"offset":N,"epoch":E,…}) for all its subscribers.
//
// Why the origin does not deliver its own topic publishes at once: its clients must see the
// offsets, in order. The script's reply and the channel message travel on two connections, so
// delivering from the reply could put message 5 (this node's) after message 6 (another
// node's, already received on the subscription), and a client would take 5 for a duplicate
// or a gap. Delivering from the subscription costs this node's subscribers one Redis round
// trip (tens of microseconds on a LAN) and keeps one order everywhere. User sends are not
// numbered: they are delivered locally at once and published once, and the origin skips its
// own copy (by node id). When the script fails (Redis down, the queue full, an error), the
// message is delivered locally at once without a position, and counted in publish_errors; it
// is lost for the other nodes, as with every adapter, but not unnoticed: see resync below.
//
// Positions and recovery (pool/envelope.hpp). A subscribe is acknowledged once the node's
// subscription to the topic's channel is confirmed, with the topic's position:
// {"type":"subscribe","topic":T,"offset":N,"epoch":E}. Until then the client's live messages
// are held back, and anything that arrived meanwhile is fetched from the history, so that
// the client sees exactly the messages after N, in order, once each. A subscribe with
// {"since":{"offset":S,"epoch":E}} gets the same acknowledgement followed by every message
// after S, or an error saying why that is impossible ("epoch_changed": Redis lost the history
// or it expired; "history_trimmed": more than history_size messages were missed;
// "recovery_unavailable": Redis did not answer), followed by the acknowledgement with the
// current position. Live messages a connection already has (by offset) are never sent twice.
// With ?topics=a,b at connect, each topic gets the same acknowledgement after the welcome.
//
// Failure behaviour. Redis down: local delivery is unaffected; publishes are counted as
// errors; subscribes are acknowledged without a position (a `since` gets recovery_unavailable).
// The Redis client reconnects with backoff and jitter and resubscribes every wanted channel;
// for each topic channel confirmed again, the node sends its local subscribers a position
// notice (the acknowledgement envelope again, with the current position): a client whose last
// offset is behind it, or whose epoch differs, has missed messages and subscribes with `since`
// to get them. A liveness probe goes through the pub/sub path end to end every probe_interval
// (published by this node to its own channel); one not received within probe_timeout marks
// the backplane disconnected, and reset_after_probe_failures of them in a row replace the
// Redis client (new connections, everything resubscribed and resynchronised). Each Redis
// connection also answers PINGs (redis::subscriber_options::probe_interval).
//
// Control plane. One channel (`<prefix>ctl`, plain pub/sub: every node) carries
// cluster-wide disconnects and surveys; answers come back on the asking node's own channel.
// Nodes announce themselves in a sorted set every presence_interval, so a survey knows whom
// to wait for: it ends when every live node answered or at its deadline, and says which
// nodes did not answer.
//
// Limits are per node: pool_limits (max_connections, max_per_topic, max_per_user, …) count
// this process's connections only. A cluster-wide limit would need counters that survive a
// node's death; operators multiply by the node count.
//
// Threads: each node runs its Redis client on a thread of its own (its own io_context), so
// that neither the shards nor the Redis reader ever wait for each other: the shards post
// interest, publishes and position requests to it (publishes bounded by max_outgoing_bytes),
// and it hands messages to the shards through the pool's bounded, one-post-per-shard path
// (a mailbox full of a slow shard refuses; the node then resynchronises that topic). The
// reader never waits on WebSocket clients (Redis cuts off a subscriber 32 MB behind).
#pragma once

#include <pier/config.hpp>
#include <pier/pool/backplane.hpp>
#include <pier/pool/detail/backplane_wire.hpp>
#include <pier/pool/envelope.hpp>
#include <pier/redis/client.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pier::pool {

/// Every tunable of the Redis backplane, with its default and why.
struct redis_options {
    /// Where Redis is: `redis://[[user]:pass@]host:port[/db]` (`rediss://` for TLS) or
    /// `redis-cluster://host:port,host:port,…` (pier/redis/url.hpp). Required.
    std::string url;
    /// This node's name in control messages, answers and presence: 1–64 printable ASCII
    /// characters without space, `{`, `}`. Default empty: 16 random hex digits, new at
    /// every start (a restarted node is a new node).
    std::string node_id;
    /// Prepended to every channel and key, so that several pools (or environments) share one
    /// Redis. Same characters as node_id. Default "pier:".
    std::string prefix = "pier:";
    /// The Redis client's connections, queues, timeouts, reconnects and probes.
    pier::redis::client_options client{};
    /// How long interest changes are gathered before they are applied: the joins and leaves
    /// of one burst (a client subscribing to many topics, many clients joining one) become one
    /// SSUBSCRIBE/SUNSUBSCRIBE (per slot in a cluster). Default 1 ms: a burst on a shard's loop
    /// takes microseconds, and a first subscriber waits this much longer for its acknowledgement.
    std::chrono::microseconds interest_delay{1000};
    /// Messages kept per topic for recovery (exact trimming, XADD MAXLEN). Default 1,000: a
    /// client that was away for a short reconnect on a busy topic still finds what it missed,
    /// at about body size × 1,000 of Redis memory per active topic. 0 keeps none (positions
    /// only: every gap is reported as history_trimmed).
    std::size_t history_size = 1000;
    /// How long a topic's history outlives its last publish. Default 300 s (Centrifugo's
    /// usual): reconnects take seconds; a client away longer starts afresh.
    std::chrono::seconds history_ttl{300};
    /// How long a topic's counter and epoch outlive their last use (publish or subscribe).
    /// Default 24 h: longer than the history, so that a client back after the history expired
    /// gets history_trimmed (same epoch, messages gone) rather than a new epoch; after it, the
    /// topic starts a new epoch and clients get epoch_changed.
    std::chrono::seconds meta_ttl{24 * 3600};
    /// How long a subscribe may wait for its position (the channel's confirmation and the
    /// script's answer) before it is acknowledged without one. Default 2 s: Redis answers in
    /// milliseconds; beyond this it is down or overloaded, and clients should not wait.
    std::chrono::milliseconds position_timeout{2000};
    /// Position requests waiting at once; more are answered recovery_unavailable at once.
    /// Default 65,536: a mass reconnect of this many clients is one burst of scripts.
    std::size_t max_pending_positions = 65536;
    /// Bytes of publishes handed to the Redis thread and not yet given to the client (whose
    /// own queue is bounded by client.connection.max_queued_bytes). Past it a publish is
    /// delivered locally only and counted as an error. Default 16 MiB.
    std::size_t max_outgoing_bytes = 16 * 1024 * 1024;
    /// The end-to-end probe: every probe_interval this node publishes to its own channel and
    /// must receive it within probe_timeout. Defaults 2 s and 2 s: a path that delivers
    /// nothing is noticed within about 4 s.
    std::chrono::milliseconds probe_interval{2000};
    std::chrono::milliseconds probe_timeout{2000};
    /// Probes lost in a row (while Redis accepted the publishes) before the Redis client is
    /// replaced. Default 3; 0 never replaces it (the failures still show in state()).
    std::uint32_t reset_after_probe_failures = 3;
    /// How often the node refreshes its entry in the presence set; entries older than three
    /// intervals are not waited for. Default 2 s.
    std::chrono::milliseconds presence_interval{2000};
    /// Longest deadline a cluster-wide request may ask for (longer ones are cut). Default 30 s.
    std::chrono::milliseconds max_deadline{30000};
    /// How long the pool's admin API (stats, disconnect) waits for the other nodes' answers
    /// before it replies with those it has and names the missing ones. Default 2 s: an HTTP
    /// client's patience, and many round trips of a loaded Redis.
    std::chrono::milliseconds admin_deadline{2000};
    /// Cluster-wide requests this node may have waiting at once; more are answered at once with
    /// this node alone. Default 256.
    std::size_t max_pending_requests = 256;
    /// Largest control message accepted from the control channel (bigger ones are dropped and
    /// counted in bad_messages). Default 8 MiB: a connection listing of 10,000 entries.
    std::size_t max_control_message = 8 * 1024 * 1024;
};

/// The Redis backplane policy (models pier::backplane_policy).
struct redis {
    using category = pier::category::backplane;
    using options = redis_options;

    template <class Pool> class node;
};

/// One node of the cluster: the per-pool instance of pool::redis. Entry points may be called
/// from any thread; they post to the node's thread and return.
template <class Pool> class redis::node {
public:
    static constexpr bool sequenced = true;

    /// Throws std::invalid_argument for a bad node id or prefix, std::system_error for a bad
    /// URL. Connects at start().
    node(Pool& pool, const redis_options& o);
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    void start();
    /// Closes the Redis client and joins the node's thread; idempotent. Must not be called from
    /// the node's own thread (a callback of a cluster-wide request).
    void stop() noexcept;

    void topic_interest(std::string_view topic, bool on);
    void user_interest(std::string_view user, bool on);
    /// The changes made until the matching release are applied in one drain (one SSUBSCRIBE
    /// per slot), even if the shard pauses for longer than interest_delay in between.
    void hold_interest();
    void release_interest();
    bool publish_topic(std::string_view topic, const outbound& env,
                       std::span<const std::uint64_t> exclude,
                       std::function<void(const send_report&)>& done);
    void publish_user(std::string_view user, std::string_view encoded,
                      std::span<const std::uint64_t> exclude);
    void request_position(position_request req);
    void cluster_disconnect(cluster_selector sel, std::uint16_t code, std::string reason,
                            std::chrono::milliseconds deadline,
                            std::function<void(cluster_answer)> done);
    void cluster_survey(std::string kind, nlohmann::json args, std::chrono::milliseconds deadline,
                        std::function<void(cluster_answer)> done);

    backplane_state state() const;
    bool connected() const noexcept;
    std::string_view node_id() const noexcept { return id_; }
    /// redis_options::admin_deadline.
    std::chrono::milliseconds admin_deadline() const noexcept { return opt_.admin_deadline; }

private:
    using clock = std::chrono::steady_clock;
    using send_done = std::function<void(const send_report&)>;
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    template <class V>
    using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;
    using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

    struct waiter {
        position_request req;
        clock::time_point deadline;
    };
    struct topic_entry {
        std::string name, channel, meta, stream;
        bool confirmed = false;      // the channel's subscription was confirmed
        bool ever_confirmed = false; // … before: a confirmation is a resubscription
        std::vector<waiter> waiters; // position requests waiting for the confirmation
        // The last message this node received (or the position it started from): where a
        // resynchronisation fetches from.
        bool known = false;
        stream_position last{};
        // The first position handed to a subscriber while nothing was known: a resync before
        // any message arrived fetches from there.
        std::optional<stream_position> floor{};
        // A resynchronisation is running: live messages are held back (dropped, and fetched
        // again from the history by another round if the last one is not covered).
        bool resyncing = false;
        bool again = false; // another one was asked for meanwhile
        // The last one found Redis unreachable: the sweep runs it again once Redis is back
        // (the subscription's confirmation may have come before the commands' connection).
        bool retry = false;
        std::optional<stream_position> dropped{};
        std::optional<stream_position> resync_from{}; // a lower bound asked for meanwhile
        // This node's own publishes: the last sequence number seen back on the channel, and
        // those delivered here unnumbered because Redis's answer was lost (the script may or
        // may not have run): if their numbered copy comes after all, subscribers get its
        // position only, not the message twice.
        std::uint64_t own_seen = 0;
        std::set<std::uint64_t> unnumbered{};
        /// How many own publishes a topic remembers, in `unnumbered` and in `own_pending`
        /// each; past it, the oldest is forgotten (unnumbered) or delivered now (pending).
        static constexpr std::size_t own_limit = 4096;
        // Own publishes Redis numbered whose copy has not come back on the channel yet (by
        // sequence number; their bodies and deadlines). Their local subscribers get them from
        // that copy; if it never comes (Redis killed between the script's answer and the
        // publish reaching this node's subscription, or a resync that finds a new history),
        // they get them unnumbered instead: before the next publish that fails, or at the
        // deadline. Never lost on the node that sent them. A deque in sequence order (the
        // script's answers come in publish order): no allocation per publish, and the one
        // that comes back is almost always the first.
        struct own_entry {
            std::uint64_t seq;
            std::string body;
            clock::time_point deadline;
        };
        std::deque<own_entry> own_pending{};
    };
    enum class channel_kind : std::uint8_t { topic, user, control, reply };
    struct channel_ref {
        channel_kind kind;
        std::string key; // topic or user
    };
    struct own_publish {
        send_done done;
        clock::time_point deadline;
    };
    struct request {
        std::function<void(cluster_answer)> done;
        cluster_answer answer;
        std::optional<std::vector<std::string>> expected; // live nodes, once known
        bool local_done = false;
        std::unique_ptr<asio::steady_timer> timer;
    };

    // --- on the node's thread ---------------------------------------------------------------
    void begin();
    void make_client();
    void subscribe_all();
    void schedule_drain();
    void drain_interest();
    void apply_topic(const std::string& topic, bool want);
    void apply_user(const std::string& user, bool want);
    void on_message(const pier::redis::message& m);
    void on_subscribed(std::string_view channel, bool again);
    void on_topic_message(topic_entry& t, std::string_view payload);
    void on_user_message(const std::string& user, std::string_view payload);
    void on_control(std::string_view payload);
    void run_publish(std::string topic, std::string body, send_done done);
    void deliver_unnumbered(const std::string& topic, std::string_view body, send_done done);
    /// Delivers unnumbered, in order, the own publishes still pending whose sequence number is
    /// below `below`, or whose deadline passed (`now`).
    void flush_own(topic_entry& t, std::uint64_t below, clock::time_point now);
    void deliver_numbered(topic_entry& t, std::uint64_t offset, std::string_view epoch,
                          const detail::wire::body_view& b, send_done done);
    void enqueue_position(waiter w);
    void serve_position(topic_entry& t, position_request req);
    void answer_position(const position_request& req, position_result r);
    void resync(topic_entry& t, std::optional<stream_position> from = std::nullopt);
    void sweep();
    void probe();
    void presence();
    void reset_client();
    void start_request(nlohmann::json msg, std::chrono::milliseconds deadline,
                       std::function<void(cluster_answer)> done,
                       std::function<void(std::function<void(nlohmann::json)>)> run_local);
    void add_answer(const std::string& id, const std::string& node, nlohmann::json result);
    void heard_from(const std::string& node);
    std::vector<std::string> known_peers();
    void request_alone(request& r, std::string why);
    void check_request(const std::string& id);
    void finish_request(const std::string& id);
    void serve_request(const nlohmann::json& msg);
    void publish_control(const std::string& channel, const nlohmann::json& msg);
    std::string new_epoch();
    void post(std::function<void()> fn);
    template <class Env> std::string encode(const Env& e) const;

    Pool& pool_;
    redis_options opt_;
    std::string id_;
    std::string control_, reply_, presence_key_;
    pier::redis::script publish_script_, position_script_;

    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::mutex life_; // start/stop
    bool started_ = false, stopped_ = false;

    // Interest, from any thread: names whose truth changed, applied in one pass.
    std::mutex pending_m_;
    string_set pending_topics_, pending_users_;
    bool drain_posted_ = false;
    int interest_holds_ = 0;      // hold_interest() calls not yet released
    bool drain_deferred_ = false; // the drain came during a hold: release_interest runs it

    // The node's thread only.
    std::unique_ptr<pier::redis::client> client_;
    string_map<topic_entry> topics_;
    string_map<std::string> users_; // user → channel
    string_map<channel_ref> channels_;
    std::size_t waiting_ = 0;   // waiters over every topic, and early ones
    std::vector<waiter> early_; // position requests whose topic's interest is not applied yet
    std::unordered_map<std::uint64_t, own_publish> own_;
    std::map<std::string, request> requests_;
    // Other nodes this node heard from (presence listings, answers, requests) and when: whom a
    // request that cannot reach the cluster names as missing. Bounded by detail::max_known_peers.
    std::map<std::string, clock::time_point, std::less<>> peers_;
    std::uint64_t request_seq_ = 0;
    std::mt19937_64 rng_;
    asio::steady_timer sweep_timer_, probe_timer_, presence_timer_, interest_timer_;
    std::uint64_t seq_ = 0; // of this node's topic publishes, in the order they go to Redis
    std::uint64_t probe_sent_ = 0;
    clock::time_point probe_at_{};
    bool probe_outstanding_ = false;
    std::uint32_t probe_misses_ = 0;
    bool ever_up_ = false;
    bool closing_ = false;
    std::uint64_t retired_disconnects_ = 0; // of clients replaced by a reset

    // Any thread.
    std::atomic<std::size_t> outgoing_{0};
    std::atomic<bool> up_{false};      // mirrored from the client's stats by sweep()
    std::atomic<bool> probe_ok_{true}; // the last end-to-end probe came back
    struct counters {
        std::atomic<std::uint64_t> probe_rtt_us{0}, probe_failures{0}, resets{0}, publishes{0},
            publish_errors{0}, messages_in{0}, bad_messages{0}, channels{0}, disconnects{0},
            resubscribes{0}, resyncs{0}, positions{0}, recoveries{0}, recovery_failures{0};
    };
    counters c_;
};

} // namespace pier::pool

#include <pier/pool/impl/redis_backplane.hpp>
