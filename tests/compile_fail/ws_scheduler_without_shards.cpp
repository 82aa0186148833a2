// expect: pier: ws::server needs a scheduler with shards
// A scheduler that cannot give shard ownership is refused at compile time, in one line.
#include <pier/pier.hpp>

// per_thread without its shard_executor: a valid scheduler for pier::server, not for ws.
struct unsharded : pier::sched::per_thread {
    using per_thread::per_thread;
    void shard_executor(std::size_t) = delete;
};

struct echo {
    template <class S> void on_message(S& s, pier::ws::message m) { s.send_text(m.data()); }
};

int main() {
    pier::ws::server<echo, pier::policies<unsharded>> srv;
    srv.start();
}
