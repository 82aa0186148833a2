// ws_server: pier::ws::server on real loopback sockets, end to end: the accept hook, subprotocols,
// the Origin allow-list, plain HTTP on a WebSocket port, the handshake deadline, sending from any
// thread, both closing handshakes, protocol errors answered with their close codes (the parser's
// own cases are unit tests in unit/ws_frame.cpp; here they cross a socket), backpressure, and
// stop() going away with 1001.
//
// The client is a small hand-written blocking one over POSIX sockets (HTTP upgrade, masked
// frames out, server frames in), deliberately not pier's frame code, so that a bug cannot hide on
// both ends. Every read has a deadline; a watchdog fails a test case that hangs.
//
// pier-test: threads
// pier-test: smoke
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"
#include "ws_client.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using pier::ws::close_code;

using pier_test::close_frame;
using pier_test::frame;
using pier_test::http_response;
using pier_test::io;
using pier_test::sample_accept;
using pier_test::sample_key;
using pier_test::text_frame;
using pier_test::upgrade_request;
using pier_test::wire;
using client = pier_test::ws_client;

// --- the server side ----------------------------------------------------------------------------

/// What each session keeps: filled by the accept hook (the upgrade request is gone after).
struct session_info {
    std::string user, path, query;
};
using session = pier::ws::session<pier::default_policies, session_info>;

struct closed_info {
    close_code code;
    std::string reason;
};

/// What the hooks saw and what they do, shared by a test and its server's handler. The
/// std::function members are set before the server starts.
struct probe {
    std::function<pier::ws::accept_result(const pier::ws::upgrade_request&, session_info&)> accept;
    std::function<void(session&)> open;
    std::function<void(session&, pier::ws::message)> message; // default: echo
    std::atomic<int> opened{0}, messages{0};

    std::mutex m;
    std::vector<closed_info> closes;
    std::vector<pier::ws::session_handle> sessions; // open ones, in order of on_open

    std::vector<closed_info> closed() {
        std::lock_guard l(m);
        return closes;
    }
    pier::ws::session_handle open_session(std::size_t i) {
        std::lock_guard l(m);
        return i < sessions.size() ? sessions[i] : pier::ws::session_handle{};
    }
};

struct handler {
    using session_data = session_info;
    probe* p;
    pier::ws::accept_result accept(const pier::ws::upgrade_request& u, session_info& d) {
        d.path = u.path;
        d.query = u.query;
        return p->accept ? p->accept(u, d) : pier::ws::accept_result::accept();
    }
    void on_open(session& s) {
        {
            std::lock_guard l(p->m);
            p->sessions.push_back(s.handle());
        }
        if (p->open)
            p->open(s);
        p->opened.fetch_add(1);
    }
    void on_message(session& s, pier::ws::message m) {
        p->messages.fetch_add(1);
        if (p->message)
            p->message(s, m);
        else if (m.is_text())
            s.send_text(m.data());
        else
            s.send_binary(m.data());
    }
    void on_close(session& s, close_code c, std::string_view reason) {
        std::lock_guard l(p->m);
        p->closes.push_back({c, std::string(reason)});
        std::erase_if(p->sessions, [&](auto& h) { return h.id() == s.id(); });
    }
};

/// Also serves plain HTTP: GET /health answers "ok", anything else gets the default.
struct web_handler : handler {
    bool on_http(session& s, const pier::http::request_view& r) {
        if (r.path() != "/health")
            return false;
        s.send_http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
        return true;
    }
};

pier::server_options fast_options() {
    pier::server_options o{.threads = 2};
    o.timeouts.resolution = 20ms;
    return o;
}

