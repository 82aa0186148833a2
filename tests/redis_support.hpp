// Real Redis servers for tests: a standalone `redis-server` (optionally with TLS and a
// password) on a free loopback port in a temporary directory, and a 3-master Redis Cluster
// made with `redis-cli --cluster create`. Every process is killed and reaped and the directory
// removed when the object goes, and also when the test process dies first (the watchdog's
// _Exit, a crash): the servers get SIGKILL through PR_SET_PDEATHSIG, and a guardian process
// removes the directory when the pipe from its parent closes. PR_SET_PDEATHSIG follows the
// thread that forked, so make these objects on the test's main thread.
//
// `admin` talks to a server with hiredis's blocking API, from the side: the tests' way to
// pause, kill clients, migrate slots and count commands, independently of pier's client.
#pragma once

#include <pier/config.hpp>
#include <pier/redis/cluster.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/subscriber.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace pier_test::redis {

/// Runs `io` until `pred()` holds, at most `limit`; returns its last answer. The tests' client
/// lives on this io_context, on the test's thread.
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds limit = patience) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until)
            return pred();
        io.restart();
        if (io.run_for(std::chrono::milliseconds(5)) == 0 && io.stopped())
            std::this_thread::sleep_for(std::chrono::milliseconds(1)); // no work: poll
    }
    return true;
}

/// The completion of one command, for tests that wait for it with `run_until`.
struct result {
    bool done = false;
    std::error_code ec;
    pier::redis::reply r;
    auto handler() {
        return [this](std::error_code e, pier::redis::reply rep) {
            done = true;
            ec = e;
            r = std::move(rep);
        };
    }
};

/// Runs one command on `c` (a connection or client living on `io`) to completion.
template <class C> result exec(asio::io_context& io, C& c, std::vector<std::string> args) {
    result res;
    c.command(args, res.handler());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return res.done; }));
    return res;
}

/// What a subscriber or client delivered: messages by channel, and confirmations (`again`:
/// the resubscriptions among them).
struct inbox {
    std::map<std::string, std::vector<std::string>> messages;
    std::size_t total = 0;
    std::map<std::string, int> confirmed, again;

    template <class S> void attach(S& s) {
        s.on_message([this](const pier::redis::message& m) {
            messages[std::string(m.channel)].emplace_back(m.payload);
            ++total;
        });
        s.on_subscribed([this](std::string_view ch, bool, bool re) {
            ++confirmed[std::string(ch)];
            if (re)
                ++again[std::string(ch)];
        });
    }
};

/// The absolute path of `name` on PATH (resolved before fork: execv in the child needs no
/// search, which is not async-signal-safe).
inline std::string which(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos)
            end = dirs.size();
        const auto candidate = dirs.substr(start, end - start) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    throw std::runtime_error(name + " not found on PATH (run tools/setup.sh)");
}

/// A child process that dies with the test process: SIGKILL through PR_SET_PDEATHSIG. Its
/// output goes to `log`.
class process {
public:
    process() = default;
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process() { kill(); }

    void spawn(const std::vector<std::string>& args, const std::string& log) {
        kill();
        const auto path = which(args.at(0));
        std::vector<char*> argv;
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out < 0)
            throw std::runtime_error("cannot open " + log);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(out);
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(1); // the parent died before prctl
            // A process group of its own, whose parent (the test) is outside it: the kernel
            // never finds it orphaned. In the test's group, a stopped server (pause()) was sent
            // SIGCONT whenever that group became orphaned (the shell that started the test
            // exiting), and went on answering in the middle of a test.
            ::setpgid(0, 0);
            sigset_t all;
            ::sigemptyset(&all);
            ::sigprocmask(SIG_SETMASK, &all, nullptr);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::execv(path.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(out);
        pid_ = pid;
    }
    /// SIGKILL and reap (nothing if not running).
    void kill() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    void signal(int sig) const {
        if (pid_ > 0)
            ::kill(pid_, sig);
    }
    /// Whether it exited (reaping it) within `limit`, and its exit status.
    bool wait_exit(std::chrono::milliseconds limit, int& status) {
        const bool exited = eventually(
            [&] {
                const pid_t r = ::waitpid(pid_, &status, WNOHANG);
                return r == pid_ || r < 0;
            },
            limit);
        if (exited)
            pid_ = -1;
        return exited;
    }
    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
};

