// Shared pieces of pier's C++ load clients (conn_latency, ws_load): clock, latency histogram,
// non-blocking loopback connect from a chosen 127.0.0.x source, descriptor limit, the runner's
// output protocol and a tiny argument parser.
//
// Output protocol with bench/run.py: a client prints `@start` and `@stop` (each on its own line,
// flushed) when its measurement window opens and closes, so the runner samples the server's CPU
// time exactly over that window; the last line is one JSON object whose "work" and "work_per_s"
// fields are the figure the runner divides by server CPU seconds.

#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

inline std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

inline void marker(const char* line) {
    std::printf("%s\n", line);
    std::fflush(stdout);
}

// Log-linear latency histogram in nanoseconds: exact below 1024 ns, then 64 sub-buckets per power
// of two (relative error under 1.6%), up to 2^40 ns (18 minutes). Recording is O(1) with no
// allocation, so millions of samples per second cost nothing noticeable; the maximum is exact.
class histogram {
public:
    void record(std::uint64_t ns) {
        ++counts_[index(ns)];
        ++total_;
        max_ = std::max(max_, ns);
        if (ns > 100'000'000u)
            ++over_100ms_;
        if (ns > 1'000'000'000u)
            ++over_1s_;
    }

    void merge(const histogram& o) {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            counts_[i] += o.counts_[i];
        total_ += o.total_;
        max_ = std::max(max_, o.max_);
        over_100ms_ += o.over_100ms_;
        over_1s_ += o.over_1s_;
    }

    // q in [0, 1]; returns the upper edge of the bucket holding the q-quantile, in nanoseconds.
    std::uint64_t quantile(double q) const {
        if (total_ == 0)
            return 0;
        auto rank = std::uint64_t(q * double(total_));
        if (rank >= total_)
            rank = total_ - 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen > rank)
                return std::min(upper(i), max_);
        }
        return max_;
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return max_; }
    std::uint64_t over_100ms() const { return over_100ms_; }
    std::uint64_t over_1s() const { return over_1s_; }

    // `"name":{"p50":..,"p99":..,"p999":..,"max":..}` in microseconds.
    std::string json(const char* name) const {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "\"%s\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}", name,
                      double(quantile(0.5)) / 1e3, double(quantile(0.99)) / 1e3,
                      double(quantile(0.999)) / 1e3, double(max_) / 1e3);
        return buf;
    }

private:
    static constexpr unsigned linear_bits = 10;
    static constexpr unsigned sub_bits = 6;
    static constexpr unsigned max_exp = 40;

    static std::size_t index(std::uint64_t v) {
        if (v < (1u << linear_bits))
            return std::size_t(v);
        unsigned e = unsigned(std::bit_width(v)) - 1; // >= linear_bits
        if (e >= max_exp)
            return bucket_count - 1;
        auto sub = std::size_t((v >> (e - sub_bits)) & ((1u << sub_bits) - 1));
        return (1u << linear_bits) + std::size_t(e - linear_bits) * (1u << sub_bits) + sub;
    }

    static std::uint64_t upper(std::size_t i) {
        if (i < (1u << linear_bits))
            return i;
        std::size_t k = i - (1u << linear_bits);
        unsigned e = unsigned(k >> sub_bits) + linear_bits;
        std::uint64_t sub = k & ((1u << sub_bits) - 1);
        return (std::uint64_t(1) << e) + ((sub + 1) << (e - sub_bits)) - 1;
    }

    static constexpr std::size_t bucket_count =
        (1u << linear_bits) + (max_exp - linear_bits) * (1u << sub_bits) + 1;
    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t over_100ms_ = 0;
    std::uint64_t over_1s_ = 0;
};

// xorshift64*: fast, not cryptographic. Good enough for WebSocket masking keys in a load
// generator on loopback (RFC 6455 §5.3 asks for unpredictability to protect intermediaries that
// do not exist here); a real client would use a CSPRNG.
class fast_rng {
public:
    explicit fast_rng(std::uint64_t seed) : s_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
    std::uint64_t next() {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545f4914f6cdd1dull;
    }

private:
    std::uint64_t s_;
};

// Raises RLIMIT_NOFILE to at least `want` (as root the hard limit may be raised too); returns the
// soft limit in force afterwards.
inline rlim_t raise_fd_limit(rlim_t want) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want)
        return rl.rlim_cur;
    rlimit r2 = rl;
    r2.rlim_cur = want;
    if (r2.rlim_max < want)
        r2.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &r2) != 0) {
        r2.rlim_cur = rl.rlim_max;
        r2.rlim_max = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r2);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

// Loopback source addresses 127.0.0.1 .. 127.0.0.<count>: many concurrent or short-lived
// connections to one server port run out of the ~28k ephemeral ports of a single source address.
class sources {
public:
    explicit sources(unsigned count) : count_(std::max(1u, std::min(count, 250u))) {}
    // 0 when only 127.0.0.1 is used, which needs no bind() at all.
    in_addr_t pick() {
        if (count_ == 1)
            return 0;
        unsigned k = next_++ % count_;
        return htonl((127u << 24) | (k + 1));
    }

private:
    unsigned count_;
    unsigned next_ = 0;
};

// Starts a non-blocking connect; returns the fd (connect in progress or done) or -1 with errno.
inline int start_connect(const sockaddr_in& to, in_addr_t source) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source != 0) {
        // Lets the kernel pick the port at connect() time, per destination, instead of reserving
        // a port per source address at bind() time.
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = source;
        if (bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
            int e = errno;
            ::close(fd);
            errno = e;
            return -1;
        }
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

inline sockaddr_in make_target(const std::string& host, unsigned port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(std::uint16_t(port));
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
        std::fprintf(stderr, "--host must be an IPv4 address\n");
        std::exit(2);
    }
    return sa;
}

// `--name value` pairs and `--flag`s; unknown options are an error, not silently ignored.
class args {
public:
    args(int argc, char** argv, std::vector<std::string_view> flags, const char* usage)
        : usage_(usage) {
        for (int i = 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if (a.substr(0, 2) != "--")
                fail(a);
            if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
                items_.push_back({a, "1"});
                continue;
            }
            if (i + 1 >= argc)
                fail(a);
            items_.push_back({a, argv[++i]});
        }
    }

    std::string str(std::string_view name, std::string def) {
        for (auto& [k, v] : items_)
            if (k == name)
                return mark(k), std::string(v);
        return def;
    }
    double num(std::string_view name, double def) {
        for (auto& [k, v] : items_)
            if (k == name) {
                mark(k);
                char* end = nullptr;
                double d = std::strtod(std::string(v).c_str(), &end);
                if (!end || *end)
                    fail(k);
                return d;
            }
        return def;
    }
    bool flag(std::string_view name) {
        for (auto& [k, v] : items_)
            if (k == name)
                return mark(k), true;
        return false;
    }
    // Call after reading every option: rejects any that nobody asked for.
    void done() {
        for (auto& [k, v] : items_)
            if (std::find(used_.begin(), used_.end(), k) == used_.end())
                fail(k);
    }

private:
    [[noreturn]] void fail(std::string_view what) {
        std::fprintf(stderr, "bad or unknown option '%.*s'\n%s", int(what.size()), what.data(),
                     usage_);
        std::exit(2);
    }
    void mark(std::string_view k) { used_.push_back(k); }

    const char* usage_;
    std::vector<std::pair<std::string_view, std::string_view>> items_;
    std::vector<std::string_view> used_;
};

} // namespace bench
