// pier/redis/detail/link.hpp: one connection to one Redis server, the part command connections
// and subscribers share: resolve + connect (+ TLS) + AUTH/SELECT under one deadline, a read
// loop that feeds hiredis's reader, a corked write queue, and reconnection with backoff.
#pragma once

#include <pier/config.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/url.hpp>

#include <asio/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace pier::redis::detail {

using clock = std::chrono::steady_clock;

/// Where one link connects and how it logs in.
struct target {
    endpoint ep;
    bool tls = false;
    std::string user;
    std::string password;
    int db = 0;
};

inline target make_target(const url& u, const endpoint& ep) {
    return target{ep, u.tls, u.user, u.password, u.db};
}

/// The TLS context for a client: the user's, or one that verifies against `ca_file` (or the
/// system store). Throws std::system_error when the CA file cannot be loaded: a configuration
/// error, found when the client is made rather than at every connection attempt.
inline std::shared_ptr<asio::ssl::context> make_tls_context(const tls_options& o) {
    if (o.context)
        return o.context;
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    if (o.verify) {
        ctx->set_verify_mode(asio::ssl::verify_peer);
        if (o.ca_file.empty())
            ctx->set_default_verify_paths();
        else
            ctx->load_verify_file(o.ca_file);
    } else {
        ctx->set_verify_mode(asio::ssl::verify_none);
    }
    return ctx;
}

/// Exponential backoff with full jitter: attempt n waits uniform [0, min(max, min · 2^n)].
class backoff {
public:
    backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
        : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)),
          rng_(std::random_device{}()) {}
    std::chrono::milliseconds next() {
        const auto cap =
            std::min<std::int64_t>(max_.count(), min_.count() << std::min(attempt_, 30));
        ++attempt_;
        std::uniform_int_distribution<std::int64_t> pick(0, cap);
        return std::chrono::milliseconds(pick(rng_));
    }
    void reset() noexcept { attempt_ = 0; }

private:
    std::chrono::milliseconds min_, max_;
    int attempt_ = 0;
    std::minstd_rand rng_;
};

/// The socket (or TLS stream), buffers and parser of one connection attempt. Shared with the
/// handlers of its operations, so a link can drop it and start another attempt while the old
/// operations are still being cancelled (asio::ssl::stream must outlive its operations).
struct transport {
    transport(const any_executor& ex, asio::ssl::context* tls, std::size_t read_size,
              const protocol_limits& limits)
        : resolver(ex), socket(ex), rbuf(std::max<std::size_t>(read_size, 512)), parser(limits) {
        if (tls)
            stream.emplace(ex, *tls);
    }
    asio::ip::tcp::socket& lowest() { return stream ? stream->next_layer() : socket; }
    template <class Handler> void read(Handler&& h) {
        if (stream)
            stream->async_read_some(asio::buffer(rbuf), std::forward<Handler>(h));
        else
            socket.async_read_some(asio::buffer(rbuf), std::forward<Handler>(h));
    }
    template <class Handler> void write(Handler&& h) {
        if (stream)
            asio::async_write(*stream, asio::buffer(wbuf), std::forward<Handler>(h));
        else
            asio::async_write(socket, asio::buffer(wbuf), std::forward<Handler>(h));
    }
    void close() {
        std::error_code ignored;
        resolver.cancel();
        lowest().close(ignored);
    }

    asio::ip::tcp::resolver resolver;
    asio::ip::tcp::socket socket; // unused (closed) when `stream` is set
    std::optional<asio::ssl::stream<asio::ip::tcp::socket>> stream;
    std::vector<char> rbuf;
    std::string wbuf; // the bytes of the write in progress
    reply_parser parser;
};

/// The life of one connection: idle → connecting → handshaking → up → down → connecting … and
/// finally closed. Subclasses get replies after the handshake (`on_reply`), hear when the
/// connection is usable (`on_up`) and when it ended (`on_down`). Everything runs on the
/// executor; operations hold a shared_ptr to the link, so it lives until they finish.
class link : public std::enable_shared_from_this<link> {
public:
    enum class state { idle, connecting, handshaking, up, down, closed };