/// A private temporary directory, removed in the destructor, or by a guardian process (`sh`
/// waiting for EOF on a pipe whose other end only this process holds) if the test process
/// dies without running it.
class scratch_dir {
public:
    scratch_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pier-redis-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2 failed");
        const auto sh = which("sh");
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(fds[0], 0); // dup2 clears O_CLOEXEC: the shell keeps the read end
            ::execl(sh.c_str(), "sh", "-c", "cat >/dev/null; exec rm -rf -- \"$0\"", path_.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(fds[0]);
        guard_write_ = fds[1];
        guardian_ = pid;
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
        if (guard_write_ >= 0)
            ::close(guard_write_);
        if (guardian_ > 0)
            ::waitpid(guardian_, nullptr, 0);
    }
    const std::string& path() const noexcept { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
    int guard_write_ = -1;
    pid_t guardian_ = -1;
};

/// A loopback port that is free now, with port + 10000 free too (a cluster node's bus port),
/// both below Linux's ephemeral range (32768+), so outgoing connections do not take them.
inline std::uint16_t free_port() {
    static std::minstd_rand rng(static_cast<unsigned>(::getpid()) ^
                                static_cast<unsigned>(std::random_device{}()));
    auto bindable = [](std::uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    };
    for (int i = 0; i < 1000; ++i) {
        const auto port = static_cast<std::uint16_t>(10000 + rng() % 12000);
        if (bindable(port) && bindable(static_cast<std::uint16_t>(port + 10000)))
            return port;
    }
    throw std::runtime_error("no free port pair");
}

/// hiredis's blocking client, for poking a server from the side.
class admin {
public:
    explicit admin(std::uint16_t port, std::chrono::milliseconds timeout = patience) {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        c_ = ::redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c_ && !c_->err)
            ::redisSetTimeout(c_, tv);
    }
    admin(const admin&) = delete;
    admin& operator=(const admin&) = delete;
    ~admin() {
        if (c_)
            ::redisFree(c_);
    }
    bool ok() const noexcept { return c_ && !c_->err; }

    /// The reply, or an error reply holding hiredis's I/O error.
    pier::redis::reply run(std::initializer_list<std::string_view> args) {
        return run(std::vector<std::string>(args.begin(), args.end()));
    }
    pier::redis::reply run(const std::vector<std::string>& args) {
        pier::redis::reply out;
        out.kind = pier::redis::reply_kind::error;
        if (!ok()) {
            out.str = "admin: not connected";
            return out;
        }
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.c_str());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            ::redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
        if (!r) {
            out.str = std::string("admin: ") + c_->errstr;
            return out;
        }
        out = pier::redis::from_hiredis(r);
        ::freeReplyObject(r);
        return out;
    }
    /// The value of `field` in an INFO-style text reply ("" if absent).
    static std::string field(const std::string& text, const std::string& name) {
        const auto at = text.find(name + ":");
        if (at == std::string::npos)
            return {};
        const auto start = at + name.size() + 1;
        return text.substr(start, text.find_first_of("\r\n", start) - start);
    }
    /// How many times the server ran `command` (INFO commandstats' calls=), 0 if never.
    long long calls(const std::string& command) {
        const auto text = run({"INFO", "commandstats"}).str;
        const auto v = field(text, "cmdstat_" + command);
        const auto at = v.find("calls=");
        return at == std::string::npos ? 0 : std::atoll(v.c_str() + at + 6);
    }

private:
    redisContext* c_ = nullptr;
};

inline bool answers_ping(std::uint16_t port) {
    admin a(port, std::chrono::milliseconds(500));
    const auto r = a.run({"PING"});
    return r.kind == pier::redis::reply_kind::status && r.str == "PONG";
}

