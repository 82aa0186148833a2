// cross_thread_broadcast: issue #10's cross-thread broadcast, in one process.
//
// A pier::ws::server with --shards event-loop threads (per_thread: one shard each) holds
// --sessions WebSocket connections, opened from a client thread in the same process. A publisher
// thread that is no loop thread broadcasts --size byte binary messages to every session: per
// message one prepared frame (ws::prepare), one mailbox post per shard (post_mail, its budget
// checked on the publisher's side), and on each shard one queued reference per session, written
// at the end of the pass (pier corks).
//
// Two phases:
//   1. throughput: the client thread reads everything; the publisher keeps at most --window
//      messages not yet received by every session (as bench/load/ws_load's broadcast mode).
//      Reported: deliveries per second and per server CPU-second, where server CPU is the
//      process's CPU time less the client thread's (the loops, the publisher, everything pier
//      runs).
//   2. stall: the client stops reading. The publisher goes on as fast as the mailboxes let it
//      for --stall seconds, backing off for a millisecond whenever post_mail answers
//      backpressure. The sessions' kernel buffers fill, then their write queues up to
//      write.high_water, where backpressure::drop_oldest drops whole old messages. Reported:
//      the process's RSS and malloc'd bytes over the phase (peak and final growth, and the
//      growth over its second half, ~0 when the memory is bounded), against the bound that
//      the settings imply: shards x mailbox_budget + sessions x high_water.
//
// Output: progress on stderr, one JSON object on stdout. Bounded in time: every phase has a
// deadline, and the process exits after --timeout seconds whatever happens.
//
//   cross_thread_broadcast [--sessions 10000] [--shards 2] [--size 64] [--window 16]
//                          [--warmup 1] [--duration 5] [--stall 5] [--mailbox-mib 8]
//                          [--high-water-kib 16] [--timeout 120]
#include "../load/common.hpp"

#include <pier/pier.hpp>

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

namespace {

const char* usage_text =
    "usage: cross_thread_broadcast [--sessions 10000] [--shards 2] [--size 64] [--window 16]\n"
    "                              [--warmup 1] [--duration 5] [--stall 5] [--mailbox-mib 8]\n"
    "                              [--high-water-kib 16] [--timeout 120]\n";

struct sink {
    template <class Session> void on_message(Session&, pier::ws::message) {}
};

using policies = pier::policies<pier::backpressure::drop_oldest>;
using server_type = pier::ws::server<sink, policies>;

double cpu_seconds(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

std::size_t rss_bytes() {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return std::size_t(resident) * std::size_t(sysconf(_SC_PAGESIZE));
}

std::size_t heap_bytes() {
    return mallinfo2().uordblks;
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "cross_thread_broadcast: %s (errno %d: %s)\n", what, errno,
                 std::strerror(errno));
    std::exit(1);
}

// Opens one WebSocket connection, blocking, and returns it non-blocking.
int open_session(const sockaddr_in& to) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
        fail("connect");
    // A fixed key is fine here: the server's answer is checked for the 101 only (ws_load and
    // the tests check Sec-WebSocket-Accept).
    static constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                "Sec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        fail("send upgrade");
    std::string head;
    char c = 0;
    while (head.size() < 4096 && !head.ends_with("\r\n\r\n")) {
        if (recv(fd, &c, 1, 0) != 1)
            fail("upgrade response");
        head += c;
    }
    if (!head.starts_with("HTTP/1.1 101"))
        fail("no 101 in answer to the upgrade");
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    return fd;
}

struct memory_sample {
    double t;
    std::size_t rss, heap;
};

} // namespace

