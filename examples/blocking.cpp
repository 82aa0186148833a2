// blocking: like http_hello, but each request blocks its handler for --sleep-ms (default 1)
// before answering a --body-size (default 128) body: a stand-in for a database call. With
// the default `--sched workers`, handler bodies run on pier's adaptive worker pool, so the
// event loops keep accepting and reading while workers sleep.
//
//   blocking [common options] [--sleep-ms N] [--body-size N] [--max-workers N]
#include "common/cli.hpp"
#include "common/http_hello.hpp"

#include <pier/pier.hpp>

#include <chrono>
#include <thread>

struct slow_hello {
    const examples::hello_responses* responses;
    std::chrono::milliseconds sleep;
    template <class Connection> std::size_t on_data(Connection& c, std::string_view in) {
        std::size_t n = examples::handle_hello(c, in, *responses, 4096);
        if (n > 0)
            std::this_thread::sleep_for(sleep); // the blocking part
        return n;
    }
};

int main(int argc, char** argv) {
    // The worker pool is the point of this example.
    bool sched_given = false;
    for (int i = 1; i < argc; ++i)
        sched_given = sched_given || std::string_view(argv[i]) == "--sched";
    auto cli = examples::parse(argc, argv, {"sleep-ms", "body-size", "max-workers"},
                               " [--sleep-ms N] [--body-size N] [--max-workers N]");
    if (!sched_given)
        cli.sched = "workers";
    cli.options.workers.max_workers = static_cast<std::size_t>(cli.get_int("max-workers", 512));
    pier::raise_fd_limit();
    const examples::hello_responses responses(
        static_cast<std::size_t>(cli.get_int("body-size", 128)));
    const std::chrono::milliseconds sleep(cli.get_int("sleep-ms", 1));
    return examples::with_policies(
        cli,
        [&]<class Policies>() {
            pier::server<slow_hello, Policies> srv(cli.options, slow_hello{&responses, sleep});
            return examples::serve(srv);
        },
        static_cast<pier::sched::workers<>*>(nullptr));
}
