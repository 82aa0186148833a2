// One minimal archetype per policy concept: each static_asserts that it models its concept,
// so the concepts cannot grow requirements the documentation does not state (Asio's
// src/tests/unit/archetypes/). The archetypes are also usable: a server built from all of them
// serves a client, which proves the concepts ask for everything the server uses. Last, a
// user-defined accept policy (two SO_REUSEPORT listeners that deal connections round-robin).
//
// These tests open loopback sockets, but they are about compile-time contracts and run in
// milliseconds, so they live with the unit tests.
//
// pier-test: threads
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// --- accept: only what the concept names; functions neither constexpr nor noexcept ----------
struct accept_archetype {
    using category = pier::category::accept;
    static unsigned listeners(std::size_t) { return 1; }
    static unsigned loops_per_listener(std::size_t) { return 1; }
    static const bool reuse_port = false;
    static const bool local_placement = false;
};
static_assert(pier::accept_policy<accept_archetype>);

// --- scheduler: one io_context and one thread, whatever the thread count asked ---------------
struct scheduler_archetype {
    using category = pier::category::scheduler;
    using executor_type = asio::io_context::executor_type;
    static const bool offloads = false;

    scheduler_archetype(std::size_t, const pier::worker_options&)
        : owned_(std::in_place), context_(&*owned_) {}
    scheduler_archetype(asio::io_context& external, const pier::worker_options&)
        : context_(&external) {}
    ~scheduler_archetype() {
        stop();
        join();
    }

    std::size_t size() const { return 1; }
    asio::io_context& context(std::size_t) { return *context_; }
    executor_type make_executor(std::size_t) { return context_->get_executor(); }
    void start() {
        if (!owned_ || thread_.joinable())
            return;
        guard_.emplace(owned_->get_executor());
        thread_ = std::thread([this] { owned_->run(); });
    }
    void stop() {
        guard_.reset();
        if (owned_)
            owned_->stop();
    }
    void join() {
        if (thread_.joinable())
            thread_.join();
    }

private:
    std::optional<asio::io_context> owned_;
    asio::io_context* context_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::thread thread_;
};
static_assert(pier::scheduler_policy<scheduler_archetype>);

// An offloading scheduler must say where blocking work goes: `pool()`.
struct offloading_scheduler_archetype : scheduler_archetype {
    static const bool offloads = true;
    offloading_scheduler_archetype(std::size_t n, const pier::worker_options& o)
        : scheduler_archetype(n, o), pool_(o) {}
    offloading_scheduler_archetype(asio::io_context& external, const pier::worker_options& o)
        : scheduler_archetype(external, o), pool_(o) {}
    pier::worker_pool& pool() { return pool_; }

private:
    pier::worker_pool pool_;
};
static_assert(pier::scheduler_policy<offloading_scheduler_archetype>);

struct offloading_without_pool : scheduler_archetype {
    using scheduler_archetype::scheduler_archetype;
    static const bool offloads = true;
};
static_assert(!pier::scheduler_policy<offloading_without_pool>);

// --- buffer: a plain array, never released ---------------------------------------------------
struct buffer_archetype {
    using category = pier::category::buffer;
    static const std::size_t capacity = 256;
    static const bool holds_storage_when_idle = true;
    class read_buffer {
    public:
        asio::mutable_buffer prepare() {
            if (end_ == capacity && begin_ > 0) {
                std::memmove(bytes_, bytes_ + begin_, end_ - begin_);
                end_ -= begin_;
                begin_ = 0;
            }
            return {bytes_ + end_, capacity - end_};
        }
        void commit(std::size_t n) { end_ += n; }
        void consume(std::size_t n) {
            begin_ += std::min(n, end_ - begin_);
            if (begin_ == end_)
                begin_ = end_ = 0;
        }
        std::string_view data() const { return {bytes_ + begin_, end_ - begin_}; }
        bool holds_storage() const { return true; }
        void release_if_empty() {}

    private:
        char bytes_[capacity];
        std::size_t begin_ = 0, end_ = 0;
    };
};
static_assert(pier::buffer_policy<buffer_archetype>);

// --- backpressure ---------------------------------------------------------------------------
struct backpressure_archetype {
    using category = pier::category::backpressure;
    static const pier::backpressure_action action = pier::backpressure_action::suspend;
};
static_assert(pier::backpressure_policy<backpressure_archetype>);

// --- transport: a TCP socket with a counting "handshake" --------------------------------------
struct transport_archetype {
    using category = pier::category::transport;
    struct options {
        std::atomic<int>* handshakes = nullptr;
    };
    struct context {
        explicit context(const options& o) : handshakes(o.handshakes) {}
        std::atomic<int>* handshakes;
    };
    template <class Executor> class stream {
    public:
        using executor_type = Executor;
        using socket_type = asio::basic_stream_socket<asio::ip::tcp, Executor>;
        stream(socket_type&& s, context&) : socket_(std::move(s)) { socket_.non_blocking(true); }
        template <class Buffers, class Token> auto async_read_some(const Buffers& b, Token&& t) {
            return socket_.async_read_some(b, std::forward<Token>(t));
        }
        template <class Buffers, class Token> auto async_write_some(const Buffers& b, Token&& t) {
            return socket_.async_write_some(b, std::forward<Token>(t));
        }
        socket_type socket_;
    };

