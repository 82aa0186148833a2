// connection::send_file on real loopback sockets: file regions interleave with queued sends in
// order, by each of sendfile(2), splice(2) and copying (and the per-connection stats say
// which); over TLS the file is copied and encrypted; a slow reader costs no memory; a peer that
// leaves mid-file, a file that shrank and too many queued files end the connection with a
// specific error (and no SIGPIPE: this process does not ignore it); TCP_INFO, buffer sizes as
// applied, TCP_CORK; try_send_file from another thread.
//
// pier-test: threads
// pier-test: timeout=240
#include <pier/pier.hpp>

#include "unit/tls_test_certs.hpp"

#include <asio/ssl.hpp>
#include <boost/test/unit_test.hpp>

#include "loopback.hpp"
#include "support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
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

// --- test data ------------------------------------------------------------------------------

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('A' + (i * 31 + i / 4093) % 58);
    return s;
}

/// A file of `n` pattern bytes in a private directory.
struct data_file {
    pier_test::temp_dir dir;
    std::string path;
    std::string content;
    explicit data_file(std::size_t n) : path(dir.file("data.bin")), content(pattern(n)) {
        std::ofstream(path, std::ios::binary) << content;
    }
    /// Null if it cannot be opened (no Boost.Test macro here: handlers call it on the server's
    /// threads, and Boost.Test is not thread-safe).
    std::shared_ptr<const pier::file> open() const {
        std::error_code ec;
        return pier::file::open(path, ec);
    }
};

// --- what the server saw ----------------------------------------------------------------------

struct probe {
    std::mutex m;
    pier::transfer_stats stats;
    std::error_code close_reason, send_error;
    std::optional<pier::tcp_info> info;
    pier::buffer_size small{}, huge{};
    std::size_t max_queued = 0;
    bool kernel_tls = false;
    std::atomic<int> closed{0};
    std::atomic<bool> ready{false};
    std::weak_ptr<void> conn;

    template <class F> auto locked(F f) {
        std::lock_guard l(m);
        return f();
    }
};

enum class script { interleave, whole, truncated, too_many, info, cork, remote };

struct handler {
    probe* p;
    const data_file* file;
    script what = script::interleave;

    template <class C> void on_close(C& c, std::error_code why) {
        p->locked([&] {
            p->stats = c.transfer_stats();
            p->close_reason = why;
        });
        p->closed.fetch_add(1);
    }

    template <class C> asio::awaitable<void> operator()(C& c) {
        auto f = file->open();
        if (!f) {
            p->locked([&] { p->send_error = std::make_error_code(std::errc::io_error); });
            co_return;
        }
        const auto size = f->size();
        std::error_code ec;
        switch (what) {
        case script::interleave:
            // A header that leaves with the file's first bytes, the whole file, a message, a
            // range of the file queued without waiting, and a trailer.
            c.try_send("HEAD:", pier::flush::more);
            ec = co_await c.send_file(f, 0, size);
            if (!ec)
                c.try_send("MID:");
            if (!ec)
                c.try_send_file(f, 100, 100);
            if (!ec)
                ec = co_await c.send("END");
            break;
        case script::whole: {
            // While the file goes out, sample what the queue holds in memory.
            auto self = c.shared_from_this();
            auto watch = [](std::shared_ptr<C> c, probe* p) -> asio::awaitable<void> {
                asio::steady_timer t(c->get_executor());
                while (c->is_open()) {
                    const auto q = c->queued_bytes();
                    p->locked([&] { p->max_queued = std::max(p->max_queued, q); });
                    t.expires_after(5ms);
                    co_await t.async_wait(pier::use_tuple);
                }
            };
            asio::co_spawn(c.get_executor(), watch(self, p), asio::detached);
            c.try_send("HEAD:", pier::flush::more);
            ec = co_await c.send_file(f, 0, size);
            if constexpr (requires { c.stream().kernel_tls_send(); })
                p->kernel_tls = c.stream().kernel_tls_send();
            break;
        }
        case script::truncated:
            ec = co_await c.send_file(f, 0, size * 2);
            break;
        case script::too_many: {
            // The client reads nothing: the first region stays queued, and so do the next.
            pier::send_result r = pier::send_result::queued;
            for (int i = 0; i < 4 && r != pier::send_result::closed; ++i)
                r = c.try_send_file(f, 0, size);
            ec = r == pier::send_result::closed ? make_error_code(pier::error::slow_consumer)
                                                : std::error_code{};
            co_await c.read(); // until the connection ends
            break;
        }
        case script::info: {
            ec = co_await c.send_file(f, 0, size);
            co_await c.read(); // the client's "done": everything was delivered
            const auto small = c.apply_send_buffer_size(32768);
            const auto huge = c.apply_send_buffer_size(1 << 30);
            p->locked([&] {
                p->info = c.tcp_info();
                p->small = small;
                p->huge = huge;
            });
            break;
        }
        case script::cork:
            p->locked([&] { p->send_error = c.set_cork(true); });
            c.try_send("HEAD:");
            ec = co_await c.send_file(f, 0, size);
            c.try_send("END");
            c.set_cork(false);
            break;
        case script::remote:
            p->locked([&] { p->conn = c.shared_from_this(); });
            p->ready = true;
            co_await c.read(); // the test thread sends from outside; the client ends it
            break;
        }
        p->locked([&] { p->send_error = ec; });
    }
};

