// The program the three tests/cmake_import consumer projects build: a pier echo server on an
// ephemeral loopback port, one client round trip through it, a clean stop. It proves that the
// way the project got pier (find_package, add_subdirectory, single header) yields a working
// server, not just a successful compile. Exit 0 on success.
#include <pier/pier.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

struct echo {
    asio::awaitable<void> operator()(pier::connection<pier::default_policies>& c) const {
        for (;;) {
            if (std::error_code ec = co_await c.read()) {
                co_return;
            }
            std::string data(c.input());
            c.consume(data.size());
            if (std::error_code ec = co_await c.send(data)) {
                co_return;
            }
        }
    }
};

} // namespace

int main() try {
    pier::server<echo> server{
        pier::server_options{.address = "127.0.0.1", .port = 0, .threads = 1}};
    server.start();
    auto endpoint = server.local_endpoint();

    asio::io_context io;
    asio::ip::tcp::socket client(io);
    client.connect(endpoint);
    // A broken server must fail this test, not hang it.
    timeval limit{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);

    constexpr std::string_view message = "hello, pier";
    asio::write(client, asio::buffer(message));
    std::string reply(message.size(), '\0');
    asio::read(client, asio::buffer(reply));
    client.close();

    server.stop();
    server.wait();

    if (reply != message) {
        std::fprintf(stderr, "pier_consumer: sent '%s', got back '%s'\n",
                     std::string(message).c_str(), reply.c_str());
        return 1;
    }
    std::printf("pier_consumer: echo round trip through %s:%u ok\n",
                endpoint.address().to_string().c_str(), static_cast<unsigned>(endpoint.port()));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "pier_consumer: %s\n", e.what());
    return 1;
}
