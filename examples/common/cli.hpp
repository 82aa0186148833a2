// examples/common/cli.hpp: the command line shared by pier's examples, and the run-time choice
// of compile-time policies.
//
//   --address A      address to bind (default 127.0.0.1; "::" for dual-stack)
//   --port P         port (default 8080; 0 = ephemeral)
//   --threads N      event-loop threads (default: one per core)
//   --accept single|multi|reuseport
//   --sched per-thread|shared|workers
//   --buffer fixed|pooled
//   --max-connections N, --idle-timeout-ms N
// Examples add their own options (`extra`). Each prints `pier: listening on <endpoint>` once
// listening, and stops cleanly on SIGINT/SIGTERM.
#pragma once

#include <pier/pier.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace examples {

struct cli {
    pier::server_options options;
    std::string accept = "single";
    std::string sched = "per-thread";
    std::string buffer = "pooled";
    std::map<std::string, std::string> extra;

    std::string get(const std::string& key, std::string fallback) const {
        auto it = extra.find(key);
        return it == extra.end() ? fallback : it->second;
    }
    long get_int(const std::string& key, long fallback) const {
        auto it = extra.find(key);
        return it == extra.end() ? fallback : std::strtol(it->second.c_str(), nullptr, 10);
    }
};

[[noreturn]] inline void usage(const char* argv0, const char* extra_help, int code) {
    std::fprintf(
        code ? stderr : stdout,
        "usage: %s [--address A] [--port P] [--threads N]\n"
        "          [--accept single|multi|reuseport] [--sched per-thread|shared|workers]\n"
        "          [--buffer fixed|pooled] [--max-connections N] [--idle-timeout-ms N]%s\n",
        argv0, extra_help ? extra_help : "");
    std::exit(code);
}

/// Parses argv; `extra_keys` are the example's own `--key value` options.
inline cli parse(int argc, char** argv, std::initializer_list<std::string_view> extra_keys = {},
                 const char* extra_help = nullptr) {
    // A server ignores SIGPIPE: a write to a connection the client reset must fail with EPIPE,
    // not end the process. pier's own writes pass MSG_NOSIGNAL, but sendfile(2) and splice(2)
    // cannot; pier guards them with a signal mask when SIGPIPE is not ignored, which costs
    // three system calls per transfer step that ignoring it saves.
    std::signal(SIGPIPE, SIG_IGN);
    cli c;
    c.options.port = 8080;
    c.options.handle_signals = true;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help")
            usage(argv[0], extra_help, 0);
        if (a.substr(0, 2) != "--" || i + 1 >= argc)
            usage(argv[0], extra_help, 2);
        std::string key(a.substr(2));
        std::string v = argv[++i];
        if (key == "address")
            c.options.address = v;
        else if (key == "port")
            c.options.port = static_cast<std::uint16_t>(std::stoul(v));
        else if (key == "threads")
            c.options.threads = std::stoul(v);
        else if (key == "accept")
            c.accept = v;
        else if (key == "sched")
            c.sched = v;
        else if (key == "buffer")
            c.buffer = v;
        else if (key == "max-connections")
            c.options.max_connections = std::stoul(v);
        else if (key == "idle-timeout-ms")
            c.options.timeouts.idle = std::chrono::milliseconds(std::stol(v));
        else {
            bool known = false;
            for (auto k : extra_keys)
                known = known || k == key;
            if (!known) {
                std::fprintf(stderr, "%s: unknown option --%s\n", argv[0], key.c_str());
                usage(argv[0], extra_help, 2);
            }
            c.extra[key] = v;
        }
    }
    if (c.accept != "single" && c.accept != "multi" && c.accept != "reuseport")
        usage(argv[0], extra_help, 2);
    if (c.sched != "per-thread" && c.sched != "shared" && c.sched != "workers")
        usage(argv[0], extra_help, 2);
    if (c.buffer != "fixed" && c.buffer != "pooled")
        usage(argv[0], extra_help, 2);
    return c;
}

template <class... Ps> struct type_list {};

