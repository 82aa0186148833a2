// pool_backplane: several pier::ws::pool instances joined by the Redis backplane
// (pier::pool::redis), each on its own loopback port, with clients on different nodes, against
// real redis-server processes (standalone and a 3-master cluster) that the tests start, kill,
// pause and cut off:
// - topic broadcast across nodes with positions, the sender's own message as a position notice,
//   user sends with exclusions, cluster-wide disconnect by user, stats and connection surveys
//   (answered and missing nodes), the admin API's cluster-wide listing (paged) and lookup, recovery
//   with `since`, and in a cluster a slot that moves;
// - interest: a node subscribes to a topic's or user's channel only while it has members, and
//   a burst of subscriptions costs one SSUBSCRIBE;
// - recovery that is impossible says so (history_trimmed, epoch_changed);
// - Redis kill -9 mid-stream and restart: local delivery unaffected (each message once), every
//   gap on the other node reported by an error, recovery through `since` afterwards;
// - a node cut off from Redis that comes back fetches what it missed, in order, once;
// - a stalled Redis (SIGSTOP) is seen by the health state, and its return too;
// - with Redis killed, the admin API's cluster-wide answers (stats, listing, disconnect) say
//   that only this node answered ("complete": false, "error", the known nodes as missing).
//
// pier-test: threads
// pier-test: serial
// pier-test: timeout=600
#include <pier/pool.hpp>
#include <pier/pool/redis_backplane.hpp>

#include <boost/test/unit_test.hpp>

#include "pool_client.hpp"
#include "redis_support.hpp"
#include "support.hpp"
#include "tcp_relay.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pier_test::eventually;
using pier_test::patience;
using pier_test::pool_client;
using pier_test::topic_log;
using pier_test::watchdog;
namespace rt = pier_test::redis;

const std::string secret(40, 's');

std::string token(const std::string& sub) {
    return pier_test::pool_token(secret, sub);
}

struct app {
    /// While set, subscribing to "t25" stalls its shard for 100 ms: a shard thread that is
    /// descheduled in the middle of a ?topics= burst, for far longer than interest_delay.
    static inline std::atomic<bool> stall_t25{false};
    template <class S> bool authorize(S&, std::string_view topic) {
        if (topic == "t25" && stall_t25.load())
            std::this_thread::sleep_for(100ms); // load on the shard, not a wait in the test
        return true;
    }
};
using rpool = pier::ws::pool<app, pier::policies<pier::pool::redis>>;

const std::string admin_token = "backplane-admin-token";

pier::pool::pool_options pool_opts() {
    pier::pool::pool_options o;
    o.keys.current = secret;
    o.admin_token = admin_token;
    o.log.out = [](std::string_view) {}; // the lifecycle lines would drown the test's output
    return o;
}

/// A request to a node's admin surface: its status and body (nullopt when none came).
std::optional<std::pair<int, std::string>> admin_reply(const asio::ip::tcp::endpoint& ep,
                                                       std::string_view method,
                                                       std::string_view target,
                                                       std::string_view body = {}) {
    pier_test::ws_client c(ep);
    std::string req = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_token + "\r\n";
    if (method == "POST")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
    req += "\r\n";
    req += body;
    if (!c.send(req))
        return std::nullopt;
    auto r = c.read_response();
    if (!r || r->status_line.size() < 12)
        return std::nullopt;
    return std::pair{std::atoi(r->status_line.c_str() + 9), r->body};
}

/// The body of a 200 answer, nullopt otherwise.
std::optional<std::string> admin_call(const asio::ip::tcp::endpoint& ep, std::string_view method,
                                      std::string_view target, std::string_view body = {}) {
    auto r = admin_reply(ep, method, target, body);
    if (!r || r->first != 200)
        return std::nullopt;
    return r->second;
}

/// A 200 answer's JSON (null otherwise).
json admin_json(const asio::ip::tcp::endpoint& ep, std::string_view target) {
    return json::parse(admin_call(ep, "GET", target).value_or("null"), nullptr, false);
}

std::optional<std::string> admin_get(const asio::ip::tcp::endpoint& ep, std::string_view target) {
    return admin_call(ep, "GET", target);
}

/// The value of the series `name{node="<node>"}` in a Prometheus text, or -1.
double metric(const std::string& text, const std::string& name, const std::string& node) {
    const auto key = name + "{node=\"" + node + "\"} ";
    const auto at = text.find(key);
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size());
}

/// /healthz's backplane part (null when absent or unreadable).
json health(const asio::ip::tcp::endpoint& ep) {
    auto body = admin_get(ep, "/healthz");
    return body ? json::parse(*body, nullptr, false) : json();
}

pier::server_options fast() {
    pier::server_options o{.threads = 2};
    o.timeouts.resolution = 20ms;
    return o;
}

/// Backplane options with the tests' short intervals: failures show within a second.
pier::pool::redis_options redis_opts(const std::string& url, const std::string& id) {
    pier::pool::redis_options o;
    o.url = url;
    o.node_id = id;
    o.probe_interval = 200ms;
    o.probe_timeout = 1500ms;
    o.presence_interval = 500ms;
    o.position_timeout = 3s;
    auto& c = o.client.connection;
    c.connect_timeout = 1s;
    c.command_timeout = 2s;
    c.reconnect_min = 20ms;
    c.reconnect_max = 200ms;
    o.client.subscriber.connection = c;
    o.client.subscriber.probe_interval = 300ms;
    o.client.subscriber.probe_timeout = 1500ms;
    o.client.cluster_refresh_interval = 1s;
    return o;
}