pier::ws::options ws_options() {
    pier::ws::options o;
    o.deflate.enabled = false; // the client speaks no permessage-deflate anyway
    return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(ws_server, watchdog)

// --- 1. the accept hook -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(accept_hook_rejects_accepts_and_attaches_user_data) {
    struct seen_t {
        std::string method, path, query, token, offered;
        asio::ip::tcp::endpoint remote;
    };
    probe p;
    std::mutex m;
    std::vector<seen_t> seen;
    std::vector<std::string> opened_as;
    p.accept = [&](const pier::ws::upgrade_request& u, session_info& d) {
        {
            std::lock_guard l(m);
            seen.push_back({std::string(u.request.method()), std::string(u.path),
                            std::string(u.query), std::string(u.header("X-Token").value_or("-")),
                            std::string(u.offered_subprotocols), u.remote});
        }
        if (u.path == "/busy")
            return pier::ws::accept_result::reject(503);
        if (u.header("x-token") != "secret")
            return pier::ws::accept_result::reject(401, "token required");
        d.user = "alice";
        return pier::ws::accept_result::accept();
    };
    p.open = [&](session& s) {
        std::lock_guard l(m);
        opened_as.push_back(s.data().user + "@" + s.data().path + "?" + s.data().query);
    };
    p.message = [](session& s, pier::ws::message msg) {
        s.send_text(s.data().user + ": " + std::string(msg.text()));
    };
    pier::ws::server<handler> srv(fast_options(), ws_options(), handler{&p});
    srv.start();
    const auto ep = srv.local_endpoint();

    {
        client c(ep);
        auto r = c.handshake("/chat?room=1", "X-Token: wrong\r\n");
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 401 Unauthorized");
        BOOST_TEST(r->body == "token required\n");
        BOOST_TEST(r->header("content-type") == "text/plain; charset=utf-8");
        BOOST_TEST(r->header("connection") == "close");
        BOOST_TEST(r->header("sec-websocket-accept") == "<absent>");
        BOOST_TEST(c.ended());
    }
    {
        client c(ep);
        auto r = c.handshake("/busy");
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 503 Service Unavailable");
        BOOST_TEST(r->body == "Service Unavailable\n"); // no body given: the reason phrase
        BOOST_TEST(c.ended());
    }
    BOOST_TEST(p.opened.load() == 0);

    client c(ep);
    auto r =
        c.handshake("/chat?room=1&x=%20", "X-Token: secret\r\nSec-WebSocket-Protocol: a, b\r\n");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status_line == "HTTP/1.1 101 Switching Protocols");
    BOOST_TEST(r->header("upgrade") == "websocket");
    BOOST_TEST(pier_test::iequals(r->header("connection"), "upgrade"));
    BOOST_TEST(r->header("sec-websocket-accept") == sample_accept);
    BOOST_TEST(r->header("sec-websocket-protocol") == "<absent>"); // none configured
    BOOST_TEST(r->header("sec-websocket-extensions") == "<absent>");
    BOOST_TEST(c.round_trip("hi") == "alice: hi");
    BOOST_TEST(eventually([&] { return p.opened.load() == 1; }));
    std::lock_guard l(m);
    BOOST_TEST_REQUIRE(seen.size() == 3u);
    const auto& s = seen.back();
    BOOST_TEST(s.method == "GET");
    BOOST_TEST(s.path == "/chat");
    BOOST_TEST(s.query == "room=1&x=%20"); // not percent-decoded
    BOOST_TEST(s.token == "secret");
    BOOST_TEST(s.offered == "a, b");
    BOOST_TEST(s.remote.address().to_string() == "127.0.0.1");
    BOOST_TEST(s.remote.port() == c.local_port());
    BOOST_TEST(seen[0].token == "wrong");
    BOOST_TEST_REQUIRE(opened_as.size() == 1u);
    BOOST_TEST(opened_as[0] == "alice@/chat?room=1&x=%20");
}

// --- 2. subprotocols ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(subprotocol_negotiation) {
    probe p;
    std::mutex m;
    std::vector<std::string> negotiated;
    p.accept = [](const pier::ws::upgrade_request& u, session_info&) {
        // The hook's choice overrides the server's list.
        if (u.path == "/pick")
            return pier::ws::accept_result::accept("x-special");
        return pier::ws::accept_result::accept();
    };
    p.open = [&](session& s) {
        std::lock_guard l(m);
        negotiated.emplace_back(s.subprotocol());
    };
    auto wo = ws_options();
    wo.subprotocols = {"chat.v2", "chat.v1"};
    pier::ws::server<handler> srv(fast_options(), wo, handler{&p});
    srv.start();
    const auto ep = srv.local_endpoint();

    struct row {
        const char* target;
        const char* offer; // header lines
        std::string answer;
    };
    const row rows[] = {
        // The server's preference order wins over the client's.
        {"/", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n", "chat.v2"},
        {"/", "Sec-WebSocket-Protocol: other, chat.v1\r\n", "chat.v1"},
        // Any number of fields.
        {"/", "Sec-WebSocket-Protocol: other\r\nSec-WebSocket-Protocol: chat.v1\r\n", "chat.v1"},
        // No overlap, or nothing offered: no Sec-WebSocket-Protocol in the answer.
        {"/", "Sec-WebSocket-Protocol: chat.v3\r\n", "<absent>"},
        {"/", "", "<absent>"},
        {"/pick", "Sec-WebSocket-Protocol: chat.v1, x-special\r\n", "x-special"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.target << " " << r.offer) {
            client c(ep);
            auto res = c.handshake(r.target, r.offer);
            BOOST_TEST_REQUIRE(res.has_value());
            BOOST_TEST(res->status_line == "HTTP/1.1 101 Switching Protocols");
            BOOST_TEST(res->header("sec-websocket-protocol") == r.answer);
            BOOST_TEST(c.round_trip("ping") == "ping");
        }
    }
    std::lock_guard l(m);
    // The hook's own choice is answered but not remembered by the session (it is not one of
    // options::subprotocols): a handler that needs it keeps it in its session_data.
    const std::vector<std::string> expected = {"chat.v2", "chat.v1", "chat.v1", "", "", ""};
    BOOST_TEST(negotiated == expected, boost::test_tools::per_element());
}

