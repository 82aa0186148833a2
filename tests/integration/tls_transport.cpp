// tls_transport: pier::transport::tls on real loopback sockets, against clients built on
// asio::ssl (OpenSSL's client side, not pier's code): TLS 1.2 and 1.3, every buffer /
// scheduler / accept family, SNI, ALPN, session resumption, bulk transfers with
// backpressure, record coalescing, close_notify, plaintext and stalled handshakes, reloads
// with live connections, mutual TLS.
//
// pier-test: timeout=240
//
// pier-test: threads
#include <pier/pier.hpp>

#include "unit/tls_test_certs.hpp"

#include <asio/ssl.hpp>
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using pier_test::eventually;
using pier_test::patience;
using pier_test::watchdog;

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using pier_test::cert_files;
using pier_test::make_cert;
using pier_test::temp_dir;

// --- the server side ------------------------------------------------------------------------

struct conn_info {
    std::string alpn, server_name, version;
    std::uint64_t generation = 0;
    bool reused = false;
};

/// What the handlers saw, read by the test thread.
struct probe {
    std::mutex mutex;
    std::vector<conn_info> opened;
    std::vector<std::error_code> handshake_errors;
    std::vector<std::error_code> closes;

    template <class F> auto locked(F f) {
        std::lock_guard lock(mutex);
        return f(*this);
    }
};

enum class mode { echo, bye, burst };

struct handler {
    probe* p = nullptr;
    mode m = mode::echo;

    template <class C> asio::awaitable<void> operator()(C& c) {
        auto& s = c.stream();
        p->locked([&](probe& pr) {
            pr.opened.push_back({std::string(s.alpn()), std::string(s.server_name()),
                                 std::string(s.version()), s.generation(), s.session_reused()});
        });
        if (m == mode::bye) {
            co_await c.send("bye");
            co_return; // graceful end: close_notify, then FIN
        }
        if (m == mode::burst) {
            // Many small messages queued by reference: separate buffers in one gather write,
            // which the TLS stream must pack into few records.
            for (int i = 0; i < 1000; ++i)
                c.try_send(pier::shared_buffer(std::string_view("0123456789")),
                           pier::flush::deferred);
            co_await c.flush_all();
        }
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
    void on_handshake_error(const tcp::endpoint&, std::error_code ec) {
        p->locked([&](probe& pr) { pr.handshake_errors.push_back(ec); });
    }
    template <class C> void on_close(C&, std::error_code ec) {
        p->locked([&](probe& pr) { pr.closes.push_back(ec); });
    }
};

using tls_policies = pier::policies<pier::transport::tls>;

pier::server_options server_opts() {
    pier::server_options o;
    o.threads = 2;
    o.timeouts.handshake = 5s;
    o.timeouts.resolution = 50ms;
    o.timeouts.linger = 200ms;
    return o;
}

pier::tls::options tls_opts(const cert_files& f) {
    pier::tls::options t;
    t.certificates.push_back({.cert_chain_file = f.cert, .key_file = f.key});
    return t;
}

template <class Policies = tls_policies> struct server {
    probe p;
    pier::server<handler, Policies> srv;
    server(const pier::tls::options& t, mode m = mode::echo, pier::server_options o = server_opts())
        : srv(o, t, handler{&p, m}) {
        srv.start();
    }
    std::uint16_t port() const { return srv.local_endpoint().port(); }
};

// --- the client side: asio::ssl, in coroutines bounded by a deadline -----------------------

/// Runs `f(io_context&)` (a coroutine) to completion within `limit`; fails the test if it
/// throws or does not finish.
template <class F> void run_client(F&& f, std::chrono::milliseconds limit = 20s) {
    asio::io_context ioc;
    bool finished = false;
    std::string failure;
    asio::co_spawn(ioc, f(ioc), [&](std::exception_ptr e) {
        finished = true;
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            failure = x.what();
        }
    });
    ioc.run_for(limit);
    BOOST_TEST(finished, "the client did not finish within its deadline");
    BOOST_TEST(failure.empty(), "the client failed: " << failure);
}

struct client_options {
    std::string sni{};
    std::vector<std::string> alpn{};
    std::string ca_file{}; // verify the server against it (empty: no verification)
    int max_version = 0;   // e.g. TLS1_2_VERSION
    SSL_SESSION* session = nullptr;
    cert_files client_cert{};
};

