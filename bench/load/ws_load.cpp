// ws_load: WebSocket load generator for bench/run.py (RFC 6455 client side, one thread, epoll).
//
// Modes (--mode):
//   echo       --conns connections each keep --depth messages of --size bytes in flight (binary
//              unless --text) and send a new one per echo received. Work = echoes received;
//              latency = send to echo.
//   broadcast  --conns subscribers plus one publisher. The publisher sends text messages
//              "broadcast:<seq>:<send time>..." of --size bytes, keeping at most --window messages
//              not yet received by every subscriber. Work = deliveries to subscribers; latency =
//              publisher's send to a subscriber's receipt (one clock: same process).
//   storm      --conns slots each loop: connect, opening handshake, close handshake (client close
//              frame, server close frame, server FIN), close. Work = completed opening handshakes;
//              latency = connect() to the 101 response.
//   idle       opens --conns connections from --sources loopback addresses (127.0.0.1..N),
//              prints `@ready <n>` once all are open, answers pings, and holds them until
//              SIGTERM/SIGINT, end of stdin (--until-stdin-eof) or --hold seconds.
//
// Pool modes, against pier::ws::pool (examples/ws_pool): each connection opens
// --path (default /ws)?token=T&topics=TOPIC with an HS256 token signed with --secret for user
// u<i % --users> (with a small `meta` object), and counts as open once the pool's welcome
// arrived and named that user and topic. Error envelopes from the server are errors.
//   pool-idle       idle, with topic t<i % --topics>. With --check-broadcast, once all are
//                   welcomed, the first member of each topic sends it a data envelope and
//                   every other member must get it exactly once (the sender excluded) before
//                   `@ready`; "deliveries" and "expected_deliveries" are reported.
//   pool-broadcast  broadcast, all on topic "b": the publisher sends data envelopes whose
//                   server copy (the pool adds a timestamp) is --size bytes (at least 97);
//                   the pool excludes the sender. Work = deliveries to subscribers. With
//                   --port2 P2 (two nodes of one pool joined by a backplane), the second half
//                   of the subscribers connect to P2 and the publisher and the first half to
//                   --port; "lat_us_port2" is the latency of P2's deliveries alone.
//                   --await-ack: a connection counts as open once its ?topics= is
//                   acknowledged after the welcome (what a sequenced backplane does), so that
//                   no message is published before every subscriber has its position.
//   pool-connect    storm: connect, authenticate, subscribe (topic t<i % --topics>), wait for
//                   the welcome, close handshake. Work = welcomes; latency = connect() to the
//                   welcome.
//
// Every client frame is masked with a fresh key (RFC 6455 §5.3). The server's frames are checked:
// masked frames, bad opcodes and an unexpected echo size are errors, counted and reported.
// Bounded: the measured window ends after --duration seconds or --count units of work, and the
// process stops itself at --timeout seconds whatever happens.
//
// Output protocol: see common.hpp (`@start`, `@stop`, one JSON line).

#include "common.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/epoll.h>

#include <csignal>
#include <deque>

namespace {

const char* usage_text =
    "usage: ws_load --port P --mode echo|broadcast|storm|idle|pool-idle|pool-broadcast|\n"
    "               pool-connect [--host 127.0.0.1] [--path /]\n"
    "               [--conns 64] [--size 64] [--depth 1] [--text] [--window 16]\n"
    "               [--duration 5] [--warmup 1] [--count N] [--sources 1] [--hold 60]\n"
    "               [--until-stdin-eof] [--max-pending 256] [--timeout T]\n"
    "               pool modes: --secret S [--users N] [--topics 1] [--check-broadcast]\n"
    "               pool-broadcast: [--port2 P2] (half the subscribers on a second node)\n"
    "               [--await-ack] (with a backplane: ready once ?topics= is acknowledged)\n";

enum class mode { echo, broadcast, storm, idle };
enum class state { idle, connecting, handshaking, open, closing };

constexpr std::string_view broadcast_prefix = "broadcast:";
// Payload bytes of a message's first frame kept for checks: a pool welcome (~140 bytes) fits.
constexpr std::size_t head_keep = 192;

struct connection {
    int fd = -1;
    std::uint32_t generation = 0;
    state st = state::idle;
    std::string accept_expected;
    std::vector<char> in; // unparsed bytes left from the previous read, then room for the next
    std::size_t in_len = 0;
    std::string out; // bytes the kernel has not accepted yet
    std::size_t out_off = 0;
    std::uint64_t started = 0;
    // message being received
    bool in_message = false;
    std::size_t msg_size = 0;
    std::size_t head_len = 0;
    char head[head_keep];
    // echo: send times of the messages in flight, oldest first
    std::deque<std::uint64_t> sent;
    bool close_sent = false;
    bool want_write = false;
    bool greeted = false;  // pool modes: the welcome came
    bool welcomed = false; // pool modes: counts as open (the welcome, or with --await-ack the ack)
    unsigned checks = 0;   // pool-idle --check-broadcast: check messages received
};

std::string base64(const unsigned char* p, std::size_t n) {
    std::string out(4 * ((n + 2) / 3), '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, int(n));
    out.resize(std::size_t(len));
    return out;
}

// Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)). OpenSSL does the
// hashing rather than a hand-written SHA-1.
std::string accept_for(const std::string& key) {
    std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr);
    return base64(md, len);
}

std::string base64url(std::string_view in) {
    std::string s = base64(reinterpret_cast<const unsigned char*>(in.data()), in.size());
    while (!s.empty() && s.back() == '=')
        s.pop_back();
    for (auto& ch : s)
        ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    return s;
}

// An HS256 JWT (RFC 7519) for the pool modes, with OpenSSL's HMAC. The claims are written by
// hand: only a user id made of [a-z0-9] and numbers go in.
std::string hs256_token(const std::string& secret, const std::string& sub, std::int64_t exp) {
    const std::string head = base64url(R"({"alg":"HS256","typ":"JWT"})");
    const std::string claims = base64url(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) +
                                         R"(,"meta":{"plan":"bench"}})");
    const std::string signing = head + "." + claims;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), md, &len);
    return signing + "." + base64url(std::string_view(reinterpret_cast<char*>(md), len));
}

