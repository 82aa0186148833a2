// http_hello: an HTTP/1.1 keep-alive server answering every request with a fixed body
// (1 kB by default), for loading with wrk. The on_data handler style.
//
//   http_hello [--address A] [--port P] [--threads N] [--accept …] [--sched …] [--buffer …]
//              [--body-size N] [--aes128 on]
//
// --aes128 on: each body is encrypted anew with AES-128-CBC (Go tcpserver's tests 3 and 4,
// see examples/common/http_hello.hpp).
#include "common/http_hello.hpp"
#include "common/cli.hpp"

#include <pier/pier.hpp>

struct hello {
    const examples::hello_responses* responses;
    const examples::aes_responses* aes = nullptr;
    template <class Connection> std::size_t on_data(Connection& c, std::string_view in) {
        return examples::handle_hello(c, in, *responses, 4096, aes);
    }
};

int main(int argc, char** argv) {
    auto cli =
        examples::parse(argc, argv, {"body-size", "aes128"}, " [--body-size N] [--aes128 on]");
    pier::raise_fd_limit();
    const auto body_size = static_cast<std::size_t>(cli.get_int("body-size", 1024));
    const examples::hello_responses responses(body_size);
    const examples::aes_responses aes(body_size);
    const bool encrypt = cli.get("aes128", "off") == "on";
    return examples::with_policies(cli, [&]<class Policies>() {
        pier::server<hello, Policies> srv(cli.options, hello{&responses, encrypt ? &aes : nullptr});
        return examples::serve(srv);
    });
}
