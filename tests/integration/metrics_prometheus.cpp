// metrics_prometheus: pier::metrics output against the real Prometheus tools (Debian's
// `prometheus` package, installed by tools/setup.sh):
//
// - `promtool check metrics` must accept a realistic registry's output (the pool's metrics
//   with values, a const label, escaped label values) without a single complaint; a control
//   run on deliberately bad output must get complaints, so the check can fail.
// - A real `prometheus` server, configured to scrape a small Asio HTTP endpoint on loopback
//   every second, must report the target "up" (GET /api/v1/targets) and return the values
//   and the escaped label value the endpoint served (GET /api/v1/query).
//
// Every wait is bounded and waits for an event (a file, a port, an API answer); processes
// are killed and temporary directories removed by destructors, on every path.
//
// pier-test: serial
// pier-test: timeout=180
#include <pier/config.hpp>
#include <pier/http/reply.hpp>
#include <pier/http/request.hpp>
#include <pier/metrics/pool.hpp>
#include <pier/metrics/registry.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace metrics = pier::metrics;
using namespace std::chrono_literals;

std::optional<std::string> find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0)
            return dir + "/" + name;
    return std::nullopt;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary) << s;
}

/// A directory removed with everything in it when the test ends, however it ends.
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "pier-metrics-XXXXXX").string();
        BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

/// A child process with stdin from a file (or /dev/null) and stdout+stderr to a file; killed
/// (SIGTERM, then SIGKILL after 10 s) and reaped by the destructor if still running, and
/// killed by the kernel if this process dies first (PR_SET_PDEATHSIG), so that not even a
/// watchdog exit or a sanitizer abort leaves it behind.
class child {
public:
    child(const std::vector<std::string>& argv, const fs::path& out,
          const fs::path& in = "/dev/null") {
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        BOOST_REQUIRE_MESSAGE(pid_ >= 0, "fork failed");
        if (pid_ == 0) {
            // Only async-signal-safe calls between fork and exec.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            const int i = ::open(in.c_str(), O_RDONLY);
            const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (i < 0 || o < 0 || ::dup2(i, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(o, 2) < 0)
                ::_exit(127);
            // Nothing of the test's (its listening socket above all) goes to the child.
            ::close_range(3, ~0u, 0);
            ::execve(args[0], args.data(), environ);
            ::_exit(127);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() {
        if (pid_ <= 0 || exited())
            return;
        ::kill(pid_, SIGTERM);
        if (!pier_test::eventually([&] { return exited(); }, 10s)) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
    }

    pid_t pid() const { return pid_; }
    /// Reaps the child if it has exited; true once it has.
    bool exited() {
        if (status_)
            return true;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_)
            status_ = st;
        return status_.has_value();
    }
    /// Waits (bounded) for the exit; the exit code, or -1 on a signal or a timeout.
    int wait(std::chrono::milliseconds limit) {
        if (!pier_test::eventually([&] { return exited(); }, limit))
            return -1;
        return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
    }

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// The TCP port `pid` listens on other than `ignore` (from /proc: its socket inodes, matched
/// against the LISTEN entries of /proc/net/tcp), or 0 while it listens on none. Between fork
/// and exec the child still holds the test's own listening socket: hence `ignore`.
unsigned listening_port(pid_t pid, unsigned ignore) {
    std::vector<std::string> inodes;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code lec;
        const std::string target = fs::read_symlink(e.path(), lec).string();
        if (!lec && target.starts_with("socket:["))
            inodes.push_back(target.substr(8, target.size() - 9));
    }
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line); // header
    while (std::getline(tcp, line)) {
        std::istringstream f(line);
        std::string sl, local, remote, st, queues, tr, retr, uid, timeout, inode;
        f >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout >> inode;
        if (st != "0A")
            continue;
        const auto port =
            static_cast<unsigned>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
        for (const auto& i : inodes)
            if (i == inode && port != ignore)
                return port;
    }
    return 0;
}

/// One HTTP/1.0 GET to 127.0.0.1:port, with a 5 s receive timeout: {status, body}, or
/// status 0 when nothing (complete) came back.
std::pair<int, std::string> http_get(unsigned port, const std::string& target) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return {0, {}};
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string resp;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string req = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[8192];
            ssize_t n;
            while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
                resp.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    const auto end = resp.find("\r\n\r\n");
    if (!resp.starts_with("HTTP/1.") || resp.size() < 12 || end == std::string::npos)
        return {0, {}};
    return {std::atoi(resp.c_str() + 9), resp.substr(end + 4)};
}

