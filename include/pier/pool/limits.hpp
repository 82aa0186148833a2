// pier/pool/limits.hpp: rate and count limits for the pool.
//
// - token_bucket: a rate with a burst, e.g. messages per connection. 16 bytes of state; the
//   rate itself is passed to each call, since every connection of a pool shares it.
// - ip_table: per client address, the number of open connections and the rate of new ones.
//
//     pier::pool::rate_limit messages{.per_second = 50, .burst = 100};
//     pier::pool::token_bucket bucket(messages, now_ms);   // starts full
//     if (!bucket.try_take(messages, now_ms)) …            // over the rate: error envelope
//
//     pier::pool::ip_table ips;                            // shared by all event loops
//     if (auto v = ips.admit(remote.address(), now_ms); v != pier::pool::ip_verdict::allowed)
//         refuse(to_string(v));                            // HTTP 429 / 503 before upgrading
//     pier::pool::ip_lease lease(ips, remote.address());  // released when the connection ends
//
// Time is a monotonic millisecond count chosen by the caller (steady_clock since any epoch);
// nothing here reads a clock, so tests are exact. All arithmetic is integer: a bucket holds
// thousandths of a token and gains exactly `per_second` of them each millisecond, so no
// rounding accumulates however often it is asked.
//
// Thread safety: a token_bucket is a plain value (one per connection, used on its thread).
// An ip_table is safe to share between threads: per-address limits are global by nature, so
// it is split into shards chosen by a seeded hash of the address, each with its own small
// mutex, and a connect from one thread contends only with connects hashed to the same shard.
// It is consulted once per connection attempt and once per close, never per message.
#pragma once

#include <pier/config.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace pier::pool {

/// `per_second` tokens a second, with up to `burst` saved up for a quiet client to spend at
/// once. `per_second` 0 means no limit. A burst below 1 is taken as 1.
struct rate_limit {
    std::uint32_t per_second = 0;
    std::uint32_t burst = 0;

    constexpr bool unlimited() const noexcept { return per_second == 0; }
};

/// The state of one token bucket. Every call must pass the same rate_limit.
class token_bucket {
public:
    /// An empty bucket; call reset() or construct it with a time before use.
    token_bucket() = default;
    /// A full bucket at `now_ms`.
    token_bucket(const rate_limit& r, std::int64_t now_ms) noexcept { reset(r, now_ms); }

    /// Fills the bucket as of `now_ms`.
    void reset(const rate_limit& r, std::int64_t now_ms) noexcept;

    /// Takes `n` tokens if the bucket holds them at `now_ms`; otherwise takes none. Always
    /// true for an unlimited rate. A `now_ms` earlier than a previous call's counts as that
    /// call's time (a clock read on another thread may lag a little).
    bool try_take(const rate_limit& r, std::int64_t now_ms, std::uint32_t n = 1) noexcept;

    /// Whole tokens available at `now_ms` (what try_take would allow).
    std::uint64_t available(const rate_limit& r, std::int64_t now_ms) const noexcept;

    /// Milliseconds from `now_ms` until `n` tokens are available: 0 if they are now, and -1 if
    /// they never will be (n above the burst). For Retry-After style answers.
    std::int64_t wait_ms(const rate_limit& r, std::int64_t now_ms,
                         std::uint32_t n = 1) const noexcept;

private:
    static constexpr std::int64_t unit = 1000; // thousandths of a token
    static std::int64_t capacity(const rate_limit& r) noexcept;
    std::int64_t level(const rate_limit& r, std::int64_t now_ms) const noexcept;

    std::int64_t units_ = 0;
    std::int64_t last_ms_ = 0;
};