// --- 3. the Origin allow-list -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(origin_allow_list) {
    probe p;
    auto wo = ws_options();
    wo.allowed_origins = {"https://good.example"};
    wo.allow_missing_origin = false;
    pier::ws::server<handler> strict(fast_options(), wo, handler{&p});
    strict.start();
    wo.allow_missing_origin = true;
    pier::ws::server<handler> lenient(fast_options(), wo, handler{&p});
    lenient.start();

    struct row {
        bool strict;
        const char* origin; // header lines
        unsigned status;
    };
    const row rows[] = {
        {true, "Origin: https://good.example\r\n", 101},
        {true, "Origin: HTTPS://GOOD.example\r\n", 101}, // ASCII case-insensitive
        {true, "Origin: https://evil.example\r\n", 403},
        {true, "Origin: https://good.example.evil\r\n", 403},
        {true, "", 403},
        {true, "Origin: https://good.example\r\nOrigin: https://good.example\r\n", 403},
        {false, "", 101},
        {false, "Origin: https://evil.example\r\n", 403},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT((r.strict ? "strict " : "lenient ") << r.origin) {
            client c((r.strict ? strict : lenient).local_endpoint());
            auto res = c.handshake("/", r.origin);
            BOOST_TEST_REQUIRE(res.has_value());
            if (r.status == 101) {
                BOOST_TEST(res->status_line == "HTTP/1.1 101 Switching Protocols");
                BOOST_TEST(c.round_trip("x") == "x");
            } else {
                BOOST_TEST(res->status_line == "HTTP/1.1 403 Forbidden");
                BOOST_TEST(res->body == "origin not allowed\n");
                BOOST_TEST(c.ended());
            }
        }
    }
}

