// socks5_proxy: a SOCKS5 proxy (RFC 1928, CONNECT only) that relays with splice(2): the bytes
// go from one socket to the other through a pipe, never through the process.
//
//   socks5_proxy [--users USER:PASS,...] [--connect-timeout-ms N] [--allow CIDR,...]
//                [--relays splice|copy] [common options]
//
// - Authentication: with --users, only RFC 1929 username/password is offered; without it,
//   only "no authentication". A client offering neither gets X'FF' and is closed.
// - Targets: IPv4, IPv6 and domain names (resolved asynchronously, getaddrinfo on Asio's
//   resolver thread), each resolved address tried in order until one connects, all within
//   --connect-timeout-ms (default 10000).
// - Allow-list: --allow takes networks (e.g. 10.0.0.0/8,::1/128); default everything. Never
//   allowed, whatever the list: the proxy's own listening address (a loop through itself).
// - Refusals get RFC 1928's reply codes and a close: malformed requests X'01', a target the
//   allow-list refuses X'02', unreachable network X'03', unreachable host, unknown name or
//   connect timeout X'04', refused X'05', BIND and UDP ASSOCIATE X'07', unknown address types
//   X'08'.
// - Limits: --max-connections and --idle-timeout-ms (the relay counts as activity in either
//   direction), pier's read timeout for a stalled handshake, and bounded buffering in both
//   directions (pier::relay): a fast side waits for a slow one.
// - --relays copy: read and write through user space instead, for comparison (bench/run.py).
// - On exit it prints how the bytes went (`pier: relayed: splice=… copied=…`).
//
// Try it:
//   socks5_proxy --port 1080 --users alice:secret &
//   curl --socks5-hostname alice:secret@127.0.0.1:1080 https://example.org/
#include "common/cli.hpp"

#include <pier/pier.hpp>
#include <pier/socks5/protocol.hpp>

#include <ifaddrs.h>
#include <netinet/in.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace socks5 = pier::socks5;

namespace {

struct network {
    asio::ip::address base;
    unsigned prefix = 0;

    bool contains(asio::ip::address a) const {
        if (a.is_v6() && a.to_v6().is_v4_mapped())
            a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
        if (a.is_v4() != base.is_v4())
            return false;
        if (a.is_v4()) {
            const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
            return (a.to_v4().to_uint() & mask) == (base.to_v4().to_uint() & mask);
        }
        const auto x = a.to_v6().to_bytes(), y = base.to_v6().to_bytes();
        for (unsigned bit = 0; bit < prefix; ++bit) {
            const unsigned byte = bit / 8, shift = 7 - bit % 8;
            if (((x[byte] >> shift) & 1) != ((y[byte] >> shift) & 1))
                return false;
        }
        return true;
    }
};

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto end = s.find(sep);
        if (end != 0)
            out.emplace_back(s.substr(0, end));
        if (end == std::string_view::npos)
            break;
        s.remove_prefix(end + 1);
    }
    return out;
}

struct config {
    std::vector<std::pair<std::string, std::string>> users;
    std::vector<network> allow; // empty: everything
    std::chrono::milliseconds connect_timeout{10000};
    // Set once listening (port 0 asks for an ephemeral one); read by every connection.
    std::atomic<std::uint16_t> listen_port{0};
    std::vector<asio::ip::address> local_addresses; // for the loop check
};

struct totals {
    std::atomic<std::uint64_t> splice{0}, copied{0}, relays{0}, refused{0};
};

asio::ip::address unmapped(asio::ip::address a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a;
}

template <class Connection> struct upstream {
    using executor = typename Connection::executor_type;
    asio::basic_stream_socket<asio::ip::tcp, executor> socket;
    asio::ip::basic_resolver<asio::ip::tcp, executor> resolver;
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, executor>
        deadline;
    bool expired = false;
    explicit upstream(executor ex) : socket(ex), resolver(ex), deadline(ex) {}
};

struct socks5_proxy {
    const config* cfg;
    totals* sums;

    template <class Connection> void on_close(Connection& c, std::error_code) {
        const auto t = c.transfer_stats();
        sums->splice += t.splice_bytes;
        sums->copied += t.copied_bytes;
    }

    // Reads until `parse` completes or fails; incomplete input waits for more (bounded by
    // pier's read timeout: a client stalling mid-message is cut off).
    template <class Connection, class Parse>
    static asio::awaitable<socks5::parse_result> read_message(Connection& c, Parse parse) {
        for (;;) {
            const auto r = parse(c.input());
            if (r.st != socks5::parse_status::incomplete)
                co_return r;
            const auto ec = co_await c.read();
            if (ec)
                co_return socks5::parse_result{socks5::parse_status::incomplete, 0,
                                               socks5::error::none};
        }
    }