std::unique_ptr<rpool> make_node(const std::string& url, const std::string& id,
                                 pier::pool::redis_options ro = {}) {
    if (ro.url.empty())
        ro = redis_opts(url, id);
    auto p = std::make_unique<rpool>(fast(), pool_opts(), app{}, rpool::default_ws_options(), ro);
    p->start();
    BOOST_REQUIRE_MESSAGE(eventually([&] { return p->backplane_state().connected; }),
                          "node " << id << " did not connect to Redis");
    return p;
}

/// Runs a cluster-wide request and waits for its answer.
template <class F> pier::pool::cluster_answer ask(F f) {
    auto done = std::make_shared<std::promise<pier::pool::cluster_answer>>();
    auto fut = done->get_future();
    f([done](pier::pool::cluster_answer a) { done->set_value(std::move(a)); });
    BOOST_REQUIRE(fut.wait_for(patience) == std::future_status::ready);
    return fut.get();
}

std::set<std::string> nodes_of(const pier::pool::cluster_answer& a) {
    std::set<std::string> s;
    for (const auto& n : a.answered)
        s.insert(n.node);
    return s;
}

/// The next envelope about `topic` (others are kept out of the log), recorded in `log`.
std::optional<json> next_on(pool_client& c, topic_log& log) {
    auto j = c.next_msg();
    if (j)
        log.add(*j);
    return j;
}

/// The envelope, or (a failed check) an empty object when none came in time.
json got_one(std::optional<json> j) {
    BOOST_TEST(j.has_value(), "no message came in time");
    return j ? std::move(*j) : json::object();
}

/// Joins with ?topics=`topic` and reads the welcome and the acknowledgement with a position.
bool join_topic(pool_client& c, const std::string& user, const std::string& topic, topic_log& log) {
    if (c.welcome(token(user), topic).empty())
        return false;
    auto ack = next_on(c, log);
    return ack && (*ack)["type"] == "subscribe" && (*ack)["topic"] == topic &&
           ack->contains("offset") && ack->contains("epoch");
}

/// Reads envelopes on its own thread until stopped, for clients that receive while the test
/// does something else.
class reader {
public:
    explicit reader(pool_client& c) : c_(c) {
        t_ = std::thread([this] {
            while (!stop_) {
                auto j = c_.next(100ms);
                if (!j)
                    continue;
                std::lock_guard lock(m_);
                got_.push_back(std::move(*j));
            }
        });
    }
    ~reader() { finish(); }
    void finish() {
        stop_ = true;
        if (t_.joinable())
            t_.join();
    }
    /// The payloads (as numbers) of the data envelopes so far.
    std::vector<long> seqs() {
        std::lock_guard lock(m_);
        std::vector<long> v;
        for (const auto& j : got_)
            if (j["type"] == "data" && j["data"].is_number())
                v.push_back(j["data"].get<long>());
        return v;
    }
    long last_seq() {
        auto v = seqs();
        return v.empty() ? 0 : v.back();
    }
    std::vector<json> all() {
        std::lock_guard lock(m_);
        return got_;
    }

private:
    pool_client& c_;
    std::mutex m_;
    std::vector<json> got_;
    std::atomic<bool> stop_{false};
    std::thread t_;
};

/// Subscribers of the sharded channel `channel` on every server of `ports` (each master of a
/// cluster counts its own).
std::size_t shard_subscribers(const std::vector<std::uint16_t>& ports, const std::string& channel) {
    std::size_t n = 0;
    for (auto port : ports) {
        rt::admin a(port);
        const auto r = a.run({"PUBSUB", "SHARDNUMSUB", channel});
        if (r.elements.size() == 2)
            n += static_cast<std::size_t>(r.elements[1].integer);
    }
    return n;
}