asio::ssl::context make_client_context(const client_options& o) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if (!o.ca_file.empty()) {
        ctx.load_verify_file(o.ca_file);
        ctx.set_verify_mode(asio::ssl::verify_peer);
    }
    if (o.max_version)
        ::SSL_CTX_set_max_proto_version(ctx.native_handle(), o.max_version);
    if (!o.client_cert.cert.empty()) {
        ctx.use_certificate_chain_file(o.client_cert.cert);
        ctx.use_private_key_file(o.client_cert.key, asio::ssl::context::pem);
    }
    // Tickets arrive after the handshake; keep them so that a test can resume.
    ::SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
    return ctx;
}

struct client {
    asio::ssl::context ctx;
    asio::ssl::stream<tcp::socket> s;
    std::size_t records_in = 0; // TLS records received, counted by OpenSSL's message callback

    client(asio::io_context& ioc, const client_options& o)
        : ctx(make_client_context(o)), s(ioc, ctx) {
        SSL* ssl = s.native_handle();
        if (!o.sni.empty())
            ::SSL_set_tlsext_host_name(ssl, o.sni.c_str());
        if (!o.alpn.empty()) {
            std::string wire;
            for (auto& a : o.alpn)
                wire += char(a.size()) + a;
            ::SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                                  unsigned(wire.size()));
        }
        if (o.session)
            ::SSL_set_session(ssl, o.session);
        ::SSL_set_msg_callback(
            ssl, [](int write_p, int, int content_type, const void*, size_t, SSL*, void* arg) {
                if (!write_p && content_type == SSL3_RT_HEADER)
                    ++*static_cast<std::size_t*>(arg);
            });
        ::SSL_set_msg_callback_arg(ssl, &records_in);
    }

    std::string peer_cn() {
        X509* cert = ::SSL_get1_peer_certificate(s.native_handle());
        if (!cert)
            return "<none>";
        char buf[256] = {};
        ::X509_NAME_get_text_by_NID(::X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
        ::X509_free(cert);
        return buf;
    }
    std::string alpn() {
        const unsigned char* p = nullptr;
        unsigned len = 0;
        ::SSL_get0_alpn_selected(s.native_handle(), &p, &len);
        return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
    }
    std::string version() { return ::SSL_get_version(s.native_handle()); }

    asio::awaitable<std::string> read_exactly(std::size_t n) {
        std::string out(n, '\0');
        co_await asio::async_read(s, asio::buffer(out), asio::use_awaitable);
        co_return out;
    }
    asio::awaitable<void> write(std::string_view data) {
        co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
    }
    /// Sends `data` and expects it back.
    asio::awaitable<void> round_trip(std::string_view data) {
        co_await write(data);
        auto got = co_await read_exactly(data.size());
        BOOST_TEST((got == data), "echo differs (" << data.size() << " bytes)");
    }
};

const client_options no_options{};

asio::awaitable<std::unique_ptr<client>> connect_tls(asio::io_context& ioc, std::uint16_t port,
                                                     const client_options& o = no_options) {
    auto c = std::make_unique<client>(ioc, o);
    co_await c->s.next_layer().async_connect({asio::ip::make_address("127.0.0.1"), port},
                                             asio::use_awaitable);
    co_await c->s.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    c->records_in = 0;
    co_return c;
}

/// A handshake expected to fail: returns its error (empty if it succeeded).
asio::awaitable<std::error_code> failed_handshake(asio::io_context& ioc, std::uint16_t port,
                                                  const client_options& o) {
    client c(ioc, o);
    co_await c.s.next_layer().async_connect({asio::ip::make_address("127.0.0.1"), port},
                                            asio::use_awaitable);
    auto [ec] = co_await c.s.async_handshake(asio::ssl::stream_base::client, pier::use_tuple);
    co_return ec;
}

std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = char('a' + (i * 7 + seed + i / 251) % 26);
    return s;
}

