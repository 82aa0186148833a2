// pier/pool/backplane.hpp: how a pool reaches its other instances (see backplane_policy in
// <pier/concepts.hpp> for the contract), and what every backplane reports.
//
// `local`, the default, has none: one process serves everyone, nothing leaves it, and every
// call below is an empty inline function the compiler removes. The Redis backplane for several
// machines is pier::pool::redis, <pier/pool/redis_backplane.hpp> (CMake target pier::redis).
//
// The cluster-wide operations (`ws::pool::cluster_disconnect`, `cluster_survey`) exist with
// every backplane: with `local` they answer for this process alone, so that an admin API can
// call them whatever the deployment.
#pragma once

#include <pier/fwd.hpp>
#include <pier/pool/envelope.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pier::pool {

struct send_report;

/// What a backplane reports about itself, for /healthz and /metrics (ws::pool::
/// backplane_state()). Counters only grow; a snapshot of atomics, so fields read together may
/// be a few microseconds apart.
struct backplane_state {
    /// False for `local` (the rest is then zero, and `connected` true).
    bool enabled = false;
    /// Redis is reachable: every connection up and the last end-to-end probe came back.
    bool connected = true;
    std::string node_id{};
    /// Round trip of the last end-to-end probe (published by this node, received through its
    /// own subscription), in microseconds: the lag of the pub/sub path.
    std::uint64_t probe_rtt_us = 0;
    /// End-to-end probes that were published but not received in time, and the client resets
    /// they caused.
    std::uint64_t probe_failures = 0, resets = 0;
    /// Messages published to Redis (topic and user sends, control), and those that failed:
    /// Redis down, a full queue, an error reply. A failed topic publish is still delivered to
    /// this node's subscribers, without a position.
    std::uint64_t publishes = 0, publish_errors = 0;
    /// Messages received from Redis, and those that were malformed (and dropped).
    std::uint64_t messages_in = 0, bad_messages = 0;
    /// Channels subscribed now (topics and users with local members, plus control).
    std::uint64_t channels = 0;
    /// Connections to Redis that were up and went down (each is followed by reconnects).
    std::uint64_t disconnects = 0;
    /// Channels confirmed again after a reconnect or a slot move, and the position notices
    /// sent to local subscribers because of them (so that clients see the gap).
    std::uint64_t resubscribes = 0, resyncs = 0;
    /// Subscribe acknowledgements with a position, recoveries asked for with `since`, and the
    /// answers that said recovery was impossible (epoch_changed, history_trimmed,
    /// recovery_unavailable).
    std::uint64_t positions = 0, recoveries = 0, recovery_failures = 0;
    /// Bytes of publishes waiting for the node's Redis thread (bounded by
    /// redis_options::max_outgoing_bytes).
    std::uint64_t outgoing_bytes = 0;
};

/// The backplane state as a JSON object (its field names), for admin replies.
inline nlohmann::json to_json(const backplane_state& s) {
    return nlohmann::json{{"enabled", s.enabled},
                          {"connected", s.connected},
                          {"node_id", s.node_id},
                          {"probe_rtt_us", s.probe_rtt_us},
                          {"probe_failures", s.probe_failures},
                          {"resets", s.resets},
                          {"publishes", s.publishes},
                          {"publish_errors", s.publish_errors},
                          {"messages_in", s.messages_in},
                          {"bad_messages", s.bad_messages},
                          {"channels", s.channels},
                          {"disconnects", s.disconnects},
                          {"resubscribes", s.resubscribes},
                          {"resyncs", s.resyncs},
                          {"positions", s.positions},
                          {"recoveries", s.recoveries},
                          {"recovery_failures", s.recovery_failures},
                          {"outgoing_bytes", s.outgoing_bytes}};
}

/// Which connections a cluster-wide disconnect closes: those of any of these users, those
/// subscribed to any of these topics, or those with these ids (16 lowercase hex digits, as the
/// protocol writes them; others match nothing).
struct cluster_selector {
    enum class kind : std::uint8_t { user, topic, ids };
    kind by = kind::user;
    std::vector<std::string> keys{};
};

constexpr std::string_view to_string(cluster_selector::kind k) noexcept {
    switch (k) {
    case cluster_selector::kind::user:
        return "user";
    case cluster_selector::kind::topic:
        return "topic";
    case cluster_selector::kind::ids:
        return "ids";
    }
    return "user";
}