/// The scenario every deployment must pass: clients on two nodes. `ports`: Redis's servers.
void cross_node(const std::string& url, const std::vector<std::uint16_t>& ports,
                rt::cluster* cluster = nullptr) {
    auto a = make_node(url, "node-a");
    auto b = make_node(url, "node-b");
    const auto ea = a->local_endpoint(), eb = b->local_endpoint();

    // --- topic broadcast, with positions -------------------------------------------------
    pool_client a1(ea), b1(eb), b2(eb);
    topic_log la, lb;
    BOOST_TEST_REQUIRE(join_topic(a1, "alice", "news", la));
    BOOST_TEST_REQUIRE(join_topic(b1, "bob", "news", lb));
    BOOST_TEST_REQUIRE(!b2.welcome(token("carol")).empty());
    const auto start = *lb.last();
    BOOST_TEST(la.last()->first == start.first); // one epoch for the topic, on both nodes

    // a client's data goes to the other subscribers; the sender gets its position only
    BOOST_TEST_REQUIRE(a1.say({{"type", "data"}, {"topic", "news"}, {"data", {{"n", 1}}}}));
    auto got = next_on(b1, lb);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST((*got)["type"] == "data");
    BOOST_TEST((*got)["data"] == json({{"n", 1}}));
    BOOST_TEST((*got)["offset"] == start.second + 1);
    BOOST_TEST((*got)["epoch"] == start.first);
    auto own = next_on(a1, la);
    BOOST_TEST_REQUIRE(own.has_value());
    BOOST_TEST((*own)["type"] == "subscribe");
    BOOST_TEST((*own)["offset"] == start.second + 1);
    BOOST_TEST(!own->contains("data"));

    // publishes from either node reach both, excluded ids get the position
    a->publish("news", {.data = "2"});
    BOOST_TEST(got_one(next_on(a1, la))["data"] == 2);
    BOOST_TEST(got_one(next_on(b1, lb))["data"] == 2);
    const std::uint64_t ex_a1[] = {*rpool::parse_id(a1.id)};
    b->publish("news", {.data = "3"}, ex_a1);
    BOOST_TEST(got_one(next_on(b1, lb))["data"] == 3);
    auto notice = got_one(next_on(a1, la));
    BOOST_TEST(notice["type"] == "subscribe");
    BOOST_TEST(notice["offset"] == start.second + 3);
    // carol subscribed to nothing: her next message answers her ping
    BOOST_TEST_REQUIRE(b2.say({{"type", "ping"}}));
    BOOST_TEST(got_one(b2.next_msg())["type"] == "pong");

    // --- user sends and exclusions ------------------------------------------------------
    pool_client b3(eb);
    BOOST_TEST_REQUIRE(!b3.welcome(token("alice")).empty());
    // A user's channel is subscribed after the connection's welcome (pub/sub keeps nothing for
    // a channel nobody listens to yet): node-b's subscription is waited for.
    BOOST_TEST_REQUIRE(eventually([&] { return shard_subscribers(ports, "pier:u:{alice}") == 2; }));
    a->send_to_user("alice", {.data = R"("u1")"});
    BOOST_TEST(got_one(a1.next_msg())["data"] == "u1");
    BOOST_TEST(got_one(b3.next_msg())["data"] == "u1");
    const std::uint64_t ex_b3[] = {*rpool::parse_id(b3.id)};
    a->send_to_user("alice", {.data = R"("u2")"}, ex_b3);
    BOOST_TEST(got_one(a1.next_msg())["data"] == "u2");
    b->send_to_user("alice", {.data = R"("u3")"});
    BOOST_TEST(got_one(a1.next_msg())["data"] == "u3");
    BOOST_TEST(got_one(b3.next_msg())["data"] == "u3"); // not u2: excluded
    a->send_to_user("carol", {.data = R"("c1")"});
    BOOST_TEST(got_one(b2.next_msg())["data"] == "c1");

    // --- surveys -------------------------------------------------------------------------
    auto stats = ask([&](auto done) { a->cluster_survey("stats", {}, 5s, done); });
    BOOST_TEST((nodes_of(stats) == std::set<std::string>{"node-a", "node-b"}));
    BOOST_TEST(stats.missing.empty());
    BOOST_TEST_REQUIRE(stats.answered.size() == 2u);
    BOOST_TEST(stats.answered[0].node == "node-a"); // the asking node first
    std::uint64_t active = 0;
    for (const auto& n : stats.answered) {
        active += n.result["active"].get<std::uint64_t>();
        BOOST_TEST(n.result["backplane"]["connected"] == true);
        BOOST_TEST(n.result["backplane"]["node_id"] == n.node);
    }
    BOOST_TEST(active == 4u); // a1 | b1, b2, b3
    auto conns = ask([&](auto done) {
        b->cluster_survey("connections", {{"user_id", "alice"}}, 5s, done);
    });
    std::set<std::string> alice_ids;
    for (const auto& n : conns.answered)
        for (const auto& c : n.result["connections"])
            alice_ids.insert(c["connection_id"].get<std::string>());
    BOOST_TEST((alice_ids == std::set<std::string>{a1.id, b3.id}));
    // The admin API of either node answers for the cluster.
    auto admin_stats =
        json::parse(admin_get(eb, "/api/admin/websockets/stats").value_or("null"), nullptr, false);
    BOOST_TEST(admin_stats["active_connections"] == 3); // b1, b2, b3: this node's own
    BOOST_TEST(admin_stats["cluster"]["active_connections"] == 4);
    BOOST_TEST(admin_stats["cluster"]["nodes"].size() == 2u);
    BOOST_TEST(admin_stats["cluster"]["missing"].empty());
    BOOST_TEST(admin_stats["cluster"]["complete"] == true);
    BOOST_TEST(!admin_stats["cluster"].contains("error"));
    // The connection listing: this node's page as without a backplane, the cluster's beside it
    // (the same filter on every node), each entry naming its node.
    auto listing = admin_json(eb, "/api/admin/websockets/connections?user_id=alice");
    BOOST_TEST(listing["total"] == 1);
    BOOST_TEST_REQUIRE(listing["connections"].size() == 1u);
    BOOST_TEST(listing["connections"][0]["connection_id"] == b3.id);
    const auto& cl = listing["cluster"];
    BOOST_TEST(cl["total"] == 2);
    BOOST_TEST(cl["complete"] == true);
    BOOST_TEST(cl["missing"].empty());
    BOOST_TEST(!cl.contains("truncated"));
    BOOST_TEST((cl["nodes"] == json::array({"node-b", "node-a"})));
    std::map<std::string, std::string> where;
    for (const auto& e : cl["connections"])
        where[e["connection_id"].get<std::string>()] = e["node"].get<std::string>();
    BOOST_TEST((where == std::map<std::string, std::string>{{a1.id, "node-a"}, {b3.id, "node-b"}}));
    // Paged with the listing's own limit and offset over the merged list, newest first.
    std::set<std::string> paged;
    std::string newest = "9999";
    for (int offset = 0; offset < 4; offset += 2) {
        auto page = admin_json(ea, "/api/admin/websockets/connections?limit=2&offset=" +
                                       std::to_string(offset));
        BOOST_TEST(page["cluster"]["total"] == 4);
        BOOST_TEST_REQUIRE(page["cluster"]["connections"].size() == 2u);
        for (const auto& e : page["cluster"]["connections"]) {
            paged.insert(e["connection_id"].get<std::string>());
            const auto at = e["connected_at"].get<std::string>();
            BOOST_TEST((at <= newest));
            newest = at;
        }
    }
    BOOST_TEST((paged == std::set<std::string>{a1.id, b1.id, b2.id, b3.id}));
    // One connection by id, asked on a node that does not have it: found on the other.
    auto one = admin_json(eb, "/api/admin/websockets/connections/" + a1.id);
    BOOST_TEST(one["connection_id"] == a1.id);
    BOOST_TEST(one["node"] == "node-a");
    auto none = admin_reply(eb, "GET", "/api/admin/websockets/connections/00000000000000ff");
    BOOST_TEST_REQUIRE(none.has_value());
    BOOST_TEST(none->first == 404);
    auto none_j = json::parse(none->second, nullptr, false);
    BOOST_TEST(none_j["error"] == "not_found");
    BOOST_TEST(none_j["complete"] == true); // every node said so

    // --- recovery with since -------------------------------------------------------------
    const auto before = *lb.last();
    b1.close();
    // Publishes from two nodes are numbered in the order Redis runs them: 6 is published once
    // 4 and 5 have their offsets (a1 saw them).
    a->publish("news", {.data = "4"});
    a->publish("news", {.data = "5"});
    for (int want : {4, 5})
        BOOST_TEST(got_one(next_on(a1, la))["data"] == want); // a1 sees them live
    b->publish("news", {.data = "6"});
    BOOST_TEST(got_one(next_on(a1, la))["data"] == 6);
    pool_client b1b(eb);
    BOOST_TEST_REQUIRE(!b1b.welcome(token("bob")).empty());
    BOOST_TEST_REQUIRE(b1b.say({{"type", "subscribe"},
                                {"topic", "news"},
                                {"since", {{"offset", before.second}, {"epoch", before.first}}}}));
    for (int want : {4, 5, 6}) {
        auto m = next_on(b1b, lb);
        BOOST_TEST_REQUIRE(m.has_value());
        BOOST_TEST((*m)["data"] == want);
    }
    auto ack = got_one(next_on(b1b, lb));
    BOOST_TEST(ack["type"] == "subscribe");
    BOOST_TEST(ack["offset"] == before.second + 3);
    a->publish("news", {.data = "7"});
    BOOST_TEST(got_one(next_on(b1b, lb))["data"] == 7);
    BOOST_TEST(got_one(next_on(a1, la))["data"] == 7);

    // --- a slot that moves (cluster) -----------------------------------------------------
    if (cluster) {
        const auto slot = pier::redis::keyslot("pier:t:{news}");
        const auto from = cluster->owner(slot);
        cluster->move_slot(slot, (from + 1) % cluster->size());
        a->publish("news", {.data = "8"});
        // Published at the old owner's map until the client follows MOVED; delivered either
        // live or by the resynchronisation after the subscription moved, once.
        BOOST_TEST(got_one(next_on(b1b, lb))["data"] == 8);
        BOOST_TEST(got_one(next_on(a1, la))["data"] == 8);
        b->publish("news", {.data = "9"});
        BOOST_TEST(got_one(next_on(b1b, lb))["data"] == 9);
        BOOST_TEST(got_one(next_on(a1, la))["data"] == 9);
    }
    BOOST_TEST(la.check() == "");
    BOOST_TEST(lb.check() == "");
    BOOST_TEST(la.errors() == 0u);
    BOOST_TEST(lb.errors() == 0u);

    // --- cluster-wide disconnect ---------------------------------------------------------
    // After the slot move a subscriber connection may have been made again, and a control
    // message published in that gap reaches fewer nodes (the answer says which: `missing`).
    // An operator sees the cluster whole again once a survey is answered by both nodes.
    BOOST_REQUIRE(eventually([&] {
        auto s = ask([&](auto done) { a->cluster_survey("stats", {}, 1s, done); });
        return nodes_of(s) == std::set<std::string>{"node-a", "node-b"};
    }));
    auto gone = ask([&](auto done) {
        a->cluster_disconnect({.by = pier::pool::cluster_selector::kind::user, .keys = {"alice"}},
                              pier::pool::close_codes::disconnected, "bye", 5s, done);
    });
    BOOST_TEST((nodes_of(gone) == std::set<std::string>{"node-a", "node-b"}));
    for (const auto& n : gone.answered)
        BOOST_TEST(n.result["disconnected"] == 1);
    BOOST_TEST(!a1.next_msg().has_value());
    BOOST_TEST(a1.close_code == pier::pool::close_codes::disconnected);
    BOOST_TEST(!b3.next_msg().has_value());
    BOOST_TEST(b3.close_code == pier::pool::close_codes::disconnected);
    BOOST_TEST_REQUIRE(b2.say({{"type", "ping"}}));
    BOOST_TEST(got_one(b2.next_msg())["type"] == "pong"); // carol stays
    // ... until the admin API of node-a disconnects her, on node-b.
    auto by_api = json::parse(
        admin_call(ea, "POST", "/api/admin/websockets/disconnect", R"({"user_id":"carol"})")
            .value_or("null"),
        nullptr, false);
    BOOST_TEST(by_api["disconnected"] == 1);
    BOOST_TEST((by_api["nodes"] == json{{"node-a", 0}, {"node-b", 1}}));
    BOOST_TEST(by_api["missing"].empty());
    BOOST_TEST(by_api["complete"] == true);
    BOOST_TEST(!b2.next_msg().has_value());
    BOOST_TEST(b2.close_code == pier::pool::close_codes::disconnected);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_backplane, watchdog)