bool iequal_prefix(std::string_view s, std::string_view lower) {
    if (s.size() < lower.size())
        return false;
    for (std::size_t i = 0; i < lower.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = char(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

void mask_in_place(char* p, std::size_t n, std::uint32_t key) {
    std::uint64_t k8 = (std::uint64_t(key) << 32) | key; // key bytes in memory order, twice
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        w ^= k8;
        std::memcpy(p + i, &w, 8);
    }
    auto* kb = reinterpret_cast<const unsigned char*>(&key);
    for (; i < n; ++i)
        p[i] = char(p[i] ^ char(kb[i & 3]));
}

class load {
public:
    // configuration
    mode md = mode::echo;
    sockaddr_in target{};
    sockaddr_in target2{}; // --port2: the second half of the subscribers
    bool two_ports = false;
    std::string host_header;
    std::string path = "/";
    bench::sources srcs{1};
    unsigned conns = 64;
    std::size_t size = 64;
    unsigned depth = 1;
    bool text = false;
    unsigned window = 16;
    double duration = 5;
    double warmup = 1;
    std::uint64_t count = ~std::uint64_t(0);
    double hold = 60;
    bool until_stdin_eof = false;
    unsigned max_pending = 256;
    double timeout = 0;
    // pool modes
    bool pool = false;
    std::string secret;
    unsigned users = 0; // 0: one per connection
    unsigned topics = 1;
    bool check_broadcast = false;
    bool await_ack = false; // a connection counts once ?topics= is acknowledged (a backplane's)

    int run();

private:
    // ---- connection plumbing ----
    std::uint64_t tag(std::size_t i) const { return (std::uint64_t(c_[i].generation) << 32) | i; }
    // Connection 0 (the publisher in broadcast modes) and the first half go to --port.
    bool on_port2(std::size_t i) const { return two_ports && i > conns / 2; }

    void open_conn(std::size_t i) {
        connection& c = c_[i];
        c.started = bench::now_ns();
        c.fd = bench::start_connect(on_port2(i) ? target2 : target, srcs.pick());
        if (c.fd < 0) {
            note_error(errno, "connect");
            c.st = state::idle;
            return;
        }
        ++c.generation;
        c.st = state::connecting;
        c.in_len = 0;
        c.out.clear();
        c.out_off = 0;
        c.in_message = false;
        c.sent.clear();
        c.close_sent = false;
        c.greeted = false;
        c.welcomed = false;
        c.checks = 0;
        ++pending_;
        epoll_event e{};
        e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        e.data.u64 = tag(i);
        epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &e);
    }

    void drop(std::size_t i) {
        connection& c = c_[i];
        if (c.fd < 0)
            return;
        if (c.st == state::connecting || c.st == state::handshaking)
            --pending_;
        if (c.st == state::open)
            --open_;
        if (c.st == state::closing)
            --open_closing_;
        if (c.welcomed && c.st == state::open)
            --welcomed_;
        ::close(c.fd);
        c.fd = -1;
        c.st = state::idle;
        std::vector<char>().swap(c.in);
        c.in_len = 0;
        std::string().swap(c.out);
    }

    void note_error(int err, const char* what) {
        ++errors_;
        if (last_error_.empty())
            last_error_ = std::string(what) + ": " + std::strerror(err);
    }
    void note_error(const char* what) {
        ++errors_;
        if (last_error_.empty())
            last_error_ = what;
    }

    void fail(std::size_t i, const char* what) {
        note_error(what);
        drop(i);
    }

    void flush(std::size_t i) {
        connection& c = c_[i];
        while (c.out_off < c.out.size()) {
            ssize_t n = ::write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return;
                note_error(errno, "write");
                return drop(i);
            }
            c.out_off += std::size_t(n);
        }
        c.out.clear();
        c.out_off = 0;
    }

    void queue_frame(connection& c, unsigned opcode, const char* payload, std::size_t n) {
        char hdr[14];
        std::size_t h = 0;
        hdr[h++] = char(0x80 | opcode);
        if (n < 126) {
            hdr[h++] = char(0x80 | n);
        } else if (n <= 0xffff) {
            hdr[h++] = char(0x80 | 126);
            hdr[h++] = char(n >> 8);
            hdr[h++] = char(n);
        } else {
            hdr[h++] = char(0x80 | 127);
            for (int s = 56; s >= 0; s -= 8)
                hdr[h++] = char(std::uint64_t(n) >> s);
        }
        auto key = std::uint32_t(rng_.next());
        std::memcpy(hdr + h, &key, 4);
        h += 4;
        std::size_t at = c.out.size();
        c.out.append(hdr, h);
        c.out.append(payload, n);
        mask_in_place(c.out.data() + at + h, n, key);
    }

    // ---- handshake ----
    void send_upgrade(std::size_t i) {
        connection& c = c_[i];
        unsigned char raw[16];
        std::uint64_t a = rng_.next(), b = rng_.next();
        std::memcpy(raw, &a, 8);
        std::memcpy(raw + 8, &b, 8);
        std::string key = base64(raw, 16);
        c.accept_expected = accept_for(key);
        std::string target = path;
        if (pool)
            target += "?token=" + tokens_[i % tokens_.size()] + "&topics=" + topic_of(i);
        c.out += "GET " + target + " HTTP/1.1\r\nHost: " + host_header +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                 "\r\nSec-WebSocket-Version: 13\r\n\r\n";
        c.st = state::handshaking;
        flush(i);
    }

    // Returns bytes consumed from data (0 = head incomplete), or npos after dropping c.
    std::size_t on_handshake(std::size_t i, std::string_view data) {
        connection& c = c_[i];
        auto end = data.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            if (data.size() > 16384) {
                fail(i, "handshake response head too large");
                return std::string_view::npos;
            }
            return 0;
        }
        std::string_view head = data.substr(0, end + 2);
        if (head.substr(0, 12) != "HTTP/1.1 101") {
            fail(i, "handshake not answered 101");
            return std::string_view::npos;
        }
        bool accepted = false;
        std::size_t pos = head.find("\r\n") + 2;
        while (pos < head.size()) {
            auto eol = head.find("\r\n", pos);
            std::string_view line = head.substr(pos, eol - pos);
            pos = eol + 2;
            if (iequal_prefix(line, "sec-websocket-accept:")) {
                auto v = line.substr(21);
                while (!v.empty() && v.front() == ' ')
                    v.remove_prefix(1);
                while (!v.empty() && v.back() == ' ')
                    v.remove_suffix(1);
                accepted = v == c.accept_expected;
            }
        }
        if (!accepted) {
            fail(i, "wrong or missing Sec-WebSocket-Accept");
            return std::string_view::npos;
        }
        --pending_;
        ++open_;
        c.st = state::open;
        on_open(i);
        return end + 4;
    }

    // ---- frames from the server ----
    // Parses complete frames from data; returns bytes consumed, or npos after dropping c.
    std::size_t on_frames(std::size_t i, std::string_view data) {
        std::size_t used = 0;
        while (c_[i].fd >= 0) {
            std::string_view d = data.substr(used);
            if (d.size() < 2)
                break;
            auto b0 = static_cast<unsigned char>(d[0]);
            auto b1 = static_cast<unsigned char>(d[1]);
            if (b1 & 0x80) {
                fail(i, "server frame is masked (RFC 6455 5.1)");
                return std::string_view::npos;
            }
            std::size_t h = 2;
            std::uint64_t len = b1 & 0x7f;
            if (len == 126) {
                if (d.size() < 4)
                    break;
                len = (std::uint64_t(static_cast<unsigned char>(d[2])) << 8) |
                      static_cast<unsigned char>(d[3]);
                h = 4;
            } else if (len == 127) {
                if (d.size() < 10)
                    break;
                len = 0;
                for (int k = 2; k < 10; ++k)
                    len = (len << 8) | static_cast<unsigned char>(d[std::size_t(k)]);
                h = 10;
            }
            if (len > (64u << 20)) {
                fail(i, "server frame larger than 64 MiB");
                return std::string_view::npos;
            }
            if (d.size() < h + len)
                break;
            std::string_view payload = d.substr(h, std::size_t(len));
            used += h + std::size_t(len);
            if (!on_frame(i, b0 & 0x0f, (b0 & 0x80) != 0, payload))
                return std::string_view::npos;
        }
        return used;
    }

    bool on_frame(std::size_t i, unsigned opcode, bool fin, std::string_view payload) {
        connection& c = c_[i];
        switch (opcode) {
        case 0x1:
        case 0x2:
            if (c.in_message)
                return fail(i, "new data frame inside a fragmented message"), false;
            c.in_message = true;
            c.msg_size = 0;
            c.head_len = std::min(payload.size(), head_keep);
            std::memcpy(c.head, payload.data(), c.head_len);
            break;
        case 0x0:
            if (!c.in_message)
                return fail(i, "continuation frame outside a message"), false;
            break;
        case 0x8:
            if (!c.close_sent) {
                // A close this client did not ask for is a failure of the run: say which.
                char what[96];
                unsigned code = payload.size() >= 2
                                    ? (unsigned char)payload[0] * 256u + (unsigned char)payload[1]
                                    : 1005u;
                std::snprintf(
                    what, sizeof what, "server closed a connection (code %u%s%.*s)", code,
                    payload.size() > 2 ? ": " : "",
                    int(std::min<std::size_t>(payload.size() > 2 ? payload.size() - 2 : 0, 60)),
                    payload.size() > 2 ? payload.data() + 2 : "");
                note_error(what);
                queue_frame(c, 0x8, payload.data(), std::min<std::size_t>(payload.size(), 2));
                c.close_sent = true;
                flush(i);
            }
            if (c.fd >= 0 && c.st == state::open) {
                --open_;
                ++open_closing_;
                c.st = state::closing;
            }
            return c_[i].fd >= 0;
        case 0x9:
            queue_frame(c, 0xA, payload.data(), payload.size());
            c.want_write = true;
            return true;
        case 0xA:
            return true;
        default:
            return fail(i, "reserved opcode from server"), false;
        }
        c.msg_size += payload.size();
        if (!fin)
            return true;
        c.in_message = false;
        on_message(i, std::string_view(c.head, c.head_len), c.msg_size);
        return c_[i].fd >= 0;
    }

    // eof_pending: the event said the peer's FIN is queued, and edge-triggered epoll will not say
    // it again, so reading goes on until read() returns 0.
    void on_readable(std::size_t i, bool eof_pending) {
        constexpr std::size_t room = 64 * 1024;
        for (;;) {
            connection& c = c_[i];
            if (c.fd < 0)
                return;
            // Small messages are parsed straight from the shared scratch buffer; only a partial
            // frame left at the end of a read moves to the connection's own buffer, and the next
            // read lands behind it (no copy of the whole read).
            bool own = c.in_len > 0;
            char* dst = scratch_.data();
            std::size_t cap = scratch_.size();
            if (own) {
                if (c.in.size() - c.in_len < room)
                    c.in.resize(c.in_len + room);
                dst = c.in.data() + c.in_len;
                cap = c.in.size() - c.in_len;
            }
            ssize_t n = ::read(c.fd, dst, cap);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return;
                note_error(errno, "read");
                return drop(i);
            }
            if (n == 0)
                return on_eof(i);
            std::string_view data = own ? std::string_view(c.in.data(), c.in_len + std::size_t(n))
                                        : std::string_view(scratch_.data(), std::size_t(n));
            std::size_t used = 0;
            if (c.st == state::handshaking) {
                std::size_t k = on_handshake(i, data);
                if (k == std::string_view::npos)
                    return;
                used = k;
            }
            if (c_[i].st != state::handshaking) {
                std::size_t k = on_frames(i, data.substr(used));
                if (k == std::string_view::npos || c_[i].fd < 0)
                    return;
                used += k;
            }
            connection& c2 = c_[i];
            std::size_t left = data.size() - used;
            if (own) {
                std::memmove(c2.in.data(), c2.in.data() + used, left);
            } else if (left > 0) {
                if (c2.in.size() < left + room)
                    c2.in.resize(left + room);
                std::memcpy(c2.in.data(), data.data() + used, left);
            }
            c2.in_len = left;
            if (left == 0 && c2.in.size() > (1u << 20))
                std::vector<char>().swap(c2.in);
            if (c2.want_write) {
                c2.want_write = false;
                flush(i);
                if (c_[i].fd < 0)
                    return;
            }
            if (std::size_t(n) < cap && !eof_pending)
                return; // drained; a new edge reports more
        }
    }

    void on_eof(std::size_t i) {
        if (c_[i].st == state::closing) {
            if (md == mode::storm)
                return storm_done(i);
            return drop(i);
        }
        if (!stopping_)
            note_error("server closed the connection");
        drop(i);
    }

    void dispatch(const epoll_event& e) {
        auto i = std::size_t(std::uint32_t(e.data.u64));
        if (i >= c_.size() || c_[i].fd < 0 || tag(i) != e.data.u64)
            return;
        connection& c = c_[i];
        if (c.st == state::connecting) {
            if (!(e.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                return;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                note_error(err, "connect");
                return drop(i);
            }
            send_upgrade(i);
            if (c_[i].fd < 0)
                return;
        } else if (e.events & EPOLLOUT) {
            flush(i);
            if (c_[i].fd < 0)
                return;
        }
        if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            on_readable(i, (e.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }

    // ---- modes ----
    void on_open(std::size_t i) {
        if (pool)
            return; // open once the welcome is in (on_pool_message)
        on_ready(i);
    }

    // The connection can be used: after the handshake, or the pool's welcome.
    void on_ready(std::size_t i) {
        if (md == mode::echo && sending_)
            echo_fill(i);
        if (md == mode::storm) {
            if (measuring_)
                hist_.record(bench::now_ns() - c_[i].started);
            if (measuring_)
                ++work_;
            connection& c = c_[i];
            const char code[2] = {char(1000 >> 8), char(1000 & 0xff)};
            queue_frame(c, 0x8, code, 2);
            c.close_sent = true;
            c.want_write = true;
            --open_;
            ++open_closing_;
            if (c.welcomed)
                --welcomed_;
            c.st = state::closing;
        }
    }

    // Every member of a topic but its first (the sender) gets the check.
    std::uint64_t expected_deliveries() const {
        const std::uint64_t n = c_.size();
        return n - std::min<std::uint64_t>(topics, n);
    }

    std::string topic_of(std::size_t i) const {
        if (md == mode::broadcast)
            return "b";
        return "t" + std::to_string(i % topics);
    }

    // Pool modes: the welcome first, then heartbeats (ignored), data, never an error.
    void on_pool_message(std::size_t i, std::string_view head, std::size_t n) {
        connection& c = c_[i];
        if (head.find(R"("type":"error")") != std::string_view::npos)
            return fail(i, "the pool answered with an error envelope");
        if (!c.greeted) {
            const std::string user = R"("user_id":"u)" + std::to_string(i % tokens_.size()) + "\"";
            const std::string topic = "[\"" + topic_of(i) + "\"]";
            if (!head.starts_with(R"({"type":"welcome")") ||
                head.find(user) == std::string_view::npos ||
                head.find(topic) == std::string_view::npos)
                return fail(i, "the first message is not the expected welcome");
            c.greeted = true;
            if (await_ack)
                return;
            c.welcomed = true;
            ++welcomed_;
            return on_ready(i);
        }
        if (!c.welcomed) {
            // --await-ack: the acknowledgement of ?topics= (its position) makes it count.
            if (head.starts_with(R"({"type":"heartbeat")"))
                return;
            const std::string topic = R"("topic":")" + topic_of(i) + "\"";
            if (!head.starts_with(R"({"type":"subscribe")") ||
                head.find(topic) == std::string_view::npos)
                return fail(i, "the message after the welcome is not the acknowledgement");
            c.welcomed = true;
            ++welcomed_;
            return on_ready(i);
        }
        // Heartbeats; and with a backplane, positions: ?topics= acknowledged after the welcome,
        // and the sender's own message coming back as a position notice.
        if (head.starts_with(R"({"type":"heartbeat")") ||
            head.starts_with(R"({"type":"subscribe")"))
            return;
        if (!head.starts_with(R"({"type":"data")"))
            return fail(i, "unexpected envelope");
        if (md == mode::broadcast)
            return on_pool_broadcast(i, head);
        if (md == mode::idle) {
            const std::string want = R"("topic":")" + topic_of(i) + "\"";
            if (head.find(want) == std::string_view::npos ||
                head.find(R"("data":"check")") == std::string_view::npos)
                return fail(i, "a check message for another topic, or garbled");
            if (++c.checks > 1)
                return fail(i, "a check message delivered twice");
            ++deliveries_;
            return;
        }
        (void)n;
        fail(i, "a data envelope in this mode");
    }

    void on_pool_broadcast(std::size_t i, std::string_view head) {
        const auto at = head.find(R"("data":"B)");
        if (at == std::string_view::npos || head.size() < at + 9 + 20)
            return fail(i, "unexpected message in pool-broadcast mode");
        const std::string hex(head.substr(at + 9, 20));
        const std::uint64_t seq = std::strtoull(hex.substr(0, 8).c_str(), nullptr, 16);
        // The send time travels as its low 48 bits (78 hours of nanoseconds).
        const std::uint64_t low = std::strtoull(hex.substr(8).c_str(), nullptr, 16);
        const std::uint64_t now = bench::now_ns(), mask = (std::uint64_t(1) << 48) - 1;
        count_delivery(i, seq, now - ((now - low) & mask));
    }

    void count_delivery(std::size_t i, std::uint64_t seq, std::uint64_t ts) {
        if (i == 0)
            return; // the publisher's own copy
        if (seq >= completed_ && seq < published_) {
            auto& slot = delivered_[seq % window];
            if (++slot == conns)
                complete_in_order();
        }
        if (measuring_) {
            const auto lat = bench::now_ns() - ts;
            hist_.record(lat);
            if (on_port2(i))
                hist2_.record(lat);
            ++work_;
        }
    }

    // pool-idle --check-broadcast: the first member of each topic speaks once.
    void send_checks() {
        for (std::size_t k = 0; k < topics && k < c_.size(); ++k) {
            const std::string env =
                R"({"type":"data","topic":")" + topic_of(k) + R"(","data":"check"})";
            queue_frame(c_[k], 0x1, env.data(), env.size());
            flush(k);
        }
    }

    void echo_fill(std::size_t i) {
        connection& c = c_[i];
        bool any = false;
        while (c.sent.size() < depth) {
            c.sent.push_back(bench::now_ns());
            queue_frame(c, text ? 0x1 : 0x2, payload_.data(), size);
            any = true;
        }
        if (any)
            c.want_write = true;
    }

    void on_message(std::size_t i, std::string_view head, std::size_t n) {
        if (pool)
            return on_pool_message(i, head, n);
        connection& c = c_[i];
        std::uint64_t now = bench::now_ns();
        if (md == mode::echo) {
            if (c.sent.empty())
                return fail(i, "echo without a request");
            if (n != size || head != std::string_view(payload_).substr(0, head.size()))
                return fail(i, "echo differs from the message sent");
            std::uint64_t t = c.sent.front();
            c.sent.pop_front();
            if (measuring_) {
                hist_.record(now - t);
                ++work_;
            }
            if (sending_)
                echo_fill(i);
        } else if (md == mode::broadcast) {
            if (head.substr(0, broadcast_prefix.size()) != broadcast_prefix || head.size() < 44)
                return fail(i, "unexpected message in broadcast mode");
            std::uint64_t seq =
                std::strtoull(std::string(head.substr(10, 16)).c_str(), nullptr, 16);
            std::uint64_t ts = std::strtoull(std::string(head.substr(27, 16)).c_str(), nullptr, 16);
            (void)now;
            count_delivery(i, seq, ts);
        }
    }

    void complete_in_order() {
        while (completed_ < published_ && delivered_[completed_ % window] >= conns) {
            delivered_[completed_ % window] = 0;
            ++completed_;
        }
    }

    void publish() {
        connection& p = c_[0];
        if (p.fd < 0 || p.st != state::open)
            return;
        std::uint64_t now = bench::now_ns();
        // A message that some subscriber has not received for 2 s is written off, so a server
        // that drops messages under load shows up as stalls instead of hanging the run.
        if (completed_ < published_ && now - publish_time_[completed_ % window] > 2'000'000'000u) {
            ++stalls_;
            delivered_[completed_ % window] = conns;
            complete_in_order();
        }
        bool any = false;
        while (pool && published_ - completed_ < window) {
            // The server's copy: {"type":"data","topic":"b","timestamp":"<24>","data":"B…"}.
            char marker[32];
            std::snprintf(marker, sizeof marker, "B%08llx%012llx",
                          (unsigned long long)(published_ & 0xffffffffu),
                          (unsigned long long)(now & 0xffffffffffffu));
            std::string data = marker;
            data.resize(size - pool_overhead, '.');
            const std::string env = R"({"type":"data","topic":"b","data":")" + data + "\"}";
            publish_time_[published_ % window] = now;
            delivered_[published_ % window] = 0;
            ++published_;
            queue_frame(p, 0x1, env.data(), env.size());
            any = true;
        }
        while (!pool && published_ - completed_ < window) {
            char msg_head[64];
            std::snprintf(msg_head, sizeof msg_head,
                          "broadcast:%016llx:%016llx:", (unsigned long long)published_,
                          (unsigned long long)now);
            std::memcpy(bcast_.data(), msg_head, 44);
            publish_time_[published_ % window] = now;
            delivered_[published_ % window] = 0;
            ++published_;
            queue_frame(p, 0x1, bcast_.data(), bcast_.size());
            any = true;
        }
        if (any)
            flush(0);
    }

    void storm_done(std::size_t i) {
        drop(i);
        if (!stopping_)
            open_conn(i);
    }

    // ---- state ----
    std::vector<connection> c_;
    std::vector<char> scratch_ = std::vector<char>(256 * 1024);
    std::string payload_;
    std::string bcast_;
    bench::fast_rng rng_{0};
    int ep_ = -1;
    unsigned pending_ = 0; // connecting or handshaking
    unsigned open_ = 0;
    unsigned open_closing_ = 0;
    bool sending_ = false;
    bool measuring_ = false;
    bool stopping_ = false;
    std::uint64_t measure_start_ = 0;
    std::uint64_t work_ = 0;
    std::uint64_t errors_ = 0;
    std::string last_error_;
    bench::histogram hist_;
    bench::histogram hist2_; // --port2: its deliveries alone
    // pool modes
    std::vector<std::string> tokens_;
    unsigned welcomed_ = 0;
    std::uint64_t deliveries_ = 0;
    // The pool's copy of a pool-broadcast message around its data string: 76 bytes.
    static constexpr std::size_t pool_overhead =
        sizeof(R"({"type":"data","topic":"b","timestamp":"2026-01-01T00:00:00.000Z","data":""})") -
        1;
    // broadcast
    std::uint64_t published_ = 0;
    std::uint64_t completed_ = 0;
    std::uint64_t stalls_ = 0;
    std::vector<unsigned> delivered_;
    std::vector<std::uint64_t> publish_time_;
};

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