/// Limits per client address, for ip_table.
struct ip_limits {
    /// Open connections per address. Default 1000; 0 for no limit. Carrier-grade NAT puts
    /// hundreds of mobile subscribers behind one IPv4 address and every browser tab opens its
    /// own connection, so a low number here refuses real users; 1000 still keeps one host
    /// from taking more than 1% of a 100k-connection pool.
    std::uint32_t max_connections = 1000;
    /// New connections per address: default 20 a second with a burst of 100, so a whole
    /// NAT-ed office reconnecting after a restart gets in within seconds (clients back off
    /// and retry), while a loop reconnecting as fast as it can is slowed to 20 a second.
    rate_limit connect_rate{.per_second = 20, .burst = 100};
    /// Most addresses tracked at once. Default 65536, about 7 MiB (some 100 bytes each). Split
    /// evenly over the shards. An address whose connections are all closed is forgotten once its
    /// connect rate bucket has refilled (burst / per_second seconds), and only then makes room:
    /// when a shard is full of addresses still in use, a new address is refused (table_full) rather
    /// than let in unlimited by evicting one that is being limited.
    std::size_t max_addresses = 65536;
    /// Independently locked parts. Default 16: more than the threads that connect at once on
    /// the machines pier targets, so two connects rarely wait for each other.
    std::size_t shards = 16;
    /// IPv6 clients are grouped by this prefix length. Default 64: an IPv6 subscriber (home
    /// or mobile) gets at least a /64 and picks addresses in it freely (privacy extensions,
    /// RFC 8981), so a per-address limit would be a per-/64 limit times 2^64. IPv4 addresses
    /// (and IPv4-mapped IPv6 ones, ::ffff:a.b.c.d, from dual-stack sockets) are limited one
    /// by one. Clamped to 0..128.
    unsigned ipv6_prefix = 64;
};

/// The answer of ip_table::admit.
enum class ip_verdict : std::uint8_t {
    allowed,              ///< counted: call release() (or hold an ip_lease) when it closes
    too_many_connections, ///< the address has max_connections open
    rate_limited,         ///< the address connects faster than connect_rate
    table_full,           ///< max_addresses are tracked and none can be forgotten yet
};

/// "allowed", "too_many_connections", "rate_limited", "table_full".
constexpr std::string_view to_string(ip_verdict v) noexcept;

/// Per-address connection counts and connect rates, bounded in memory. O(1) per call
/// (a hash lookup and at most two expiries). Thread-safe; see the top of this file.
class ip_table {
public:
    explicit ip_table(const ip_limits& limits = {});
    ip_table(const ip_table&) = delete;
    ip_table& operator=(const ip_table&) = delete;

    const ip_limits& limits() const noexcept { return limits_; }

    /// Checks a new connection from `address` at `now_ms` against both limits; if allowed,
    /// counts it (and takes a connect token). Every allowed admit must be paired with one
    /// release of the same address.
    ip_verdict admit(const asio::ip::address& address, std::int64_t now_ms);

    /// One connection from `address` has closed. An address that is not counted is ignored.
    void release(const asio::ip::address& address) noexcept;

    /// Open connections counted for `address`'s group.
    std::uint32_t connections(const asio::ip::address& address) const noexcept;

    /// Addresses (groups) tracked, including those kept only for their connect rate.
    std::size_t size() const noexcept;

    /// The 16-byte key an address is counted under: IPv4 as ::ffff:a.b.c.d, IPv6 with the
    /// bits past ipv6_prefix cleared.
    using key = std::array<unsigned char, 16>;
    key key_for(const asio::ip::address& address) const noexcept;

private:
    struct key_hash {
        std::uint64_t seed0 = 0, seed1 = 0;
        std::size_t operator()(const key& k) const noexcept;
    };
    struct entry;
    struct shard;

    shard& shard_for(const key& k, std::size_t hash) const noexcept;

    ip_limits limits_;
    key_hash hash_;
    std::unique_ptr<shard[]> shards_;
    std::size_t shard_count_;
};

/// One admitted connection's place in an ip_table, released when the lease is destroyed
/// (or released early). Move-only. The table must outlive it.
class ip_lease {
public:
    ip_lease() = default;
    /// Takes over a connection `table.admit(address, …)` allowed.
    ip_lease(ip_table& table, const asio::ip::address& address) noexcept
        : table_(&table), address_(address) {}
    ip_lease(ip_lease&& o) noexcept : table_(o.table_), address_(o.address_) { o.table_ = nullptr; }
    ip_lease& operator=(ip_lease&& o) noexcept {
        if (this != &o) {
            release();
            table_ = o.table_;
            address_ = o.address_;
            o.table_ = nullptr;
        }
        return *this;
    }
    ~ip_lease() { release(); }

    explicit operator bool() const noexcept { return table_ != nullptr; }
    void release() noexcept {
        if (table_)
            table_->release(address_);
        table_ = nullptr;
    }

private:
    ip_table* table_ = nullptr;
    asio::ip::address address_;
};

} // namespace pier::pool

#include <pier/pool/impl/limits.hpp>