BOOST_AUTO_TEST_CASE(standalone_cross_node) {
    rt::server redis;
    cross_node(redis.url(), {redis.port()});
}

BOOST_AUTO_TEST_CASE(cluster_cross_node, *boost::unit_test::timeout(240)) {
    rt::cluster cluster;
    std::vector<std::uint16_t> ports;
    for (std::size_t i = 0; i < cluster.size(); ++i)
        ports.push_back(cluster.node(i).port());
    cross_node(cluster.url(), ports, &cluster);
}

BOOST_AUTO_TEST_CASE(interest_and_batched_subscribes) {
    rt::server redis;
    auto admin = redis.connect();
    auto ro = redis_opts(redis.url(), "node-a");
    // The default interest_delay (1 ms): a ?topics= burst is one command however long the
    // shard takes over it (hold_interest), so no generous delay is needed under sanitizers.
    auto a = make_node(redis.url(), "node-a", ro);
    const auto shard_channels = [&](const std::string& pattern) {
        return admin->run({"PUBSUB", "SHARDCHANNELS", pattern}).elements.size();
    };
    // Nothing is wanted: no topic or user channel.
    BOOST_TEST(shard_channels("pier:t:*") == 0u);
    BOOST_TEST(shard_channels("pier:u:*") == 0u);
    pool_client first(a->local_endpoint());
    BOOST_TEST_REQUIRE(!first.welcome(token("dora")).empty());
    BOOST_TEST_REQUIRE(eventually([&] { return shard_channels("pier:u:*") == 1; }));

    // 50 topics in one connection's ?topics=: one SSUBSCRIBE, even when the shard thread is
    // paused in the middle of them for longer than interest_delay.
    const auto before = admin->calls("ssubscribe");
    std::string topics;
    for (int i = 0; i < 50; ++i)
        topics += (i ? ",t" : "t") + std::to_string(i);
    pool_client c(a->local_endpoint());
    app::stall_t25 = true;
    BOOST_TEST_REQUIRE(!c.welcome(token("dora"), topics).empty());
    app::stall_t25 = false;
    topic_log log;
    for (int i = 0; i < 50; ++i) {
        auto ack = next_on(c, log);
        BOOST_TEST_REQUIRE(ack.has_value(), "acknowledgement " << i << " missing, close code "
                                                               << c.close_code << " "
                                                               << c.close_reason);
        BOOST_TEST((*ack)["type"] == "subscribe");
    }
    BOOST_TEST(shard_channels("pier:t:*") == 50u);
    BOOST_TEST(admin->calls("ssubscribe") - before == 1);
    // The second connection of a user costs nothing more.
    BOOST_TEST(shard_channels("pier:u:*") == 1u);

    // The last member leaves: the channels go.
    c.close();
    BOOST_TEST(eventually([&] { return shard_channels("pier:t:*") == 0; }));
    BOOST_TEST(shard_channels("pier:u:*") == 1u);
    first.close();
    BOOST_TEST(eventually([&] { return shard_channels("pier:u:*") == 0; }));
}