// --- 4. plain HTTP and bad upgrades -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(plain_http_and_bad_upgrades) {
    probe p;
    pier::ws::server<web_handler> web(fast_options(), ws_options(), web_handler{{&p}});
    web.start();
    pier::ws::server<handler> ws_only(fast_options(), ws_options(), handler{&p});
    ws_only.start();

    {
        // on_http answers, and the connection stays open for the next request.
        client c(web.local_endpoint());
        for (int i = 0; i < 2; ++i) {
            BOOST_TEST_REQUIRE(c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
            auto r = c.read_response();
            BOOST_TEST_REQUIRE(r.has_value());
            BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
            BOOST_TEST(r->body == "ok\n");
        }
        // ... and may still be upgraded after.
        BOOST_TEST(c.open());
        BOOST_TEST(c.round_trip("after http") == "after http");
    }
    {
        // Pipelined: two plain requests and the upgrade in one write are all answered
        // without the client sending anything more.
        client c(web.local_endpoint());
        const std::string get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        BOOST_TEST_REQUIRE(c.send(get + get + upgrade_request()));
        for (int i = 0; i < 2; ++i) {
            auto r = c.read_response(2s);
            BOOST_TEST_REQUIRE(r.has_value());
            BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
        }
        auto up = c.read_response(2s);
        BOOST_TEST_REQUIRE(up.has_value());
        BOOST_TEST(up->status_line == "HTTP/1.1 101 Switching Protocols");
        BOOST_TEST(c.round_trip("pipelined") == "pipelined");
    }
    {
        // on_http declines: the default answer.
        client c(web.local_endpoint());
        BOOST_TEST_REQUIRE(c.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 426 Upgrade Required");
        BOOST_TEST(r->header("upgrade") == "websocket");
        BOOST_TEST(c.ended());
    }
    {
        // A body within ws::options::max_http_body reaches on_http whole (this handler takes
        // the two-argument form, which ignores it) and the connection stays usable.
        client c(web.local_endpoint());
        BOOST_TEST_REQUIRE(
            c.send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 200 OK");
        BOOST_TEST(c.open());
        BOOST_TEST(c.round_trip("after a body") == "after a body");
    }
    {
        // A body above it is refused before on_http sees it, and so is a chunked one.
        client c(web.local_endpoint());
        const auto too_big = std::to_string(ws_options().max_http_body + 1);
        BOOST_TEST_REQUIRE(
            c.send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: " + too_big + "\r\n\r\n"));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 413 Content Too Large");
        BOOST_TEST(c.ended());
        client d(web.local_endpoint());
        BOOST_TEST_REQUIRE(
            d.send("POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
        r = d.read_response();
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 411 Length Required");
        BOOST_TEST(d.ended());
    }
    {
        // No on_http: 426 with Upgrade: websocket.
        client c(ws_only.local_endpoint());
        BOOST_TEST_REQUIRE(c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = c.read_response();
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status_line == "HTTP/1.1 426 Upgrade Required");
        BOOST_TEST(r->header("upgrade") == "websocket");
        BOOST_TEST(r->body == "this is a WebSocket endpoint\n");
        BOOST_TEST(c.ended());
    }

    const std::string base = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    const std::string key = "Sec-WebSocket-Key: " + std::string(sample_key) + "\r\n";
    const std::string v13 = "Sec-WebSocket-Version: 13\r\n";
    struct row {
        const char* name;
        std::string request;
        std::string status_line, body;
        std::vector<std::pair<const char*, const char*>> fields{};
    };
    const row rows[] = {
        {"missing key", "GET / HTTP/1.1\r\n" + base + v13 + "\r\n", "HTTP/1.1 400 Bad Request",
         "missing Sec-WebSocket-Key\n"},
        {"bad key", "GET / HTTP/1.1\r\n" + base + v13 + "Sec-WebSocket-Key: abc\r\n\r\n",
         "HTTP/1.1 400 Bad Request", "invalid Sec-WebSocket-Key\n"},
        {"two keys", "GET / HTTP/1.1\r\n" + base + v13 + key + key + "\r\n",
         "HTTP/1.1 400 Bad Request", "invalid Sec-WebSocket-Key\n"},
        {"version 8",
         "GET / HTTP/1.1\r\n" + base + key + "Sec-WebSocket-Version: 8\r\n\r\n",
         "HTTP/1.1 426 Upgrade Required",
         "Sec-WebSocket-Version must be 13\n",
         {{"sec-websocket-version", "13"}, {"upgrade", "websocket"}}},
        {"no version",
         "GET / HTTP/1.1\r\n" + base + key + "\r\n",
         "HTTP/1.1 426 Upgrade Required",
         "Sec-WebSocket-Version must be 13\n",
         {{"sec-websocket-version", "13"}}},
        {"POST",
         "POST / HTTP/1.1\r\n" + base + key + v13 + "\r\n",
         "HTTP/1.1 405 Method Not Allowed",
         "a WebSocket handshake must be a GET\n",
         {{"allow", "GET"}}},
        {"malformed HTTP", "GET / HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 Bad Request",
         ""},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            client c(ws_only.local_endpoint());
            BOOST_TEST_REQUIRE(c.send(r.request));
            auto res = c.read_response();
            BOOST_TEST_REQUIRE(res.has_value());
            BOOST_TEST(res->status_line == r.status_line);
            if (!r.body.empty())
                BOOST_TEST(res->body == r.body);
            BOOST_TEST(res->header("connection") == "close");
            for (auto [name, value] : r.fields)
                BOOST_TEST(res->header(name) == value);
            BOOST_TEST(c.ended());
        }
    }
    BOOST_TEST(p.opened.load() == 3); // after on_http, after a body, and the pipelined one
}

// --- 5. the handshake deadline ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(handshake_timeout) {
    probe p;
    auto wo = ws_options();
    wo.handshake_timeout = 300ms;
    pier::ws::server<handler> srv(fast_options(), wo, handler{&p});
    srv.start();
    const auto ep = srv.local_endpoint();

    const auto t0 = steady::now();
    client silent(ep), half(ep), good(ep);
    BOOST_TEST_REQUIRE(half.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"));
    BOOST_TEST_REQUIRE(good.open());
    BOOST_TEST(silent.ended());
    BOOST_TEST(half.ended());
    // Not closed before its time (coarse clock and sweep: a little early is possible).
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(steady::now() - t0).count() >= 250);
    BOOST_TEST(silent.in_.empty());
    BOOST_TEST(half.in_.empty());
    BOOST_TEST(eventually([&] { return srv.stats().handshake_failures == 2u; }));
    // The deadline ended with the handshake: the open connection outlives it.
    std::this_thread::sleep_for(400ms);
    BOOST_TEST(good.round_trip("still here") == "still here");
    const auto st = srv.stats();
    BOOST_TEST(st.handshake_failures == 2u);
    BOOST_TEST(st.timeouts == 0u); // handshake deadlines are counted as handshake failures
    BOOST_TEST(st.active == 1u);
}

// --- 6. sending from any thread -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(send_from_any_thread) {
    probe p;
    pier::ws::server<handler> srv(fast_options(), ws_options(), handler{&p});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.open());
    BOOST_TEST_REQUIRE(eventually([&] { return p.opened.load() == 1; }));
    auto s = p.open_session(0);
    BOOST_TEST_REQUIRE(bool(s));

    pier::send_result r{};
    std::thread([&] { r = s.send_text("from a thread"); }).join();
    BOOST_TEST((r == pier::send_result::queued));
    auto f = c.read_frame();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->b0 == 0x81);
    BOOST_TEST(!f->masked);
    BOOST_TEST(f->payload == "from a thread");

    constexpr int per_thread = 2000;
    std::vector<std::thread> senders;
    for (char name : {'A', 'B'})
        senders.emplace_back([&, name] {
            for (int i = 0; i < per_thread; ++i) {
                const auto msg = std::string(1, name) + std::to_string(i);
                if (i % 2 == 0)
                    s.send_text(msg);
                else
                    s.send_binary(msg);
            }
        });
    for (auto& t : senders)
        t.join();
    int next[2] = {0, 0}, bad = 0;
    for (int got = 0; got < 2 * per_thread; ++got) {
        auto m = c.read_frame();
        BOOST_TEST_REQUIRE(m.has_value(), "after " << got << " messages");
        const int who = m->payload[0] - 'A';
        if (who < 0 || who > 1 || m->payload.substr(1) != std::to_string(next[who]) ||
            m->b0 != (next[who] % 2 == 0 ? 0x81 : 0x82)) {
            ++bad;
            continue;
        }
        ++next[who];
    }
    BOOST_TEST(bad == 0);
    BOOST_TEST(next[0] == per_thread);
    BOOST_TEST(next[1] == per_thread);
}