    template <class E> static auto& socket(stream<E>& s) { return s.socket_; }
    template <class E> static asio::awaitable<std::error_code> handshake(stream<E>&, context& c) {
        if (c.handshakes)
            c.handshakes->fetch_add(1);
        co_return std::error_code{};
    }
    template <class E>
    static std::size_t try_read_some(stream<E>& s, asio::mutable_buffer b, std::error_code& ec) {
        return s.socket_.read_some(b, ec);
    }
    template <class E>
    static std::size_t try_write_some(stream<E>& s, std::span<const asio::const_buffer> b,
                                      std::error_code& ec) {
        return s.socket_.write_some(b, ec);
    }
    template <class E> static bool buffered_input(stream<E>&) { return false; }
    template <class E> static asio::awaitable<void> shutdown(stream<E>& s) {
        std::error_code ec;
        s.socket_.shutdown(asio::socket_base::shutdown_send, ec);
        co_return;
    }
};
static_assert(pier::transport_policy<transport_archetype>);

// Not policies: the concepts must say no.
struct no_category {
    static constexpr bool action = true;
};
static_assert(!pier::backpressure_policy<no_category>);
static_assert(!pier::accept_policy<backpressure_archetype>);
static_assert(!pier::scheduler_policy<buffer_archetype>);

// --- handlers: the minimal shape of each style ------------------------------------------------
template <class C> struct stream_only { asio::awaitable<void> operator()(C&); };
template <class C> struct data_only { std::size_t on_data(C&, std::string_view); };
struct neither {
    void operator()(int);
};
using default_connection = pier::connection<pier::default_policies>;
static_assert(pier::stream_handler<stream_only<default_connection>, default_connection>);
static_assert(!pier::data_handler<stream_only<default_connection>, default_connection>);
static_assert(pier::data_handler<data_only<default_connection>, default_connection>);
static_assert(!pier::stream_handler<data_only<default_connection>, default_connection>);
static_assert(!pier::handler<neither, default_connection>);

// --- a user-defined accept policy: two SO_REUSEPORT listeners, connections dealt round-robin -
struct two_reuseport_listeners {
    using category = pier::category::accept;
    static constexpr std::size_t listeners(std::size_t) noexcept { return 2; }
    static constexpr std::size_t loops_per_listener(std::size_t) noexcept { return 1; }
    static constexpr bool reuse_port = true;
    static constexpr bool local_placement = false;
};
static_assert(pier::accept_policy<two_reuseport_listeners>);

struct echo {
    std::atomic<int>* opened;
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            ec = co_await c.send(c.input());
            if (ec)
                co_return;
            c.consume(c.input().size());
        }
    }
    template <class C> void on_open(C&) { opened->fetch_add(1); }
};

// The data style: replies to each complete line, on a worker thread when the scheduler
// offloads.
struct line_echo {
    std::atomic<int>* off_loop;
    std::thread::id* loop_thread;
    template <class C> std::size_t on_data(C& c, std::string_view in) {
        auto nl = in.find('\n');
        if (nl == std::string_view::npos)
            return 0;
        if (std::this_thread::get_id() != *loop_thread)
            off_loop->fetch_add(1);
        c.try_send(in.substr(0, nl + 1));
        return nl + 1;
    }
};

// A blocking loopback client whose every wait is bounded by poll(2).
std::string echo_round_trip(const asio::ip::tcp::endpoint& ep, const std::string& msg) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return "socket failed";
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
        ::close(fd);
        return "connect failed";
    }
    if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
        ::close(fd);
        return "send failed";
    }
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (out.size() < msg.size() && std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0)
            continue;
        char buf[4096];
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(core_archetypes)

BOOST_AUTO_TEST_CASE(server_built_from_archetypes_serves) {
    using P = pier::policies<accept_archetype, scheduler_archetype, buffer_archetype,
                             backpressure_archetype, transport_archetype>;
    std::atomic<int> opened{0}, handshakes{0};
    pier::server<echo, P> srv({.threads = 1}, transport_archetype::options{&handshakes},
                              echo{&opened});
    srv.start();
    const std::string msg(1000, 'a'); // larger than the archetype's 256-byte buffer
    BOOST_TEST(echo_round_trip(srv.local_endpoint(), msg) == msg);
    BOOST_TEST(echo_round_trip(srv.local_endpoint(), "second") == "second");
    BOOST_TEST(opened.load() == 2);
    BOOST_TEST(handshakes.load() == 2);
    srv.stop();
    srv.wait();
    BOOST_TEST(srv.stats().accepted == 2u);
}

