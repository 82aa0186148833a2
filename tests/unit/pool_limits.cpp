// Unit tests for pier/pool/limits.hpp: token bucket arithmetic (exact, no drift), the per-IP
// table's two limits, address grouping, expiry, the bound on tracked addresses, and
// concurrent use from several threads.
//
// pier-test: threads
#include <pier/pier.hpp>
#include <pier/pool.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace pool = pier::pool;
using pool::ip_verdict;

namespace {

asio::ip::address ip(const char* text) {
    return asio::ip::make_address(text);
}

pool::ip_limits limits(std::uint32_t max_connections, pool::rate_limit rate,
                       std::size_t max_addresses = 1024, std::size_t shards = 1) {
    pool::ip_limits l;
    l.max_connections = max_connections;
    l.connect_rate = rate;
    l.max_addresses = max_addresses;
    l.shards = shards;
    return l;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_limits)

BOOST_AUTO_TEST_CASE(bucket_starts_full_and_refills_exactly) {
    const pool::rate_limit r{.per_second = 10, .burst = 5};
    pool::token_bucket b(r, 1000);
    BOOST_TEST(b.available(r, 1000) == 5u);
    for (int i = 0; i < 5; ++i)
        BOOST_TEST(b.try_take(r, 1000));
    BOOST_TEST(!b.try_take(r, 1000));
    // 10 a second: one token per 100 ms, not one earlier.
    BOOST_TEST(!b.try_take(r, 1099));
    BOOST_TEST(b.wait_ms(r, 1099) == 1);
    BOOST_TEST(b.try_take(r, 1100));
    BOOST_TEST(!b.try_take(r, 1100));
    // Never more than the burst, however long the pause.
    BOOST_TEST(b.available(r, 1'000'000'000) == 5u);
    BOOST_TEST(b.available(r, std::numeric_limits<std::int64_t>::max()) == 5u);
}

BOOST_AUTO_TEST_CASE(no_drift_over_many_small_steps) {
    // 7 a second is 7/1000 token per ms, not a whole number of ms per token: asking every
    // millisecond for 10 minutes must give exactly 7 * 600 tokens (plus the initial burst),
    // and so must asking once a second. (The burst is large enough that a second's refill
    // never hits the cap, which would rightly discard tokens.)
    const pool::rate_limit r{.per_second = 7, .burst = 10};
    pool::token_bucket b(r, 0);
    int taken = 0;
    for (std::int64_t t = 0; t <= 600'000; ++t)
        while (b.try_take(r, t))
            ++taken;
    BOOST_TEST(taken == 10 + 7 * 600);
    pool::token_bucket c(r, 0);
    taken = 0;
    for (std::int64_t t = 0; t <= 600'000; t += 1000)
        while (c.try_take(r, t))
            ++taken;
    BOOST_TEST(taken == 10 + 7 * 600);
}

BOOST_AUTO_TEST_CASE(bucket_edges) {
    const pool::rate_limit unlimited{};
    pool::token_bucket u;
    BOOST_TEST(unlimited.unlimited());
    for (int i = 0; i < 1000; ++i)
        BOOST_TEST(u.try_take(unlimited, 0));
    BOOST_TEST(u.wait_ms(unlimited, 0) == 0);

    // Burst 0 reads as 1.
    const pool::rate_limit r{.per_second = 1, .burst = 0};
    pool::token_bucket b(r, 0);
    BOOST_TEST(b.try_take(r, 0));
    BOOST_TEST(!b.try_take(r, 999));
    BOOST_TEST(b.try_take(r, 1000));

    // Several tokens at once; more than the burst never.
    const pool::rate_limit m{.per_second = 1000, .burst = 10};
    pool::token_bucket c(m, 0);
    BOOST_TEST(c.try_take(m, 0, 10));
    BOOST_TEST(!c.try_take(m, 0, 1));
    BOOST_TEST(c.wait_ms(m, 0, 5) == 5);
    BOOST_TEST(c.wait_ms(m, 0, 11) == -1);
    BOOST_TEST(!c.try_take(m, 1'000'000, 11));
    BOOST_TEST(c.try_take(m, 1'000'000, 10));

    // A time before the last call counts as the last call's time.
    const pool::rate_limit s{.per_second = 1, .burst = 1};
    pool::token_bucket d(s, 5000);
    BOOST_TEST(d.try_take(s, 5000));
    BOOST_TEST(!d.try_take(s, 4000));
    BOOST_TEST(!d.try_take(s, 5999));
    BOOST_TEST(d.wait_ms(s, 4000) == 2000);
    BOOST_TEST(d.try_take(s, 6000));

    // The largest rates do not overflow.
    const pool::rate_limit huge{.per_second = std::numeric_limits<std::uint32_t>::max(),
                                .burst = std::numeric_limits<std::uint32_t>::max()};
    pool::token_bucket h(huge, 0);
    BOOST_TEST(h.try_take(huge, 0, std::numeric_limits<std::uint32_t>::max()));
    BOOST_TEST(!h.try_take(huge, 0));
    BOOST_TEST(h.try_take(huge, 1, std::numeric_limits<std::uint32_t>::max() / 1000));
}

BOOST_AUTO_TEST_CASE(verdict_names) {
    BOOST_TEST(to_string(ip_verdict::allowed) == "allowed");
    BOOST_TEST(to_string(ip_verdict::too_many_connections) == "too_many_connections");
    BOOST_TEST(to_string(ip_verdict::rate_limited) == "rate_limited");
    BOOST_TEST(to_string(ip_verdict::table_full) == "table_full");
}

BOOST_AUTO_TEST_CASE(connection_count_per_address) {
    pool::ip_table t(limits(3, {}));
    const auto a = ip("192.0.2.1"), b = ip("192.0.2.2");
    for (int i = 0; i < 3; ++i)
        BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(a, 0) == ip_verdict::too_many_connections));
    BOOST_TEST((t.admit(b, 0) == ip_verdict::allowed));
    BOOST_TEST(t.connections(a) == 3u);
    t.release(a);
    BOOST_TEST(t.connections(a) == 2u);
    BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    // Releasing what was never admitted changes nothing.
    t.release(ip("198.51.100.7"));
    for (int i = 0; i < 10; ++i)
        t.release(b);
    BOOST_TEST(t.connections(b) == 0u);
    BOOST_TEST(t.connections(a) == 3u);
}

BOOST_AUTO_TEST_CASE(connect_rate_per_address) {
    pool::ip_table t(limits(0, {.per_second = 2, .burst = 3}));
    const auto a = ip("203.0.113.9");
    for (int i = 0; i < 3; ++i)
        BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(a, 0) == ip_verdict::rate_limited));
    BOOST_TEST((t.admit(a, 499) == ip_verdict::rate_limited));
    BOOST_TEST((t.admit(a, 500) == ip_verdict::allowed));
    BOOST_TEST(t.connections(a) == 4u);
    // Another address has its own bucket.
    BOOST_TEST((t.admit(ip("203.0.113.10"), 500) == ip_verdict::allowed));
    // The count is checked first: a refused connection spends no token.
    pool::ip_table u(limits(1, {.per_second = 1, .burst = 2}));
    BOOST_TEST((u.admit(a, 0) == ip_verdict::allowed));
    BOOST_TEST((u.admit(a, 0) == ip_verdict::too_many_connections));
    BOOST_TEST((u.admit(a, 0) == ip_verdict::too_many_connections));
    u.release(a);
    BOOST_TEST((u.admit(a, 0) == ip_verdict::allowed));
}

BOOST_AUTO_TEST_CASE(grouping) {
    pool::ip_table t(limits(2, {}));
    BOOST_TEST((t.key_for(ip("2001:db8:1:2:aaaa::1")) == t.key_for(ip("2001:db8:1:2:bbbb::2"))));
    BOOST_TEST((t.key_for(ip("2001:db8:1:2::1")) != t.key_for(ip("2001:db8:1:3::1"))));
    // IPv4 one by one, and the same whether it arrives as IPv4 or IPv4-mapped IPv6.
    BOOST_TEST((t.key_for(ip("192.0.2.1")) != t.key_for(ip("192.0.2.2"))));
    BOOST_TEST((t.key_for(ip("192.0.2.1")) == t.key_for(ip("::ffff:192.0.2.1"))));
    BOOST_TEST((t.key_for(ip("::ffff:192.0.2.1")) != t.key_for(ip("::ffff:192.0.2.2"))));
    // Not confused with an IPv6 address that merely ends in the same bytes.
    BOOST_TEST((t.key_for(ip("::c000:201")) != t.key_for(ip("192.0.2.1"))));

    BOOST_TEST((t.admit(ip("2001:db8:1:2::1"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("2001:db8:1:2::ffff"), 0) == ip_verdict::allowed));
    BOOST_TEST(
        (t.admit(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 0) == ip_verdict::too_many_connections));
    BOOST_TEST((t.admit(ip("2001:db8:1:3::1"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("192.0.2.1"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("::ffff:192.0.2.1"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("192.0.2.1"), 0) == ip_verdict::too_many_connections));
    t.release(ip("::ffff:192.0.2.1"));
    BOOST_TEST(t.connections(ip("192.0.2.1")) == 1u);

    pool::ip_limits l = limits(2, {});
    l.ipv6_prefix = 128;
    pool::ip_table exact(l);
    BOOST_TEST((exact.key_for(ip("2001:db8::1")) != exact.key_for(ip("2001:db8::2"))));
    l.ipv6_prefix = 56;
    pool::ip_table wide(l);
    BOOST_TEST((wide.key_for(ip("2001:db8:0:ff::1")) == wide.key_for(ip("2001:db8:0:1::1"))));
    BOOST_TEST((wide.key_for(ip("2001:db8:0:100::1")) != wide.key_for(ip("2001:db8:0:1::1"))));
    l.ipv6_prefix = 1000; // clamped to 128
    pool::ip_table clamped(l);
    BOOST_TEST(clamped.limits().ipv6_prefix == 128u);
}

BOOST_AUTO_TEST_CASE(idle_addresses_expire) {
    // burst 4 at 2 a second: an idle address is forgotten after 2 s.
    pool::ip_table t(limits(0, {.per_second = 2, .burst = 4}));
    const auto a = ip("192.0.2.1");
    BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    BOOST_TEST(t.size() == 1u);
    t.release(a);
    BOOST_TEST(t.size() == 1u); // remembered: its bucket is not full yet
    // Another address's calls at 1999 ms do not forget it; at 2000 ms they do.
    BOOST_TEST((t.admit(ip("192.0.2.2"), 1999) == ip_verdict::allowed));
    BOOST_TEST(t.size() == 2u);
    BOOST_TEST((t.admit(ip("192.0.2.3"), 2000) == ip_verdict::allowed));
    BOOST_TEST(t.size() == 2u);
    // An address with open connections is never forgotten.
    BOOST_TEST((t.admit(ip("192.0.2.4"), 1'000'000) == ip_verdict::allowed));
    BOOST_TEST(t.connections(ip("192.0.2.2")) == 1u);
    BOOST_TEST(t.connections(ip("192.0.2.3")) == 1u);

    // With no connect rate there is nothing to remember once the last connection closes.
    pool::ip_table n(limits(5, {}));
    BOOST_TEST((n.admit(a, 0) == ip_verdict::allowed));
    BOOST_TEST(n.size() == 1u);
    n.release(a);
    BOOST_TEST(n.size() == 0u);
}

BOOST_AUTO_TEST_CASE(rate_memory_survives_until_refilled) {
    // The point of remembering idle addresses: closing and reconnecting does not reset the
    // rate limit.
    pool::ip_table t(limits(0, {.per_second = 1, .burst = 2}));
    const auto a = ip("192.0.2.1");
    BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    t.release(a);
    BOOST_TEST((t.admit(a, 1) == ip_verdict::allowed));
    t.release(a);
    BOOST_TEST((t.admit(a, 2) == ip_verdict::rate_limited));
    BOOST_TEST((t.admit(a, 999) == ip_verdict::rate_limited));
    BOOST_TEST((t.admit(a, 1000) == ip_verdict::allowed));
}

BOOST_AUTO_TEST_CASE(bounded_table_fails_safe) {
    pool::ip_table t(limits(0, {.per_second = 1, .burst = 1}, 3));
    BOOST_TEST((t.admit(ip("10.0.0.1"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("10.0.0.2"), 0) == ip_verdict::allowed));
    BOOST_TEST((t.admit(ip("10.0.0.3"), 0) == ip_verdict::allowed));
    // Full of addresses with open connections: a new one is refused, known ones are not.
    BOOST_TEST((t.admit(ip("10.0.0.4"), 5000) == ip_verdict::table_full));
    BOOST_TEST((t.admit(ip("10.0.0.1"), 5000) == ip_verdict::allowed));
    BOOST_TEST(t.size() == 3u);
    // An idle address still being rate-limited keeps its place...
    t.release(ip("10.0.0.2"));
    BOOST_TEST((t.admit(ip("10.0.0.4"), 5500) == ip_verdict::table_full));
    // ...until its bucket has refilled (1 s), when it makes room.
    BOOST_TEST((t.admit(ip("10.0.0.4"), 6500) == ip_verdict::allowed));
    BOOST_TEST(t.size() == 3u);
    BOOST_TEST(t.connections(ip("10.0.0.2")) == 0u);

    // The capacity is split over the shards, rounded up.
    pool::ip_table sharded(limits(0, {}, 10, 4));
    std::size_t allowed = 0;
    for (int i = 0; i < 100; ++i) {
        const auto a = asio::ip::address_v4(0x0a000000u + static_cast<unsigned>(i));
        allowed += sharded.admit(asio::ip::address(a), 0) == ip_verdict::allowed ? 1 : 0;
    }
    BOOST_TEST(allowed == 12u); // 4 shards of 3
    BOOST_TEST(sharded.size() == 12u);
}

BOOST_AUTO_TEST_CASE(lease_releases_once) {
    pool::ip_table t(limits(1, {}));
    const auto a = ip("192.0.2.1");
    {
        BOOST_TEST_REQUIRE((t.admit(a, 0) == ip_verdict::allowed));
        pool::ip_lease lease(t, a);
        BOOST_TEST(static_cast<bool>(lease));
        BOOST_TEST((t.admit(a, 0) == ip_verdict::too_many_connections));
        pool::ip_lease moved = std::move(lease);
        BOOST_TEST(!static_cast<bool>(lease));
        BOOST_TEST(t.connections(a) == 1u);
        pool::ip_lease other;
        other = std::move(moved);
        BOOST_TEST(t.connections(a) == 1u);
    }
    BOOST_TEST(t.connections(a) == 0u);
    BOOST_TEST((t.admit(a, 0) == ip_verdict::allowed));
    pool::ip_lease early(t, a);
    early.release();
    early.release();
    BOOST_TEST(t.connections(a) == 0u);
}

BOOST_AUTO_TEST_CASE(shared_between_threads) {
    // Four threads admit and release over a common set of addresses with their own clocks
    // (a little apart, as clocks read on different threads are). The counts must balance
    // exactly, and no address may ever exceed its limit.
    constexpr int threads = 4, rounds = 20000;
    pool::ip_table t(limits(3, {.per_second = 1000, .burst = 50}, 64, 4));
    std::atomic<int> over_limit{0};
    std::atomic<long> admitted{0};
    std::vector<std::thread> pool_threads;
    for (int k = 0; k < threads; ++k) {
        pool_threads.emplace_back([&, k] {
            std::vector<asio::ip::address> held;
            for (int i = 0; i < rounds; ++i) {
                const auto a = asio::ip::address(
                    asio::ip::address_v4(0xc0000200u + static_cast<unsigned>((i * 7 + k) % 16)));
                const std::int64_t now = i / 4 + k;
                if (t.admit(a, now) == ip_verdict::allowed) {
                    admitted.fetch_add(1, std::memory_order_relaxed);
                    if (t.connections(a) > 3)
                        over_limit.fetch_add(1, std::memory_order_relaxed);
                    held.push_back(a);
                }
                if (held.size() > 2 || (i % 3 == 0 && !held.empty())) {
                    t.release(held.front());
                    held.erase(held.begin());
                }
            }
            for (const auto& a : held)
                t.release(a);
        });
    }
    for (auto& th : pool_threads)
        th.join();
    BOOST_TEST(over_limit.load() == 0);
    BOOST_TEST(admitted.load() > threads); // the run exercised admits, not only refusals
    for (unsigned i = 0; i < 16; ++i)
        BOOST_TEST(t.connections(asio::ip::address(asio::ip::address_v4(0xc0000200u + i))) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