    link(any_executor ex, target t, const connection_options& o, std::shared_ptr<stats> st,
         bool subscriber)
        : ex_(std::move(ex)), opt_(o), stats_(std::move(st)), target_(std::move(t)),
          subscriber_(subscriber), timer_(ex_), backoff_(o.reconnect_min, o.reconnect_max) {
        if (target_.tls)
            tls_ = make_tls_context(opt_.tls);
        bump(subscriber_ ? stats_->subscribers : stats_->nodes);
    }
    virtual ~link() {
        if (state_ != state::closed)
            drop(subscriber_ ? stats_->subscribers : stats_->nodes);
        if (state_ == state::up)
            drop(subscriber_ ? stats_->subscribers_up : stats_->connections_up);
    }
    link(const link&) = delete;
    link& operator=(const link&) = delete;

    /// Starts connecting if idle; otherwise nothing.
    void start() {
        if (state_ == state::idle)
            connect();
    }
    /// Ends the connection for good; `on_down(why, true)` fails what is pending.
    void close(std::error_code why = make_error_code(error::closed)) {
        if (state_ == state::closed)
            return;
        const bool was_up = state_ == state::up;
        teardown();
        state_ = state::closed;
        ++timer_gen_;
        timer_.cancel();
        if (was_up)
            drop(subscriber_ ? stats_->subscribers_up : stats_->connections_up);
        drop(subscriber_ ? stats_->subscribers : stats_->nodes);
        on_down(why, true);
    }

    state current() const noexcept { return state_; }
    bool is_up() const noexcept { return state_ == state::up; }
    const endpoint& where() const noexcept { return target_.ep; }
    const any_executor& get_executor() const noexcept { return ex_; }
    /// The error that ended the last connection or attempt.
    std::error_code last_error() const noexcept { return last_error_; }

protected:
    virtual void on_up() = 0;
    virtual void on_reply(reply&& r) = 0;
    /// The connection ended (`closing`: for good, otherwise a reconnect follows).
    virtual void on_down(std::error_code ec, bool closing) = 0;

    /// Queues bytes for the server; they leave in one write at the end of this loop pass.
    void send_raw(std::string_view bytes) {
        if (state_ != state::up)
            return; // nothing may overtake AUTH/SELECT; subclasses hold what they have
        out_.append(bytes);
        if (!flush_posted_ && !writing_) {
            flush_posted_ = true;
            asio::post(ex_, [self = shared_from_this()] {
                self->flush_posted_ = false;
                self->flush();
            });
        }
    }
    /// Bytes queued or being written.
    std::size_t queued_bytes() const noexcept {
        return out_.size() + (writing_ && t_ ? t_->wbuf.size() : 0);
    }

    /// Ends this connection (or attempt) and, unless closed meanwhile, schedules the next.
    void fail(std::error_code ec) {
        if (state_ != state::connecting && state_ != state::handshaking && state_ != state::up)
            return;
        const bool was_up = state_ == state::up;
        teardown();
        state_ = state::down;
        last_error_ = ec;
        if (was_up) {
            drop(subscriber_ ? stats_->subscribers_up : stats_->connections_up);
            bump(stats_->disconnects);
        } else {
            bump(stats_->connect_failures);
        }
        on_down(ec, false);
        if (state_ != state::down)
            return; // on_down closed us
        if (!opt_.reconnect) {
            close(ec);
            return;
        }
        arm_timer(backoff_.next(), [](link& self) {
            if (self.state_ == state::down)
                self.connect();
        });
    }

    any_executor ex_;
    connection_options opt_;
    std::shared_ptr<stats> stats_;

private:
    template <class F> void arm_timer(clock::duration d, F f) {
        timer_.expires_after(d);
        timer_.async_wait([self = shared_from_this(), g = ++timer_gen_, f](std::error_code) {
            if (g == self->timer_gen_)
                f(*self);
        });
    }

    bool stale(const std::shared_ptr<transport>& t) const noexcept { return t != t_; }

    void connect() {
        state_ = state::connecting;
        auto t = std::make_shared<transport>(ex_, tls_.get(), opt_.read_buffer_size, opt_.limits);
        t_ = t;
        arm_timer(opt_.connect_timeout, [t](link& self) {
            if (!self.stale(t))
                self.fail(make_error_code(error::connect_timeout));
        });
        auto self = shared_from_this();
        t->resolver.async_resolve(
            target_.ep.host, std::to_string(target_.ep.port),
            [self, t](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
                if (self->stale(t))
                    return;
                if (ec)
                    return self->fail(ec);
                asio::async_connect(t->lowest(), results,
                                    [self, t](std::error_code ec, const asio::ip::tcp::endpoint&) {
                                        if (self->stale(t))
                                            return;
                                        if (ec)
                                            return self->fail(ec);
                                        self->connected(t);
                                    });
            });
    }

