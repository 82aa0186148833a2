// pier/pool/impl/limits.hpp: out-of-line definitions for <pier/pool/limits.hpp>.
#pragma once

#include <pier/pool/limits.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>

namespace pier::pool {

// --- token_bucket ----------------------------------------------------------------------------

inline std::int64_t token_bucket::capacity(const rate_limit& r) noexcept {
    return static_cast<std::int64_t>(std::max<std::uint32_t>(r.burst, 1)) * unit;
}

inline std::int64_t token_bucket::level(const rate_limit& r, std::int64_t now_ms) const noexcept {
    const std::int64_t cap = capacity(r);
    if (units_ >= cap)
        return cap;
    if (now_ms <= last_ms_)
        return units_;
    // The unsigned difference is exact for any now_ms > last_ms_, even across the full range.
    const std::uint64_t elapsed =
        static_cast<std::uint64_t>(now_ms) - static_cast<std::uint64_t>(last_ms_);
    const auto missing = static_cast<std::uint64_t>(cap - units_);
    const std::uint64_t rate = r.per_second; // thousandths of a token per millisecond
    if (elapsed >= (missing + rate - 1) / rate)
        return cap;
    return units_ + static_cast<std::int64_t>(elapsed * rate);
}

inline void token_bucket::reset(const rate_limit& r, std::int64_t now_ms) noexcept {
    units_ = capacity(r);
    last_ms_ = now_ms;
}

inline bool token_bucket::try_take(const rate_limit& r, std::int64_t now_ms,
                                   std::uint32_t n) noexcept {
    if (r.unlimited())
        return true;
    const std::int64_t have = level(r, now_ms);
    units_ = have;
    last_ms_ = std::max(last_ms_, now_ms);
    const std::int64_t cost = static_cast<std::int64_t>(n) * unit;
    if (have < cost)
        return false;
    units_ = have - cost;
    return true;
}

inline std::uint64_t token_bucket::available(const rate_limit& r,
                                             std::int64_t now_ms) const noexcept {
    if (r.unlimited())
        return std::numeric_limits<std::uint64_t>::max();
    return static_cast<std::uint64_t>(level(r, now_ms) / unit);
}

inline std::int64_t token_bucket::wait_ms(const rate_limit& r, std::int64_t now_ms,
                                          std::uint32_t n) const noexcept {
    if (r.unlimited())
        return 0;
    const std::int64_t cost = static_cast<std::int64_t>(n) * unit;
    if (cost > capacity(r))
        return -1;
    const std::int64_t have = level(r, now_ms);
    if (have >= cost)
        return 0;
    const std::int64_t rate = r.per_second;
    // level() counts from the later of now_ms and the last call; so does the answer.
    const std::int64_t behind = now_ms < last_ms_ ? last_ms_ - now_ms : 0;
    return behind + (cost - have + rate - 1) / rate;
}

// --- ip_table --------------------------------------------------------------------------------

constexpr std::string_view to_string(ip_verdict v) noexcept {
    switch (v) {
    case ip_verdict::allowed:
        return "allowed";
    case ip_verdict::too_many_connections:
        return "too_many_connections";
    case ip_verdict::rate_limited:
        return "rate_limited";
    case ip_verdict::table_full:
        return "table_full";
    }
    return "unknown";
}

struct ip_table::entry {
    token_bucket bucket;
    std::int64_t idle_since = 0;
    std::uint32_t connections = 0;
    // Addresses with no open connection, oldest first: the only ones that may be forgotten,
    // and in the order they become forgettable (each waits the same time, and a shard's
    // clock never goes back), so expiry only ever looks at the head.
    entry* idle_prev = nullptr;
    entry* idle_next = nullptr;
    const key* self = nullptr; // the map's key, to erase the entry when it expires
};

struct ip_table::shard {
    std::mutex mutex;
    std::unordered_map<key, entry, key_hash> map;
    entry* idle_head = nullptr;
    entry* idle_tail = nullptr;
    // The latest time this shard has been given: calls from several threads reach the mutex
    // in any order, and a clock read just before a competitor's must not move time back.
    std::int64_t now = std::numeric_limits<std::int64_t>::min();
    std::size_t capacity = 0;
    std::int64_t forget_after_ms = 0;