template <class Policies> void echo_through(const cert_files& f) {
    server<Policies> s(tls_opts(f));
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        // (No temporaries with destructors inside co_await expressions: g++ 12 destroys them
        // twice. Options and payloads are named variables throughout this file.)
        const client_options o{.sni = "localhost", .ca_file = f.cert};
        auto c = co_await connect_tls(ioc, s.port(), o);
        co_await c->round_trip("x");
        const std::string p1 = pattern(1000), p2 = pattern(40000, 1);
        co_await c->round_trip(p1);
        co_await c->round_trip(p2); // several records
        // Pipelined: several messages before reading any answer.
        const std::string a = pattern(300, 2), b = pattern(5000, 3);
        co_await c->write(a);
        co_await c->write(b);
        auto got = co_await c->read_exactly(a.size() + b.size());
        BOOST_TEST((got == a + b));
    });
    BOOST_TEST(s.srv.stats().handshake_failures == 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls_transport)

BOOST_AUTO_TEST_CASE(echo_with_every_policy_family) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    echo_through<tls_policies>(f); // pooled buffers, per-thread loops, one acceptor
    echo_through<pier::policies<pier::transport::tls, pier::buffer::fixed<16384>,
                                pier::sched::shared_pool, pier::accept::reuseport>>(f);
    echo_through<pier::policies<pier::transport::tls, pier::buffer::pooled<4096>,
                                pier::sched::workers<>, pier::accept::multi<>>>(f);
}

BOOST_AUTO_TEST_CASE(tls12_and_tls13) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f));
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const client_options o13{.ca_file = f.cert};
        const client_options o12{.ca_file = f.cert, .max_version = TLS1_2_VERSION};
        auto c13 = co_await connect_tls(ioc, s.port(), o13);
        BOOST_TEST(c13->version() == "TLSv1.3");
        co_await c13->round_trip("thirteen");
        auto c12 = co_await connect_tls(ioc, s.port(), o12);
        BOOST_TEST(c12->version() == "TLSv1.2");
        co_await c12->round_trip("twelve");
    });
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.opened.size() == 2u);
        BOOST_TEST(p.opened[0].version == "TLSv1.3");
        BOOST_TEST(p.opened[1].version == "TLSv1.2");
    });

    // A server limited to TLS 1.3 refuses a TLS 1.2 client.
    auto t = tls_opts(f);
    t.min_version = pier::tls::protocol_version::tls1_3;
    server<> s13(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const client_options o12{.max_version = TLS1_2_VERSION};
        auto ec = co_await failed_handshake(ioc, s13.port(), o12);
        BOOST_TEST(!!ec);
    });
    BOOST_TEST(eventually([&] { return s13.srv.stats().handshake_failures == 1u; }));
    s13.p.locked([](probe& p) {
        BOOST_REQUIRE(p.handshake_errors.size() == 1u);
        BOOST_TEST_INFO(p.handshake_errors[0].message());
        BOOST_TEST(p.handshake_errors[0].message().find("protocol") != std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(sni_picks_the_certificate) {
    temp_dir dir;
    pier::tls::options t;
    auto def = make_cert(dir, "default", "default.test", {"default.test"});
    auto api = make_cert(dir, "api", "api.test", {"api.test"});
    auto wild = make_cert(dir, "wild", "wild", {"*.wild.test"});
    t.certificates.push_back({.cert_chain_file = def.cert, .key_file = def.key});
    t.certificates.push_back({.cert_chain_file = api.cert, .key_file = api.key});
    t.certificates.push_back({.cert_chain_file = wild.cert, .key_file = wild.key});
    server<> s(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto check = [&](std::string sni, std::string cn, int version) -> asio::awaitable<void> {
            const client_options o{.sni = sni, .max_version = version};
            auto c = co_await connect_tls(ioc, s.port(), o);
            BOOST_TEST(c->peer_cn() == cn, "SNI '" << sni << "'");
            co_await c->round_trip("ping");
        };
        for (int v : {0, TLS1_2_VERSION}) {
            co_await check("api.test", "api.test", v);
            co_await check("API.Test", "api.test", v);
            co_await check("x.wild.test", "wild", v);
            co_await check("unknown.test", "default.test", v); // unknown name: the default
            co_await check("", "default.test", v);             // no SNI: the default
        }
    });
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.opened.size() == 10u);
        BOOST_TEST(p.opened[0].server_name == "api.test");
        BOOST_TEST(p.opened[3].server_name == "unknown.test");
        BOOST_TEST(p.opened[4].server_name == "");
    });

    // Strict mode: an unknown name is refused with unrecognized_name.
    t.reject_unknown_server_names = true;
    server<> strict(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const client_options unknown{.sni = "unknown.test"}, api{.sni = "api.test"};
        auto ec = co_await failed_handshake(ioc, strict.port(), unknown);
        BOOST_TEST(!!ec);
        BOOST_TEST_INFO(ec.message());
        BOOST_TEST(ec.message().find("unrecognized name") != std::string::npos);
        auto c = co_await connect_tls(ioc, strict.port(), api);
        BOOST_TEST(c->peer_cn() == "api.test");
    });
    BOOST_TEST(eventually([&] { return strict.srv.stats().handshake_failures == 1u; }));
}