    void connected(const std::shared_ptr<transport>& t) {
        std::error_code ignored;
        t->lowest().set_option(asio::ip::tcp::no_delay(true), ignored);
        if (!t->stream)
            return handshake(t);
        const auto& host = target_.ep.host;
        std::error_code not_ip;
        (void)asio::ip::make_address(host, not_ip);
        // SNI carries names only (RFC 6066 §3); an IP address is checked against the SANs.
        if (not_ip)
            SSL_set_tlsext_host_name(t->stream->native_handle(), host.c_str());
        if (opt_.tls.verify)
            t->stream->set_verify_callback(asio::ssl::host_name_verification(host));
        t->stream->async_handshake(asio::ssl::stream_base::client,
                                   [self = shared_from_this(), t](std::error_code ec) {
                                       if (self->stale(t))
                                           return;
                                       if (ec)
                                           return self->fail(ec);
                                       self->handshake(t);
                                   });
    }

    // AUTH and SELECT when the URL asks for them, else a PING: "up" always means the server
    // answered, not only that the kernel accepted a connection (a stopped server does that).
    void handshake(const std::shared_ptr<transport>& t) {
        state_ = state::handshaking;
        handshake_left_ = 0;
        if (!target_.password.empty()) {
            if (target_.user.empty())
                format_command({"AUTH", target_.password}, out_);
            else
                format_command({"AUTH", target_.user, target_.password}, out_);
            ++handshake_left_;
        }
        if (target_.db != 0) {
            format_command({"SELECT", std::to_string(target_.db)}, out_);
            ++handshake_left_;
        }
        if (handshake_left_ == 0) {
            format_command({"PING"}, out_);
            ++handshake_left_;
        }
        read(t);
        flush();
    }

    void read(const std::shared_ptr<transport>& t) {
        t->read([self = shared_from_this(), t](std::error_code ec, std::size_t n) {
            if (self->stale(t))
                return;
            if (ec)
                return self->fail(ec == asio::error::eof ? make_error_code(error::connection_lost)
                                                         : ec);
            ec = t->parser.feed(std::string_view(t->rbuf.data(), n));
            reply r;
            while (!ec && t->parser.next(r, ec)) {
                self->dispatch(std::move(r));
                if (self->stale(t))
                    return;
            }
            if (ec)
                return self->fail(ec);
            self->read(t);
        });
    }

    void dispatch(reply&& r) {
        if (state_ == state::up)
            return on_reply(std::move(r));
        if (r.is_error())
            return fail(make_error_code(error::handshake_failed));
        if (--handshake_left_ > 0)
            return;
        state_ = state::up;
        ++timer_gen_;
        timer_.cancel();
        backoff_.reset();
        bump(stats_->connects);
        bump(subscriber_ ? stats_->subscribers_up : stats_->connections_up);
        on_up();
    }

    void flush() {
        if (writing_ || out_.empty() || !t_ ||
            (state_ != state::handshaking && state_ != state::up))
            return;
        writing_ = true;
        auto t = t_;
        t->wbuf.swap(out_);
        out_.clear();
        t->write([self = shared_from_this(), t](std::error_code ec, std::size_t) {
            if (self->stale(t))
                return;
            self->writing_ = false;
            if (ec)
                return self->fail(ec);
            self->flush();
        });
    }

    void teardown() {
        if (t_)
            t_->close();
        t_.reset();
        out_.clear();
        writing_ = false;
    }

    target target_;
    bool subscriber_;
    std::shared_ptr<asio::ssl::context> tls_;
    state state_ = state::idle;
    std::shared_ptr<transport> t_;
    std::string out_;
    bool writing_ = false;
    bool flush_posted_ = false;
    int handshake_left_ = 0;
    asio::steady_timer timer_; // connect deadline, then reconnect backoff
    std::uint64_t timer_gen_ = 0;
    backoff backoff_;
    std::error_code last_error_;
};

} // namespace pier::redis::detail
