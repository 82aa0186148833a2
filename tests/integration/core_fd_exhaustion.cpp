// pier-test: serial
//
// Running out of file descriptors. The server runs in a child process (this test binary,
// re-executed in a "server role") whose RLIMIT_NOFILE is 64; the parent opens 200 clients
// against it. Asserts that the server does not busy-spin on EMFILE, that clients it cannot
// take see their connection closed instead of hanging in the backlog, that existing clients
// are still served, that the counters show it, and that it serves new clients once the
// pressure is gone.
//
// Why exec and not just fork: the child gets a fresh runtime (no threads inherited from the
// test process) and its own UBSAN_OPTIONS. UBSan's vptr check probes memory through pipe(2),
// which fails when the process has no descriptor left, and then reports every virtual call it
// has not cached yet as "invalid vptr" ("memory cannot be printed"). A suppression cannot
// match such a report (the dynamic type is unknown), so the child also runs UBSan with
// halt_on_error=0, which the sanitizer build lets govern the vptr check alone
// (-fsanitize-recover=vptr, cmake/PierDevelopment.cmake): those reports are printed, not
// fatal; every other UBSan check, and ASan, stays fatal.
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct echo {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (!ec)
                ec = co_await c.send(c.input());
            if (ec)
                co_return;
            c.consume(c.input().size());
        }
    }
};

struct report {
    std::uint64_t accepted, rejected, accept_errors, active;
    double cpu_seconds; // user + system time of the whole child
};

// --- the child: the server under a 64-descriptor limit ------------------------------------------

[[noreturn]] void run_server_child(int commands, int replies) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
        ::_exit(2);
    try {
        // max_connections far above the descriptor limit: the limit that bites is EMFILE.
        pier::server<echo> srv({.threads = 1, .max_connections = 100000});
        srv.start();
        const std::uint16_t port = srv.local_endpoint().port();
        if (::write(replies, &port, sizeof port) != sizeof port)
            ::_exit(3);
        for (;;) {
            char cmd = 0;
            if (::read(commands, &cmd, 1) != 1 || cmd == 'q')
                break; // EOF: the parent died
            rusage ru{};
            ::getrusage(RUSAGE_SELF, &ru);
            const auto s = srv.stats();
            const report r{s.accepted, s.rejected, s.accept_errors, s.active,
                           static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) /
                                   1e6};
            if (::write(replies, &r, sizeof r) != sizeof r)
                ::_exit(4);
        }
        srv.stop();
        srv.wait();
    } catch (...) {
        ::_exit(5);
    }
    ::_exit(0);
}

// --- the parent's side --------------------------------------------------------------------------

bool read_within(int fd, void* data, std::size_t size, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1)
        return false;
    return ::read(fd, data, size) == static_cast<ssize_t>(size);
}

constexpr const char* child_variable = "PIER_FD_EXHAUSTION_CHILD";

/// This test binary, re-executed to run `test_case` in the server role.
class child_process {
public:
    explicit child_process(const std::string& test_case) {
        char exe[4096];
        const auto len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len <= 0)
            return;
        exe[len] = '\0';
        char supp[] = "/tmp/pier-fd-exhaustion-ubsan-XXXXXX";
        const int sfd = ::mkstemp(supp);
        if (sfd < 0)
            return;
        suppressions_ = supp;
        const std::string rule = "vptr_check:*\n";
        const bool wrote =
            ::write(sfd, rule.data(), rule.size()) == static_cast<ssize_t>(rule.size());
        ::close(sfd);
        if (!wrote)
            return;

        // The child's ends are inherited across exec; the parent's are not.
        int c[2], r[2];
        if (::pipe(c) != 0 || ::pipe(r) != 0)
            return;
        ::fcntl(c[1], F_SETFD, FD_CLOEXEC);
        ::fcntl(r[0], F_SETFD, FD_CLOEXEC);

        // Everything exec needs is built before fork: the child only calls execve.
        std::vector<std::string> env;
        std::string ubsan;
        for (char** e = environ; *e; ++e) {
            const std::string_view v(*e);
            if (v.rfind("UBSAN_OPTIONS=", 0) == 0)
                ubsan = std::string(v.substr(14)) + ":";
            else if (v.rfind(child_variable, 0) != 0)
                env.emplace_back(v);
        }
        env.push_back("UBSAN_OPTIONS=" + ubsan + "suppressions=" + suppressions_ +
                      ":halt_on_error=0");
        env.push_back(std::string(child_variable) + "=" + std::to_string(c[0]) + "," +
                      std::to_string(r[1]));
        std::vector<std::string> args{exe, "--run_test=" + test_case, "--log_level=nothing",
                                      "--report_level=no", "--catch_system_errors=no"};
        std::vector<char*> argv, envp;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : env)
            envp.push_back(e.data());
        envp.push_back(nullptr);

        pid_ = ::fork();
        if (pid_ == 0) {
            ::execve(exe, argv.data(), envp.data());
            ::_exit(127);
        }
        ::close(c[0]);
        ::close(r[1]);
        commands_ = c[1];
        replies_ = r[0];
    }
    ~child_process() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (commands_ >= 0)
            ::close(commands_);
        if (replies_ >= 0)
            ::close(replies_);
        if (!suppressions_.empty())
            ::unlink(suppressions_.c_str());
    }
    bool started() const { return pid_ > 0; }
    std::uint16_t port() {
        std::uint16_t p = 0;
        return read_within(replies_, &p, sizeof p, 20s) ? p : 0;
    }
    bool ask(report& r) {
        return ::write(commands_, "s", 1) == 1 && read_within(replies_, &r, sizeof r, 10s);
    }
    /// Asks the child to stop; its exit status, or -1 if it had to be killed.
    int quit(std::chrono::milliseconds limit) {
        if (::write(commands_, "q", 1) != 1)
            return -1;
        const auto until = steady::now() + limit;
        while (steady::now() < until) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(10ms);
        }
        return -1;
    }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int commands_ = -1, replies_ = -1;
    std::string suppressions_;
};