BOOST_AUTO_TEST_CASE(impossible_recovery_says_why) {
    rt::server redis;
    auto ro = redis_opts(redis.url(), "node-a");
    ro.history_size = 3;
    auto a = make_node(redis.url(), "node-a", ro);
    pool_client c(a->local_endpoint());
    topic_log log;
    BOOST_TEST_REQUIRE(join_topic(c, "erin", "feed", log));
    const auto start = *log.last();
    for (int i = 1; i <= 6; ++i)
        a->publish("feed", {.data = std::to_string(i)});
    for (int i = 1; i <= 6; ++i)
        BOOST_TEST(got_one(next_on(c, log))["data"] == i);

    // Three are kept: since start+3 recovers, since start+1 cannot.
    pool_client r(a->local_endpoint());
    BOOST_TEST_REQUIRE(!r.welcome(token("erin")).empty());
    BOOST_TEST_REQUIRE(r.say({{"type", "subscribe"},
                              {"topic", "feed"},
                              {"since", {{"offset", start.second + 3}, {"epoch", start.first}}}}));
    for (int i = 4; i <= 6; ++i)
        BOOST_TEST(got_one(r.next_msg())["data"] == i);
    BOOST_TEST(got_one(r.next_msg())["offset"] == start.second + 6);
    BOOST_TEST_REQUIRE(r.say({{"type", "subscribe"},
                              {"topic", "feed"},
                              {"since", {{"offset", start.second + 1}, {"epoch", start.first}}}}));
    auto e = got_one(r.next_msg());
    BOOST_TEST(e["type"] == "error");
    BOOST_TEST(e["error"] == "history_trimmed");
    BOOST_TEST(e["topic"] == "feed");
    auto ack = got_one(r.next_msg());
    BOOST_TEST(ack["type"] == "subscribe");
    BOOST_TEST(ack["offset"] == start.second + 6);

    // Another epoch: said so, then what that epoch still has (all three), then the position.
    BOOST_TEST_REQUIRE(r.say({{"type", "subscribe"},
                              {"topic", "feed"},
                              {"since", {{"offset", 2}, {"epoch", "another"}}}}));
    e = got_one(r.next_msg());
    BOOST_TEST(e["error"] == "epoch_changed");
    ack = got_one(r.next_msg());
    BOOST_TEST(ack["type"] == "subscribe"); // the history of 6 with 3 kept: not all there
    BOOST_TEST(ack["offset"] == start.second + 6);
    // The connection is still fine, and errors of recovery do not count against it.
    a->publish("feed", {.data = "7"});
    BOOST_TEST(got_one(r.next_msg())["data"] == 7);
    BOOST_TEST(log.check() == "");
}