int main(int argc, char** argv) {
    bench::args a(argc, argv, {}, usage_text);
    const auto sessions = std::size_t(a.num("--sessions", 10000));
    const auto shards = std::size_t(a.num("--shards", 2));
    const auto size = std::size_t(a.num("--size", 64));
    const auto window = std::size_t(a.num("--window", 16));
    const double warmup = a.num("--warmup", 1), duration = a.num("--duration", 5);
    const double stall = a.num("--stall", 5);
    const auto mailbox = std::size_t(a.num("--mailbox-mib", 8) * 1048576);
    const auto high_water = std::size_t(a.num("--high-water-kib", 16) * 1024);
    const double timeout = a.num("--timeout", 120);
    a.done();
    if (sessions == 0 || shards == 0 || size == 0 || size >= 126 || window == 0) {
        std::fprintf(stderr, "--sessions, --shards, --window > 0; 0 < --size < 126\n%s",
                     usage_text);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::thread([timeout] {
        std::this_thread::sleep_for(std::chrono::duration<double>(timeout));
        std::fprintf(stderr, "cross_thread_broadcast: still running after %.0f s, exiting\n",
                     timeout);
        std::_Exit(3);
    }).detach();
    // Both ends of every connection are in this process.
    const auto need = rlim_t(2 * sessions + 256);
    if (const rlim_t got = bench::raise_fd_limit(need); got < need) {
        std::fprintf(
            stderr,
            "cross_thread_broadcast: %zu sessions need %llu descriptors (both ends in one "
            "process) but RLIMIT_NOFILE allows %llu: lower --sessions or raise the limit\n",
            sessions, static_cast<unsigned long long>(need), static_cast<unsigned long long>(got));
        return 2;
    }

    pier::server_options so{.threads = shards};
    so.write.high_water = high_water;
    so.write.low_water = high_water / 4;
    so.write.max_queued = 4 * high_water;
    so.timeouts.idle = std::chrono::minutes(10);
    so.max_connections = sessions + 64;
    pier::ws::options wo;
    wo.deflate.enabled = false;
    wo.ping_interval = std::chrono::minutes(10);
    wo.mailbox_budget = mailbox;
    server_type srv(so, wo);
    srv.start();
    const auto port = srv.local_endpoint().port();
    const sockaddr_in to = bench::make_target("127.0.0.1", port);

    // --- connections --------------------------------------------------------------------------
    const std::size_t rss0 = rss_bytes(), heap0 = heap_bytes();
    std::vector<int> fds;
    fds.reserve(sessions);
    const auto t_open = bench::now_ns();
    for (std::size_t i = 0; i < sessions; ++i)
        fds.push_back(open_session(to));
    // Every session is open once the server counts them all.
    std::vector<std::size_t> per_shard(srv.shard_count());
    for (;;) {
        std::atomic<std::size_t> done{0};
        std::vector<std::size_t> counts(srv.shard_count());
        pier::on_every_shard(srv, [&](std::size_t i) {
            counts[i] = srv.session_count(i);
            done.fetch_add(1);
        });
        while (done.load() < srv.shard_count())
            std::this_thread::yield();
        std::size_t total = 0;
        for (auto c : counts)
            total += c;
        if (total >= sessions) {
            per_shard = counts;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double open_s = double(bench::now_ns() - t_open) / 1e9;
    const std::size_t rss_open = rss_bytes(), heap_open = heap_bytes();
    std::fprintf(stderr, "%zu sessions open in %.2f s (", sessions, open_s);
    for (std::size_t i = 0; i < srv.shard_count(); ++i)
        std::fprintf(stderr, "%sshard %zu: %zu", i ? ", " : "", i, per_shard[i]);
    std::fprintf(stderr, "); RSS +%.0f B/session, heap +%.0f B/session\n",
                 double(rss_open - rss0) / double(sessions),
                 double(heap_open - heap0) / double(sessions));

    // --- client thread: reads and counts frames -----------------------------------------------
    // Every server frame is a final binary frame of `size` bytes with a 2-byte header, so
    // deliveries are counted from bytes; each connection's count must come out whole at the end.
    const std::size_t frame_bytes = size + 2;
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<bool> reading{true}, client_stop{false};
    std::vector<std::uint64_t> bytes_of(sessions, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < sessions; ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
            fail("epoll_ctl");
    }
    std::thread client([&] {
        std::vector<char> buf(1 << 16);
        std::vector<epoll_event> events(512);
        std::uint64_t total = 0;
        while (!client_stop.load(std::memory_order_relaxed)) {
            if (!reading.load(std::memory_order_relaxed)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            int n = epoll_wait(ep, events.data(), int(events.size()), 10);
            for (int k = 0; k < n; ++k) {
                auto i = std::size_t(events[std::size_t(k)].data.u64);
                for (;;) {
                    ssize_t r = recv(fds[i], buf.data(), buf.size(), 0);
                    if (r <= 0)
                        break;
                    bytes_of[i] += std::uint64_t(r);
                    total += std::uint64_t(r);
                }
            }
            delivered.store(total / frame_bytes, std::memory_order_relaxed);
        }
    });
    clockid_t client_clock{};
    pthread_getcpuclockid(client.native_handle(), &client_clock);

    // --- phase 1: throughput ------------------------------------------------------------------
    std::string payload(size, 'x');
    std::uint64_t published = 0, refused = 0, backpressured = 0;
    auto publish = [&]() {
        std::memcpy(payload.data(), &published, std::min(size, sizeof published));
        const auto frame = pier::ws::prepare(pier::ws::opcode::binary, payload);
        bool ok = true;
        for (std::size_t i = 0; i < srv.shard_count(); ++i) {
            auto r = srv.post_mail(
                i, [&srv, i, frame] { srv.for_each_session(i, [&](auto& s) { s.send(frame); }); },
                frame.size());
            if (r == pier::send_result::backpressure)
                ++backpressured;
            else if (r != pier::send_result::queued) {
                ++refused;
                ok = false;
            }
        }
        ++published;
        return ok;
    };
    auto run_window = [&](double seconds) {
        const auto end = bench::now_ns() + std::uint64_t(seconds * 1e9);
        while (bench::now_ns() < end) {
            if ((published - std::min<std::uint64_t>(published, window)) * sessions >
                delivered.load(std::memory_order_relaxed)) {
                std::this_thread::yield(); // window full: wait for the client to catch up
                continue;
            }
            publish();
        }
    };
    run_window(warmup);
    const std::uint64_t d0 = delivered.load();
    const double cpu0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), client0 = cpu_seconds(client_clock);
    const auto t0 = bench::now_ns();
    run_window(duration);
    const std::uint64_t d1 = delivered.load();
    const double cpu1 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), client1 = cpu_seconds(client_clock);
    const double secs = double(bench::now_ns() - t0) / 1e9;
    const double server_cpu = (cpu1 - cpu0) - (client1 - client0);
    const double deliveries = double(d1 - d0);
    std::fprintf(stderr,
                 "throughput: %.0f deliveries/s, %.0f per server CPU-second (server %.2f CPU-s, "
                 "client %.2f, over %.2f s)\n",
                 deliveries / secs, deliveries / server_cpu, server_cpu, client1 - client0, secs);
    // Let the window drain, then check that every delivery so far arrived whole.
    {
        const auto end = bench::now_ns() + 10'000'000'000ull;
        while (delivered.load() < published * sessions && bench::now_ns() < end)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const bool all_delivered = delivered.load() == published * sessions;
    const std::uint64_t published_phase1 = published;

    // --- phase 2: subscribers stop reading -----------------------------------------------------
    reading.store(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the client leaves epoll_wait
    const auto stats_before = srv.stats();
    std::vector<memory_sample> mem;
    const std::size_t rss_stall0 = rss_bytes(), heap_stall0 = heap_bytes();
    const auto s0 = bench::now_ns();
    auto next_sample = s0;
    std::uint64_t stall_backoffs = 0;
    while (bench::now_ns() - s0 < std::uint64_t(stall * 1e9)) {
        const auto now = bench::now_ns();
        if (now >= next_sample) {
            mem.push_back({double(now - s0) / 1e9, rss_bytes(), heap_bytes()});
            next_sample += 100'000'000;
        }
        const auto before = backpressured + refused;
        publish();
        if (backpressured + refused != before) {
            ++stall_backoffs; // the mailbox says slow down: a well-behaved producer does
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    mem.push_back({double(bench::now_ns() - s0) / 1e9, rss_bytes(), heap_bytes()});
    const auto stats_after = srv.stats();
    std::size_t rss_peak = 0, heap_peak = 0, rss_half = 0, heap_half = 0;
    for (auto& m : mem) {
        rss_peak = std::max(rss_peak, m.rss);
        heap_peak = std::max(heap_peak, m.heap);
        if (m.t <= stall / 2) {
            rss_half = m.rss;
            heap_half = m.heap;
        }
    }
    const std::size_t rss_end = mem.back().rss, heap_end = mem.back().heap;
    const double bound = double(srv.shard_count() * mailbox + sessions * high_water);
    std::fprintf(stderr,
                 "stall: %llu messages published in %.1f s (%llu backoffs); RSS %.1f -> peak "
                 "%.1f -> %.1f MiB (second half %+.1f MiB), heap %.1f -> peak %.1f -> %.1f MiB; "
                 "bound %.0f MiB\n",
                 (unsigned long long)(published - published_phase1), stall,
                 (unsigned long long)stall_backoffs, double(rss_stall0) / 1048576,
                 double(rss_peak) / 1048576, double(rss_end) / 1048576,
                 (double(rss_end) - double(rss_half)) / 1048576, double(heap_stall0) / 1048576,
                 double(heap_peak) / 1048576, double(heap_end) / 1048576, bound / 1048576);

    client_stop.store(true);
    client.join();
    const auto t_stop = bench::now_ns();
    for (int fd : fds)
        ::close(fd);
    ::close(ep);
    srv.stop();
    srv.wait();
    std::fprintf(stderr, "closed and stopped in %.2f s\n", double(bench::now_ns() - t_stop) / 1e9);

    std::printf(
        "{\"sessions\":%zu,\"shards\":%zu,\"size\":%zu,\"window\":%zu,"
        "\"open_seconds\":%.3f,\"rss_per_session\":%.1f,\"heap_per_session\":%.1f,"
        "\"seconds\":%.3f,\"deliveries\":%.0f,\"per_s\":%.0f,\"server_cpu\":%.3f,"
        "\"per_cpu\":%.0f,\"client_cpu\":%.3f,\"all_delivered\":%s,"
        "\"stall\":{\"seconds\":%.1f,\"published\":%llu,\"backoffs\":%llu,\"refused\":%llu,"
        "\"dropped_messages\":%llu,\"slow_consumers\":%llu,"
        "\"rss_start\":%zu,\"rss_peak\":%zu,\"rss_end\":%zu,\"rss_second_half\":%lld,"
        "\"heap_start\":%zu,\"heap_peak\":%zu,\"heap_end\":%zu,\"heap_second_half\":%lld,"
        "\"bound\":%.0f}}\n",
        sessions, shards, size, window, open_s, double(rss_open - rss0) / double(sessions),
        double(heap_open - heap0) / double(sessions), secs, deliveries, deliveries / secs,
        server_cpu, deliveries / server_cpu, client1 - client0, all_delivered ? "true" : "false",
        stall, (unsigned long long)(published - published_phase1),
        (unsigned long long)stall_backoffs, (unsigned long long)refused,
        (unsigned long long)(stats_after.dropped_messages - stats_before.dropped_messages),
        (unsigned long long)(stats_after.slow_consumers - stats_before.slow_consumers), rss_stall0,
        rss_peak, rss_end, (long long)rss_end - (long long)rss_half, heap_stall0, heap_peak,
        heap_end, (long long)heap_end - (long long)heap_half, bound);
    const bool bounded = double(rss_peak) - double(rss_stall0) <= bound;
    return all_delivered && bounded ? 0 : 1;
}
