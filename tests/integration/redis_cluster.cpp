// pier-test: serial
// pier-test: timeout=180
//
// pier::redis::client against a real 3-master Redis Cluster on loopback (redis-server
// --cluster-enabled yes, joined by redis-cli --cluster create): keyslot() agrees with the
// server; the slot map is learnt from one seed; commands and SPUBLISH go to the slot owner
// without redirects; SSUBSCRIBE is batched per slot on one subscriber per master; MOVED after
// a slot moved (SETSLOT + MIGRATE) is followed and the map updated; ASK during a migration is
// followed with ASKING; a multi-key command split by a migration is retried on TRYAGAIN; a
// sharded channel whose slot moves gets Redis 7's sunsubscribe push and is resubscribed at the
// new owner with messages flowing; a killed master's slots fail fast (counted) and recover
// when it is back.
//
// One cluster serves the whole file (starting one takes seconds); the cases run in order and
// each leaves it with every slot covered.
#include <pier/redis.hpp>

#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"
#include "support.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace redis = pier::redis;
using pier_test::redis::exec;
using pier_test::redis::inbox;
using pier_test::redis::result;
using pier_test::redis::run_until;
using namespace std::chrono_literals;

namespace {

pier_test::redis::cluster& shared_cluster() {
    static std::unique_ptr<pier_test::redis::cluster> c;
    if (!c)
        c = std::make_unique<pier_test::redis::cluster>(3);
    return *c;
}

std::error_code code(redis::error e) {
    return redis::make_error_code(e);
}

/// A name whose slot the cluster's node `owner` serves, made from `prefix`.
std::string name_on(pier_test::redis::cluster& cl, std::size_t owner, const std::string& prefix,
                    std::set<std::uint16_t>* avoid = nullptr) {
    for (int i = 0;; ++i) {
        auto name = prefix + std::to_string(i);
        const auto slot = redis::keyslot(name);
        if (avoid && avoid->contains(slot))
            continue;
        if (cl.owner(slot) == owner) {
            if (avoid)
                avoid->insert(slot);
            return name;
        }
    }
}

redis::client_options fast_options() {
    redis::client_options o;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 200ms;
    o.subscriber.connection.reconnect_min = 20ms;
    o.subscriber.connection.reconnect_max = 200ms;
    o.cluster_refresh_min_interval = 20ms;
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(redis_cluster, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(keyslot_agrees_with_the_server) {
    auto& cl = shared_cluster();
    auto a = cl.node(0).connect();
    int checked = 0;
    for (int i = 0; i < 300; ++i) {
        std::string key = "key:" + std::to_string(i * 7919);
        if (i % 3 == 1)
            key = "{tag" + std::to_string(i % 17) + "}." + key;
        if (i % 3 == 2)
            key = "x{}{" + std::to_string(i) + "}";
        const auto r = a->run({"CLUSTER", "KEYSLOT", key});
        BOOST_TEST_REQUIRE(r.integer == redis::keyslot(key), key);
        ++checked;
    }
    BOOST_TEST(checked == 300);
}

BOOST_AUTO_TEST_CASE(commands_go_to_the_slot_owner_from_one_seed) {
    auto& cl = shared_cluster();
    asio::io_context io;
    // One seed only: the other masters come from CLUSTER SLOTS.
    redis::client c(io.get_executor(),
                    "redis-cluster://127.0.0.1:" + std::to_string(cl.node(1).port()),
                    fast_options());
    BOOST_TEST(c.is_cluster());
    c.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().map_refreshes >= 1u; }));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().connected(); }));
    BOOST_TEST(c.stats().nodes == 3u);

    std::vector<std::string> keys;
    for (std::size_t n = 0; n < cl.size(); ++n)
        for (int i = 0; i < 5; ++i)
            keys.push_back(name_on(cl, n, "k" + std::to_string(n) + "_" + std::to_string(i) + "_"));
    int done = 0;
    for (const auto& k : keys)
        c.command({"SET", k, "v:" + k}, [&](std::error_code ec, redis::reply) {
            BOOST_TEST(!ec);
            ++done;
        });
    BOOST_TEST_REQUIRE(run_until(io, [&] { return done == int(keys.size()); }));
    BOOST_TEST(c.stats().moved == 0u);
    BOOST_TEST(c.stats().ask == 0u);
    // Each key is on its owner: a plain GET there needs no redirect.
    for (const auto& k : keys) {
        auto owner = cl.node(cl.owner(redis::keyslot(k))).connect();
        BOOST_TEST(owner->run({"GET", k}).str == "v:" + k);
    }
    // A key elsewhere than args[1]: command_with_key routes by it.
    result r;
    c.command_with_key(keys[0], {"GET", keys[0]}, r.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return r.done; }));
    BOOST_TEST(r.r.str == "v:" + keys[0]);
    // A script's keys must share a slot.
    const redis::script get{"return redis.call('GET', KEYS[1])"};
    result s, cross;
    c.script(get, {keys[3]}, {}, s.handler());
    c.script(get, {keys[0], keys[14]}, {}, cross.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return s.done && cross.done; }));
    BOOST_TEST(s.r.str == "v:" + keys[3]);
    BOOST_TEST(cross.ec == code(redis::error::cross_slot));
    BOOST_TEST(c.stats().moved == 0u);
}