/// One node's answer to a cluster-wide request.
struct node_answer {
    std::string node;
    /// disconnect: {"disconnected": n}; survey: what the kind returns (ws::pool::
    /// cluster_survey).
    nlohmann::json result;
};

/// The answers to a cluster-wide request, gathered until every live node answered or the
/// deadline passed.
struct cluster_answer {
    /// This node's answer first, then the others in the order they came.
    std::vector<node_answer> answered;
    /// Nodes that announced themselves recently (the presence set) but did not answer by the
    /// deadline; when the cluster could not be asked (`error`), the nodes this node heard from
    /// lately. Empty with `local`.
    std::vector<std::string> missing;
    /// Empty when the request went to the cluster; otherwise why only this node answered:
    /// "backplane_unavailable" (Redis unreachable, or the end-to-end probe failing),
    /// "too_many_requests" (redis_options::max_pending_requests waiting) or "stopping".
    std::string error;
};

/// A subscribe waiting for its topic's position (sequenced backplanes; see concepts.hpp).
struct position_request {
    std::size_t shard = 0;
    std::uint64_t connection = 0;
    /// Matches the answer to the latest request of that connection and topic.
    std::uint64_t generation = 0;
    std::string topic{};
    /// The last position the client saw: the messages after it are wanted.
    std::optional<stream_position> since{};
};

/// The answer to a position_request.
struct position_result {
    enum class status : std::uint8_t {
        ok,              ///< `position` is the topic's; `entries` follow `since` up to it
        epoch_changed,   ///< `since` belongs to another history (Redis lost it, or it expired)
        history_trimmed, ///< messages after `since` are no longer kept
        unavailable,     ///< Redis did not answer (down, or too slow): no position
    };
    status result = status::unavailable;
    stream_position position{};
    /// The messages after `since`, encoded (with their positions), oldest first.
    std::vector<std::pair<std::uint64_t, std::string>> entries{};
};

/// The error name a client gets for a failed recovery: "epoch_changed", "history_trimmed",
/// "recovery_unavailable" ("" for ok).
constexpr std::string_view to_string(position_result::status s) noexcept {
    switch (s) {
    case position_result::status::ok:
        return "";
    case position_result::status::epoch_changed:
        return "epoch_changed";
    case position_result::status::history_trimmed:
        return "history_trimmed";
    case position_result::status::unavailable:
        return "recovery_unavailable";
    }
    return "";
}

/// No backplane: every call is a no-op the compiler removes; the cluster-wide operations
/// answer for this process.
struct local {
    using category = pier::category::backplane;
    struct options {};

    /// The per-pool instance (see backplane_policy in concepts.hpp). `Pool` is the pool's
    /// engine.
    template <class Pool> class node {
    public:
        /// Topic messages are not numbered: no positions, no recovery.
        static constexpr bool sequenced = false;

        node(Pool& p, const options&) noexcept : pool_(p) {}
        void start() noexcept {}
        void stop() noexcept {}
        void topic_interest(std::string_view, bool) noexcept {}
        void user_interest(std::string_view, bool) noexcept {}
        void hold_interest() noexcept {}
        void release_interest() noexcept {}
        /// Never takes a topic publish: the pool delivers it itself.
        bool publish_topic(std::string_view, const outbound&, std::span<const std::uint64_t>,
                           std::function<void(const send_report&)>&) noexcept {
            return false;
        }
        void publish_user(std::string_view, std::string_view,
                          std::span<const std::uint64_t>) noexcept {}
        void request_position(position_request) noexcept {}
        void cluster_disconnect(cluster_selector sel, std::uint16_t code, std::string reason,
                                std::chrono::milliseconds,
                                std::function<void(cluster_answer)> done) {
            pool_.local_disconnect(
                sel, code, std::move(reason), [done = std::move(done)](std::size_t n) {
                    if (done)
                        done(cluster_answer{
                            {{"local", nlohmann::json{{"disconnected", n}}}}, {}, {}});
                });
        }
        void cluster_survey(std::string kind, nlohmann::json args, std::chrono::milliseconds,
                            std::function<void(cluster_answer)> done) {
            pool_.local_survey(kind, args, [done = std::move(done)](nlohmann::json r) {
                if (done)
                    done(cluster_answer{{{"local", std::move(r)}}, {}, {}});
            });
        }
        backplane_state state() const { return backplane_state{.node_id = "local"}; }
        bool connected() const noexcept { return true; }
        std::string_view node_id() const noexcept { return "local"; }

    private:
        Pool& pool_;
    };
};

} // namespace pier::pool