// --- 7. the closing handshake -------------------------------------------------------------------

// A frame prepared once for many sessions (a broadcast) is refused like any other send once
// the session sent Close, on its shard and through a handle from another thread alike:
// nothing may follow a Close frame on the wire (RFC 6455 section 5.5.1).
BOOST_AUTO_TEST_CASE(prepared_send_after_close_is_refused) {
    probe p;
    const auto late = pier::ws::prepare(pier::ws::opcode::text, "late");
    std::atomic<int> here{-1};
    std::atomic<bool> posted{false};
    p.message = [&](session& s, pier::ws::message m) {
        if (m.text() != "close-then-send") {
            s.send_text(m.data());
            return;
        }
        s.close(static_cast<close_code>(4002), "bye");
        here = static_cast<int>(s.send(late));
        // From another thread the handle answers at once (queued: accepted by the mailbox);
        // the session, closing by the time the mail arrives, does not send it.
        std::thread([h = s.handle(), &late, &posted] {
            posted = h.send(late) == pier::send_result::queued;
        }).join();
    };
    pier::ws::server<handler> srv(fast_options(), ws_options(), handler{&p});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_TEST_REQUIRE(c.open());
    BOOST_TEST_REQUIRE(c.send(text_frame("close-then-send")));
    auto f = c.read_frame();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->b0 == 0x88);
    BOOST_TEST(f->code() == 4002u);
    // The handler stores `here` after close() wrote the frame the client just read: wait for
    // the store (an event), then look at it.
    BOOST_TEST_REQUIRE(eventually([&] { return here.load() != -1; }));
    BOOST_TEST(here.load() == static_cast<int>(pier::send_result::closed));
    BOOST_TEST(posted.load());
    BOOST_TEST_REQUIRE(c.send(close_frame(4002)));
    BOOST_TEST(c.ended());
    BOOST_TEST(c.in_.empty(), "bytes after the Close frame: " << c.in_.size());
}

