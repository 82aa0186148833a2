// What tests/cmake_import/find_package builds when the installed pier has pier::redis: the
// Redis client compiled, linked with hiredis and run. It talks to no server: a command to a
// closed loopback port must come back with an error (and the URL parser must work). Exit 0 on
// success.
#include <pier/redis.hpp>

#include <cstdio>
#include <system_error>

int main() {
    pier::redis::url u;
    if (pier::redis::parse_url("redis-cluster://127.0.0.1:7000,[::1]:7001", u) ||
        u.nodes.size() != 2) {
        std::puts("redis consumer: URL parse failed");
        return 1;
    }
    asio::io_context io;
    pier::redis::client_options o;
    o.connection.reconnect = false;
    pier::redis::client c(io.get_executor(), "redis://127.0.0.1:1", o); // nothing listens
    std::error_code got;
    c.command({"PING"}, [&](std::error_code ec, pier::redis::reply) { got = ec; });
    io.run_for(std::chrono::seconds(10));
    std::printf("redis consumer: PING to a closed port: %s\n", got.message().c_str());
    return got ? 0 : 1;
}