BOOST_AUTO_TEST_CASE(alpn_in_server_preference_order) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    auto t = tls_opts(f);
    t.alpn = {"h2", "http/1.1"};
    server<> s(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        client_options offer_h1, offer_both, offer_spdy, offer_none;
        offer_h1.alpn = {"http/1.1"};
        offer_both.alpn = {"http/1.1", "h2"};
        offer_spdy.alpn = {"spdy/3"};
        auto a = co_await connect_tls(ioc, s.port(), offer_h1);
        BOOST_TEST(a->alpn() == "http/1.1");
        co_await a->round_trip("a");
        auto b = co_await connect_tls(ioc, s.port(), offer_both);
        BOOST_TEST(b->alpn() == "h2"); // the server's preference wins
        co_await b->round_trip("b");
        auto c = co_await connect_tls(ioc, s.port(), offer_none); // no ALPN: none chosen
        BOOST_TEST(c->alpn() == "");
        co_await c->round_trip("c");
        auto ec = co_await failed_handshake(ioc, s.port(), offer_spdy);
        BOOST_TEST_INFO(ec.message());
        BOOST_TEST(ec.message().find("no application protocol") != std::string::npos);
    });
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.opened.size() == 3u);
        BOOST_TEST(p.opened[0].alpn == "http/1.1");
        BOOST_TEST(p.opened[1].alpn == "h2");
        BOOST_TEST(p.opened[2].alpn == "");
    });
    BOOST_TEST(eventually([&] { return s.srv.stats().handshake_failures == 1u; }));
}

BOOST_AUTO_TEST_CASE(session_resumption_with_tickets) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f));
    for (int version : {0, TLS1_2_VERSION}) {
        SSL_SESSION* session = nullptr;
        run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
            const client_options first{.max_version = version};
            auto c = co_await connect_tls(ioc, s.port(), first);
            co_await c->round_trip("first"); // TLS 1.3 tickets arrive after the handshake
            session = ::SSL_get1_session(c->s.native_handle());
            const client_options again{.max_version = version, .session = session};
            auto r = co_await connect_tls(ioc, s.port(), again);
            BOOST_TEST(::SSL_session_reused(r->s.native_handle()) == 1, "version " << version);
            co_await r->round_trip("second");
        });
        ::SSL_SESSION_free(session);
    }
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.opened.size() == 4u);
        BOOST_TEST(!p.opened[0].reused);
        BOOST_TEST(p.opened[1].reused);
        BOOST_TEST(!p.opened[2].reused);
        BOOST_TEST(p.opened[3].reused);
    });
}

BOOST_AUTO_TEST_CASE(bulk_transfer_under_backpressure) {
    // More than the socket buffers hold in both directions, while the client reads slowly at
    // first: blocked writes (OpenSSL's retry rule), backpressure and partial records.
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    auto o = server_opts();
    o.write.high_water = 256 << 10;
    o.write.low_water = 64 << 10;
    server<> s(tls_opts(f), mode::echo, o);
    const std::string data = pattern(8 << 20, 5);
    run_client(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
            auto c = co_await connect_tls(ioc, s.port());
            asio::co_spawn(ioc, c->write(data), asio::detached);
            asio::steady_timer t(ioc, 300ms); // let every buffer fill up first
            co_await t.async_wait(asio::use_awaitable);
            std::string got(data.size(), '\0');
            co_await asio::async_read(c->s, asio::buffer(got), asio::use_awaitable);
            BOOST_TEST((got == data));
        },
        60s);
    BOOST_TEST(s.srv.stats().bytes_in == data.size());
}