pier::server_options options(pier::file_method m = pier::file_method::sendfile) {
    pier::server_options o;
    o.threads = 1;
    o.timeouts.resolution = 50ms;
    o.timeouts.linger = 200ms;
    o.zero_copy.files = m;
    return o;
}

// --- the client: tests/loopback.hpp's, given room for 24 MiB under a sanitizer ---------------

using pier_test::client;
constexpr auto transfer_limit = 60s;

/// Everything the server sends until it closes the connection, or its first `max` bytes.
std::string read_all(client& c, std::size_t max = std::string::npos) {
    std::string out;
    if (max == std::string::npos)
        c.read_to_eof(out, transfer_limit);
    else
        c.read_exact(out, max, transfer_limit);
    return out;
}

/// `got == want`, with the first difference as the failure message. The difference is searched
/// only on failure: a byte loop over 24 MiB at -O0 under TSan took 12 s of a passing run.
boost::test_tools::predicate_result same_bytes(const std::string& got, const std::string& want) {
    if (got == want)
        return true;
    const auto n = std::min(got.size(), want.size());
    const auto at = std::mismatch(got.begin(), got.begin() + n, want.begin()).first - got.begin();
    boost::test_tools::predicate_result r(false);
    r.message() << "got " << got.size() << " bytes, want " << want.size()
                << ", first difference at " << at;
    return r;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(core_send_file, watchdog)

// 24 MiB: more than the socket buffers on both ends hold, so every method meets a full socket,
// partial progress and waits for writability.
constexpr std::size_t big = 24u << 20;

BOOST_AUTO_TEST_CASE(file_regions_keep_their_place_by_every_method) {
    const data_file file(big);
    const std::string expected =
        "HEAD:" + file.content + "MID:" + file.content.substr(100, 100) + "END";
    for (auto m :
         {pier::file_method::sendfile, pier::file_method::splice, pier::file_method::copy}) {
        probe p;
        pier::server<handler> srv(options(m), handler{&p, &file, script::interleave});
        srv.start();
        client c(srv.local_endpoint());
        BOOST_REQUIRE(c.connected());
        const auto got = read_all(c);
        BOOST_TEST(got.size() == expected.size());
        BOOST_TEST(same_bytes(got, expected));
        BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
        p.locked([&] {
            const std::uint64_t file_bytes = big + 100;
            BOOST_TEST(!p.send_error);
            BOOST_TEST(p.stats.files_sent == 2u);
            BOOST_TEST(p.stats.fallbacks == 0u);
            if (m == pier::file_method::sendfile) {
                BOOST_TEST(p.stats.sendfile_bytes == file_bytes);
                BOOST_TEST(p.stats.copied_bytes == 0u);
            } else if (m == pier::file_method::splice) {
                BOOST_TEST(p.stats.splice_bytes == file_bytes);
                BOOST_TEST(p.stats.sendfile_bytes == 0u);
            } else {
                BOOST_TEST(p.stats.copied_bytes == file_bytes);
                BOOST_TEST(p.stats.sendfile_bytes + p.stats.splice_bytes == 0u);
            }
        });
    }
}

BOOST_AUTO_TEST_CASE(a_slow_reader_costs_no_memory) {
    const data_file file(2u << 20);
    probe p;
    pier::server<handler> srv(options(), handler{&p, &file, script::whole});
    srv.start();
    client c(srv.local_endpoint(), 4096);
    BOOST_REQUIRE(c.connected());
    std::string got;
    // Small reads: the server keeps meeting a full socket.
    const auto until = client::steady::now() + transfer_limit;
    while (c.read_some(got, 4096, until) == pier_test::io::ok) {
    }
    BOOST_TEST((got == "HEAD:" + file.content));
    BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
    p.locked([&] {
        BOOST_TEST(p.stats.sendfile_bytes == file.content.size());
        BOOST_TEST(p.stats.copied_bytes == 0u);
        BOOST_TEST(p.max_queued <= 5u); // at most the header: file bytes are never in memory
    });
}

BOOST_AUTO_TEST_CASE(a_peer_leaving_mid_file_ends_the_connection) {
    const data_file file(big);
    for (auto m :
         {pier::file_method::sendfile, pier::file_method::splice, pier::file_method::copy}) {
        probe p;
        pier::server<handler> srv(options(m), handler{&p, &file, script::whole});
        srv.start();
        {
            client c(srv.local_endpoint());
            BOOST_REQUIRE(c.connected());
            BOOST_TEST(read_all(c, 1u << 20).size() == 1u << 20);
            // Closing with unread data sends RST: the server's next write fails with EPIPE or
            // ECONNRESET (and raises SIGPIPE, which pier must not let through).
        }
        BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
        p.locked([&] {
            BOOST_TEST(p.send_error, "send_file reported no error");
            BOOST_TEST((p.close_reason == asio::error::broken_pipe ||
                        p.close_reason == asio::error::connection_reset),
                       p.close_reason.message());
            BOOST_TEST(p.stats.files_sent == 0u);
        });
    }
}

BOOST_AUTO_TEST_CASE(a_shorter_file_closes_with_file_truncated) {
    const data_file file(1u << 20);
    for (auto m :
         {pier::file_method::sendfile, pier::file_method::splice, pier::file_method::copy}) {
        probe p;
        pier::server<handler> srv(options(m), handler{&p, &file, script::truncated});
        srv.start();
        client c(srv.local_endpoint());
        BOOST_REQUIRE(c.connected());
        const auto got = read_all(c);
        BOOST_TEST((got == file.content)); // all there was, then the end
        BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
        p.locked([&] {
            BOOST_TEST((p.close_reason == pier::error::file_truncated), p.close_reason.message());
            BOOST_TEST((p.send_error == pier::error::file_truncated));
        });
    }
}

BOOST_AUTO_TEST_CASE(queued_files_are_bounded) {
    const data_file file(big);
    probe p;
    auto o = options();
    o.write.max_queued_files = 2;
    pier::server<handler> srv(o, handler{&p, &file, script::too_many});
    srv.start();
    client c(srv.local_endpoint(), 4096);
    BOOST_REQUIRE(c.connected());
    BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
    p.locked([&] {
        BOOST_TEST((p.send_error == pier::error::slow_consumer));
        BOOST_TEST((p.close_reason == pier::error::slow_consumer));
    });
    BOOST_TEST(srv.stats().slow_consumers == 1u);
}

BOOST_AUTO_TEST_CASE(tcp_info_and_buffer_sizes_as_applied) {
    const data_file file(4u << 20);
    probe p;
    auto o = options();
    o.socket_buffers.receive = 100000; // set on the listener, inherited by connections
    pier::server<handler> srv(o, handler{&p, &file, script::info});
    srv.start();
    // The listener reports what the kernel applied: twice the request, at most twice rmem_max.
    const int rmem_max = std::stoi(pier_test::read_text("/proc/sys/net/core/rmem_max"));
    const int wmem_max = std::stoi(pier_test::read_text("/proc/sys/net/core/wmem_max"));
    const auto listener = srv.native_listener_handles();
    BOOST_REQUIRE(!listener.empty());
    BOOST_TEST(pier::read_socket_buffers(listener[0]).receive == 2 * std::min(100000, rmem_max));

    client c(srv.local_endpoint());
    BOOST_REQUIRE(c.connected());
    BOOST_TEST(read_all(c, file.content.size()).size() == file.content.size());
    c.send("done");
    BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
    p.locked([&] {
        BOOST_REQUIRE(p.info.has_value());
        const auto& i = *p.info;
        BOOST_TEST(i.state == 1u); // ESTABLISHED
        BOOST_TEST(i.rtt.count() > 0);
        BOOST_TEST(i.cwnd > 0u);
        BOOST_TEST(i.mss > 0u);
        BOOST_TEST(i.bytes_acked >= file.content.size()); // the client had read it all
        BOOST_TEST(i.bytes_received >= 4u);
        BOOST_TEST(i.reported_bytes >= 200u);
        BOOST_TEST(p.small.requested == 32768);
        BOOST_TEST(p.small.applied == 2 * std::min(32768, wmem_max));
        BOOST_TEST(p.huge.applied == 2 * wmem_max); // clamped to net.core.wmem_max
    });
}

BOOST_AUTO_TEST_CASE(cork_holds_nothing_back_once_released) {
    const data_file file(1u << 20);
    probe p;
    pier::server<handler> srv(options(), handler{&p, &file, script::cork});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_REQUIRE(c.connected());
    BOOST_TEST((read_all(c) == "HEAD:" + file.content + "END"));
    BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
    p.locked([&] { BOOST_TEST(!p.send_error); });
}

BOOST_AUTO_TEST_CASE(try_send_file_from_another_thread) {
    const data_file file(8u << 20);
    probe p;
    pier::server<handler> srv(options(), handler{&p, &file, script::remote});
    srv.start();
    client c(srv.local_endpoint());
    BOOST_REQUIRE(c.connected());
    BOOST_REQUIRE(eventually([&] { return p.ready.load(); }));
    auto conn = std::static_pointer_cast<pier::connection<pier::default_policies>>(
        p.locked([&] { return p.conn.lock(); }));
    BOOST_REQUIRE(conn);
    auto f = file.open();
    BOOST_REQUIRE(f);
    // Off the connection's executor: posted, answered `queued`.
    BOOST_TEST((conn->try_send("from:") == pier::send_result::queued));
    BOOST_TEST((conn->try_send_file(f, 0, f->size()) == pier::send_result::queued));
    BOOST_TEST((conn->try_send_file(f, 0, 3) == pier::send_result::queued));
    const auto want = "from:" + file.content + file.content.substr(0, 3);
    const auto got = read_all(c, want.size());
    BOOST_TEST(same_bytes(got, want));
    conn.reset();
    p.locked([&] { p.conn.reset(); });
    c.send("bye");
    BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
}

// --- TLS: the file is read and encrypted in user space, unless kernel TLS takes over ---------

BOOST_AUTO_TEST_CASE(over_tls_the_file_is_encrypted_and_the_stats_say_how) {
    pier_test::temp_dir dir;
    const auto cert = pier_test::make_cert(dir, "srv", "localhost", {"localhost"});
    const data_file file(big);
    for (bool kernel_tls : {false, true}) {
        probe p;
        pier::tls::options t;
        t.certificates.push_back({.cert_chain_file = cert.cert, .key_file = cert.key});
        t.kernel_tls = kernel_tls; // where the kernel lacks it, nothing changes but the stats
        pier::server<handler, pier::policies<pier::transport::tls>> srv(
            options(), t, handler{&p, &file, script::whole});
        srv.start();
        const auto port = srv.local_endpoint().port();

        std::string got;
        std::error_code end;
        {
            asio::io_context ioc;
            asio::ssl::context ctx(asio::ssl::context::tls_client);
            asio::ssl::stream<asio::ip::tcp::socket> s(ioc, ctx);
            s.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
            s.handshake(asio::ssl::stream_base::client);
            std::vector<char> buf(1 << 16);
            for (;;) {
                const auto n = s.read_some(asio::buffer(buf), end);
                if (end)
                    break;
                got.append(buf.data(), n);
            }
        }
        BOOST_TEST((end == asio::error::eof || end == asio::ssl::error::stream_truncated),
                   end.message());
        const auto want = "HEAD:" + file.content;
        BOOST_TEST(same_bytes(got, want));
        BOOST_REQUIRE(eventually([&] { return p.closed.load() == 1; }));
        p.locked([&] {
            BOOST_TEST(!p.send_error);
            BOOST_TEST(p.stats.sendfile_bytes == 0u); // never sendfile(2) to a TLS socket
            if (p.kernel_tls) {
                BOOST_TEST(p.stats.ktls_sendfile_bytes == file.content.size());
            } else {
                BOOST_TEST(p.stats.copied_bytes == file.content.size());
                BOOST_TEST(p.stats.ktls_sendfile_bytes == 0u);
            }
            BOOST_TEST_MESSAGE("kernel_tls " << kernel_tls << ": the kernel "
                                             << (p.kernel_tls ? "took" : "did not take")
                                             << " the send keys");
        });
    }
}

BOOST_AUTO_TEST_SUITE_END()
