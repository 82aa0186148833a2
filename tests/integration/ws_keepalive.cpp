// WebSocket keep-alive on real loopback sockets: the server pings a silent connection every
// ping_interval, a client that answers stays connected, one that does not is closed after
// pong_timeout (on_close sees 1006, the stats count a timeout), and ping_interval = 0 sends
// no ping at all.
//
// The client is a raw POSIX socket with poll(2) deadlines (neither pier nor Asio), speaking
// just enough RFC 6455 for this: the upgrade request, masked frames out, unmasked frames in.
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"
#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

using pier_test::frame;

/// A WebSocket client already through its handshake.
class client : public pier_test::ws_client {
public:
    explicit client(std::uint16_t port)
        : ws_client(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port)) {
        BOOST_REQUIRE_MESSAGE(open(), "no handshake response");
    }
    /// The next frame, or nullopt on EOF/timeout (`eof()` tells which).
    std::optional<frame> next(milliseconds limit) {
        auto f = read_frame(limit);
        if (!f) {
            const auto st = read_more(milliseconds(0));
            eof_ = eof_ || st == pier_test::io::eof || st == pier_test::io::reset;
        }
        return f;
    }
    void send(unsigned opcode, std::string_view payload) {
        BOOST_REQUIRE(send_frame(opcode, payload));
    }
    bool eof() const noexcept { return eof_; }

private:
    bool eof_ = false;
};

struct observed {
    std::mutex m;
    std::vector<pier::ws::close_code> closes;
    std::atomic<int> opened{0};
};

struct handler {
    observed* seen = nullptr;
    template <class Session> void on_open(Session&) { ++seen->opened; }
    template <class Session> void on_message(Session& s, pier::ws::message m) {
        s.send_text(m.data());
    }
    template <class Session> void on_close(Session&, pier::ws::close_code c, std::string_view) {
        std::lock_guard lock(seen->m);
        seen->closes.push_back(c);
    }
};

struct fixture_server {
    observed seen;
    pier::ws::server<handler> srv;

    fixture_server(milliseconds ping, milliseconds pong)
        : srv(server_options(), ws_options(ping, pong), handler{&seen}) {
        srv.start();
    }
    ~fixture_server() { srv.stop(); }
    std::uint16_t port() const { return srv.local_endpoint().port(); }

    static pier::server_options server_options() {
        pier::server_options o;
        o.address = "127.0.0.1";
        o.port = 0;
        o.threads = 1;
        o.timeouts.resolution = 50ms;
        return o;
    }
    static pier::ws::options ws_options(milliseconds ping, milliseconds pong) {
        pier::ws::options w;
        w.ping_interval = ping;
        w.pong_timeout = pong;
        return w;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(ws_keepalive)

BOOST_AUTO_TEST_CASE(answered_pings_keep_a_silent_connection_open) {
    fixture_server s(200ms, 300ms);
    client c(s.port());
    // Several ping intervals and pong timeouts pass; every ping is answered.
    int pings = 0;
    const auto until = steady::now() + 1500ms;
    while (steady::now() < until) {
        auto f = c.next(2s);
        BOOST_REQUIRE_MESSAGE(f.has_value(), "connection ended or went silent");
        BOOST_TEST(f->op() == 0x9u);
        BOOST_TEST(f->payload.empty());
        ++pings;
        c.send(0xA, f->payload);
    }
    BOOST_TEST(pings >= 3);
    // Still open and working.
    c.send(0x1, "still here");
    for (;;) {
        auto f = c.next(5s);
        BOOST_REQUIRE(f.has_value());
        if (f->op() == 0x9) {
            c.send(0xA, f->payload);
            continue;
        }
        BOOST_TEST(f->op() == 0x1u);
        BOOST_TEST(f->payload == "still here");
        break;
    }
    BOOST_TEST(s.srv.stats().timeouts == 0u);
    std::lock_guard lock(s.seen.m);
    BOOST_TEST(s.seen.closes.empty());
}

BOOST_AUTO_TEST_CASE(data_counts_as_an_answer) {
    fixture_server s(200ms, 300ms);
    client c(s.port());
    // A client that talks more often than ping_interval is never pinged.
    const auto until = steady::now() + 1s;
    while (steady::now() < until) {
        c.send(0x1, "tick");
        auto f = c.next(2s);
        BOOST_REQUIRE(f.has_value());
        BOOST_TEST(f->op() == 0x1u);
        std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(s.srv.stats().timeouts == 0u);
}

BOOST_AUTO_TEST_CASE(unanswered_ping_closes_the_connection) {
    fixture_server s(200ms, 300ms);
    client c(s.port());
    BOOST_REQUIRE(eventually([&] { return s.seen.opened.load() == 1; }));
    const auto t0 = steady::now();
    auto f = c.next(5s);
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(f->op() == 0x9u);
    // No Pong: the server closes within pong_timeout (plus sweep resolution; generous bound).
    for (;;) {
        auto g = c.next(10s);
        if (!g)
            break;
        BOOST_TEST(g->op() == 0x9u); // nothing but pings before the close
    }
    BOOST_TEST(c.eof());
    BOOST_TEST((steady::now() - t0) >= 250ms);
    BOOST_TEST(eventually([&] { return s.srv.stats().timeouts == 1u; }));
    BOOST_TEST(eventually([&] {
        std::lock_guard lock(s.seen.m);
        return s.seen.closes.size() == 1u;
    }));
    std::lock_guard lock(s.seen.m);
    BOOST_TEST((s.seen.closes.at(0) == pier::ws::close_code::abnormal));
}

BOOST_AUTO_TEST_CASE(zero_interval_sends_no_ping) {
    fixture_server s(0ms, 300ms);
    client c(s.port());
    auto f = c.next(1200ms);
    BOOST_TEST(!f.has_value());
    BOOST_TEST(!c.eof());
    BOOST_TEST(s.srv.stats().timeouts == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
