// expect: pier: the WebSocket handler's on_close must be callable as void on_close\(session&
// A WebSocket hook with the right name but a wrong signature is an error, not ignored.
#include <pier/pier.hpp>

struct echo {
    template <class S> void on_message(S& s, pier::ws::message m) { s.send_text(m.data()); }
    template <class S> void on_close(S&) {} // the code and the reason are missing
};

int main() {
    pier::ws::server<echo> srv;
    srv.start();
}