BOOST_AUTO_TEST_CASE(data_handler_on_an_offloading_archetype) {
    using P = pier::policies<offloading_scheduler_archetype>;
    std::atomic<int> off_loop{0};
    std::thread::id loop_thread;
    pier::server<line_echo, P> srv({.threads = 1}, line_echo{&off_loop, &loop_thread});
    srv.start();
    // The scheduler's only thread, as seen from a handler posted to it.
    std::promise<std::thread::id> id;
    asio::post(srv.scheduler().context(0), [&] { id.set_value(std::this_thread::get_id()); });
    auto f = id.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(5s) == std::future_status::ready));
    loop_thread = f.get();
    BOOST_TEST(echo_round_trip(srv.local_endpoint(), "one line\n") == "one line\n");
    BOOST_TEST(off_loop.load() == 1); // on_data ran on the archetype's pool, not the loop
}

BOOST_AUTO_TEST_CASE(user_accept_policy_two_reuseport_listeners) {
    std::atomic<int> opened{0};
    pier::server<echo, pier::policies<two_reuseport_listeners>> srv({.threads = 2}, echo{&opened});
    srv.start();
    auto handles = srv.native_listener_handles();
    BOOST_TEST_REQUIRE(handles.size() == 2u);
    BOOST_TEST(handles[0] != handles[1]);
    for (int fd : handles) {
        int v = 0;
        socklen_t len = sizeof v;
        BOOST_TEST(::getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0);
        BOOST_TEST(v == 1);
        // Both listen on the same port: the second joined the first's ephemeral port.
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
        BOOST_TEST(ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port) ==
                   srv.local_endpoint().port());
    }
    for (int i = 0; i < 8; ++i) {
        const std::string msg = "client " + std::to_string(i);
        BOOST_TEST(echo_round_trip(srv.local_endpoint(), msg) == msg);
    }
    BOOST_TEST(opened.load() == 8);
    BOOST_TEST(srv.stats().accepted == 8u);
}

// Each accept loop's peer socket may belong to the other loop's io_context. Destroying the
// server must leave no accept pending behind, or the first io_context's destruction frees the
// socket service the second one's leftover accept still needs (a use-after-free under ASan).
BOOST_AUTO_TEST_CASE(destroying_a_two_loop_server_leaves_no_accept_pending) {
    for (int round = 0; round < 20; ++round) {
        std::atomic<int> opened{0};
        pier::server<echo, pier::policies<two_reuseport_listeners>> srv({.threads = 2},
                                                                        echo{&opened});
        srv.start();
        if (round % 2 == 0)
            BOOST_TEST(echo_round_trip(srv.local_endpoint(), "x") == "x");
        srv.stop();
        srv.wait();
        // Every context ran what the loops left: nothing is ready any more.
        for (std::size_t i = 0; i < srv.scheduler().size(); ++i) {
            srv.scheduler().context(i).restart();
            BOOST_TEST(srv.scheduler().context(i).poll() == 0u);
        }
    }
}

// A shared_pool runs one io_context on several threads, so the work stop() posts (arming the
// shutdown deadline) and the work finish_stop() posts when the last open connection ends
// (cancelling it, cancelling the sweep timers) can run on two threads at once unless both go
// through strands. Open connections at stop() make finish_stop() come from a loop thread,
// soon after. Under ThreadSanitizer the old code reported a race on the deadline timer; every
// build checks that each stop finishes with nothing left open.
BOOST_AUTO_TEST_CASE(stopping_a_shared_pool_server_serialises_its_control_work) {
    for (int round = 0; round < 40; ++round) {
        std::atomic<int> opened{0};
        // A short linger: the clients stay silent, so each closing connection would otherwise
        // wait the default 2 s for their FIN.
        pier::server<echo, pier::policies<pier::sched::shared_pool>> srv(
            {.threads = 2, .timeouts = {.linger = 20ms}}, echo{&opened});
        srv.start();
        const auto ep = srv.local_endpoint();
        std::vector<int> clients;
        for (int i = 0; i < 4; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            BOOST_TEST_REQUIRE(fd >= 0);
            BOOST_TEST_REQUIRE(::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0);
            clients.push_back(fd);
        }
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (srv.stats().active < clients.size() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(1ms);
        BOOST_TEST(srv.stats().active == clients.size());
        // Half the rounds close the clients first, so that connections end (and finish_stop()
        // runs on a loop thread) while stop()'s own work is still in flight; the delay varies.
        if (round % 2 == 1) {
            for (int fd : clients)
                ::close(fd);
            clients.clear();
            std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 7)));
        }
        srv.stop();
        srv.wait();
        BOOST_TEST(srv.stats().active == 0u);
        for (int fd : clients)
            ::close(fd);
    }
}

BOOST_AUTO_TEST_SUITE_END()