BOOST_AUTO_TEST_CASE(redis_killed_mid_stream_and_restarted, *boost::unit_test::timeout(240)) {
    rt::server redis;
    auto a = make_node(redis.url(), "node-a");
    auto b = make_node(redis.url(), "node-b");
    pool_client l(a->local_endpoint()), s(b->local_endpoint()), r(b->local_endpoint());
    topic_log ll, ls, lr;
    BOOST_TEST_REQUIRE(join_topic(l, "local", "feed", ll));
    BOOST_TEST_REQUIRE(join_topic(s, "remote", "feed", ls));
    BOOST_TEST_REQUIRE(join_topic(r, "late", "feed", lr));
    const auto r_at = *lr.last();
    r.close(); // back with `since` at the end

    reader rl(l), rs(s);
    std::atomic<bool> stop{false};
    std::atomic<long> published{0};
    std::thread publisher([&] {
        // Paced, not synchronised: about one message per millisecond.
        auto next = std::chrono::steady_clock::now();
        while (!stop) {
            a->publish("feed", {.data = std::to_string(++published)});
            next += 1ms;
            std::this_thread::sleep_until(next);
        }
    });
    BOOST_TEST_REQUIRE(eventually([&] { return rs.seqs().size() >= 100; }));
    const auto errors_before = a->backplane_state().publish_errors;
    redis.kill();
    // Publishes fail and are delivered on node-a only.
    BOOST_TEST_REQUIRE(
        eventually([&] { return a->backplane_state().publish_errors >= errors_before + 50; }));
    // Seen by the node's next sweep (50 ms): waited for, not sampled.
    BOOST_TEST(eventually([&] { return !a->backplane_state().connected; }));
    redis.start();
    BOOST_TEST_REQUIRE(eventually(
        [&] { return a->backplane_state().connected && b->backplane_state().connected; }));
    const long after_restart = published;
    BOOST_TEST_REQUIRE(eventually([&] { return rs.last_seq() > after_restart + 100; }));
    stop = true;
    publisher.join();
    const long last = published;
    BOOST_TEST_REQUIRE(eventually([&] { return rl.last_seq() == last && rs.last_seq() == last; }));
    rl.finish();
    rs.finish();

    // node-a's own client: every message once, in order (numbered or not).
    const auto lseq = rl.seqs();
    BOOST_TEST_REQUIRE(lseq.size() == static_cast<std::size_t>(last));
    for (long i = 0; i < last; ++i)
        BOOST_TEST_REQUIRE(lseq[static_cast<std::size_t>(i)] == i + 1);
    for (const auto& j : rl.all())
        ll.add(j);
    BOOST_TEST(ll.check() == "");

    // node-b's: each at most once, in order; every missed one inside a reported gap.
    for (const auto& j : rs.all())
        ls.add(j);
    BOOST_TEST(ls.check() == "");
    BOOST_TEST(ls.errors() >= 1u);
    long prev = 0;
    bool excused = false;
    std::size_t missed = 0;
    for (const auto& it : ls.items) {
        if (it.type == "error")
            excused = true;
        if (it.type != "data")
            continue;
        const long seq = it.data.get<long>();
        BOOST_TEST_REQUIRE(seq > prev);
        if (seq != prev + 1) {
            BOOST_TEST_REQUIRE(excused, "messages " << prev + 1 << ".." << seq - 1
                                                    << " missed without an error");
            missed += static_cast<std::size_t>(seq - prev - 1);
        }
        excused = false;
        prev = seq;
    }
    BOOST_TEST(missed >= 50u); // those published while Redis was down
    const auto sa = a->backplane_state(), sb = b->backplane_state();
    BOOST_TEST(sa.disconnects >= 1u);
    BOOST_TEST(sb.resubscribes >= 1u);
    BOOST_TEST(sb.resyncs >= 1u);

    // The client that left before the crash comes back with its old position: the history it
    // belonged to is gone (said so), and what the new one holds follows, then the position.
    pool_client r2(a->local_endpoint());
    BOOST_TEST_REQUIRE(!r2.welcome(token("late")).empty());
    BOOST_TEST_REQUIRE(r2.say({{"type", "subscribe"},
                               {"topic", "feed"},
                               {"since", {{"offset", r_at.second}, {"epoch", r_at.first}}}}));
    auto e = next_on(r2, lr);
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST((*e)["error"] == "epoch_changed");
    for (;;) {
        auto m = next_on(r2, lr);
        BOOST_TEST_REQUIRE(m.has_value());
        if ((*m)["type"] == "subscribe")
            break;
    }
    BOOST_TEST(lr.check() == "");
    BOOST_TEST(lr.last()->first != r_at.first);
    // Since the position it has now: nothing missing, nothing twice.
    const auto now_at = *lr.last();
    BOOST_TEST_REQUIRE(r2.say({{"type", "subscribe"},
                               {"topic", "feed"},
                               {"since", {{"offset", now_at.second}, {"epoch", now_at.first}}}}));
    auto again = got_one(next_on(r2, lr));
    BOOST_TEST(again["type"] == "subscribe");
    BOOST_TEST(again["offset"] == now_at.second);
}