/// Serves `GET /metrics` from a registry on 127.0.0.1 (an ephemeral port), one request per
/// connection, on its own thread; other paths get 404.
class metrics_endpoint {
public:
    explicit metrics_endpoint(const metrics::registry& reg)
        : reg_(reg), acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
          port_(acceptor_.local_endpoint().port()) {
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~metrics_endpoint() {
        io_.stop();
        thread_.join();
    }
    unsigned port() const { return port_; }
    int scrapes() const { return scrapes_.load(); }

private:
    struct session {
        explicit session(asio::io_context& io) : socket(io) {}
        asio::ip::tcp::socket socket;
        std::string in, out;
    };
    void accept() {
        auto s = std::make_shared<session>(io_);
        acceptor_.async_accept(s->socket, [this, s](std::error_code ec) {
            if (ec)
                return;
            read(s);
            accept();
        });
    }
    void read(std::shared_ptr<session> s) {
        asio::async_read_until(s->socket, asio::dynamic_buffer(s->in, 16384), "\r\n\r\n",
                               [this, s](std::error_code ec, std::size_t) {
                                   if (ec)
                                       return;
                                   answer(s);
                               });
    }
    void answer(std::shared_ptr<session> s) {
        pier::http::request_head req;
        const auto r = pier::http::parse_request(s->in, req);
        pier::http::reply_options o;
        o.connection = pier::http::connection_mode::close;
        if (r.st != pier::http::parse_result::complete)
            pier::http::append_json_error(s->out, 400, "bad_request", "unreadable request", o);
        else if (req.path() == "/metrics" && (req.method() == "GET" || req.method() == "HEAD")) {
            o.head = req.method() == "HEAD";
            pier::http::append_reply(s->out, 200, metrics::content_type, reg_.text(), o);
            scrapes_.fetch_add(1);
        } else
            pier::http::append_json_error(s->out, 404, "not_found", "only /metrics", o);
        asio::async_write(s->socket, asio::buffer(s->out), [s](std::error_code, std::size_t) {
            std::error_code ignored;
            s->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        });
    }

    const metrics::registry& reg_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    unsigned port_;
    std::thread thread_;
    std::atomic<int> scrapes_{0};
};

/// A registry shaped like a running pool's: every pool metric with values, a const label,
/// and a family whose label values need escaping.
void fill(metrics::registry& reg, metrics::pool_metrics& m) {
    m.connections.set(7);
    m.accepted.inc(12);
    m.closed(metrics::close_reason::client).inc(3);
    m.closed(metrics::close_reason::slow_consumer).inc();
    m.refused(metrics::refusal_limit::max_connections).inc(2);
    m.messages_received.inc(1000);
    m.messages_sent.inc(5000);
    m.received_bytes.inc(64000);
    m.sent_bytes.inc(320000);
    m.messages_dropped.inc(4);
    m.subscriptions.set(20);
    m.topics.set(5);
    for (double v : {0.0004, 0.003, 0.02})
        m.heartbeat_rtt.observe(v);
    m.broadcast_fanout.observe(0.00007);
    m.cleanup_runs.inc(2);
    m.cleanup_removed.inc(1);
    reg.add_gauge_family("pier_test_escape_info", "Label values with \\ and \"quotes\".", {"value"})
        .add({"a\"b\\c\nd"})
        .set(1);
}

std::string promtool_output(const std::string& exposition, int& code) {
    const auto promtool = find_program("promtool");
    BOOST_REQUIRE_MESSAGE(promtool, "promtool not found: install Debian's prometheus package "
                                    "(tools/setup.sh does)");
    temp_dir dir;
    write_file(dir.path() / "metrics.txt", exposition);
    child p({*promtool, "check", "metrics"}, dir.path() / "out.txt", dir.path() / "metrics.txt");
    code = p.wait(60s);
    return read_file(dir.path() / "out.txt");
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(metrics_prometheus, pier_test::watchdog)

BOOST_AUTO_TEST_CASE(promtool_accepts_the_pool_metrics_without_complaint) {
    metrics::registry reg({.const_labels = {{"pool", "chat"}}});
    metrics::pool_metrics m(reg);
    fill(reg, m);
    const std::string text = reg.text();
    BOOST_TEST_MESSAGE("exposition: " << text.size() << " bytes");
    int code = -2;
    const std::string out = promtool_output(text, code);
    BOOST_TEST(code == 0, "promtool exit " << code << ": " << out);
    BOOST_TEST(out.empty(), "promtool said: " << out);
}

BOOST_AUTO_TEST_CASE(promtool_complains_about_bad_output) {
    // The control: a counter without _total, a camelCase name with a non-base unit, a
    // missing HELP. If promtool accepted this, the test above would prove nothing.
    int code = -2;
    const std::string out =
        promtool_output("# TYPE requestsServed counter\nrequestsServed 1\n"
                        "# HELP latency_milliseconds x\n# TYPE latency_milliseconds gauge\n"
                        "latency_milliseconds 3\n",
                        code);
    BOOST_TEST((code != 0 || !out.empty()));
    BOOST_TEST(out.find("requestsServed") != std::string::npos, "promtool said: " << out);
}

BOOST_AUTO_TEST_CASE(prometheus_scrapes_the_endpoint) {
    const auto prometheus = find_program("prometheus");
    BOOST_REQUIRE_MESSAGE(prometheus, "prometheus not found: install Debian's prometheus "
                                      "package (tools/setup.sh does)");
    metrics::registry reg;
    metrics::pool_metrics m(reg);
    fill(reg, m);
    metrics_endpoint endpoint(reg);

    // Our own endpoint first, through the same client the API checks use.
    const auto self = http_get(endpoint.port(), "/metrics");
    BOOST_REQUIRE(self.first == 200);
    BOOST_TEST(self.second == reg.text());

    temp_dir dir;
    write_file(dir.path() / "prometheus.yml",
               "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
               "scrape_configs:\n  - job_name: pier\n    static_configs:\n"
               "      - targets: ['127.0.0.1:" +
                   std::to_string(endpoint.port()) + "']\n");
    child server({*prometheus, "--config.file=" + (dir.path() / "prometheus.yml").string(),
                  "--storage.tsdb.path=" + (dir.path() / "data").string(),
                  "--web.listen-address=127.0.0.1:0", "--log.level=warn"},
                 dir.path() / "prometheus.log");
    const auto log = [&] { return read_file(dir.path() / "prometheus.log"); };

    unsigned port = 0;
    BOOST_REQUIRE_MESSAGE(pier_test::eventually(
                              [&] {
                                  port = listening_port(server.pid(), endpoint.port());
                                  return port != 0 || server.exited();
                              },
                              60s) &&
                              port != 0,
                          "prometheus did not listen: " << log());
    BOOST_TEST_MESSAGE("prometheus on 127.0.0.1:" << port);

    const std::string url = "127.0.0.1:" + std::to_string(endpoint.port());
    std::string targets;
    const bool up = pier_test::eventually(
        [&] {
            const auto r = http_get(port, "/api/v1/targets?state=active");
            targets = r.second;
            return r.first == 200 &&
                   targets.find("\"scrapeUrl\":\"http://" + url + "/metrics\"") !=
                       std::string::npos &&
                   targets.find("\"health\":\"up\"") != std::string::npos;
        },
        60s);
    BOOST_REQUIRE_MESSAGE(up, "target never up: " << targets << "\nlog: " << log());
    BOOST_TEST(endpoint.scrapes() > 0);

    // Values as served. The query API answers [time, "value"]; the first scrape may not be
    // queryable at the very instant the target turns up, hence the (bounded) wait.
    const auto value_of = [&](const std::string& query) {
        std::string body;
        std::string value;
        pier_test::eventually(
            [&] {
                const auto r = http_get(port, "/api/v1/query?query=" + query);
                body = r.second;
                const auto at = body.find("\"value\":[");
                if (r.first != 200 || at == std::string::npos)
                    return false;
                const auto q1 = body.find(",\"", at);
                const auto q2 = body.find('"', q1 + 2);
                value = body.substr(q1 + 2, q2 - q1 - 2);
                return true;
            },
            30s);
        BOOST_TEST_MESSAGE(query << " -> " << body);
        return value;
    };
    BOOST_TEST(value_of("pier_ws_connections") == "7");
    BOOST_TEST(value_of("pier_ws_messages_sent_total") == "5000");
    BOOST_TEST(value_of("pier_ws_connections_closed_total%7Breason%3D%22slow_consumer%22%7D") ==
               "1");
    BOOST_TEST(value_of("pier_ws_heartbeat_rtt_seconds_count") == "3");
    BOOST_TEST(value_of("pier_ws_heartbeat_rtt_seconds_bucket%7Ble%3D%220.005%22%7D") == "2");
    // A value that changes is seen changing: the scrape is live, not a one-off.
    m.connections.set(9);
    BOOST_TEST(pier_test::eventually([&] { return value_of("pier_ws_connections") == "9"; }, 30s));

    // The escaped label value survives the round trip: Prometheus returns it as JSON.
    std::string body;
    BOOST_TEST(pier_test::eventually(
        [&] {
            body = http_get(port, "/api/v1/query?query=pier_test_escape_info").second;
            return body.find(R"("value":"a\"b\\c\nd")") != std::string::npos;
        },
        30s));
    BOOST_TEST_MESSAGE("escape check -> " << body);
}

BOOST_AUTO_TEST_SUITE_END()