BOOST_AUTO_TEST_CASE(sharded_pubsub_across_three_masters) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    inbox in;
    in.attach(c);
    c.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().map_refreshes >= 1u; }));
    std::vector<std::string> channels;
    for (std::size_t n = 0; n < cl.size(); ++n)
        for (int i = 0; i < 10; ++i) // ten channels in one slot per master: {tag}
            channels.push_back("{" + name_on(cl, n, "t" + std::to_string(n) + "_") + "}.c" +
                               std::to_string(i));
    const auto before = cl.node(0).connect()->calls("ssubscribe") +
                        cl.node(1).connect()->calls("ssubscribe") +
                        cl.node(2).connect()->calls("ssubscribe");
    for (const auto& ch : channels)
        BOOST_TEST_REQUIRE(!c.subscribe(ch, true));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == channels.size(); }));
    // One subscriber per master, one SSUBSCRIBE per slot (here: per master).
    BOOST_TEST(c.stats().subscribers == 3u);
    BOOST_TEST(c.stats().subscribe_commands == 3u);
    std::int64_t after = 0;
    for (std::size_t n = 0; n < cl.size(); ++n)
        after += cl.node(n).connect()->calls("ssubscribe");
    BOOST_TEST(after - before == 3);

    for (const auto& ch : channels)
        c.publish(ch, "from pier:" + ch, true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == channels.size(); }));
    BOOST_TEST(c.stats().publish_errors == 0u);
    BOOST_TEST(c.stats().moved == 0u);
    // And from the side, at each owner.
    for (const auto& ch : channels) {
        auto owner = cl.node(cl.owner(redis::keyslot(ch))).connect();
        BOOST_TEST(owner->run({"SPUBLISH", ch, "from admin"}).integer == 1);
    }
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 2 * channels.size(); }));
    for (const auto& ch : channels)
        BOOST_TEST(in.messages[ch].size() == 2u);

    // Plain channels are cluster-wide: published at any node, delivered.
    BOOST_TEST_REQUIRE(!c.subscribe("everywhere"));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.count("everywhere") == 1u; }));
    // (PUBLISH's count is of the publishing node's own subscribers only: not checked.)
    BOOST_TEST(!cl.node(2).connect()->run({"PUBLISH", "everywhere", "x"}).is_error());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.messages["everywhere"].size() == 1u; }));
}

BOOST_AUTO_TEST_CASE(moved_after_a_slot_moves) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    c.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().map_refreshes >= 1u; }));
    const auto key = name_on(cl, 0, "moving:");
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", key, "here"}).ec);
    const auto slot = redis::keyslot(key);
    cl.move_slot(slot, 1);
    BOOST_TEST_REQUIRE(cl.owner(slot) == 1u);

    const auto r = exec(io, c, {"GET", key});
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.r.str == "here");
    BOOST_TEST(c.stats().moved == 1u);
    // The map was updated: no second redirect.
    BOOST_TEST(exec(io, c, {"GET", key}).r.str == "here");
    BOOST_TEST(c.stats().moved == 1u);
    cl.move_slot(slot, 0);
}

BOOST_AUTO_TEST_CASE(ask_during_a_migration) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    c.start();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().map_refreshes >= 1u; }));
    const auto key = name_on(cl, 2, "asking:");
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", key, "migrated"}).ec);
    const auto slot = redis::keyslot(key);
    cl.begin_migration(slot, 2, 0);
    cl.migrate_keys(slot, 2, 0);
    // Node 2 still owns the slot but no longer has the key: ASK to node 0.
    const auto r = exec(io, c, {"GET", key});
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.r.str == "migrated");
    BOOST_TEST(c.stats().ask == 1u);
    BOOST_TEST(c.stats().moved == 0u);
    cl.finish_migration(slot, 0);
    BOOST_TEST(exec(io, c, {"GET", key}).r.str == "migrated");
    BOOST_TEST(c.stats().moved == 1u);
    cl.move_slot(slot, 2);
}