BOOST_AUTO_TEST_CASE(close_handshake) {
    probe p;
    p.message = [](session& s, pier::ws::message m) {
        if (m.text() == "close-me")
            s.close(static_cast<close_code>(4001), "done");
        else
            s.send_text(m.data());
    };
    auto wo = ws_options();
    wo.close_timeout = 300ms;
    pier::ws::server<handler> quick(fast_options(), wo, handler{&p});
    quick.start();
    wo.close_timeout = 20s; // the peer's answer must end it, not this
    pier::ws::server<handler> patient(fast_options(), wo, handler{&p});
    patient.start();

    {
        // The client closes: its code is echoed (without the reason), then the server's FIN.
        client c(quick.local_endpoint());
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(close_frame(1000, "bye")));
        auto f = c.read_frame();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->b0 == 0x88);
        BOOST_TEST(f->code() == 1000u);
        BOOST_TEST(f->payload.size() == 2u); // the code only, no reason
        BOOST_TEST(c.ended());
        BOOST_TEST_REQUIRE(eventually([&] { return p.closed().size() == 1u; }));
        BOOST_TEST((p.closed()[0].code == close_code::normal));
        BOOST_TEST(p.closed()[0].reason == "bye");
    }
    {
        // An empty Close is answered empty and reported as 1005.
        client c(quick.local_endpoint());
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(wire(0x88, "")));
        auto f = c.read_frame();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->b0 == 0x88);
        BOOST_TEST(f->payload.empty());
        BOOST_TEST(c.ended());
        BOOST_TEST_REQUIRE(eventually([&] { return p.closed().size() == 2u; }));
        BOOST_TEST((p.closed()[1].code == close_code::no_status));
    }
    {
        // The server closes and the client answers: the TCP close follows the answer.
        client c(patient.local_endpoint());
        BOOST_TEST_REQUIRE(c.open());
        BOOST_TEST_REQUIRE(c.send(text_frame("close-me")));
        auto f = c.read_frame();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->b0 == 0x88);
        BOOST_TEST(f->code() == 4001u);
        BOOST_TEST(f->payload.substr(2) == "done");
        const auto t0 = steady::now();
        BOOST_TEST_REQUIRE(c.send(close_frame(4001)));
        BOOST_TEST(c.ended());
        BOOST_TEST((steady::now() - t0 < 5s)); // far below the 20 s close_timeout
        BOOST_TEST_REQUIRE(eventually([&] { return p.closed().size() == 3u; }));
        BOOST_TEST(static_cast<unsigned>(p.closed()[2].code) == 4001u);
    }
    {
        // The server closes and the client never answers: close_timeout ends it. Messages
        // after the server's Close are no longer delivered.
        client c(quick.local_endpoint());
        BOOST_TEST_REQUIRE(c.open());
        const auto t0 = steady::now(); // before the server's deadline can start
        BOOST_TEST_REQUIRE(c.send(text_frame("close-me")));
        auto f = c.read_frame();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->b0 == 0x88);
        BOOST_TEST(f->code() == 4001u);
        const int before = p.messages.load();
        BOOST_TEST_REQUIRE(c.send(text_frame("too late")));
        BOOST_TEST(c.ended());
        const auto waited = std::chrono::duration_cast<milliseconds>(steady::now() - t0);
        BOOST_TEST(waited.count() >= 250, waited.count() << " ms"); // 300 ms, coarse clock
        BOOST_TEST(c.in_.empty()); // not even an echo of "too late"
        BOOST_TEST(p.messages.load() == before);
        BOOST_TEST_REQUIRE(eventually([&] { return p.closed().size() == 4u; }));
        BOOST_TEST((p.closed()[3].code == close_code::abnormal)); // no Close came back
    }
}

