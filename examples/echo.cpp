// echo: sends every byte back. The coroutine handler style.
//
//   echo [--address A] [--port P] [--threads N] [--accept …] [--sched …] [--buffer …]
#include "common/cli.hpp"

#include <pier/pier.hpp>

struct echo {
    template <class Connection> asio::awaitable<void> operator()(Connection& c) {
        for (;;) {
            // (g++ 12 miscompiles co_await inside a loop condition: keep it a statement.)
            auto ec = co_await c.read();
            if (ec)
                co_return;
            // co_await send() waits while the peer is not reading (backpressure::suspend),
            // so a client that only writes cannot make the server buffer without bound.
            ec = co_await c.send(c.input());
            if (ec)
                co_return;
            c.consume(c.input().size());
        }
    }
};

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv);
    pier::raise_fd_limit();
    return examples::with_policies(cli, [&]<class Policies>() {
        pier::server<echo, Policies> srv(cli.options);
        return examples::serve(srv);
    });
}