BOOST_AUTO_TEST_CASE(tryagain_while_a_multi_key_slot_is_split) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    const auto tag = "{" + name_on(cl, 1, "split") + "}";
    const auto a = tag + "a", b = tag + "b";
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", a, "1"}).ec);
    BOOST_TEST_REQUIRE(!exec(io, c, {"SET", b, "2"}).ec);
    const auto slot = redis::keyslot(a);
    cl.begin_migration(slot, 1, 0);
    auto from = cl.node(1).connect();
    BOOST_TEST_REQUIRE(
        from->run({"MIGRATE", "127.0.0.1", std::to_string(cl.node(0).port()), a, "0", "5000"})
            .str == "OK");
    // One key here, one there: MGET gets TRYAGAIN, and is retried after tryagain_delay.
    const auto moved = c.stats().moved.load();
    result r;
    c.command({"MGET", a, b}, r.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().tryagain >= 1u; }));
    BOOST_TEST(!r.done);
    // The migration ends (io is not running meanwhile, so no retry sees a half state).
    cl.migrate_keys(slot, 1, 0);
    cl.finish_migration(slot, 0);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return r.done; }));
    BOOST_TEST(!r.ec, r.r.str);
    BOOST_TEST_REQUIRE(r.r.elements.size() == 2u);
    BOOST_TEST(r.r.elements[0].str == "1");
    BOOST_TEST(r.r.elements[1].str == "2");
    // The retry found the slot moved (MOVED), unless a map reload still pending from this
    // client's first commands got there first.
    BOOST_TEST(c.stats().moved <= moved + 1);
    cl.move_slot(slot, 1);
}

BOOST_AUTO_TEST_CASE(sunsubscribe_on_migration_then_resubscribe_at_the_new_owner) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    inbox in;
    in.attach(c);
    const auto ch = name_on(cl, 0, "wandering:");
    const auto stay = name_on(cl, 0, "staying:");
    BOOST_TEST_REQUIRE(redis::keyslot(ch) != redis::keyslot(stay));
    BOOST_TEST_REQUIRE(!c.subscribe(ch, true));
    BOOST_TEST_REQUIRE(!c.subscribe(stay, true));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 2u; }));
    c.publish(ch, "before", true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 1u; }));

    const auto slot = redis::keyslot(ch);
    cl.move_slot(slot, 2);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.again[ch] == 1; }));
    BOOST_TEST(c.stats().server_unsubscribes == 1u);
    BOOST_TEST(in.again.count(stay) == 0u); // its slot did not move
    // Now at node 2: published there, it arrives.
    BOOST_TEST(cl.node(2).connect()->run({"SPUBLISH", ch, "after"}).integer == 1);
    BOOST_TEST(cl.node(0).connect()->run({"SPUBLISH", stay, "still"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 3u; }));
    BOOST_TEST(in.messages[ch].back() == "after");
    BOOST_TEST(in.messages[stay].back() == "still");
    // And through the client, which routes to the new owner.
    c.publish(ch, "routed", true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.total == 4u; }));
    BOOST_TEST(c.stats().publish_errors == 0u);
    cl.move_slot(slot, 0);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.again[ch] == 2; }));
}

BOOST_AUTO_TEST_CASE(a_killed_master_fails_fast_and_recovers) {
    auto& cl = shared_cluster();
    asio::io_context io;
    redis::client c(io.get_executor(), cl.url(), fast_options());
    inbox in;
    in.attach(c);
    const auto down = name_on(cl, 1, "down:");
    const auto up = name_on(cl, 2, "up:");
    BOOST_TEST_REQUIRE(!c.subscribe(down, true));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.confirmed.size() == 1u; }));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().connected(); }));

    cl.node(1).kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !c.stats().connected(); }));
    // Its slots fail (not_connected at once once the connection is known down); the others
    // keep working.
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {
        const auto r = exec(io, c, {"GET", down});
        BOOST_TEST_REQUIRE(r.ec);
        refused = r.ec == code(redis::error::not_connected);
    }
    BOOST_TEST(refused);
    BOOST_TEST(!exec(io, c, {"SET", up, "fine"}).ec);
    const auto errors = c.stats().publish_errors.load();
    c.publish(down, "lost", true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return c.stats().publish_errors == errors + 1; }));

    // Back on the same port with its nodes.conf: it rejoins, the client reconnects and the
    // subscriber resubscribes.
    cl.node(1).start();
    BOOST_TEST_REQUIRE(run_until(
        io, [&] { return in.again[down] == 1; }, 30s));
    BOOST_TEST_REQUIRE(run_until(
        io, [&] { return c.stats().connected(); }, 30s));
    // Until the restarted master reports ok, it answers CLUSTERDOWN: an error reply the
    // client hands on (and which prompts a map reload).
    BOOST_TEST_REQUIRE(run_until(
        io, [&] { return cl.settled(); }, 30s));
    const auto r = exec(io, c, {"SET", down, "back"});
    BOOST_TEST(!r.ec, r.r.str);
    BOOST_TEST(cl.node(1).connect()->run({"SPUBLISH", down, "hello"}).integer == 1);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return in.messages[down].size() == 1u; }));
}

BOOST_AUTO_TEST_SUITE_END()
