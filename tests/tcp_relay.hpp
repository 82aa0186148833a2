// A TCP relay on loopback for tests that take a network path away from one party: it listens
// on a free port and copies bytes both ways to an upstream port. `cut()` closes every relayed
// connection and stops listening (new connections are refused), as a dead link or a
// firewalled peer would; `restore()` listens again on the same port. Runs on its own thread.
#pragma once

#include <pier/config.hpp>

#include <array>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <thread>

namespace pier_test {

class tcp_relay {
public:
    explicit tcp_relay(std::uint16_t upstream) : upstream_(upstream), acceptor_(io_) {
        listen(0);
        thread_ = std::thread([this] { io_.run(); });
    }
    tcp_relay(const tcp_relay&) = delete;
    tcp_relay& operator=(const tcp_relay&) = delete;
    ~tcp_relay() {
        run([this] {
            shut();
            work_.reset();
        });
        thread_.join();
    }

    std::uint16_t port() const noexcept { return port_; }
    void cut() {
        run([this] { shut(); });
    }
    void restore() {
        run([this] { listen(port_); });
    }

private:
    struct pair {
        explicit pair(asio::io_context& io) : down(io), up(io) {}
        asio::ip::tcp::socket down, up;
        std::array<char, 16384> a{}, b{};
    };

    template <class F> void run(F f) {
        std::promise<void> done;
        asio::post(io_, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }

    void listen(std::uint16_t port) {
        const asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
    }
    void shut() {
        std::error_code ignored;
        acceptor_.close(ignored);
        for (auto& p : pairs_) {
            p->down.close(ignored);
            p->up.close(ignored);
        }
        pairs_.clear();
    }
    void accept() {
        auto p = std::make_shared<pair>(io_);
        acceptor_.async_accept(p->down, [this, p](std::error_code ec) {
            if (ec)
                return;
            pairs_.push_back(p);
            p->up.async_connect({asio::ip::address_v4::loopback(), upstream_},
                                [this, p](std::error_code ec) {
                                    if (ec)
                                        return close(p);
                                    pump(p, p->down, p->up, p->a);
                                    pump(p, p->up, p->down, p->b);
                                });
            accept();
        });
    }
    void pump(std::shared_ptr<pair> p, asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
              std::array<char, 16384>& buf) {
        from.async_read_some(
            asio::buffer(buf), [this, p, &from, &to, &buf](std::error_code ec, std::size_t n) {
                if (ec)
                    return close(p);
                asio::async_write(to, asio::buffer(buf, n),
                                  [this, p, &from, &to, &buf](std::error_code ec, std::size_t) {
                                      if (ec)
                                          return close(p);
                                      pump(p, from, to, buf);
                                  });
            });
    }
    void close(const std::shared_ptr<pair>& p) {
        std::error_code ignored;
        p->down.close(ignored);
        p->up.close(ignored);
        pairs_.remove(p);
    }

    std::uint16_t upstream_;
    std::uint16_t port_ = 0;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
        io_.get_executor()};
    asio::ip::tcp::acceptor acceptor_;
    std::list<std::shared_ptr<pair>> pairs_;
    std::thread thread_;
};

} // namespace pier_test