BOOST_AUTO_TEST_CASE(node_cut_off_and_back, *boost::unit_test::timeout(240)) {
    rt::server redis;
    pier_test::tcp_relay relay(redis.port());
    auto a = make_node(redis.url(), "node-a");
    auto b = make_node("redis://127.0.0.1:" + std::to_string(relay.port()), "node-b");
    pool_client s(b->local_endpoint()), l(b->local_endpoint());
    topic_log ls;
    BOOST_TEST_REQUIRE(join_topic(s, "sam", "feed", ls));
    BOOST_TEST_REQUIRE(!l.welcome(token("lou")).empty());
    for (int i = 1; i <= 10; ++i)
        a->publish("feed", {.data = std::to_string(i)});
    for (int i = 1; i <= 10; ++i)
        BOOST_TEST(got_one(next_on(s, ls))["data"] == i);

    // /healthz and /metrics show the backplane's state, up ...
    const auto eb = b->local_endpoint();
    auto hz = health(eb);
    BOOST_TEST(hz["status"] == "ok");
    BOOST_TEST(hz["backplane"]["connected"] == true);
    BOOST_TEST(hz["backplane"]["node_id"] == "node-b");
    auto text = admin_get(eb, "/metrics").value_or("");
    BOOST_TEST(metric(text, "pier_backplane_connected", "node-b") == 1);
    BOOST_TEST(metric(text, "pier_backplane_messages_received_total", "node-b") >= 10);
    BOOST_TEST(metric(text, "pier_backplane_publish_errors_total", "node-b") == 0);

    relay.cut();
    BOOST_TEST_REQUIRE(eventually([&] { return !b->backplane_state().connected; }));
    // ... and down (the instance still serves its clients: 200, "degraded").
    hz = health(eb);
    BOOST_TEST(hz["status"] == "degraded");
    BOOST_TEST(hz["backplane"]["connected"] == false);
    // node-b announced itself lately but cannot answer: named missing at the deadline.
    auto partial = ask([&](auto done) { a->cluster_survey("stats", {}, 300ms, done); });
    BOOST_TEST((nodes_of(partial) == std::set<std::string>{"node-a"}));
    BOOST_TEST((partial.missing == std::vector<std::string>{"node-b"}));
    BOOST_TEST(partial.error.empty()); // the cluster was asked
    // Asked on node-b, the survey gets node-b's own answer at once, and says that the cluster
    // could not be asked, naming the node it knows of.
    auto alone = ask([&](auto done) { b->cluster_survey("stats", {}, 5s, done); });
    BOOST_TEST((nodes_of(alone) == std::set<std::string>{"node-b"}));
    BOOST_TEST(alone.error == "backplane_unavailable");
    BOOST_TEST((alone.missing == std::vector<std::string>{"node-a"}));
    // Missed by node-b meanwhile ...
    for (int i = 11; i <= 20; ++i)
        a->publish("feed", {.data = std::to_string(i)});
    // ... while its own sends still reach its own clients (user and topic), unnumbered.
    b->send_to_user("lou", {.data = R"("local")"});
    BOOST_TEST(got_one(l.next_msg())["data"] == "local");
    const auto errors = b->backplane_state().publish_errors;
    b->publish("feed", {.data = "100"});
    auto local = got_one(next_on(s, ls));
    BOOST_TEST(local["data"] == 100);
    BOOST_TEST(!local.contains("offset"));
    BOOST_TEST(b->backplane_state().publish_errors > errors);
    text = admin_get(eb, "/metrics").value_or("");
    BOOST_TEST(metric(text, "pier_backplane_connected", "node-b") == 0);
    BOOST_TEST(metric(text, "pier_backplane_publish_errors_total", "node-b") >= 1);

    relay.restore();
    BOOST_TEST_REQUIRE(eventually([&] { return b->backplane_state().connected; }));
    // Fetched by the resynchronisation: in order, once, without an error.
    for (int i = 11; i <= 20; ++i) {
        auto m = next_on(s, ls);
        BOOST_TEST_REQUIRE(m.has_value());
        BOOST_TEST((*m)["data"] == i);
    }
    for (int i = 21; i <= 25; ++i)
        a->publish("feed", {.data = std::to_string(i)});
    for (int i = 21; i <= 25; ++i)
        BOOST_TEST(got_one(next_on(s, ls))["data"] == i);
    BOOST_TEST(ls.check() == "");
    BOOST_TEST(ls.errors() == 0u);
    const auto st = b->backplane_state();
    BOOST_TEST(st.resubscribes >= 1u);
    BOOST_TEST(st.resyncs >= 1u);
    BOOST_TEST(st.disconnects >= 1u);
    BOOST_TEST(eventually([&] { return health(eb)["status"] == "ok"; }));
    text = admin_get(eb, "/metrics").value_or("");
    BOOST_TEST(metric(text, "pier_backplane_resubscribes_total", "node-b") >= 1);
    BOOST_TEST(metric(text, "pier_backplane_disconnects_total", "node-b") >= 1);
}

BOOST_AUTO_TEST_CASE(cluster_requests_while_redis_is_down, *boost::unit_test::timeout(240)) {
    rt::server redis;
    auto a = make_node(redis.url(), "node-a");
    auto b = make_node(redis.url(), "node-b");
    const auto ea = a->local_endpoint();
    pool_client on_a(ea), on_b(b->local_endpoint());
    BOOST_TEST_REQUIRE(!on_a.welcome(token("zed")).empty());
    BOOST_TEST_REQUIRE(!on_b.welcome(token("zed")).empty());
    const auto stats = [&] { return admin_json(ea, "/api/admin/websockets/stats"); };
    // Redis up: every node answered, and the answer says so.
    auto up = stats();
    BOOST_TEST(up["cluster"]["active_connections"] == 2);
    BOOST_TEST(up["cluster"]["complete"] == true);
    BOOST_TEST(!up["cluster"].contains("error"));

    redis.kill();
    BOOST_TEST_REQUIRE(eventually([&] { return !a->backplane_state().connected; }));
    // Redis down: this node's figures, and a cluster part that cannot pass for the cluster's.
    auto down = stats();
    BOOST_TEST(down["active_connections"] == 1);
    const auto& dc = down["cluster"];
    BOOST_TEST(dc["complete"] == false);
    BOOST_TEST(dc["error"] == "backplane_unavailable");
    BOOST_TEST((dc["missing"] == json::array({"node-b"})));
    BOOST_TEST_REQUIRE(dc["nodes"].size() == 1u);
    BOOST_TEST(dc["nodes"][0]["node"] == "node-a");
    BOOST_TEST(dc["active_connections"] == 1);
    auto listing = admin_json(ea, "/api/admin/websockets/connections?user_id=zed");
    BOOST_TEST(listing["cluster"]["total"] == 1);
    BOOST_TEST(listing["cluster"]["complete"] == false);
    BOOST_TEST(listing["cluster"]["error"] == "backplane_unavailable");
    BOOST_TEST((listing["cluster"]["missing"] == json::array({"node-b"})));
    // The disconnect: done where it could be, and said where it could not.
    auto gone = json::parse(
        admin_call(ea, "POST", "/api/admin/websockets/disconnect", R"({"user_id":"zed"})")
            .value_or("null"),
        nullptr, false);
    BOOST_TEST(gone["disconnected"] == 1);
    BOOST_TEST((gone["nodes"] == json{{"node-a", 1}}));
    BOOST_TEST(gone["complete"] == false);
    BOOST_TEST(gone["error"] == "backplane_unavailable");
    BOOST_TEST((gone["missing"] == json::array({"node-b"})));
    BOOST_TEST(!on_a.next_msg().has_value());
    BOOST_TEST(on_a.close_code == pier::pool::close_codes::disconnected);
    BOOST_TEST_REQUIRE(on_b.say({{"type", "ping"}}));
    BOOST_TEST(got_one(on_b.next_msg())["type"] == "pong"); // not reached

    // Redis back: the cluster answers again, completely.
    redis.start();
    BOOST_TEST_REQUIRE(eventually(
        [&] { return a->backplane_state().connected && b->backplane_state().connected; }));
    BOOST_TEST(eventually([&] {
        auto j = stats();
        return j["cluster"]["complete"] == true && j["cluster"]["active_connections"] == 1;
    }));
}

