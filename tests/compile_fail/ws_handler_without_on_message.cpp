// expect: pier: a WebSocket handler needs `void on_message\(Session&, pier::ws::message\)`
// A WebSocket handler is checked by a concept, with one readable line when it is wrong.
#include <pier/pier.hpp>

struct not_a_handler {
    template <class S> void on_open(S&) {}
    template <class S> void on_text(S&, std::string_view) {} // misnamed
};

int main() {
    pier::ws::server<not_a_handler> srv;
    srv.start();
}
