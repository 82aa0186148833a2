// expect: pier: the handler's on_close must be callable as void on_close\(connection&
// A hook with the right name but a wrong signature is an error, not silently skipped.
#include <pier/pier.hpp>

struct echo {
    template <class C> asio::awaitable<void> operator()(C& c) {
        for (;;) {
            auto ec = co_await c.read();
            if (ec)
                co_return;
            c.try_send(c.input());
            c.consume(c.input().size());
        }
    }
    void on_close(int /* should be (connection&, std::error_code) */) {}
};

int main() {
    pier::server<echo> srv;
    srv.start();
}
