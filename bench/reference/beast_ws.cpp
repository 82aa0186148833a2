// beast_ws: the Boost.Beast WebSocket reference server for bench/run.py's WebSocket scenarios.
//
// Written the way Beast's own examples write it, not tuned: the session and listener follow
// example/websocket/server/async/websocket_server_async.cpp, and the broadcast path follows
// example/websocket/server/chat-multi (a shared_state holding the sessions, one immutable
// shared_ptr<std::string const> per message, and a per-session write queue because Beast allows
// one write in flight and leaves the queue to the application). One thread, no strands (nothing
// runs concurrently), permessage-deflate off (Beast's default), timeouts
// stream_base::timeout::suggested(server) as in the examples.
//
// Bench protocol, shared with pier's ws_echo example and ws_load:
//   - a text message whose payload starts with "broadcast:" is sent unchanged to every connected
//     client, the sender included;
//   - any other message is echoed back unchanged, text as text and binary as binary.
//
// Prints `pier: listening on <address>:<port>` like pier's examples; exits 0 on SIGINT/SIGTERM.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view broadcast_prefix = "broadcast:";

void fail(beast::error_code ec, const char* what) {
    // The benchmarks close connections abruptly at the end of every run; those are not news.
    if (ec == net::error::operation_aborted || ec == websocket::error::closed ||
        ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe || ec == beast::error::timeout)
        return;
    std::fprintf(stderr, "beast_ws: %s: %s\n", what, ec.message().c_str());
}

class session;

// Every open session, for broadcast. Single-threaded, so no mutex (chat-multi's needs one).
class shared_state {
public:
    void join(session* s) { sessions_.insert(s); }
    void leave(session* s) { sessions_.erase(s); }
    void send(const std::shared_ptr<const std::string>& message);

private:
    std::unordered_set<session*> sessions_;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, std::shared_ptr<shared_state> state)
        : ws_(std::move(socket)), state_(std::move(state)) {}

    ~session() {
        if (joined_)
            state_->leave(this);
    }

    void run() {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
            res.set(beast::http::field::server, "beast_ws");
        }));
        ws_.async_accept(beast::bind_front_handler(&session::on_accept, shared_from_this()));
    }

    void send(std::shared_ptr<const std::string> message, bool text) {
        queue_.push_back({std::move(message), text});
        if (queue_.size() > 1)
            return; // a write is already in flight
        write_front();
    }

private:
    struct queued {
        std::shared_ptr<const std::string> data;
        bool text;
    };

    void on_accept(beast::error_code ec) {
        if (ec)
            return fail(ec, "accept");
        state_->join(this);
        joined_ = true;
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec)
            return fail(ec, "read");
        auto data = buffer_.data();
        std::string_view view(static_cast<const char*>(data.data()), data.size());
        auto message = std::make_shared<const std::string>(view);
        buffer_.consume(buffer_.size());
        bool text = ws_.got_text();
        if (text && view.substr(0, broadcast_prefix.size()) == broadcast_prefix)
            state_->send(message);
        else
            send(std::move(message), text);
        do_read();
    }

    void write_front() {
        ws_.text(queue_.front().text);
        ws_.async_write(net::buffer(*queue_.front().data),
                        beast::bind_front_handler(&session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec)
            return fail(ec, "write");
        queue_.erase(queue_.begin());
        if (!queue_.empty())
            write_front();
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::shared_ptr<shared_state> state_;
    std::vector<queued> queue_;
    bool joined_ = false;
};

void shared_state::send(const std::shared_ptr<const std::string>& message) {
    // chat-multi copies weak_ptrs out under its lock before sending; with one thread the set
    // cannot change during the loop (send() never completes synchronously), so iterate directly.
    for (session* s : sessions_)
        s->send(message, true);
}

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<shared_state> state)
        : ioc_(ioc), acceptor_(ioc), state_(std::move(state)) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    void run() { do_accept(); }

private:
    void do_accept() {
        acceptor_.async_accept(ioc_,
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec) {
            fail(ec, "tcp accept");
            // Out of descriptors: keep accepting later rather than stopping the listener.
            if (ec == net::error::operation_aborted)
                return;
        } else {
            socket.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(socket), state_)->run();
        }
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<shared_state> state_;
};

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: beast_ws [--address A] [--port P]\n");
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc)
            usage();
        if (a == "--address")
            address = argv[++i];
        else if (a == "--port")
            port = static_cast<unsigned short>(std::atoi(argv[++i]));
        else if (a == "--threads")
            ++i; // the examples' convention; always one thread
        else
            usage();
    }
    try {
        net::io_context ioc{1};
        auto state = std::make_shared<shared_state>();
        auto l = std::make_shared<listener>(
            ioc, tcp::endpoint{net::ip::make_address(address), port}, state);
        l->run();
        net::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
        std::string shown = address.find(':') == std::string::npos ? address : "[" + address + "]";
        std::printf("pier: listening on %s:%u\n", shown.c_str(), unsigned(l->port()));
        std::fflush(stdout);
        ioc.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "beast_ws: %s\n", e.what());
        return 1;
    }
    return 0;
}