/// How a `server` runs (outside the class: a nested type's default member initializers are
/// not usable in the enclosing class's default arguments).
struct server_options {
    /// requirepass (AUTH with the password, or user "default").
    std::string password;
    /// A TLS port too (the plain port stays for `admin`): `tls_port()`, `tls_cert()`.
    bool tls = false;
    bool cluster = false;
    std::vector<std::string> args; ///< more `--name value` arguments
};

/// One redis-server on loopback. `start()` returns once it answers PING.
class server {
public:
    using options = server_options;

    explicit server(options o = {}) : server(nullptr, std::move(o)) {}
    /// A server whose files live in `dir` (a cluster's nodes share one).
    server(std::shared_ptr<scratch_dir> dir, options o)
        : dir_(dir ? std::move(dir) : std::make_shared<scratch_dir>()), opt_(std::move(o)),
          port_(free_port()) {
        if (opt_.tls) {
            do {
                tls_port_ = free_port();
            } while (tls_port_ == port_);
            make_cert();
        }
        start();
    }
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server() { proc_.kill(); }

    void start() {
        std::vector<std::string> args = {
            "redis-server", "--port", std::to_string(port_), "--bind",    "127.0.0.1",
            "--save",       "",       "--appendonly",        "no",        "--daemonize",
            "no",           "--dir",  dir_->path(),          "--logfile", ""};
        if (!opt_.password.empty())
            args.insert(args.end(),
                        {"--requirepass", opt_.password, "--masterauth", opt_.password});
        if (opt_.tls)
            args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                                     cert_, "--tls-key-file", key_, "--tls-auth-clients", "no"});
        if (opt_.cluster)
            args.insert(args.end(), {"--cluster-enabled", "yes", "--cluster-config-file",
                                     dir_->file("nodes-" + std::to_string(port_) + ".conf")});
        args.insert(args.end(), opt_.args.begin(), opt_.args.end());
        proc_.spawn(args, dir_->file("redis-" + std::to_string(port_) + ".log"));
        BOOST_REQUIRE_MESSAGE(eventually([&] { return answers_ping(); }),
                              "redis-server on port " << port_ << " did not answer PING");
    }
    /// kill -9 and reap; `start()` brings it back on the same port.
    void kill() { proc_.kill(); }
    void restart() {
        kill();
        start();
    }
    /// SIGSTOP / SIGCONT: a server that accepts connections (the kernel does) but answers
    /// nothing.
    void pause() { proc_.signal(SIGSTOP); }
    void resume() { proc_.signal(SIGCONT); }

    bool answers_ping() {
        if (opt_.password.empty())
            return redis::answers_ping(port_);
        admin a(port_, std::chrono::milliseconds(500));
        return a.run({"AUTH", opt_.password}).str == "OK" && a.run({"PING"}).str == "PONG";
    }
    /// A blocking connection to the plain port, authenticated if needed.
    std::unique_ptr<admin> connect() const {
        auto a = std::make_unique<admin>(port_);
        if (!opt_.password.empty())
            a->run({"AUTH", opt_.password});
        return a;
    }

    std::uint16_t port() const noexcept { return port_; }
    std::uint16_t tls_port() const noexcept { return tls_port_; }
    /// The self-signed certificate (also the CA file a client verifies against).
    const std::string& tls_cert() const noexcept { return cert_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    const scratch_dir& dir() const noexcept { return *dir_; }

private:
    void make_cert() {
        cert_ = dir_->file("cert-" + std::to_string(port_) + ".pem");
        key_ = dir_->file("key-" + std::to_string(port_) + ".pem");
        const std::string cmd =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 "
            "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
            "-keyout '" +
            key_ + "' -out '" + cert_ + "' >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("openssl req failed");
    }

    std::shared_ptr<scratch_dir> dir_;
    options opt_;
    std::uint16_t port_;
    std::uint16_t tls_port_ = 0;
    std::string cert_, key_;
    process proc_;
};

