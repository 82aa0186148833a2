// epoll_http: the hand-written floor that pier's HTTP and echo examples are measured against.
//
// One thread, one edge-triggered epoll set, fixed pre-built responses, no allocation on the hot
// path once a connection's buffers have grown. It is deliberately not a general HTTP server: it
// understands exactly what bench/run.py's load clients (wrk, conn_latency) send and answers
// anything it does not understand with a specific 4xx/5xx and a close.
//
// Modes:
//   (default)      HTTP/1.1 server answering every request with 200 and a body of --body-size
//                  bytes; keep-alive by default, honours "Connection: close" and HTTP/1.0, answers
//                  pipelined requests in order with one writev per read batch.
//   --sleep-ms N   as above, but each response leaves N ms after its request arrived (a timerfd
//                  and a FIFO, not a blocking sleep: the floor for pier's `blocking` example, whose
//                  handler blocks in a worker pool).
//   --echo         writes back every byte it reads (the connect-per-transaction latency test).
//   --aes128       as the default mode, but each body is encrypted anew with AES-128-CBC
//                  (fixed key "0123456789ABCDEF", random IV, IV || ciphertext, PKCS#7): Go
//                  tcpserver's tests 3 and 4, through OpenSSL's EVP interface, one context
//                  reused for every request, like pier's http_hello --aes128 on.
//
// Prints `pier: listening on <address>:<port>` like pier's examples, so the runner treats every
// server alike, and exits 0 on SIGINT/SIGTERM.
//
// Limits (documented as the project requires): request head 8 KiB (431 beyond), request body
// --max-body (default 1 MiB, 413 beyond), echo output backlog 4 MiB per connection (reading stops
// until it drains). chunked request bodies are answered 501: the benchmarks never send them.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t max_head_bytes = 8192;
constexpr std::size_t echo_backlog_limit = 4u << 20;
constexpr std::size_t read_chunk = 64 * 1024;
// writev accepts at most IOV_MAX (1024) entries; a read batch of 64 KiB holds at most ~1000
// pipelined minimal requests, and the batch is flushed early if it reaches this.
constexpr std::size_t max_iov = 256;

struct options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;
    std::size_t body_size = 1024;
    std::size_t max_body = 1u << 20;
    int sleep_ms = 0;
    int backlog = 4096;
    bool echo = false;
    bool aes128 = false;
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "epoll_http: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

void usage() {
    std::fprintf(stderr,
                 "usage: epoll_http [--address A] [--port P] [--body-size N] [--sleep-ms N]\n"
                 "                  [--max-body N] [--backlog N] [--echo] [--aes128]\n");
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--address")
            o.address = value();
        else if (a == "--port")
            o.port = static_cast<std::uint16_t>(std::atoi(value()));
        else if (a == "--body-size")
            o.body_size = std::strtoull(value(), nullptr, 10);
        else if (a == "--max-body")
            o.max_body = std::strtoull(value(), nullptr, 10);
        else if (a == "--sleep-ms")
            o.sleep_ms = std::atoi(value());
        else if (a == "--backlog")
            o.backlog = std::atoi(value());
        else if (a == "--threads")
            (void)value(); // accepted for the examples' convention; always 1
        else if (a == "--echo")
            o.echo = true;
        else if (a == "--aes128")
            o.aes128 = true;
        else
            usage();
    }
    return o;
}

enum class reply : std::uint8_t {
    keep_alive_11,
    keep_alive_10,
    close,
    bad_request,
    too_large,
    head_too_large,
    not_implemented
};

struct responses {
    std::string by_kind[7];
    // --aes128: the heads of the three 200 replies (bodies are made per request).
    std::string aes_heads[3];
    std::size_t aes_body_size = 0;