// --- 8. protocol errors -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(protocol_errors_close_with_their_codes) {
    probe p;
    auto wo = ws_options();
    wo.limits.max_frame_size = 1024;
    wo.limits.max_message_size = 1024;
    pier::ws::server<handler> srv(fast_options(), wo, handler{&p});
    srv.start();

    std::string overlong = wire(0x82, "12345"); // length 5 in the 16-bit form: not minimal
    overlong.replace(1, 1, std::string("\xfe\x00\x05", 3));

    struct row {
        const char* name;
        std::string bytes;
        close_code code;
    };
    const auto protocol = close_code::protocol_error;
    const row rows[] = {
        {"unmasked client frame", wire(0x81, "hi", false), protocol},
        {"reserved data opcode 3", wire(0x83, "x"), protocol},
        {"reserved control opcode 0xB", wire(0x8b, ""), protocol},
        {"fragmented ping", wire(0x09, "p"), protocol},
        {"ping payload of 126 bytes", wire(0x89, std::string(126, 'p')), protocol},
        {"RSV1 without permessage-deflate", wire(0xc1, "x"), protocol},
        {"RSV2", wire(0xa1, "x"), protocol},
        {"continuation with no message", wire(0x80, "x"), protocol},
        {"new message inside a fragmented one", wire(0x01, "a") + wire(0x81, "b"), protocol},
        {"length not minimally encoded", overlong, protocol},
        {"close with a 1-byte payload", wire(0x88, "\x03"), protocol},
        {"close with code 1005", close_frame(1005), protocol},
        {"close with code 2000", close_frame(2000), protocol},
        {"invalid UTF-8 text", wire(0x81, "ok\xff\xfe"), close_code::invalid_payload},
        {"UTF-8 split wrongly across fragments", wire(0x01, "\xe2\x82") + wire(0x80, "("),
         close_code::invalid_payload},
        {"text ending inside a character", wire(0x81, "a\xe2\x82"), close_code::invalid_payload},
        {"close reason not UTF-8", close_frame(1000, "\xc3("), close_code::invalid_payload},
        {"frame over max_frame_size", wire(0x82, std::string(1025, 'b')),
         close_code::message_too_big},
        {"message over max_message_size",
         wire(0x02, std::string(600, 'b')) + wire(0x00, std::string(600, 'b')),
         close_code::message_too_big},
    };
    std::size_t n = 0;
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            client c(srv.local_endpoint());
            BOOST_TEST_REQUIRE(c.open());
            BOOST_TEST(c.round_trip("fine so far") == "fine so far");
            BOOST_TEST_REQUIRE(c.send(r.bytes));
            auto f = c.read_frame();
            BOOST_TEST_REQUIRE(f.has_value());
            BOOST_TEST(f->b0 == 0x88); // nothing else first (no echo of a partial message)
            BOOST_TEST(f->payload.size() == 2u);
            BOOST_TEST(f->code() == static_cast<unsigned>(r.code));
            BOOST_TEST(c.ended());
            ++n;
            BOOST_TEST_REQUIRE(eventually([&] { return p.closed().size() == n; }));
            BOOST_TEST((p.closed().back().code == r.code));
        }
    }
    BOOST_TEST(eventually([&] { return srv.stats().active == 0u; }));
}

// --- 9. backpressure ----------------------------------------------------------------------------