BOOST_AUTO_TEST_CASE(small_messages_are_packed_into_few_records) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f), mode::burst);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto c = co_await connect_tls(ioc, s.port());
        auto got = co_await c->read_exactly(10000);
        for (std::size_t i = 0; i < got.size(); i += 10)
            if (got.compare(i, 10, "0123456789") != 0) {
                BOOST_FAIL("message " << i / 10 << " is damaged");
            }
        // 1000 messages in batches of write_options::max_gather (64) buffers: ~16 records,
        // plus TLS 1.3's session tickets; one record per message would be 1000.
        BOOST_TEST(c->records_in <= 24u, "records: " << c->records_in);
        co_await c->round_trip("still echoing");
    });
}

BOOST_AUTO_TEST_CASE(graceful_end_sends_close_notify) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f), mode::bye);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto c = co_await connect_tls(ioc, s.port());
        const std::string bye = co_await c->read_exactly(3);
        BOOST_TEST(bye == "bye");
        char b[16];
        auto [ec, n] = co_await c->s.async_read_some(asio::buffer(b), pier::use_tuple);
        // asio::ssl reports a close_notify as eof, a bare FIN as stream_truncated.
        BOOST_TEST(ec == asio::error::eof, ec.message());
        BOOST_TEST(n == 0u);
    });
    BOOST_TEST(eventually([&] { return s.srv.stats().active == 0u; }));
}

BOOST_AUTO_TEST_CASE(client_fin_without_close_notify_is_a_clean_end) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f));
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto c = co_await connect_tls(ioc, s.port());
        co_await c->round_trip("hi");
        c->s.next_layer().shutdown(tcp::socket::shutdown_both); // no close_notify
    });
    BOOST_TEST(
        eventually([&] { return s.p.locked([](probe& p) { return p.closes.size() == 1u; }); }));
    s.p.locked([](probe& p) { BOOST_TEST(!p.closes[0], p.closes[0].message()); });
}

BOOST_AUTO_TEST_CASE(plain_http_gets_400_and_is_counted) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f));
    std::string answer;
    run_client(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
            tcp::socket sock(ioc);
            co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), s.port()},
                                        asio::use_awaitable);
            co_await asio::async_write(
                sock, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")),
                asio::use_awaitable);
            char b[512];
            for (;;) {
                auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), pier::use_tuple);
                answer.append(b, n);
                if (ec)
                    break;
            }
        },
        3s);
    BOOST_TEST(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), answer);
    // A well-framed answer: the body is exactly Content-Length bytes.
    const auto head_end = answer.find("\r\n\r\n");
    const auto cl = answer.find("Content-Length: ");
    BOOST_REQUIRE(head_end != std::string::npos && cl != std::string::npos);
    BOOST_TEST(std::stoul(answer.substr(cl + 16)) == answer.size() - head_end - 4);
    BOOST_TEST(eventually([&] { return s.srv.stats().handshake_failures == 1u; }));
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.handshake_errors.size() == 1u);
        BOOST_TEST(p.handshake_errors[0].message().find("http request") != std::string::npos,
                   p.handshake_errors[0].message());
        BOOST_TEST(p.opened.empty()); // the handler never ran
    });
    BOOST_TEST(eventually([&] { return s.srv.stats().active == 0u; }));
}

BOOST_AUTO_TEST_CASE(other_plaintext_fails_fast) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    server<> s(tls_opts(f)); // handshake deadline 5 s: the close must come from OpenSSL
    run_client(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
            tcp::socket sock(ioc);
            co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), s.port()},
                                        asio::use_awaitable);
            const auto start = std::chrono::steady_clock::now();
            co_await asio::async_write(sock,
                                       asio::buffer(std::string_view("SSH-2.0-OpenSSH_9.2\r\n")),
                                       asio::use_awaitable);
            char b[512];
            for (;;) {
                auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), pier::use_tuple);
                if (ec)
                    break;
            }
            BOOST_TEST((std::chrono::steady_clock::now() - start < 1s));
        },
        4s);
    BOOST_TEST(eventually([&] { return s.srv.stats().handshake_failures == 1u; }));
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.handshake_errors.size() == 1u);
        BOOST_TEST(p.handshake_errors[0] != pier::error::handshake_timeout);
    });
}