    explicit responses(std::size_t body_size) {
        std::string body(body_size, 'x');
        aes_body_size = 16 + (body_size / 16 + 1) * 16;
        const char* connections[3] = {"", "Connection: keep-alive\r\n", "Connection: close\r\n"};
        for (int i = 0; i < 3; ++i)
            aes_heads[i] = "HTTP/1.1 200 OK\r\nServer: epoll_http\r\nContent-Type: "
                           "application/octet-stream\r\nContent-Length: " +
                           std::to_string(aes_body_size) + "\r\n" + connections[i] + "\r\n";
        auto make = [&](const char* status, const char* connection, std::string_view b) {
            std::string r = "HTTP/1.1 ";
            r += status;
            r += "\r\nServer: epoll_http\r\nContent-Type: text/plain\r\nContent-Length: ";
            r += std::to_string(b.size());
            r += "\r\n";
            r += connection;
            r += "\r\n";
            r += b;
            return r;
        };
        by_kind[0] = make("200 OK", "", body);
        by_kind[1] = make("200 OK", "Connection: keep-alive\r\n", body);
        by_kind[2] = make("200 OK", "Connection: close\r\n", body);
        by_kind[3] = make("400 Bad Request", "Connection: close\r\n", "bad request\n");
        by_kind[4] = make("413 Content Too Large", "Connection: close\r\n", "body too large\n");
        by_kind[5] = make("431 Request Header Fields Too Large", "Connection: close\r\n",
                          "request head too large\n");
        by_kind[6] = make("501 Not Implemented", "Connection: close\r\n",
                          "chunked bodies are not supported\n");
    }
    std::string_view operator[](reply r) const { return by_kind[static_cast<int>(r)]; }
};

bool closes(reply r) {
    return r != reply::keep_alive_11 && r != reply::keep_alive_10;
}

struct connection {
    int fd = -1;
    std::uint32_t generation = 0;
    std::string in;  // bytes of an incomplete request head
    std::string out; // bytes the kernel has not accepted yet
    std::size_t out_off = 0;
    std::size_t skip_body = 0; // request body bytes still to discard
    unsigned delayed = 0;      // responses waiting for the --sleep-ms timer
    bool closing = false;      // a response that ends the connection has been queued
    bool peer_eof = false;
    bool read_paused = false; // echo backpressure
};

struct delayed_reply {
    std::uint64_t due_ns;
    int fd;
    std::uint32_t generation;
    reply kind;
};

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

bool iequals_prefix(std::string_view s, std::string_view lower_prefix) {
    if (s.size() < lower_prefix.size())
        return false;
    for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = char(c - 'A' + 'a');
        if (c != lower_prefix[i])
            return false;
    }
    return true;
}

bool icontains(std::string_view s, std::string_view lower_needle) {
    if (lower_needle.size() > s.size())
        return false;
    for (std::size_t i = 0; i + lower_needle.size() <= s.size(); ++i)
        if (iequals_prefix(s.substr(i), lower_needle))
            return true;
    return false;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.remove_suffix(1);
    return v;
}

// Decides the reply to one complete request head (terminated by CRLFCRLF) and how many body
// bytes follow it.
reply classify(std::string_view head, std::size_t max_body, std::size_t& body_bytes) {
    body_bytes = 0;
    auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    auto sp = line.rfind(' ');
    if (sp == std::string_view::npos || line.find(' ') == sp)
        return reply::bad_request;
    std::string_view version = line.substr(sp + 1);
    bool http10 = version == "HTTP/1.0";
    if (!http10 && version != "HTTP/1.1")
        return reply::bad_request;

    bool conn_close = false;
    bool conn_keep = false;
    std::size_t pos = eol + 2;
    while (pos < head.size()) {
        auto next = head.find("\r\n", pos);
        if (next == std::string_view::npos || next == pos)
            break;
        std::string_view h = head.substr(pos, next - pos);
        pos = next + 2;
        if (iequals_prefix(h, "connection:")) {
            auto v = h.substr(11);
            if (icontains(v, "close"))
                conn_close = true;
            if (icontains(v, "keep-alive"))
                conn_keep = true;
        } else if (iequals_prefix(h, "content-length:")) {
            auto v = trim(h.substr(15));
            std::size_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc{} || p != v.data() + v.size())
                return reply::bad_request;
            if (n > max_body)
                return reply::too_large;
            body_bytes = n;
        } else if (iequals_prefix(h, "transfer-encoding:")) {
            return reply::not_implemented;
        }
    }
    if (conn_close)
        return reply::close;
    if (http10)
        return conn_keep ? reply::keep_alive_10 : reply::close;
    return reply::keep_alive_11;
}

class server {
public:
    explicit server(const options& o) : opt_(o), responses_(o.body_size) {}