    template <class Connection, class Bytes> static void send(Connection& c, const Bytes& b) {
        c.try_send(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    }

    bool allowed(const asio::ip::tcp::endpoint& target) const {
        const auto a = unmapped(target.address());
        if (target.port() == cfg->listen_port.load(std::memory_order_relaxed)) {
            if (a.is_loopback() || a.is_unspecified())
                return false;
            for (const auto& local : cfg->local_addresses)
                if (local == a)
                    return false;
        }
        if (cfg->allow.empty())
            return true;
        for (const auto& n : cfg->allow)
            if (n.contains(a))
                return true;
        return false;
    }

    static socks5::reply reply_for_connect(std::error_code ec) {
        if (ec == asio::error::connection_refused)
            return socks5::reply::connection_refused;
        if (ec == asio::error::network_unreachable)
            return socks5::reply::network_unreachable;
        if (ec == asio::error::host_unreachable || ec == asio::error::timed_out ||
            ec == asio::error::operation_aborted)
            return socks5::reply::host_unreachable;
        return socks5::reply::general_failure;
    }

    template <class Connection> asio::awaitable<void> operator()(Connection& c) {
        // --- method selection (RFC 1928 §3) ------------------------------------------------
        socks5::greeting g;
        auto r = co_await read_message(
            c, [&](std::string_view in) { return socks5::parse_greeting(in, g); });
        if (r.st != socks5::parse_status::complete) {
            if (r.st == socks5::parse_status::error)
                send(c, socks5::select_method(socks5::method::none_acceptable));
            co_return;
        }
        const auto wanted =
            cfg->users.empty() ? socks5::method::no_auth : socks5::method::username_password;
        if (!g.offers(wanted)) {
            send(c, socks5::select_method(socks5::method::none_acceptable));
            co_return;
        }
        c.consume(r.size);
        send(c, socks5::select_method(wanted));

        // --- username/password (RFC 1929) --------------------------------------------------
        if (wanted == socks5::method::username_password) {
            socks5::credentials cred;
            r = co_await read_message(
                c, [&](std::string_view in) { return socks5::parse_credentials(in, cred); });
            if (r.st != socks5::parse_status::complete) {
                if (r.st == socks5::parse_status::error)
                    send(c, socks5::auth_status(false));
                co_return;
            }
            bool ok = false;
            for (const auto& [user, pass] : cfg->users) {
                // Both compared every time, so the answer's timing does not tell which was wrong.
                const bool name = socks5::equal_secret(cred.username, user);
                const bool word = socks5::equal_secret(cred.password, pass);
                if (name && word)
                    ok = true;
            }
            c.consume(r.size);
            send(c, socks5::auth_status(ok));
            if (!ok)
                co_return;
        }

        // --- the request (RFC 1928 §4) -----------------------------------------------------
        socks5::request req;
        r = co_await read_message(
            c, [&](std::string_view in) { return socks5::parse_request(in, req); });
        if (r.st != socks5::parse_status::complete) {
            if (r.st == socks5::parse_status::error)
                send(c, socks5::failure_reply(socks5::reply_for(r.err)));
            co_return;
        }
        c.consume(r.size);

        // Resolve and connect under one deadline, on the connection's executor.
        auto up = std::make_shared<upstream<Connection>>(c.get_executor());
        up->deadline.expires_after(cfg->connect_timeout);
        up->deadline.async_wait([up](std::error_code ec) {
            if (ec)
                return;
            up->expired = true;
            up->resolver.cancel();
            std::error_code ignored;
            up->socket.close(ignored);
        });
        std::vector<asio::ip::tcp::endpoint> targets;
        socks5::reply failure = socks5::reply::host_unreachable;
        if (req.type == socks5::address_type::domain) {
            auto [ec, results] = co_await up->resolver.async_resolve(
                std::string(req.domain), std::to_string(req.port), pier::use_tuple);
            if (!ec)
                for (const auto& e : results)
                    targets.push_back(e.endpoint());
        } else if (req.type == socks5::address_type::ipv4) {
            asio::ip::address_v4::bytes_type b;
            std::copy_n(req.address.begin(), 4, b.begin());
            targets.emplace_back(asio::ip::address_v4(b), req.port);
        } else {
            asio::ip::address_v6::bytes_type b;
            std::copy_n(req.address.begin(), 16, b.begin());
            targets.emplace_back(asio::ip::address_v6(b), req.port);
        }
        bool any_allowed = false, connected = false;
        for (const auto& t : targets) {
            if (up->expired)
                break;
            if (!allowed(t))
                continue;
            any_allowed = true;
            std::error_code ignored;
            up->socket.close(ignored);
            auto [ec] = co_await up->socket.async_connect(t, pier::use_tuple);
            if (!ec && !up->expired) {
                connected = true;
                break;
            }
            failure = up->expired ? socks5::reply::host_unreachable : reply_for_connect(ec);
        }
        up->deadline.cancel();
        if (!connected) {
            if (!targets.empty() && !any_allowed)
                failure = socks5::reply::not_allowed;
            ++sums->refused;
            send(c, socks5::failure_reply(failure));
            co_return;
        }

        std::error_code ec;
        const auto bound = up->socket.local_endpoint(ec);
        std::array<std::uint8_t, 22> reply{};
        std::size_t n;
        if (bound.address().is_v6()) {
            const auto b = bound.address().to_v6().to_bytes();
            n = socks5::format_reply(socks5::reply::succeeded, socks5::address_type::ipv6, b,
                                     bound.port(), reply);
        } else {
            const auto b = bound.address().to_v4().to_bytes();
            n = socks5::format_reply(socks5::reply::succeeded, socks5::address_type::ipv4, b,
                                     bound.port(), reply);
        }
        c.try_send(std::string_view(reinterpret_cast<const char*>(reply.data()), n));
        ++sums->relays;
        co_await pier::relay(c, up->socket);
        std::error_code ignored;
        up->socket.close(ignored);
    }
};

std::vector<asio::ip::address> local_addresses() {
    std::vector<asio::ip::address> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return out;
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* sa = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            out.push_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)));
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const auto* sa = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            asio::ip::address_v6::bytes_type b;
            std::copy_n(sa->sin6_addr.s6_addr, 16, b.begin());
            out.push_back(asio::ip::address_v6(b));
        }
    }
    ::freeifaddrs(list);
    return out;
}

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv, {"users", "connect-timeout-ms", "allow", "relays"},
                               " [--users USER:PASS,...] [--connect-timeout-ms N]\n"
                               "          [--allow CIDR,...] [--relays splice|copy]");
    config cfg;
    for (const auto& u : split(cli.get("users", ""), ',')) {
        const auto colon = u.find(':');
        // RFC 1929: both are 1 to 255 bytes.
        if (colon == std::string::npos || colon == 0 || colon + 1 == u.size() || colon > 255 ||
            u.size() - colon - 1 > 255) {
            std::fprintf(stderr, "%s: --users wants USER:PASS pairs (1-255 bytes each)\n", argv[0]);
            return 2;
        }
        cfg.users.emplace_back(u.substr(0, colon), u.substr(colon + 1));
    }
    for (const auto& n : split(cli.get("allow", ""), ',')) {
        std::error_code ec;
        const auto slash = n.find('/');
        network net;
        net.base = asio::ip::make_address(n.substr(0, slash), ec);
        const unsigned max = net.base.is_v4() ? 32 : 128;
        net.prefix = slash == std::string::npos
                         ? max
                         : static_cast<unsigned>(std::strtoul(n.c_str() + slash + 1, nullptr, 10));
        if (ec || net.prefix > max) {
            std::fprintf(stderr, "%s: --allow wants networks such as 10.0.0.0/8 or ::1/128\n",
                         argv[0]);
            return 2;
        }
        net.base = unmapped(net.base);
        cfg.allow.push_back(net);
    }
    cfg.connect_timeout = std::chrono::milliseconds(cli.get_int("connect-timeout-ms", 10000));
    const std::string relays = cli.get("relays", "splice");
    if (relays == "copy")
        cli.options.zero_copy.relays = pier::relay_method::copy;
    else if (relays != "splice") {
        std::fprintf(stderr, "%s: --relays splice|copy\n", argv[0]);
        return 2;
    }
    cfg.local_addresses = local_addresses();
    pier::raise_fd_limit();
    totals sums;
    int rc = 0;
    try {
        rc = examples::with_common_policies(cli, [&]<class Policies>() {
            pier::server<socks5_proxy, Policies> srv(cli.options, socks5_proxy{&cfg, &sums});
            srv.start();
            cfg.listen_port.store(srv.local_endpoint().port());
            std::cout << "pier: listening on " << srv.local_endpoint() << std::endl;
            srv.wait();
            return 0;
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    std::printf("pier: relayed: splice=%llu copied=%llu relays=%llu refused=%llu\n",
                static_cast<unsigned long long>(sums.splice.load()),
                static_cast<unsigned long long>(sums.copied.load()),
                static_cast<unsigned long long>(sums.relays.load()),
                static_cast<unsigned long long>(sums.refused.load()));
    return rc;
}