BOOST_AUTO_TEST_CASE(stalled_handshakes_are_cut_at_the_deadline) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    auto o = server_opts();
    o.timeouts.handshake = 300ms;
    server<> s(tls_opts(f), mode::echo, o);
    constexpr int silent = 20, partial = 20;
    std::vector<std::chrono::steady_clock::duration> lifetimes;
    run_client(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
            std::vector<std::unique_ptr<tcp::socket>> socks;
            for (int i = 0; i < silent + partial; ++i) {
                auto sock = std::make_unique<tcp::socket>(ioc);
                co_await sock->async_connect({asio::ip::make_address("127.0.0.1"), s.port()},
                                             asio::use_awaitable);
                if (i >= silent) // the first bytes of a ClientHello, then nothing
                    co_await asio::async_write(*sock, asio::buffer("\x16\x03\x01\x02\x00\x01", 6),
                                               asio::use_awaitable);
                socks.push_back(std::move(sock));
            }
            const auto start = std::chrono::steady_clock::now();
            for (auto& sock : socks) {
                char b[64];
                auto [ec, n] = co_await sock->async_read_some(asio::buffer(b), pier::use_tuple);
                BOOST_TEST(!!ec); // closed by the server, nothing sent
                lifetimes.push_back(std::chrono::steady_clock::now() - start);
            }
        },
        10s);
    BOOST_REQUIRE(lifetimes.size() == std::size_t(silent + partial));
    // Deadline 300 ms, swept every 50 ms: closed after ~300–400 ms, never much later.
    BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(lifetimes.back()).count() <
               2000);
    BOOST_TEST(
        eventually([&] { return s.srv.stats().handshake_failures == unsigned(silent + partial); }));
    BOOST_TEST(eventually([&] { return s.srv.stats().active == 0u; }));
    s.p.locked([&](probe& p) {
        BOOST_TEST(p.handshake_errors.size() == std::size_t(silent + partial));
        for (auto& ec : p.handshake_errors)
            BOOST_TEST(ec == pier::error::handshake_timeout);
    });
    // And the server still works.
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto c = co_await connect_tls(ioc, s.port());
        co_await c->round_trip("alive");
    });
}

BOOST_AUTO_TEST_CASE(garbage_handshakes_never_hurt) {
    // Random bytes, and records that start like a ClientHello and go wrong: each connection
    // ends within the deadline, and the server keeps serving (ASan/UBSan runs check the rest).
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    auto o = server_opts();
    o.timeouts.handshake = 500ms;
    server<> s(tls_opts(f), mode::echo, o);
    constexpr int connections = 120;
    std::vector<std::string> inputs;
    std::uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
    for (int i = 0; i < connections; ++i) {
        std::string in;
        const std::size_t n = 1 + next() % 600;
        if (i % 3 != 0) {
            // A handshake record header with a random (possibly absurd) length, version and
            // handshake type, then random bytes.
            in += '\x16';
            in += '\x03';
            in += char(next() % 5);
            in += char(next() >> 24);
            in += char(next() >> 24);
            in += char(i % 2 ? 0x01 : next() >> 24);
        }
        while (in.size() < n)
            in += char(next() >> 24);
        inputs.push_back(std::move(in));
    }
    std::vector<std::chrono::steady_clock::duration> lifetimes;
    run_client(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
            for (const auto& in : inputs) {
                tcp::socket sock(ioc);
                co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), s.port()},
                                            asio::use_awaitable);
                const auto start = std::chrono::steady_clock::now();
                co_await asio::async_write(sock, asio::buffer(in), asio::use_awaitable);
                char b[4096];
                for (;;) {
                    auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), pier::use_tuple);
                    if (ec)
                        break;
                }
                lifetimes.push_back(std::chrono::steady_clock::now() - start);
            }
        },
        120s);
    BOOST_REQUIRE(lifetimes.size() == inputs.size());
    for (auto l : lifetimes)
        BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(l).count() < 1500);
    BOOST_TEST(
        eventually([&] { return s.srv.stats().handshake_failures == unsigned(connections); }));
    BOOST_TEST(eventually([&] { return s.srv.stats().active == 0u; }));
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto c = co_await connect_tls(ioc, s.port());
        co_await c->round_trip("alive");
    });
}