int load::run() {
    std::uint64_t seed = 0;
    if (getentropy(&seed, sizeof seed) != 0)
        seed = bench::now_ns();
    rng_ = bench::fast_rng(seed);
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    unsigned total = md == mode::broadcast ? conns + 1 : conns;
    c_.resize(total);
    payload_.resize(size);
    for (std::size_t k = 0; k < size; ++k)
        payload_[k] = char('a' + k % 26);
    if (pool) {
        const unsigned n = users == 0 || users > total ? total : users;
        const auto exp = std::int64_t(std::time(nullptr)) + 86400;
        tokens_.reserve(n);
        for (unsigned u = 0; u < n; ++u)
            tokens_.push_back(hs256_token(secret, "u" + std::to_string(u), exp));
        if (md == mode::broadcast && size < pool_overhead + 21)
            size = pool_overhead + 21;
    }
    if (md == mode::broadcast) {
        if (size < 44)
            size = 44;
        bcast_.assign(size, '.');
        delivered_.assign(window, 0);
        publish_time_.assign(window, 0);
    }
    if (timeout <= 0)
        timeout = (md == mode::idle ? hold : warmup + duration) + 60;

    std::uint64_t t0 = bench::now_ns();
    std::uint64_t hard_stop = t0 + std::uint64_t(timeout * 1e9);
    std::uint64_t connect_deadline = t0 + 30'000'000'000u;
    std::uint64_t all_open_at = 0;
    std::uint64_t warm_until = 0;
    std::uint64_t measure_end = 0;
    std::uint64_t hold_until = 0;
    std::size_t next_to_open = 0;
    bool ready = false;
    bool checks_sent = false;
    int exit_code = 0;

    if (until_stdin_eof) {
        epoll_event e{};
        e.events = EPOLLIN | EPOLLHUP;
        e.data.u64 = ~std::uint64_t(0);
        epoll_ctl(ep_, EPOLL_CTL_ADD, 0, &e);
    }

    std::vector<epoll_event> events(1024);
    while (true) {
        // Open connections with at most max_pending handshakes outstanding, so a listen backlog
        // never overflows (a dropped SYN costs a 1 s retransmission, not a measurement).
        if (md != mode::storm) {
            while (next_to_open < total && pending_ < max_pending)
                open_conn(next_to_open++);
        } else if (next_to_open < total) {
            while (next_to_open < total)
                open_conn(next_to_open++);
            sending_ = true;
            warm_until = bench::now_ns() + std::uint64_t(warmup * 1e9);
        }
        int n = epoll_wait(ep_, events.data(), int(events.size()), 5);
        for (int k = 0; k < n; ++k) {
            if (events[std::size_t(k)].data.u64 == ~std::uint64_t(0)) {
                char b[256];
                if (::read(0, b, sizeof b) <= 0)
                    g_stop = 1;
                continue;
            }
            dispatch(events[std::size_t(k)]);
        }
        for (std::size_t i = 0; i < c_.size(); ++i) {
            connection& c = c_[i];
            if (c.fd >= 0 && c.want_write) {
                c.want_write = false;
                flush(i);
            }
        }
        std::uint64_t now = bench::now_ns();
        if (g_stop) {
            if (md != mode::idle)
                exit_code = 1;
            break;
        }
        if (now >= hard_stop) {
            note_error("--timeout reached");
            exit_code = 1;
            break;
        }

        if (md == mode::storm) {
            // Slots whose connect() failed outright retry here.
            if (!stopping_)
                for (std::size_t i = 0; i < c_.size(); ++i)
                    if (c_[i].fd < 0)
                        open_conn(i);
        } else if (all_open_at == 0) {
            if (pool && check_broadcast && md == mode::idle && welcomed_ == total && !checks_sent) {
                send_checks();
                checks_sent = true;
            }
            const bool all_open = !pool
                                      ? open_ == total
                                      : welcomed_ == total && open_ == total &&
                                            (!checks_sent || deliveries_ >= expected_deliveries());
            if (all_open) {
                all_open_at = now;
                if (md == mode::idle) {
                    std::printf("@ready %u\n", open_);
                    std::fflush(stdout);
                    ready = true;
                    hold_until = now + std::uint64_t(hold * 1e9);
                } else {
                    sending_ = true;
                    warm_until = now + std::uint64_t(warmup * 1e9);
                    if (md == mode::echo)
                        for (std::size_t i = 0; i < c_.size(); ++i)
                            echo_fill(i), flush(i);
                }
            } else if (now > connect_deadline ||
                       (next_to_open == total && pending_ == 0 && open_ < total)) {
                note_error("not every connection opened");
                exit_code = 1;
                break;
            }
            continue;
        }

        if (md == mode::idle) {
            if (ready && (now >= hold_until))
                break;
            if (open_ < total && !last_error_.empty()) {
                exit_code = 1;
                break;
            }
            continue;
        }
        if (md == mode::broadcast && sending_)
            publish();
        if (!measuring_ && !stopping_ && now >= warm_until) {
            measuring_ = true;
            measure_start_ = now;
            work_ = 0;
            bench::marker("@start");
        } else if (measuring_ &&
                   (now - measure_start_ >= std::uint64_t(duration * 1e9) || work_ >= count)) {
            measuring_ = false;
            stopping_ = true;
            sending_ = false;
            measure_end = now;
            bench::marker("@stop");
            break;
        }
        if (md != mode::storm && open_ < total) {
            exit_code = 1;
            break;
        }
    }
    std::uint64_t end = bench::now_ns();
    std::size_t still_open = open_ + open_closing_;
    const unsigned welcomed = welcomed_;
    for (std::size_t i = 0; i < c_.size(); ++i)
        drop(i);

    double secs = measure_start_ && measure_end ? double(measure_end - measure_start_) / 1e9 : 0.0;
    const char* names[] = {"echo", "broadcast", "storm", "idle"};
    const char* pool_names[] = {"", "pool-broadcast", "pool-connect", "pool-idle"};
    std::string extra;
    char buf[256];
    if (md == mode::broadcast) {
        std::snprintf(buf, sizeof buf,
                      ",\"subscribers\":%u,\"published\":%llu,\"window\":%u,\"stalls\":%llu", conns,
                      (unsigned long long)published_, window, (unsigned long long)stalls_);
        extra = buf;
        if (two_ports)
            extra += "," + hist2_.json("lat_us_port2");
    } else if (md == mode::idle) {
        double cs = all_open_at ? double(all_open_at - t0) / 1e9 : 0.0;
        std::snprintf(buf, sizeof buf,
                      ",\"connected\":%zu,\"connect_seconds\":%.3f,\"held_seconds\":%.3f",
                      still_open, cs, all_open_at ? double(end - all_open_at) / 1e9 : 0.0);
        extra = buf;
        if (pool) {
            std::snprintf(buf, sizeof buf,
                          ",\"welcomed\":%u,\"deliveries\":%llu,\"expected_deliveries\":%llu",
                          welcomed, (unsigned long long)deliveries_,
                          (unsigned long long)(check_broadcast ? expected_deliveries() : 0));
            extra += buf;
        }
        work_ = still_open;
        if (!ready)
            exit_code = 1;
    } else if (md == mode::echo) {
        std::snprintf(buf, sizeof buf, ",\"depth\":%u,\"text\":%s", depth, text ? "true" : "false");
        extra = buf;
    }
    std::string err = last_error_;
    for (auto& ch : err)
        if (ch == '"' || ch == '\\')
            ch = '\'';
    std::printf(
        "{\"client\":\"ws_load\",\"mode\":\"%s\",\"conns\":%u,\"size\":%zu%s,\"seconds\":%.3f,"
        "\"work\":%llu,\"work_per_s\":%.1f,%s,\"errors\":%llu,\"last_error\":\"%s\"}\n",
        pool ? pool_names[int(md)] : names[int(md)], conns, size, extra.c_str(), secs,
        (unsigned long long)work_, secs > 0 ? double(work_) / secs : 0.0,
        hist_.json("lat_us").c_str(), (unsigned long long)errors_, err.c_str());
    std::fflush(stdout);
    if (md != mode::idle && work_ == 0)
        exit_code = 1;
    return exit_code;
}

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    bench::args a(argc, argv, {"--text", "--until-stdin-eof", "--check-broadcast", "--await-ack"},
                  usage_text);
    load l;
    std::string m = a.str("--mode", "echo");
    if (m == "echo")
        l.md = mode::echo;
    else if (m == "broadcast")
        l.md = mode::broadcast;
    else if (m == "storm")
        l.md = mode::storm;
    else if (m == "idle")
        l.md = mode::idle;
    else if (m == "pool-idle")
        l.md = mode::idle, l.pool = true;
    else if (m == "pool-broadcast")
        l.md = mode::broadcast, l.pool = true;
    else if (m == "pool-connect")
        l.md = mode::storm, l.pool = true;
    else {
        std::fputs(usage_text, stderr);
        return 2;
    }
    std::string host = a.str("--host", "127.0.0.1");
    auto port = unsigned(a.num("--port", 0));
    l.target = bench::make_target(host, port);
    l.host_header = host + ":" + std::to_string(port);
    const auto port2 = unsigned(a.num("--port2", 0));
    if (port2 != 0) {
        l.target2 = bench::make_target(host, port2);
        l.two_ports = true;
    }
    l.path = a.str("--path", l.pool ? "/ws" : "/");
    l.secret = a.str("--secret", "");
    l.users = unsigned(a.num("--users", 0));
    l.topics = unsigned(a.num("--topics", 1));
    l.check_broadcast = a.flag("--check-broadcast");
    l.await_ack = a.flag("--await-ack");
    l.conns = unsigned(a.num("--conns", 64));
    l.size = std::size_t(a.num("--size", 64));
    l.depth = unsigned(a.num("--depth", 1));
    l.text = a.flag("--text");
    l.window = unsigned(a.num("--window", 16));
    l.duration = a.num("--duration", 5);
    l.warmup = a.num("--warmup", 1);
    double cnt = a.num("--count", 0);
    if (cnt > 0)
        l.count = std::uint64_t(cnt);
    l.srcs = bench::sources(unsigned(a.num("--sources", 1)));
    l.hold = a.num("--hold", 60);
    l.until_stdin_eof = a.flag("--until-stdin-eof");
    l.max_pending = unsigned(a.num("--max-pending", 256));
    l.timeout = a.num("--timeout", 0);
    a.done();
    if (port == 0 || l.conns == 0 || l.depth == 0 || l.window == 0 || l.max_pending == 0 ||
        (l.pool && (l.secret.size() < 32 || l.topics == 0)) ||
        (l.two_ports && !(l.pool && l.md == mode::broadcast))) {
        std::fputs(usage_text, stderr);
        return 2;
    }
    bench::raise_fd_limit(l.conns + 64);
    return l.run();
}
