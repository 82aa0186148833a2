// delay_line: a user-space WAN emulator for the socket-buffer benchmark, for kernels without
// sch_netem (`tc qdisc … netem delay` is the usual tool; this VM's kernel is built without it).
//
// It opens two TUN devices (layer 3, no packet information header) and forwards every packet
// that leaves one into the other, `--delay-ms` later, through a bottleneck of `--rate-mbit`
// with a queue of `--queue-packets` (tail drop beyond it): what netem's `delay` and `rate`
// with a `limit` do. The runner moves each device into a network namespace of its own and
// gives them addresses, so that two processes talk TCP over a path with a real round-trip
// time, bandwidth and loss when the queue overflows.
//
//   delay_line --a NAME --b NAME --delay-ms N [--rate-mbit R] [--queue-packets Q]
//
// Prints `@ready` once both devices exist; runs until stdin is closed, SIGTERM or SIGINT.
// Bounded: at most Q packets of at most 64 KiB queued per direction.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "delay_line: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int open_tun(const std::string& name) {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun");
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF");
    return fd;
}

struct packet {
    std::uint64_t due_ns;
    std::vector<char> bytes;
};

/// One direction: packets read from `in` leave through `out` after the delay and the
/// bottleneck's serialisation time.
struct direction {
    int in = -1, out = -1;
    std::deque<packet> queue;
    std::vector<std::vector<char>> spare; // recycled packet buffers
    std::uint64_t link_free_ns = 0;       // when the bottleneck can start the next packet
    std::uint64_t forwarded = 0, dropped = 0;
};

struct options {
    std::string a, b;
    double delay_ms = 0;
    double rate_mbit = 0; // 0: unlimited
    std::size_t queue_packets = 1000;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--a")
            o.a = v;
        else if (k == "--b")
            o.b = v;
        else if (k == "--delay-ms")
            o.delay_ms = std::atof(v);
        else if (k == "--rate-mbit")
            o.rate_mbit = std::atof(v);
        else if (k == "--queue-packets")
            o.queue_packets = std::strtoull(v, nullptr, 10);
        else {
            std::fprintf(stderr, "usage: delay_line --a NAME --b NAME --delay-ms N "
                                 "[--rate-mbit R] [--queue-packets Q]\n");
            std::exit(2);
        }
    }
    if (o.a.empty() || o.b.empty()) {
        std::fprintf(stderr, "delay_line: --a and --b are required\n");
        std::exit(2);
    }
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    const int fa = open_tun(o.a), fb = open_tun(o.b);
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    if (sigfd < 0 || timer < 0 || ep < 0)
        die("setup");
    direction dirs[2];
    dirs[0].in = fa;
    dirs[0].out = fb;
    dirs[1].in = fb;
    dirs[1].out = fa;
    auto add = [&](int fd, std::uint64_t tag) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = tag;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
            die("epoll_ctl");
    };
    add(fa, 0);
    add(fb, 1);
    add(timer, 2);
    add(sigfd, 3);
    add(STDIN_FILENO, 4);
    std::printf("@ready\n");
    std::fflush(stdout);

    const std::uint64_t delay_ns = static_cast<std::uint64_t>(o.delay_ms * 1e6);
    const double ns_per_byte = o.rate_mbit > 0 ? 8000.0 / o.rate_mbit : 0.0;
    std::uint64_t armed = 0;
    auto arm = [&] {
        std::uint64_t next = ~std::uint64_t{0};
        for (auto& d : dirs)
            if (!d.queue.empty())
                next = std::min(next, d.queue.front().due_ns);
        if (next == armed)
            return;
        armed = next;
        itimerspec its{};
        if (next != ~std::uint64_t{0}) {
            its.it_value.tv_sec = time_t(next / 1'000'000'000u);
            its.it_value.tv_nsec = long(next % 1'000'000'000u);
            if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                its.it_value.tv_nsec = 1;
        }
        timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, nullptr);
    };
    auto release = [&](std::uint64_t now) {
        for (auto& d : dirs)
            while (!d.queue.empty() && d.queue.front().due_ns <= now) {
                auto& p = d.queue.front();
                // A full TUN queue on the way out drops the packet, as a full link would.
                if (::write(d.out, p.bytes.data(), p.bytes.size()) > 0)
                    ++d.forwarded;
                d.spare.push_back(std::move(p.bytes));
                d.queue.pop_front();
            }
    };

    bool running = true;
    epoll_event events[8];
    while (running) {
        const int n = epoll_wait(ep, events, 8, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const auto tag = events[i].data.u64;
            if (tag == 3 || tag == 4) {
                running = false;
                continue;
            }
            if (tag == 2) {
                std::uint64_t ticks;
                while (::read(timer, &ticks, sizeof ticks) > 0) {
                }
                armed = 0;
                continue;
            }
            auto& d = dirs[tag];
            for (;;) {
                std::vector<char> buf;
                if (!d.spare.empty()) {
                    buf = std::move(d.spare.back());
                    d.spare.pop_back();
                }
                buf.resize(65536);
                const auto r = ::read(d.in, buf.data(), buf.size());
                if (r <= 0) {
                    d.spare.push_back(std::move(buf));
                    break;
                }
                buf.resize(static_cast<std::size_t>(r));
                const std::uint64_t now = now_ns();
                if (d.queue.size() >= o.queue_packets) {
                    ++d.dropped; // tail drop: the bottleneck's queue is full
                    d.spare.push_back(std::move(buf));
                    continue;
                }
                // Serialisation at the bottleneck, then the propagation delay.
                const std::uint64_t start = std::max(now, d.link_free_ns);
                d.link_free_ns = start + static_cast<std::uint64_t>(ns_per_byte * double(r));
                d.queue.push_back({d.link_free_ns + delay_ns, std::move(buf)});
            }
        }
        release(now_ns());
        arm();
    }
    std::fprintf(stderr, "delay_line: forwarded %llu/%llu, dropped %llu/%llu packets (a->b/b->a)\n",
                 (unsigned long long)dirs[0].forwarded, (unsigned long long)dirs[1].forwarded,
                 (unsigned long long)dirs[0].dropped, (unsigned long long)dirs[1].dropped);
    return 0;
}