    int run() {
        setup();
        std::vector<epoll_event> events(512);
        while (!stop_) {
            int n = epoll_wait(epfd_, events.data(), int(events.size()), -1);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                die("epoll_wait");
            }
            for (int i = 0; i < n; ++i)
                dispatch(events[std::size_t(i)]);
        }
        for (auto& c : conns_)
            if (c.fd >= 0)
                ::close(c.fd);
        ::close(listen_fd_);
        return 0;
    }

private:
    static constexpr std::uint64_t listener_tag = ~std::uint64_t(0);
    static constexpr std::uint64_t signal_tag = ~std::uint64_t(0) - 1;
    static constexpr std::uint64_t timer_tag = ~std::uint64_t(0) - 2;

    static std::uint64_t tag(const connection& c) {
        return (std::uint64_t(c.generation) << 32) | std::uint32_t(c.fd);
    }

    void setup() {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, nullptr);
        signal(SIGPIPE, SIG_IGN);

        epfd_ = epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0)
            die("epoll_create1");
        sigfd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        add(sigfd_, EPOLLIN, signal_tag);
        if (opt_.sleep_ms > 0) {
            timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (timerfd_ < 0)
                die("timerfd_create");
            add(timerfd_, EPOLLIN, timer_tag);
        }

        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0)
            die("socket");
        int one = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(opt_.port);
        if (inet_pton(AF_INET, opt_.address.c_str(), &sa.sin_addr) != 1) {
            std::fprintf(stderr, "epoll_http: --address must be an IPv4 address\n");
            std::exit(2);
        }
        if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
            die("bind");
        if (listen(listen_fd_, opt_.backlog) < 0)
            die("listen");
        socklen_t len = sizeof sa;
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        add(listen_fd_, EPOLLIN | EPOLLET, listener_tag);
        std::printf("pier: listening on %s:%u\n", opt_.address.c_str(),
                    unsigned(ntohs(sa.sin_port)));
        std::fflush(stdout);
    }

    void add(int fd, std::uint32_t ev, std::uint64_t data) {
        epoll_event e{};
        e.events = ev;
        e.data.u64 = data;
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &e) < 0)
            die("epoll_ctl");
    }

    void dispatch(const epoll_event& e) {
        if (e.data.u64 == listener_tag)
            return accept_all();
        if (e.data.u64 == signal_tag) {
            stop_ = true;
            return;
        }
        if (e.data.u64 == timer_tag)
            return on_timer();
        int fd = int(std::uint32_t(e.data.u64));
        if (std::size_t(fd) >= conns_.size())
            return;
        connection& c = conns_[std::size_t(fd)];
        // An event queued for a connection closed earlier in this same batch whose fd was reused.
        if (c.fd != fd || tag(c) != e.data.u64)
            return;
        if (e.events & EPOLLERR)
            return close_conn(c);
        if (e.events & EPOLLOUT) {
            if (!flush(c))
                return;
        }
        if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            on_readable(c, (e.events & (EPOLLRDHUP | EPOLLHUP)) != 0);
    }

    void accept_all() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK && !warned_accept_) {
                    warned_accept_ = true;
                    std::fprintf(stderr, "epoll_http: accept: %s\n", std::strerror(errno));
                }
                return;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (std::size_t(fd) >= conns_.size())
                conns_.resize(std::size_t(fd) * 2 + 64);
            connection& c = conns_[std::size_t(fd)];
            std::uint32_t gen = c.generation + 1;
            c.in.clear();
            c.out.clear();
            c.out_off = 0;
            c.skip_body = 0;
            c.delayed = 0;
            c.closing = c.peer_eof = c.read_paused = false;
            c.fd = fd;
            c.generation = gen;
            add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, tag(c));
        }
    }

    void close_conn(connection& c) {
        ::close(c.fd);
        c.fd = -1;
        c.in.clear();
        c.in.shrink_to_fit();
        c.out.clear();
        c.out.shrink_to_fit();
    }

    // Returns false when the connection was closed.
    bool finish_if_done(connection& c) {
        bool drained = c.out_off == c.out.size() && c.delayed == 0;
        if (drained && (c.closing || c.peer_eof)) {
            close_conn(c);
            return false;
        }
        return true;
    }

    // Writes what is pending; returns false when the connection was closed.
    bool flush(connection& c) {
        while (c.out_off < c.out.size()) {
            ssize_t n = ::write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return true;
                close_conn(c);
                return false;
            }
            c.out_off += std::size_t(n);
        }
        c.out.clear();
        c.out_off = 0;
        if (!finish_if_done(c))
            return false;
        if (c.read_paused) {
            c.read_paused = false;
            on_readable(c);
            return c.fd >= 0;
        }
        return true;
    }

    // Sends the batch in one writev; whatever the kernel does not take is copied to c.out.
    bool send_batch(connection& c, iovec* iov, std::size_t count) {
        if (count == 0)
            return true;
        if (c.out_off < c.out.size()) {
            for (std::size_t i = 0; i < count; ++i)
                c.out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
            return true;
        }
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i)
            total += iov[i].iov_len;
        ssize_t n;
        do
            n = ::writev(c.fd, iov, int(count));
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN) {
                close_conn(c);
                return false;
            }
            n = 0;
        }
        if (std::size_t(n) == total)
            return true;
        std::size_t skip = std::size_t(n);
        c.out.clear();
        c.out_off = 0;
        for (std::size_t i = 0; i < count; ++i) {
            std::size_t len = iov[i].iov_len;
            if (skip >= len) {
                skip -= len;
                continue;
            }
            c.out.append(static_cast<const char*>(iov[i].iov_base) + skip, len - skip);
            skip = 0;
        }
        return true;
    }

    // eof_pending: the peer's FIN is known to be queued, so reading must go on until read() says 0.
    void on_readable(connection& c, bool eof_pending = false) {
        for (;;) {
            if (opt_.echo && c.out.size() - c.out_off > echo_backlog_limit) {
                c.read_paused = true;
                return;
            }
            ssize_t n = ::read(c.fd, scratch_, sizeof scratch_);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return;
                return close_conn(c);
            }
            if (n == 0) {
                c.peer_eof = true;
                finish_if_done(c);
                return;
            }
            bool open = opt_.echo ? on_echo(c, std::size_t(n)) : on_http(c, std::size_t(n));
            if (!open)
                return;
            // A short read means the socket is drained; skipping the EAGAIN read saves a syscall.
            if (std::size_t(n) < sizeof scratch_ && !eof_pending)
                return;
        }
    }

    bool on_echo(connection& c, std::size_t n) {
        iovec iov{scratch_, n};
        return send_batch(c, &iov, 1);
    }

    bool on_http(connection& c, std::size_t n) {
        std::string_view data(scratch_, n);
        if (c.closing)
            return true; // input after a closing request is ignored
        iovec iov[max_iov];
        std::size_t count = 0;
        auto queue = [&](reply r) -> bool {
            if (closes(r))
                c.closing = true;
            if (opt_.sleep_ms > 0 && r <= reply::close) {
                ++c.delayed;
                bool was_empty = timer_queue_.empty();
                timer_queue_.push_back(
                    {now_ns() + std::uint64_t(opt_.sleep_ms) * 1'000'000u, c.fd, c.generation, r});
                if (was_empty)
                    arm_timer();
                return true;
            }
            std::string_view s = responses_[r];
            if (opt_.aes128 && r <= reply::close) {
                s = encrypt_reply(r, count);
                if (s.empty())
                    s = responses_[reply::bad_request];
            }
            iov[count++] = {const_cast<char*>(s.data()), s.size()};
            if (count == max_iov) {
                bool ok = send_batch(c, iov, count);
                count = 0;
                return ok;
            }
            return true;
        };

        while (!data.empty() && !c.closing) {
            if (c.skip_body > 0) {
                std::size_t k = std::min(c.skip_body, data.size());
                c.skip_body -= k;
                data.remove_prefix(k);
                continue;
            }
            std::string_view head;
            std::size_t consumed = 0;
            if (c.in.empty()) {
                auto end = data.find("\r\n\r\n");
                if (end == std::string_view::npos) {
                    c.in.assign(data);
                    data = {};
                    if (c.in.size() > max_head_bytes && !queue(reply::head_too_large))
                        return false;
                    break;
                }
                head = data.substr(0, end + 4);
                consumed = end + 4;
            } else {
                // Only a head split across reads takes this copying path.
                std::size_t old = c.in.size();
                std::size_t search_from = old >= 3 ? old - 3 : 0;
                c.in.append(data);
                auto end = c.in.find("\r\n\r\n", search_from);
                if (end == std::string::npos) {
                    data = {};
                    if (c.in.size() > max_head_bytes && !queue(reply::head_too_large))
                        return false;
                    break;
                }
                head_copy_.assign(c.in, 0, end + 4);
                head = head_copy_;
                consumed = end + 4 - old;
                c.in.clear();
            }
            data.remove_prefix(consumed);
            if (head.size() > max_head_bytes) {
                if (!queue(reply::head_too_large))
                    return false;
                break;
            }
            std::size_t body = 0;
            reply r = classify(head, opt_.max_body, body);
            c.skip_body = body;
            if (!queue(r))
                return false;
        }
        if (!send_batch(c, iov, count))
            return false;
        return finish_if_done(c);
    }

    // One AES reply in slot `i` of the arena (which iov[i] then points to): head, random IV,
    // ciphertext. The arena has a slot per iovec of a batch, so nothing moves while a batch
    // is being built.
    std::string_view encrypt_reply(reply r, std::size_t i) {
        const std::string& head = responses_.aes_heads[static_cast<int>(r)];
        const std::size_t slot = head.size() + responses_.aes_body_size;
        if (arena_.size() < max_iov * slot) {
            arena_.assign(max_iov * slot, 0);
            plain_.assign(opt_.body_size, 'x');
            if (!cipher_)
                cipher_ = EVP_CIPHER_CTX_new();
        }
        char* out = arena_.data() + i * slot;
        std::memcpy(out, head.data(), head.size());
        auto* iv = reinterpret_cast<unsigned char*>(out + head.size());
        int n1 = 0, n2 = 0;
        static const unsigned char key[] = "0123456789ABCDEF";
        if (!cipher_ || RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(cipher_, EVP_aes_128_cbc(), nullptr, key, iv) != 1 ||
            EVP_EncryptUpdate(cipher_, iv + 16, &n1,
                              reinterpret_cast<const unsigned char*>(plain_.data()),
                              int(plain_.size())) != 1 ||
            EVP_EncryptFinal_ex(cipher_, iv + 16 + n1, &n2) != 1)
            return {};
        return {out, head.size() + 16 + std::size_t(n1 + n2)};
    }

    void arm_timer() {
        if (timer_queue_.empty())
            return;
        std::uint64_t due = timer_queue_.front().due_ns;
        itimerspec its{};
        its.it_value.tv_sec = time_t(due / 1'000'000'000u);
        its.it_value.tv_nsec = long(due % 1'000'000'000u);
        timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr);
    }

    void on_timer() {
        std::uint64_t expirations;
        while (::read(timerfd_, &expirations, sizeof expirations) > 0) {
        }
        std::uint64_t now = now_ns();
        touched_.clear();
        while (!timer_queue_.empty() && timer_queue_.front().due_ns <= now) {
            delayed_reply d = timer_queue_.front();
            timer_queue_.pop_front();
            connection& c = conns_[std::size_t(d.fd)];
            if (c.fd != d.fd || c.generation != d.generation)
                continue;
            --c.delayed;
            c.out.append(responses_[d.kind]);
            if (touched_.empty() || touched_.back() != tag(c))
                touched_.push_back(tag(c));
        }
        for (std::uint64_t t : touched_) {
            connection& c = conns_[std::size_t(std::uint32_t(t))];
            if (tag(c) == t && c.fd >= 0)
                flush(c);
        }
        arm_timer();
    }

    options opt_;
    responses responses_;
    int epfd_ = -1;
    int sigfd_ = -1;
    int timerfd_ = -1;
    int listen_fd_ = -1;
    bool stop_ = false;
    bool warned_accept_ = false;
    std::vector<connection> conns_;
    std::deque<delayed_reply> timer_queue_;
    std::vector<std::uint64_t> touched_;
    std::string head_copy_;
    std::vector<char> arena_;
    std::string plain_;
    EVP_CIPHER_CTX* cipher_ = nullptr;
    char scratch_[read_chunk];
};

} // namespace

int main(int argc, char** argv) {
    options o = parse_options(argc, argv);
    static server s(o); // static: the 64 KiB scratch buffer does not belong on the stack
    return s.run();
}
