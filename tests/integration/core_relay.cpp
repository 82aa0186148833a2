// pier::relay on real loopback sockets, between a client, a pier connection and an upstream
// server in this process: both directions at once byte-exact, by splice(2) and by copying, over
// plain TCP and TLS; half-closes passed on; a side that stops reading stops the other side
// (bounded memory: nothing piles up in pier); an upstream reset and the server's stop end the
// relay.
//
// pier-test: threads
// pier-test: timeout=240
#include <pier/pier.hpp>

#include "unit/tls_test_certs.hpp"

#include <asio/ssl.hpp>
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;
using namespace std::chrono_literals;

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 131 + seed + i / 65521) & 0xff);
    return s;
}

// --- the upstream: a listening socket; each test says what the accepted side does ------------

struct upstream {
    int listener = -1;
    std::uint16_t port = 0;
    upstream() {
        listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listener, 16);
        socklen_t len = sizeof a;
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~upstream() { ::close(listener); }
    /// The next connection, or -1 after `patience`.
    int accept() const {
        pollfd p{listener, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(patience.count())) != 1)
            return -1;
        return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    }
};

timeval bounded{20, 0};

void bound(int fd) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bounded, sizeof bounded);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bounded, sizeof bounded);
}

bool send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string recv_all(int fd, std::size_t max = ~std::size_t{0}) {
    std::string out;
    std::vector<char> buf(1 << 16);
    while (out.size() < max) {
        const auto n = ::recv(fd, buf.data(), std::min(buf.size(), max - out.size()), 0);
        if (n <= 0)
            break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
}

int connect_to(std::uint16_t port, int rcvbuf = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    bound(fd);
    return fd;
}

// --- the relay under test ---------------------------------------------------------------------

struct probe {
    std::mutex m;
    pier::relay_result result;
    pier::transfer_stats stats;
    std::size_t max_queued = 0;
    std::atomic<int> done{0};   // the handler's relay returned
    std::atomic<int> closed{0}; // on_close ran (after `done`): `stats` is final
    std::atomic<bool> relaying{false};
};

struct relay_handler {
    probe* p;
    std::uint16_t upstream_port;

    template <class C> void on_close(C& c, std::error_code) {
        {
            std::lock_guard l(p->m);
            p->stats = c.transfer_stats();
        }
        p->closed.fetch_add(1);
    }

    template <class C> asio::awaitable<void> operator()(C& c) {
        asio::basic_stream_socket<asio::ip::tcp, typename C::executor_type> up(c.get_executor());
        auto [ec] = co_await up.async_connect({asio::ip::address_v4::loopback(), upstream_port},
                                              pier::use_tuple);
        if (ec)
            co_return;
        // Sample pier's own queue while the relay runs: what a stalled side makes pile up.
        auto self = c.shared_from_this();
        auto watch = [](std::shared_ptr<C> c, probe* p) -> asio::awaitable<void> {
            asio::steady_timer t(c->get_executor());
            while (c->is_open() && p->done.load() == 0) {
                const auto q = c->queued_bytes();
                {
                    std::lock_guard l(p->m);
                    p->max_queued = std::max(p->max_queued, q);
                }
                t.expires_after(5ms);
                co_await t.async_wait(pier::use_tuple);
            }
        };
        asio::co_spawn(c.get_executor(), watch(self, p), asio::detached);
        p->relaying = true;
        const auto r = co_await pier::relay(c, up);
        {
            std::lock_guard l(p->m);
            p->result = r;
        }
        p->done.fetch_add(1);
    }
};

pier::server_options options(pier::relay_method m) {
    pier::server_options o;
    o.threads = 1;
    o.timeouts.resolution = 50ms;
    o.timeouts.linger = 200ms;
    o.timeouts.shutdown = 2s;
    o.zero_copy.relays = m;
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(core_relay, watchdog)

constexpr std::size_t up_size = 24u << 20, down_size = 20u << 20;

BOOST_AUTO_TEST_CASE(both_directions_at_once_by_splice_and_by_copy) {
    const auto to_upstream = pattern(up_size, 1), to_client = pattern(down_size, 2);
    for (auto m : {pier::relay_method::splice, pier::relay_method::copy}) {
        upstream u;
        probe p;
        pier::server<relay_handler> srv(options(m), relay_handler{&p, u.port});
        srv.start();
        const int c = connect_to(srv.local_endpoint().port());
        BOOST_REQUIRE(c >= 0);
        const int s = u.accept();
        BOOST_REQUIRE(s >= 0);
        bound(s);
        // Upstream: sends its data and half-closes, while reading the client's until EOF.
        auto upstream_side = std::async(std::launch::async, [&] {
            auto sender = std::async(std::launch::async, [&] {
                send_all(s, to_client);
                ::shutdown(s, SHUT_WR);
            });
            auto got = recv_all(s);
            sender.get();
            return got;
        });
        auto client_sender = std::async(std::launch::async, [&] {
            send_all(c, to_upstream);
            ::shutdown(c, SHUT_WR); // passed on: the upstream's read ends
        });
        const auto client_got = recv_all(c);
        client_sender.get();
        const auto upstream_got = upstream_side.get();
        BOOST_TEST(client_got.size() == down_size);
        BOOST_TEST((client_got == to_client));
        BOOST_TEST(upstream_got.size() == up_size);
        BOOST_TEST((upstream_got == to_upstream));
        ::close(c);
        ::close(s);
        // The transfer figures are taken in on_close, which runs after the handler returned.
        BOOST_REQUIRE(eventually([&] { return p.done.load() == 1 && p.closed.load() == 1; }));
        std::lock_guard l(p.m);
        BOOST_TEST(p.result.to_peer == up_size);
        BOOST_TEST(p.result.from_peer == down_size);
        BOOST_TEST(!p.result.error, p.result.error.message());
        if (m == pier::relay_method::splice) {
            BOOST_TEST(p.stats.splice_bytes == up_size + down_size);
            BOOST_TEST(p.stats.copied_bytes == 0u);
            BOOST_TEST(p.max_queued == 0u); // nothing ever went through pier's queue
        } else {
            BOOST_TEST(p.stats.copied_bytes == up_size + down_size);
            BOOST_TEST(p.stats.splice_bytes == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_stalled_side_stops_the_other) {
    for (auto m : {pier::relay_method::splice, pier::relay_method::copy}) {
        upstream u;
        probe p;
        const auto o = options(m);
        pier::server<relay_handler> srv(o, relay_handler{&p, u.port});
        srv.start();
        const int c = connect_to(srv.local_endpoint().port());
        BOOST_REQUIRE(c >= 0);
        const int s = u.accept();
        BOOST_REQUIRE(s >= 0);
        bound(s);
        BOOST_REQUIRE(eventually([&] { return p.relaying.load(); }));

        // The client pushes, the upstream reads nothing: the client's writes must stall after
        // what the sockets and one relay step hold, far below what it tries to send.
        const std::size_t attempt = 512u << 20;
        const auto chunk = pattern(1 << 16, 3);
        std::size_t pushed = 0;
        timeval brief{0, 300000}; // a send that makes no progress for 0.3 s: stalled
        ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &brief, sizeof brief);
        // The stream is `chunk` repeated: each send continues where the last one stopped.
        auto push = [&](int fd) {
            std::size_t total = 0;
            while (total < attempt) {
                const std::size_t at = total % chunk.size();
                const auto n = ::send(fd, chunk.data() + at, chunk.size() - at, MSG_NOSIGNAL);
                if (n <= 0)
                    break;
                total += static_cast<std::size_t>(n);
            }
            return total;
        };
        pushed = push(c);
        BOOST_TEST_MESSAGE("client -> stalled upstream: " << pushed << " bytes accepted");
        BOOST_TEST(pushed < attempt);
        BOOST_TEST(pushed < (160u << 20), "the relay kept reading: " << pushed << " bytes");
        {
            std::lock_guard l(p.m);
            BOOST_TEST(p.max_queued <= o.write.low_water + (64u << 10));
        }
        // The upstream starts reading: everything arrives, in order.
        ::shutdown(c, SHUT_WR);
        const auto got = recv_all(s);
        BOOST_TEST(got.size() == pushed);
        bool exact = got.size() == pushed;
        for (std::size_t i = 0; exact && i < got.size(); ++i)
            exact = got[i] == chunk[i % chunk.size()];
        BOOST_TEST(exact);

        // The other way: the upstream pushes, the client reads nothing.
        ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &brief, sizeof brief);
        pushed = push(s);
        BOOST_TEST_MESSAGE("upstream -> stalled client: " << pushed << " bytes accepted");
        BOOST_TEST(pushed < (160u << 20), "the relay kept reading: " << pushed << " bytes");
        {
            std::lock_guard l(p.m);
            BOOST_TEST(p.max_queued <= o.write.low_water + (64u << 10));
        }
        ::shutdown(s, SHUT_WR);
        const auto back = recv_all(c);
        BOOST_TEST(back.size() == pushed);
        exact = back.size() == pushed;
        for (std::size_t i = 0; exact && i < back.size(); ++i)
            exact = back[i] == chunk[i % chunk.size()];
        BOOST_TEST(exact);
        ::close(c);
        ::close(s);
        BOOST_REQUIRE(eventually([&] { return p.done.load() == 1; }));
    }
}

BOOST_AUTO_TEST_CASE(an_upstream_reset_ends_the_client_side) {
    upstream u;
    probe p;
    pier::server<relay_handler> srv(options(pier::relay_method::splice), relay_handler{&p, u.port});
    srv.start();
    const int c = connect_to(srv.local_endpoint().port());
    BOOST_REQUIRE(c >= 0);
    const int s = u.accept();
    BOOST_REQUIRE(s >= 0);
    BOOST_REQUIRE(send_all(c, "hello"));
    BOOST_TEST(recv_all(s, 5) == "hello");
    linger hard{1, 0};
    ::setsockopt(s, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    ::close(s);                      // RST
    BOOST_TEST(recv_all(c).empty()); // the client's side ends too
    ::close(c);
    BOOST_REQUIRE(eventually([&] { return p.done.load() == 1; }));
    std::lock_guard l(p.m);
    BOOST_TEST(p.result.error, "the reset was not reported");
}

BOOST_AUTO_TEST_CASE(stop_ends_relays) {
    upstream u;
    probe p;
    pier::server<relay_handler> srv(options(pier::relay_method::splice), relay_handler{&p, u.port});
    srv.start();
    const int c = connect_to(srv.local_endpoint().port());
    BOOST_REQUIRE(c >= 0);
    const int s = u.accept();
    BOOST_REQUIRE(s >= 0);
    BOOST_REQUIRE(eventually([&] { return p.relaying.load(); }));
    const auto t0 = std::chrono::steady_clock::now();
    srv.stop();
    srv.wait();
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 10s));
    BOOST_TEST(p.done.load() == 1);
    BOOST_TEST(recv_all(c).empty()); // the client sees the end
    ::close(c);
    ::close(s);
}

BOOST_AUTO_TEST_CASE(tls_clients_are_relayed_by_copying) {
    pier_test::temp_dir dir;
    const auto cert = pier_test::make_cert(dir, "srv", "localhost", {"localhost"});
    pier::tls::options t;
    t.certificates.push_back({.cert_chain_file = cert.cert, .key_file = cert.key});
    upstream u;
    probe p;
    pier::server<relay_handler, pier::policies<pier::transport::tls>> srv(
        options(pier::relay_method::splice), t, relay_handler{&p, u.port});
    srv.start();
    const auto up_data = pattern(6u << 20, 4), down_data = pattern(5u << 20, 5);

    asio::io_context ioc;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    asio::ssl::stream<asio::ip::tcp::socket> tls(ioc, ctx);
    tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), srv.local_endpoint().port()});
    tls.handshake(asio::ssl::stream_base::client);
    const int s = u.accept();
    BOOST_REQUIRE(s >= 0);
    bound(s);
    auto upstream_side = std::async(std::launch::async, [&] {
        auto got = recv_all(s, up_data.size());
        send_all(s, down_data);
        ::shutdown(s, SHUT_WR);
        return got;
    });
    asio::write(tls, asio::buffer(up_data));
    std::string got;
    std::vector<char> buf(1 << 16);
    std::error_code end;
    for (;;) {
        const auto n = tls.read_some(asio::buffer(buf), end);
        if (end)
            break;
        got.append(buf.data(), n);
    }
    BOOST_TEST((upstream_side.get() == up_data));
    BOOST_TEST((got == down_data));
    BOOST_TEST((end == asio::error::eof || end == asio::ssl::error::stream_truncated),
               end.message());
    tls.lowest_layer().close();
    ::close(s);
    // The transfer figures are taken in on_close, which runs after the handler returned.
    BOOST_REQUIRE(eventually([&] { return p.done.load() == 1 && p.closed.load() == 1; }));
    std::lock_guard l(p.m);
    BOOST_TEST(p.stats.copied_bytes == up_data.size() + down_data.size());
    BOOST_TEST(p.stats.splice_bytes == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
