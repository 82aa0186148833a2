// expect: pier: the handler must model pier::handler
// Neither `asio::awaitable<void> operator()(connection&)` nor `on_data(connection&, string_view)`.
#include <pier/pier.hpp>

struct not_a_handler {
    void operator()(pier::connection<pier::default_policies>&) {} // not a coroutine
    std::size_t on_data(std::string_view) { return 0; }           // no connection
};

int main() {
    pier::server<not_a_handler> srv;
    srv.start();
}