namespace {

constexpr std::size_t chunk = 16384;

struct flood_probe {
    std::atomic<int> sent{0}; // messages accepted by the last flood
    std::atomic<int> last{-1};
    std::atomic<std::size_t> max_queued{0};
    std::atomic<bool> done{false};
};

/// "flood" sends 16 KiB binary messages until a send answers anything but `queued`; "flood!"
/// ignores `backpressure` and goes on until the connection is closed. Anything else: echo.
template <class Policies> struct flooder {
    flood_probe* p;
    void on_message(pier::ws::session<Policies>& s, pier::ws::message m) {
        // (Sends in a hook are corked: nothing is written before it returns, so the queue
        // fills at once and the policy answers within this loop.)
        if (m.text() != "flood" && m.text() != "flood!") {
            s.send_text(m.data());
            return;
        }
        const bool stubborn = m.text() == "flood!";
        int i = 0;
        for (; i < 8192; ++i) {
            std::string msg(chunk, static_cast<char>('a' + i % 26));
            const auto head = std::to_string(i) + ":";
            msg.replace(0, head.size(), head);
            const auto r = s.send_binary(msg);
            p->max_queued = std::max<std::size_t>(p->max_queued, s.buffered_amount());
            if (r != pier::send_result::queued &&
                (!stubborn || r != pier::send_result::backpressure)) {
                p->last = static_cast<int>(r);
                break;
            }
        }
        p->sent = i + 1;
        p->done = true;
    }
};

pier::server_options flood_options() {
    auto o = fast_options();
    o.write.high_water = 64 << 10;
    o.write.low_water = 16 << 10;
    o.write.max_queued = 256 << 10;
    o.socket_buffers.send = 16384; // small kernel buffers: pier's queue fills at once
    return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(backpressure_close_policy) {
    using policies = pier::policies<pier::backpressure::close>;
    flood_probe p;
    pier::ws::server<flooder<policies>, policies> srv(flood_options(), ws_options(),
                                                      flooder<policies>{&p});
    srv.start();
    client slow(srv.local_endpoint(), 4096), other(srv.local_endpoint());
    BOOST_TEST_REQUIRE(slow.open());
    BOOST_TEST_REQUIRE(other.open());
    BOOST_TEST_REQUIRE(slow.send(text_frame("flood")));
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    BOOST_TEST(p.last.load() == static_cast<int>(pier::send_result::closed));
    // The queue never held more than the high-water mark: the policy closed first.
    BOOST_TEST(p.max_queued.load() <= std::size_t{64 << 10});
    BOOST_TEST(p.sent.load() < 100); // a few hundred KiB, not the 128 MiB asked for
    BOOST_TEST(eventually([&] { return srv.stats().slow_consumers == 1u; }));
    // Other connections are not affected.
    BOOST_TEST(other.round_trip("still fine") == "still fine");
    // The slow one ends (what it had is whole frames, then EOF or RST).
    BOOST_TEST(slow.ended());
    slow.close(); // (the server's lingering read then ends at once, not at its deadline)
    BOOST_TEST(eventually([&] { return srv.stats().active == 1u; }));
}

BOOST_AUTO_TEST_CASE(backpressure_suspend_policy) {
    flood_probe p;
    using policies = pier::default_policies; // backpressure::suspend
    pier::ws::server<flooder<policies>, policies> srv(flood_options(), ws_options(),
                                                      flooder<policies>{&p});
    srv.start();
    client slow(srv.local_endpoint(), 4096), other(srv.local_endpoint());
    BOOST_TEST_REQUIRE(slow.open());
    BOOST_TEST_REQUIRE(other.open());

    // A handler that stops at `backpressure`: the queue stays near the high-water mark, the
    // connection stays open and every message arrives whole once the client reads.
    BOOST_TEST_REQUIRE(slow.send(text_frame("flood")));
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    BOOST_TEST(p.last.load() == static_cast<int>(pier::send_result::backpressure));
    // (The limits count each queued message's 32-byte entry too.)
    BOOST_TEST(p.max_queued.load() > std::size_t{(64 << 10) - 8 * 32});
    BOOST_TEST(p.max_queued.load() <= std::size_t{(64 << 10) + chunk + 16});
    BOOST_TEST(other.round_trip("meanwhile") == "meanwhile");
    const int sent = p.sent.load();
    for (int i = 0; i < sent; ++i) {
        auto f = slow.read_frame();
        BOOST_TEST_REQUIRE(f.has_value(), "message " << i << " of " << sent);
        BOOST_TEST_REQUIRE(f->payload.size() == chunk);
        BOOST_TEST_REQUIRE(f->payload.starts_with(std::to_string(i) + ":"));
    }
    BOOST_TEST(slow.round_trip("drained") == "drained");
    BOOST_TEST(srv.stats().slow_consumers == 0u);

    // A handler that ignores it: max_queued is the hard limit.
    p.done = false;
    p.max_queued = 0;
    BOOST_TEST_REQUIRE(slow.send(text_frame("flood!")));
    BOOST_TEST_REQUIRE(eventually([&] { return p.done.load(); }));
    BOOST_TEST(p.last.load() == static_cast<int>(pier::send_result::closed));
    BOOST_TEST(p.max_queued.load() <= std::size_t{256 << 10});
    BOOST_TEST(eventually([&] { return srv.stats().slow_consumers == 1u; }));
    BOOST_TEST(slow.ended());
    BOOST_TEST(other.round_trip("still fine") == "still fine");
}

// --- 10. stop() ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(stop_sends_going_away) {
    probe p;
    auto o = fast_options();
    o.timeouts.shutdown = 20s; // far beyond the test's bounds: the 1001 must not need it
    pier::ws::server<handler> srv(o, ws_options(), handler{&p});
    srv.start();
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(std::make_unique<client>(srv.local_endpoint()));
        BOOST_TEST_REQUIRE(clients.back()->open());
        BOOST_TEST(clients.back()->round_trip("x") == "x");
    }
    BOOST_TEST_REQUIRE(eventually([&] { return p.opened.load() == 2; }));

    const auto t0 = steady::now();
    srv.stop();
    for (auto& c : clients) {
        auto f = c->read_frame();
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST(f->b0 == 0x88);
        BOOST_TEST(f->code() == 1001u);
        BOOST_TEST(f->payload.substr(2) == "server shutting down");
        BOOST_TEST(c->ended());
        BOOST_TEST(c->in_.empty());
        c.reset(); // (the server's lingering read ends with our close, not its deadline)
    }
    srv.wait();
    BOOST_TEST((steady::now() - t0 < 10s));
    BOOST_TEST(p.closed().size() == 2u);
    BOOST_TEST(srv.stats().active == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