/// A Redis Cluster of `masters` masters (no replicas) on loopback, every node reporting
/// cluster_state:ok. Slots are spread evenly by redis-cli.
class cluster {
public:
    explicit cluster(int masters = 3) : dir_(std::make_shared<scratch_dir>()) {
        server::options o;
        o.cluster = true;
        std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
        for (int i = 0; i < masters; ++i) {
            nodes_.push_back(std::make_unique<server>(dir_, o));
            create.push_back("127.0.0.1:" + std::to_string(nodes_.back()->port()));
        }
        create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
        process cli;
        cli.spawn(create, dir_->file("cluster-create.log"));
        int status = 0;
        BOOST_REQUIRE_MESSAGE(cli.wait_exit(std::chrono::seconds(60), status) &&
                                  WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "redis-cli --cluster create failed");
        BOOST_REQUIRE_MESSAGE(eventually([&] { return settled(); }, std::chrono::seconds(30)),
                              "cluster did not reach cluster_state:ok on every node");
    }

    std::size_t size() const noexcept { return nodes_.size(); }
    server& node(std::size_t i) { return *nodes_.at(i); }
    /// redis-cluster:// with every node as a seed.
    std::string url() const {
        std::string u = "redis-cluster://";
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            u += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
        return u;
    }
    std::string id(std::size_t i) { return node(i).connect()->run({"CLUSTER", "MYID"}).str; }
    /// Which node owns `slot` according to node 0.
    std::size_t owner(std::uint16_t slot) {
        const auto r = node(0).connect()->run({"CLUSTER", "SLOTS"});
        for (const auto& e : r.elements)
            if (e.elements.size() >= 3 && e.elements[0].integer <= slot &&
                slot <= e.elements[1].integer)
                for (std::size_t i = 0; i < nodes_.size(); ++i)
                    if (e.elements[2].elements.at(1).integer == nodes_[i]->port())
                        return i;
        throw std::runtime_error("slot not covered");
    }

    /// Slot migration, the steps of `redis-cli --cluster reshard` for one slot: mark it
    /// importing at `to` and migrating at `from` …
    void begin_migration(std::uint16_t slot, std::size_t from, std::size_t to) {
        const auto s = std::to_string(slot);
        check(node(to).connect()->run({"CLUSTER", "SETSLOT", s, "IMPORTING", id(from)}));
        check(node(from).connect()->run({"CLUSTER", "SETSLOT", s, "MIGRATING", id(to)}));
    }
    /// … move its keys …
    void migrate_keys(std::uint16_t slot, std::size_t from, std::size_t to) {
        auto a = node(from).connect();
        for (;;) {
            const auto keys = a->run({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
            if (keys.elements.empty())
                return;
            std::vector<std::string> cmd = {
                "MIGRATE", "127.0.0.1", std::to_string(node(to).port()), "", "0", "5000", "KEYS"};
            for (const auto& k : keys.elements)
                cmd.push_back(k.str);
            check(a->run(cmd));
        }
    }
    /// … and give it to `to` on every node (the destination first, as redis-cli does).
    void finish_migration(std::uint16_t slot, std::size_t to) {
        const auto s = std::to_string(slot);
        const auto to_id = id(to);
        check(node(to).connect()->run({"CLUSTER", "SETSLOT", s, "NODE", to_id}));
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (i != to)
                check(node(i).connect()->run({"CLUSTER", "SETSLOT", s, "NODE", to_id}));
    }
    void move_slot(std::uint16_t slot, std::size_t to) {
        const auto from = owner(slot);
        begin_migration(slot, from, to);
        migrate_keys(slot, from, to);
        finish_migration(slot, to);
    }

    /// Every node reports cluster_state:ok and knows every other. (A restarted master reports
    /// fail, and answers CLUSTERDOWN, for its first 2 s: Redis's CLUSTER_WRITABLE_DELAY.)
    bool settled() {
        for (auto& n : nodes_) {
            const auto info = n->connect()->run({"CLUSTER", "INFO"}).str;
            if (admin::field(info, "cluster_state") != "ok" ||
                admin::field(info, "cluster_known_nodes") != std::to_string(nodes_.size()))
                return false;
        }
        return true;
    }

private:
    static void check(const pier::redis::reply& r) {
        BOOST_REQUIRE_MESSAGE(!r.is_error(), "cluster admin command failed: " << r.str);
    }

    std::shared_ptr<scratch_dir> dir_;
    std::vector<std::unique_ptr<server>> nodes_;
};

} // namespace pier_test::redis