BOOST_AUTO_TEST_CASE(stalled_redis_is_seen) {
    rt::server redis;
    auto a = make_node(redis.url(), "node-a");
    redis.pause();
    // The end-to-end probe (and the subscriber's PING) go unanswered.
    BOOST_TEST(eventually([&] { return !a->backplane_state().connected; }));
    redis.resume();
    BOOST_TEST(eventually([&] { return a->backplane_state().connected; }));
    BOOST_TEST(a->backplane_state().probe_failures >= 1u);
    // And it works again end to end.
    pool_client c(a->local_endpoint());
    topic_log log;
    BOOST_TEST_REQUIRE(join_topic(c, "stan", "feed", log));
    a->publish("feed", {.data = "1"});
    auto m = next_on(c, log);
    BOOST_TEST((*m)["data"] == 1);
    BOOST_TEST(m->contains("offset"));
}

BOOST_AUTO_TEST_CASE(an_own_publish_whose_copy_is_lost_is_still_delivered_here) {
    // Redis runs the publish script (numbering the message), but the copy never reaches this
    // node's subscription, and no history can bring it back: what a kill -9 between the two
    // does. Here, a 1-byte output limit for subscribers cuts the subscription off on the copy
    // (a big one), and the history keeps nothing. The node's own subscriber still gets it.
    rt::server redis;
    auto ro = redis_opts(redis.url(), "node-a");
    ro.history_size = 0;
    auto a = make_node(redis.url(), "node-a", ro);
    pool_client c(a->local_endpoint());
    topic_log log;
    BOOST_TEST_REQUIRE(join_topic(c, "olga", "feed", log));
    auto admin = redis.connect();
    const auto drops = a->backplane_state().disconnects;
    BOOST_TEST_REQUIRE(
        admin->run({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1 1 0"}).str == "OK");
    // Over Redis's 16 KiB reply buffer, which the limit does not count.
    const std::string big(64 << 10, 'x');
    a->publish("feed", {.data = '"' + big + '"'});
    BOOST_TEST_REQUIRE(eventually([&] { return a->backplane_state().disconnects > drops; }));
    BOOST_TEST_REQUIRE(
        admin->run({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 33554432 8388608 60"})
            .str == "OK");
    // What comes: a notice of the gap (nothing to recover it from), and the message, once.
    std::optional<json> data;
    for (int i = 0; i < 8 && !data; ++i) {
        auto m = c.next_msg();
        BOOST_TEST_REQUIRE(m.has_value());
        if ((*m)["type"] == "data")
            data = m;
    }
    BOOST_TEST_REQUIRE(data.has_value());
    BOOST_TEST((*data)["data"] == big);
    BOOST_TEST_REQUIRE(c.say({{"type", "ping"}}));
    for (auto m = c.next_msg(); m && (*m)["type"] != "pong"; m = c.next_msg())
        BOOST_TEST((*m)["type"] != "data"); // not twice
}

BOOST_AUTO_TEST_CASE(a_join_waiting_on_a_stalled_redis_is_answered) {
    // Redis stalls, but the node's timeouts are long enough not to call it down: a join's
    // position request stays queued through many sweeps and is answered at position_timeout,
    // with an acknowledgement that has no position.
    rt::server redis;
    auto o = redis_opts(redis.url(), "node-a");
    o.position_timeout = 1s;
    o.probe_timeout = 60s;
    o.client.connection.command_timeout = 60s;
    o.client.subscriber.probe_timeout = 60s;
    auto a = make_node(redis.url(), "node-a", o);
    redis.pause();
    pool_client c(a->local_endpoint());
    topic_log log;
    BOOST_TEST_REQUIRE(!c.welcome(token("sam"), "feed").empty());
    auto ack = next_on(c, log);
    BOOST_TEST_REQUIRE(ack.has_value());
    BOOST_TEST((*ack)["type"] == "subscribe");
    BOOST_TEST((*ack)["topic"] == "feed");
    BOOST_TEST(!ack->contains("offset"));
    BOOST_TEST(a->backplane_state().connected); // answered by its deadline, not as "down"
    redis.resume();
    pool_client d(a->local_endpoint());
    topic_log ld;
    BOOST_TEST(join_topic(d, "sue", "feed", ld));
}

BOOST_AUTO_TEST_SUITE_END()
