// conn_latency: connect-per-transaction latency against an echo server.
//
// Each transaction opens a TCP connection, sends a --size byte message (default 3000) and reads
// the echo back --rounds times (default 2), then closes; its latency runs from the connect() call
// to the last byte of the last echo. --conns transactions run at once (one thread, edge-triggered
// epoll), each slot starting its next transaction as soon as one ends. The run ends after --count
// measured transactions or --duration seconds, whichever comes first (after --warmup
// transactions that are not recorded), and hard-stops at --timeout seconds.
//
// Output: `@start`/`@stop` around the measured window, then one JSON line with the count,
// p50/p99/p99.9/max in microseconds, and how many transactions took over 100 ms and over 1 s
// (a lost SYN costs a 1 s retransmit: that is what the tail counts are for).

#include "common.hpp"

#include <sys/epoll.h>

#include <csignal>

namespace {

const char* usage_text =
    "usage: conn_latency --port P [--host 127.0.0.1] [--conns 1] [--size 3000] [--rounds 2]\n"
    "                    [--count 20000] [--duration 10] [--warmup 200] [--sources 1]\n"
    "                    [--timeout 60]\n";

enum class state { connecting, writing, reading, idle };

struct slot {
    int fd = -1;
    std::uint32_t generation = 0;
    state st = state::idle;
    std::uint64_t started = 0;
    unsigned round = 0;
    std::size_t done = 0; // bytes written or read in the current half-round
};

struct client {
    sockaddr_in target{};
    bench::sources srcs{1};
    std::size_t size = 3000;
    unsigned rounds = 2;
    std::uint64_t count = 20000;
    std::uint64_t warmup = 200;
    double duration = 10;
    double timeout = 60;

    int epfd = -1;
    std::vector<slot> slots;
    std::string message;
    std::vector<char> scratch = std::vector<char>(64 * 1024);

    bench::histogram hist;
    std::uint64_t finished = 0; // including warm-up
    std::uint64_t errors = 0;
    std::uint64_t measure_start = 0;
    std::uint64_t measure_end = 0;
    bool measuring = false;
    bool stopping = false;
    int last_errno = 0;

    std::uint64_t tag(std::size_t i) const {
        return (std::uint64_t(slots[i].generation) << 32) | i;
    }

    void start(std::size_t i) {
        slot& s = slots[i];
        if (stopping) {
            s.st = state::idle;
            return;
        }
        s.started = bench::now_ns();
        s.fd = bench::start_connect(target, srcs.pick());
        if (s.fd < 0) {
            last_errno = errno;
            ++errors;
            s.st = state::idle; // retried by the main loop after a pause, not in a hot loop
            return;
        }
        ++s.generation;
        s.st = state::connecting;
        s.round = 0;
        s.done = 0;
        epoll_event e{};
        e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        e.data.u64 = tag(i);
        epoll_ctl(epfd, EPOLL_CTL_ADD, s.fd, &e);
    }

    void fail(std::size_t i, int err) {
        last_errno = err;
        ++errors;
        finish(i, false);
    }

    void finish(std::size_t i, bool ok) {
        slot& s = slots[i];
        std::uint64_t t = bench::now_ns();
        ::close(s.fd);
        s.fd = -1;
        s.st = state::idle;
        if (ok) {
            ++finished;
            if (measuring)
                hist.record(t - s.started);
        }
        start(i);
    }

    // Drives slot i as far as the socket allows.
    void advance(std::size_t i, std::uint32_t events) {
        slot& s = slots[i];
        if (s.st == state::connecting) {
            if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                return;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0)
                return fail(i, err);
            s.st = state::writing;
            s.done = 0;
        }
        for (;;) {
            if (s.st == state::writing) {
                ssize_t n = ::write(s.fd, message.data() + s.done, size - s.done);
                if (n < 0) {
                    if (errno == EAGAIN || errno == EINTR)
                        return;
                    return fail(i, errno);
                }
                s.done += std::size_t(n);
                if (s.done < size)
                    continue;
                s.st = state::reading;
                s.done = 0;
            }
            if (s.st == state::reading) {
                ssize_t n = ::read(s.fd, scratch.data(), std::min(scratch.size(), size - s.done));
                if (n < 0) {
                    if (errno == EAGAIN || errno == EINTR)
                        return;
                    return fail(i, errno);
                }
                if (n == 0)
                    return fail(i, ECONNRESET);
                s.done += std::size_t(n);
                if (s.done < size)
                    continue;
                if (++s.round < rounds) {
                    s.st = state::writing;
                    s.done = 0;
                    continue;
                }
                return finish(i, true);
            }
            return;
        }
    }