BOOST_AUTO_TEST_CASE(reload_keeps_live_connections_and_serves_new_certificate) {
    temp_dir dir;
    auto one = make_cert(dir, "one", "one.test", {"localhost"});
    auto two = make_cert(dir, "two", "two.test", {"localhost"});
    const std::string cert = dir.file("live.pem"), key = dir.file("live.key");
    pier_test::write_text(cert, pier_test::read_text(one.cert));
    pier_test::write_text(key, pier_test::read_text(one.key));
    pier::tls::options t;
    t.certificates.push_back({.cert_chain_file = cert, .key_file = key});
    server<> s(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const client_options localhost{.sni = "localhost"};
        auto old = co_await connect_tls(ioc, s.port(), localhost);
        BOOST_TEST(old->peer_cn() == "one.test");
        co_await old->round_trip("before");
        SSL_SESSION* session = ::SSL_get1_session(old->s.native_handle());

        pier_test::write_text(cert, pier_test::read_text(two.cert));
        pier_test::write_text(key, pier_test::read_text(two.key));
        auto r = s.srv.transport().reload();
        BOOST_TEST(r.ok(), r.message);

        const std::string big = pattern(50000);
        co_await old->round_trip(big); // the old connection keeps working
        auto fresh = co_await connect_tls(ioc, s.port(), localhost);
        BOOST_TEST(fresh->peer_cn() == "two.test");
        co_await fresh->round_trip("after");
        // A ticket from before the reload does not resume: full handshake, new certificate.
        const client_options resume{.sni = "localhost", .session = session};
        auto resumed = co_await connect_tls(ioc, s.port(), resume);
        BOOST_TEST(::SSL_session_reused(resumed->s.native_handle()) == 0);
        BOOST_TEST(resumed->peer_cn() == "two.test");
        ::SSL_SESSION_free(session);

        // A broken file is refused and the current certificate stays.
        pier_test::write_text(key, "garbage");
        r = s.srv.transport().reload();
        BOOST_TEST(!r.ok());
        auto third = co_await connect_tls(ioc, s.port(), localhost);
        BOOST_TEST(third->peer_cn() == "two.test");
        co_await old->round_trip("still");
    });
    // The last client did not wait for the server to finish its side of the handshake.
    BOOST_TEST(
        eventually([&] { return s.p.locked([](probe& p) { return p.opened.size() == 4u; }); }));
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.opened.size() == 4u);
        BOOST_TEST(p.opened[0].generation == 1u);
        BOOST_TEST(p.opened[1].generation == 2u);
        BOOST_TEST(p.opened[3].generation == 2u);
    });
    BOOST_TEST(s.srv.stats().handshake_failures == 0u);
}

BOOST_AUTO_TEST_CASE(mutual_tls) {
    temp_dir dir;
    auto f = make_cert(dir, "localhost", "localhost", {"localhost"});
    auto client_cert = make_cert(dir, "client", "client.test");
    auto t = tls_opts(f);
    t.verify_client = pier::tls::client_verify::required;
    t.client_ca_file = client_cert.cert; // self-signed: its own CA
    server<> s(t);
    run_client([&](asio::io_context& ioc) -> asio::awaitable<void> {
        const client_options with{.client_cert = client_cert},
            without{.max_version = TLS1_2_VERSION};
        auto c = co_await connect_tls(ioc, s.port(), with);
        co_await c->round_trip("with a certificate");
        // Without one the handshake fails (TLS 1.2: the client learns it in the handshake).
        auto ec = co_await failed_handshake(ioc, s.port(), without);
        BOOST_TEST(!!ec);
    });
    BOOST_TEST(eventually([&] { return s.srv.stats().handshake_failures == 1u; }));
    s.p.locked([](probe& p) {
        BOOST_REQUIRE(p.handshake_errors.size() == 1u);
        BOOST_TEST(p.handshake_errors[0].message().find("certificate") != std::string::npos,
                   p.handshake_errors[0].message());
    });
}

BOOST_AUTO_TEST_SUITE_END()
