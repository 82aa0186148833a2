// http_hello: an HTTP/1.1 keep-alive server answering every request with a fixed body
// (1 kB by default), for loading with wrk. The on_data handler style.
//
//   http_hello [--address A] [--port P] [--threads N] [--accept …] [--sched …] [--buffer …]
//              [--body-size N]
#include "common/http_hello.hpp"
#include "common/cli.hpp"

#include <pier/pier.hpp>

struct hello {
    const examples::hello_responses* responses;
    template <class Connection> std::size_t on_data(Connection& c, std::string_view in) {
        return examples::handle_hello(c, in, *responses, 4096);
    }
};

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv, {"body-size"}, " [--body-size N]");
    pier::raise_fd_limit();
    const examples::hello_responses responses(
        static_cast<std::size_t>(cli.get_int("body-size", 1024)));
    return examples::with_policies(cli, [&]<class Policies>() {
        pier::server<hello, Policies> srv(cli.options, hello{&responses});
        return examples::serve(srv);
    });
}