    int run(unsigned conns) {
        epfd = epoll_create1(EPOLL_CLOEXEC);
        slots.resize(conns);
        message.resize(size);
        for (std::size_t i = 0; i < size; ++i)
            message[i] = char('a' + i % 26);

        std::uint64_t t0 = bench::now_ns();
        std::uint64_t hard_stop = t0 + std::uint64_t(timeout * 1e9);
        for (std::size_t i = 0; i < slots.size(); ++i)
            start(i);
        std::vector<epoll_event> events(1024);
        std::uint64_t measured_base = 0;
        while (true) {
            int n = epoll_wait(epfd, events.data(), int(events.size()), 10);
            for (int k = 0; k < n; ++k) {
                auto idx = std::size_t(std::uint32_t(events[std::size_t(k)].data.u64));
                if (idx >= slots.size() || slots[idx].fd < 0 ||
                    tag(idx) != events[std::size_t(k)].data.u64)
                    continue;
                advance(idx, events[std::size_t(k)].events);
            }
            std::uint64_t now = bench::now_ns();
            if (!measuring && !stopping && finished >= warmup) {
                measuring = true;
                measure_start = now;
                measured_base = finished;
                bench::marker("@start");
            }
            if (measuring && (finished - measured_base >= count ||
                              now - measure_start >= std::uint64_t(duration * 1e9))) {
                measuring = false;
                stopping = true;
                measure_end = now;
                bench::marker("@stop");
                break;
            }
            if (now >= hard_stop) {
                std::fprintf(stderr,
                             "conn_latency: --timeout reached before the measurement ended\n");
                break;
            }
            // Slots whose connect() failed outright (e.g. EADDRNOTAVAIL) retry at this pace.
            for (std::size_t i = 0; i < slots.size(); ++i)
                if (slots[i].st == state::idle && !stopping)
                    start(i);
        }
        if (measure_end == 0)
            measure_end = bench::now_ns();
        for (auto& s : slots)
            if (s.fd >= 0)
                ::close(s.fd);

        double secs = measure_start ? double(measure_end - measure_start) / 1e9 : 0.0;
        std::uint64_t work = hist.count();
        std::printf("{\"client\":\"conn_latency\",\"concurrency\":%zu,\"size\":%zu,\"rounds\":%u,"
                    "\"transactions\":%llu,\"seconds\":%.3f,\"work\":%llu,\"work_per_s\":%.1f,%s,"
                    "\"over_100ms\":%llu,\"over_1s\":%llu,\"errors\":%llu,\"last_error\":\"%s\"}\n",
                    slots.size(), size, rounds, (unsigned long long)work, secs,
                    (unsigned long long)work, secs > 0 ? double(work) / secs : 0.0,
                    hist.json("lat_us").c_str(), (unsigned long long)hist.over_100ms(),
                    (unsigned long long)hist.over_1s(), (unsigned long long)errors,
                    last_errno ? std::strerror(last_errno) : "");
        std::fflush(stdout);
        return work > 0 ? 0 : 1;
    }
};

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    bench::args a(argc, argv, {}, usage_text);
    client c;
    c.target = bench::make_target(a.str("--host", "127.0.0.1"), unsigned(a.num("--port", 0)));
    auto conns = unsigned(a.num("--conns", 1));
    c.size = std::size_t(a.num("--size", 3000));
    c.rounds = unsigned(a.num("--rounds", 2));
    c.count = std::uint64_t(a.num("--count", 20000));
    c.warmup = std::uint64_t(a.num("--warmup", 200));
    c.duration = a.num("--duration", 10);
    c.timeout = a.num("--timeout", c.duration + 50);
    c.srcs = bench::sources(unsigned(a.num("--sources", 1)));
    a.done();
    if (ntohs(c.target.sin_port) == 0 || conns == 0 || c.size == 0 || c.rounds == 0) {
        std::fputs(usage_text, stderr);
        return 2;
    }
    bench::raise_fd_limit(conns + 64);
    return c.run(conns);
}