    void link_idle(entry& e, std::int64_t t) noexcept {
        e.idle_since = t;
        e.idle_prev = idle_tail;
        e.idle_next = nullptr;
        (idle_tail ? idle_tail->idle_next : idle_head) = &e;
        idle_tail = &e;
    }
    void unlink_idle(entry& e) noexcept {
        (e.idle_prev ? e.idle_prev->idle_next : idle_head) = e.idle_next;
        (e.idle_next ? e.idle_next->idle_prev : idle_tail) = e.idle_prev;
        e.idle_prev = e.idle_next = nullptr;
    }
    // Forgets at most `n` idle addresses whose connect bucket is full again by `t` (they hold
    // no information then): a bounded amount of work per call, yet faster than idle entries
    // can appear, since each call makes at most one.
    void expire(std::int64_t t, int n) noexcept {
        while (n-- > 0 && idle_head && t - idle_head->idle_since >= forget_after_ms) {
            entry* e = idle_head;
            unlink_idle(*e);
            const key k = *e->self;
            map.erase(k);
        }
    }
};

inline std::size_t ip_table::key_hash::operator()(const key& k) const noexcept {
    // splitmix64's finaliser over both halves, keyed by a per-table random seed so that
    // clients cannot pick addresses that pile into one shard or one hash bucket. Not a
    // cryptographic MAC; the seed is never revealed and each shard's table is small.
    auto mix = [](std::uint64_t z) noexcept {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    };
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    return static_cast<std::size_t>(mix(mix(a ^ seed0) ^ b ^ seed1));
}

inline ip_table::ip_table(const ip_limits& limits) : limits_(limits) {
    limits_.shards = std::max<std::size_t>(limits_.shards, 1);
    limits_.ipv6_prefix = std::min(limits_.ipv6_prefix, 128u);
    std::random_device rd;
    hash_.seed0 = (std::uint64_t{rd()} << 32) ^ rd();
    hash_.seed1 = (std::uint64_t{rd()} << 32) ^ rd();
    shard_count_ = limits_.shards;
    const std::size_t per_shard =
        std::max<std::size_t>(1, (limits_.max_addresses + shard_count_ - 1) / shard_count_);
    // Long enough for an empty connect bucket to fill again: after that, an idle address
    // looks exactly like one never seen.
    const rate_limit& r = limits_.connect_rate;
    const std::int64_t forget =
        r.unlimited() ? 0
                      : (static_cast<std::int64_t>(std::max<std::uint32_t>(r.burst, 1)) * 1000 +
                         r.per_second - 1) /
                            r.per_second;
    shards_ = std::make_unique<shard[]>(shard_count_);
    for (std::size_t i = 0; i < shard_count_; ++i) {
        shard& s = shards_[i];
        s.map = decltype(s.map)(0, hash_);
        s.capacity = per_shard;
        s.forget_after_ms = forget;
    }
}

inline ip_table::key ip_table::key_for(const asio::ip::address& address) const noexcept {
    key k{};
    auto v4 = [&k](const asio::ip::address_v4& a) noexcept {
        const auto b = a.to_bytes();
        k[10] = k[11] = 0xff;
        std::memcpy(k.data() + 12, b.data(), 4);
    };
    if (address.is_v4()) {
        v4(address.to_v4());
        return k;
    }
    const asio::ip::address_v6 a = address.to_v6();
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; grouped by /64 they would
    // all share one entry.
    if (a.is_v4_mapped()) {
        v4(asio::ip::make_address_v4(asio::ip::v4_mapped, a));
        return k;
    }
    const auto b = a.to_bytes();
    const int prefix = static_cast<int>(limits_.ipv6_prefix);
    for (int i = 0; i < 16; ++i) {
        const int bits = std::clamp(prefix - 8 * i, 0, 8);
        k[static_cast<std::size_t>(i)] =
            static_cast<unsigned char>(b[static_cast<std::size_t>(i)] & ((0xff00 >> bits) & 0xff));
    }
    return k;
}

inline ip_table::shard& ip_table::shard_for(const key&, std::size_t hash) const noexcept {
    return shards_[(hash >> 32) % shard_count_];
}

inline ip_verdict ip_table::admit(const asio::ip::address& address, std::int64_t now_ms) {
    const key k = key_for(address);
    shard& s = shard_for(k, hash_(k));
    std::lock_guard lock(s.mutex);
    now_ms = std::max(now_ms, s.now);
    s.now = now_ms;
    s.expire(now_ms, 2);

    auto it = s.map.find(k);
    if (it == s.map.end()) {
        // expire() just made room if any idle entry could go; none could.
        if (s.map.size() >= s.capacity)
            return ip_verdict::table_full;
        it = s.map.try_emplace(k).first;
        it->second.self = &it->first;
        it->second.bucket.reset(limits_.connect_rate, now_ms);
    } else if (it->second.connections == 0) {
        s.unlink_idle(it->second);
    }
    entry& e = it->second;
    ip_verdict v = ip_verdict::allowed;
    if (limits_.max_connections != 0 && e.connections >= limits_.max_connections)
        v = ip_verdict::too_many_connections;
    else if (!e.bucket.try_take(limits_.connect_rate, now_ms))
        v = ip_verdict::rate_limited;
    else
        ++e.connections;
    if (e.connections == 0)
        s.link_idle(e, now_ms);
    return v;
}

inline void ip_table::release(const asio::ip::address& address) noexcept {
    const key k = key_for(address);
    shard& s = shard_for(k, hash_(k));
    std::lock_guard lock(s.mutex);
    const auto it = s.map.find(k);
    if (it == s.map.end() || it->second.connections == 0)
        return;
    if (--it->second.connections == 0)
        s.link_idle(it->second, s.now);
    s.expire(s.now, 2);
}

inline std::uint32_t ip_table::connections(const asio::ip::address& address) const noexcept {
    const key k = key_for(address);
    shard& s = shard_for(k, hash_(k));
    std::lock_guard lock(s.mutex);
    const auto it = s.map.find(k);
    return it == s.map.end() ? 0 : it->second.connections;
}

inline std::size_t ip_table::size() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        n += shards_[i].map.size();
    }
    return n;
}

} // namespace pier::pool