int connect_nonblocking(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
    if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

enum class outcome { served, closed, hung };

/// Sends `msg` on each socket and waits until each either echoes it (served) or ends
/// (closed: EOF or RST), all within `limit`.
std::vector<outcome> probe(const std::vector<int>& fds, const std::string& msg,
                           std::chrono::milliseconds limit) {
    std::vector<outcome> out(fds.size(), outcome::hung);
    std::vector<std::string> got(fds.size());
    std::vector<bool> done(fds.size(), false);
    for (std::size_t i = 0; i < fds.size(); ++i) {
        pollfd p{fds[i], POLLOUT, 0};
        ::poll(&p, 1, 1000);
        if (::send(fds[i], msg.data(), msg.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
            out[i] = outcome::closed;
            done[i] = true;
        }
    }
    const auto until = steady::now() + limit;
    std::vector<pollfd> pfds(fds.size());
    while (steady::now() < until) {
        std::size_t pending = 0;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            pfds[i] = {done[i] ? -1 : fds[i], POLLIN, 0};
            pending += !done[i];
        }
        if (pending == 0)
            break;
        if (::poll(pfds.data(), pfds.size(), 50) <= 0)
            continue;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (done[i] || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[256];
            auto n = ::recv(fds[i], buf, sizeof buf, 0);
            if (n <= 0) {
                out[i] = outcome::closed;
                done[i] = true;
                continue;
            }
            got[i].append(buf, static_cast<std::size_t>(n));
            if (got[i].size() >= msg.size()) {
                out[i] = got[i] == msg ? outcome::served : outcome::hung;
                done[i] = true;
            }
        }
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(core_fd_exhaustion)

BOOST_AUTO_TEST_CASE(server_survives_descriptor_exhaustion) {
    // A child that died must fail the checks below, not kill this process with SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    if (const char* role = std::getenv(child_variable)) {
        int commands = -1, replies = -1;
        if (std::sscanf(role, "%d,%d", &commands, &replies) != 2)
            ::_exit(6);
        run_server_child(commands, replies); // does not return
    }
    watchdog guard(180s);
    child_process child(boost::unit_test::framework::current_test_case().full_name());
    BOOST_TEST_REQUIRE(child.started());
    pier::raise_fd_limit();
    const std::uint16_t port = child.port();
    BOOST_TEST_REQUIRE(port != 0);

    // Clients that were there before the pressure.
    std::vector<int> existing;
    for (int i = 0; i < 10; ++i)
        existing.push_back(connect_nonblocking(port));
    for (auto o : probe(existing, "hello", 10s))
        BOOST_TEST((o == outcome::served));

    // The pressure: far more clients than the child has descriptors.
    std::vector<int> pressure;
    for (int i = 0; i < 200; ++i) {
        int fd = connect_nonblocking(port);
        BOOST_TEST_REQUIRE(fd >= 0);
        pressure.push_back(fd);
    }
    // The pressure has hit once the child's accept loop has seen its descriptors run out.
    BOOST_TEST_REQUIRE(eventually([&] {
        report r{};
        return child.ask(r) && r.accept_errors > 0;
    }));

    // No busy loop on EMFILE: over a second of pressure the child's CPU time stays far below
    // the wall time (a spinning accept loop would burn the whole second).
    report before{}, after{};
    BOOST_TEST_REQUIRE(child.ask(before));
    std::this_thread::sleep_for(1s);
    BOOST_TEST_REQUIRE(child.ask(after));
    BOOST_TEST_MESSAGE("child CPU over 1 s of pressure: " << after.cpu_seconds - before.cpu_seconds
                                                          << " s");
    BOOST_TEST(after.cpu_seconds - before.cpu_seconds < 0.2);

    // Existing clients are still served.
    for (auto o : probe(existing, "still there?", 10s))
        BOOST_TEST((o == outcome::served));

    // Every new client is either served or sees its connection closed; none is left hanging.
    const auto outcomes = probe(pressure, "p", 5s);
    int served = 0, closed = 0, hung = 0;
    for (auto o : outcomes) {
        served += o == outcome::served;
        closed += o == outcome::closed;
        hung += o == outcome::hung;
    }
    BOOST_TEST_MESSAGE("pressure clients: " << served << " served, " << closed << " closed, "
                                            << hung << " hung");
    BOOST_TEST(hung == 0);
    BOOST_TEST(served > 0);
    BOOST_TEST(closed > 0);

    report r{};
    BOOST_TEST_REQUIRE(child.ask(r));
    BOOST_TEST(r.accept_errors > 0u);
    BOOST_TEST(r.rejected > 0u);

    // The pressure ends: the child serves new clients again.
    for (int fd : pressure)
        ::close(fd);
    bool recovered = false;
    for (int attempt = 0; attempt < 20 && !recovered; ++attempt) {
        std::vector<int> fresh{connect_nonblocking(port)};
        recovered = probe(fresh, "back to normal", 3s)[0] == outcome::served;
        ::close(fresh[0]);
        if (!recovered)
            std::this_thread::sleep_for(200ms);
    }
    BOOST_TEST(recovered);
    for (auto o : probe(existing, "bye", 10s))
        BOOST_TEST((o == outcome::served));
    for (int fd : existing)
        ::close(fd);

    BOOST_TEST(child.quit(30s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