/// Calls `f.template operator()<pier::policies<Accept, Sched, Buffer, Extra...>>()` for the
/// policies named on the command line: compile-time policies, chosen at run time.
#ifndef PIER_EXAMPLES_POLICY_MATRIX
#define PIER_EXAMPLES_POLICY_MATRIX 1
#endif

/// The common subset of `with_policies`: accept=single, sched=per-thread|workers, either
/// buffer. Examples whose transport already multiplies the instantiations (TLS, WebSocket) use
/// it, and so does every example in builds that only need working examples (sanitizer and
/// single-header test builds): every policy combination is covered by the core tests.
/// Runs `f.template operator()<Policies>()` for the policies the command line names, from the
/// common subset (accept single; sched per-thread or workers; buffer fixed or pooled), plus
/// `Extra` policies. A build with PIER_EXAMPLES_DEFAULT_POLICIES (pier's own test trees)
/// instantiates only the defaults, with `DefaultSched`: a quarter of the compile time.
template <class... Extra, class DefaultSched = pier::sched::per_thread, class F>
int with_common_policies(const cli& c, F&& f, DefaultSched* = nullptr) {
#if PIER_EXAMPLES_DEFAULT_POLICIES
    if (c.accept != "single" || c.buffer != "pooled" ||
        (c.sched != "per-thread" && c.sched != "workers") ||
        (c.sched == "workers") != std::is_same_v<DefaultSched, pier::sched::workers<>>) {
        std::fprintf(stderr, "this example (in this build) offers its default policies only\n");
        return 2;
    }
    return f.template operator()<pier::policies<pier::accept::single, DefaultSched,
                                                pier::buffer::pooled<16384>, Extra...>>();
#else
    if (c.accept != "single" || c.sched == "shared") {
        std::fprintf(stderr, "this example (in this build) offers --accept single and "
                             "--sched per-thread|workers only\n");
        return 2;
    }
    auto by_buffer_small = [&]<class S>() {
        if (c.buffer == "fixed")
            return f.template operator()<
                pier::policies<pier::accept::single, S, pier::buffer::fixed<16384>, Extra...>>();
        return f.template operator()<
            pier::policies<pier::accept::single, S, pier::buffer::pooled<16384>, Extra...>>();
    };
    if (c.sched == "workers")
        return by_buffer_small.template operator()<pier::sched::workers<>>();
    return by_buffer_small.template operator()<pier::sched::per_thread>();
#endif
}

template <class... Extra, class DefaultSched = pier::sched::per_thread, class F>
int with_policies(const cli& c, F&& f, [[maybe_unused]] DefaultSched* d = nullptr) {
#if !PIER_EXAMPLES_POLICY_MATRIX || PIER_EXAMPLES_DEFAULT_POLICIES
    return with_common_policies<Extra...>(c, std::forward<F>(f), d);
#else
    auto by_buffer = [&]<class A, class S>() {
        if (c.buffer == "fixed")
            return f
                .template operator()<pier::policies<A, S, pier::buffer::fixed<16384>, Extra...>>();
        return f.template operator()<pier::policies<A, S, pier::buffer::pooled<16384>, Extra...>>();
    };
    auto by_sched = [&]<class A>() {
        if (c.sched == "shared")
            return by_buffer.template operator()<A, pier::sched::shared_pool>();
        if (c.sched == "workers")
            return by_buffer.template operator()<A, pier::sched::workers<>>();
        return by_buffer.template operator()<A, pier::sched::per_thread>();
    };
    if (c.accept == "multi")
        return by_sched.template operator()<pier::accept::multi<>>();
    if (c.accept == "reuseport")
        return by_sched.template operator()<pier::accept::reuseport>();
    return by_sched.template operator()<pier::accept::single>();
#endif
}

/// Starts `srv`, prints the listening line, and runs until SIGINT/SIGTERM.
template <class Server> int serve(Server& srv) {
    try {
        srv.start();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    std::cout << "pier: listening on " << srv.local_endpoint() << std::endl;
    srv.wait();
    return 0;
}

} // namespace examples
