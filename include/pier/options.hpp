// pier/options.hpp: every run-time tunable of a server, with its default and the reason for it.
//
// Compile-time choices (how to accept, schedule, buffer, push back, encrypt) are policies, see
// fwd.hpp and concepts.hpp; everything a deployment may want to change without recompiling is
// here. Each default is chosen to be safe for an internet-facing server: every size, count and
// wait is bounded.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace pier {

/// Options of the listening sockets.
struct listen_options {
    /// listen(2) backlog. 0 (the default) means the system maximum, read from
    /// /proc/sys/net/core/somaxconn at start (4096 on current kernels). Tiny backlogs are the
    /// classic cause of 1 s / 3 s connect spikes: a full accept queue drops SYNs and the client
    /// retransmits after its RTO. Raise net.core.somaxconn and net.ipv4.tcp_max_syn_backlog too
    /// on busy hosts.
    int backlog = 0;
    /// SO_REUSEADDR, so that a restarted server can bind while old connections sit in TIME_WAIT.
    bool reuse_address = true;
    /// TCP_NODELAY on accepted sockets. pier coalesces its own writes (one gather write per
    /// flush), so Nagle's algorithm would only add up to 40 ms of delayed-ACK latency.
    bool no_delay = true;
    /// TCP_DEFER_ACCEPT: the kernel completes accept() only once the client has sent data, or
    /// this many seconds have passed. 0 (default) = off, because server-speaks-first protocols
    /// must not use it; HTTP-style servers may set 1–5.
    std::chrono::seconds defer_accept{0};
    /// TCP_FASTOPEN queue length (pending TFO requests); 0 (default) = off. Also needs bit 2 of
    /// net.ipv4.tcp_fastopen on the host.
    int fast_open = 0;
    /// SO_LINGER on accepted sockets. Unset (default): the kernel's graceful close. 0 s: close
    /// sends RST and skips TIME_WAIT (use only when the protocol makes data loss impossible).
    std::optional<std::chrono::seconds> linger;
    /// For an IPv6 address: IPV6_V6ONLY. false (default) makes "::" a dual-stack listener that
    /// also accepts IPv4 clients as ::ffff:a.b.c.d.
    bool v6_only = false;
};

/// Deadlines. All are enforced by a per-thread sweep, so a deadline fires up to `resolution`
/// late; none costs a timer per connection. A zero duration disables that deadline.
struct timeout_options {
    /// No byte in either direction for this long closes the connection (`error::idle_timeout`).
    std::chrono::milliseconds idle{std::chrono::seconds(60)};
    /// A read that waits with a partial message already buffered (the handler consumed nothing
    /// and asked for more) fails after this long (`error::read_timeout`): slow-loris defence.
    std::chrono::milliseconds read{std::chrono::seconds(30)};
    /// Queued output that makes no progress for this long closes the connection
    /// (`error::write_timeout`): a peer that stopped reading cannot pin memory forever.
    std::chrono::milliseconds write{std::chrono::seconds(30)};
    /// The transport handshake (TLS, WebSocket upgrade) must finish within this.
    std::chrono::milliseconds handshake{std::chrono::seconds(10)};
    /// Graceful shutdown: after `stop()`, handlers have this long to finish and flush their
    /// replies; then every remaining connection is closed.
    std::chrono::milliseconds shutdown{std::chrono::seconds(10)};
    /// After the reply and the FIN, pier reads and discards what the client still sends, for at
    /// most this long, before closing: closing with unread input makes the kernel send RST,
    /// which can destroy the reply still in flight (nginx's lingering_close).
    std::chrono::milliseconds linger{std::chrono::seconds(2)};
    /// How often each thread sweeps its connections for expired deadlines.
    std::chrono::milliseconds resolution{250};
};

/// The write queue pier owns for every connection. "Queued bytes" are bytes accepted by
/// `send`/`try_send` that pier has not yet handed to the kernel; bytes already in the kernel's
/// socket send buffer do not count (see `connection::kernel_unsent_bytes()` for those).
struct write_options {
    /// Above this many queued bytes the backpressure policy acts: `suspend` makes
    /// `co_await send()` wait, `drop` refuses new messages, `close` closes the connection.
    std::size_t high_water = std::size_t{1} << 20;
    /// A suspended sender resumes once the queue drains to this many bytes.
    std::size_t low_water = std::size_t{256} << 10;
    /// Hard limit for every policy (it also bounds `try_send` under `suspend`, which cannot
    /// wait): a connection whose queue would pass it is closed with `error::slow_consumer`.
    std::size_t max_queued = std::size_t{16} << 20;
    /// At most this many buffers per gather write (writev); IOV_MAX is 1024.
    std::size_t max_gather = 64;
    /// File regions (`connection::send_file`) queued at once, each holding a reference to its
    /// open file; one more closes the connection with `error::slow_consumer`. File bytes are
    /// not counted as queued bytes above: they cost no memory, only a descriptor reference. The
    /// default, 64, is far more than an HTTP/1.1 client pipelines.
    std::size_t max_queued_files = 64;
};

/// How `connection::send_file` moves a file region to the socket.
enum class file_method : std::uint8_t {
    /// sendfile(2): one system call per step, no byte through user space (the default).
    sendfile,
    /// splice(2) from the file into a pipe and from the pipe into the socket: two calls per
    /// step; for comparison, and what sendfile is made of.
    splice,
    /// pread(2) into a per-thread buffer and write: the buffered path, for comparison.
    copy,
};

/// How relays (`connection::send_from`, `receive_into`, `pier::relay`) move bytes.
enum class relay_method : std::uint8_t {
    /// splice(2) through a pipe (the default).
    splice,
    /// read into user space and write: the buffered path, for comparison.
    copy,
};

/// Zero-copy transfers. They need a transport that hands the socket plaintext: plain TCP, or
/// TLS with kernel TLS (`tls::options::kernel_tls`, for sending). Otherwise, and wherever the
/// kernel refuses, pier copies through user space instead (`transfer_stats` says which).
struct zero_copy_options {
    file_method files = file_method::sendfile;
    relay_method relays = relay_method::splice;
    /// Bytes one connection moves per step before it lets the other connections of its thread
    /// run: a client on a fast link would otherwise keep a 1 GiB sendfile going in one pass of
    /// the event loop. Default 1 MiB (about 0.3 ms of loopback copying).
    std::size_t max_step = std::size_t{1} << 20;
    /// Capacity asked for splice pipes (F_SETPIPE_SZ). Default 64 KiB, the kernel's default,
    /// which needs no extra call; larger pipes move more per pair of splice(2) calls, up to
    /// /proc/sys/fs/pipe-max-size (1 MiB unless raised).
    std::size_t pipe_size = std::size_t{64} << 10;
    /// Empty pipes each thread keeps for reuse. A pipe is two descriptors; an empty one holds
    /// no data pages. Default 16.
    std::size_t idle_pipes = 16;
    /// Pipes open at once in the process (held by transfers waiting for a slow destination,
    /// plus the idle ones); beyond it transfers copy instead. Default 4096 (8192 descriptors).
    std::size_t max_pipes = 4096;
};

/// Kernel socket buffers of accepted connections. 0 (default) keeps the kernel's
/// auto-tuning, which is usually best; a fixed size disables auto-tuning for that direction.
struct socket_buffer_options {
    int send = 0;
    int receive = 0;
};

/// The adaptive worker pool of `sched::workers`, which runs blocking handler bodies off the
/// event loops.
struct worker_options {
    /// Workers kept even when idle.
    std::size_t min_workers = 0;
    /// Upper bound on threads; blocking work beyond it waits in the queue.
    std::size_t max_workers = 512;
    /// A worker idle for this long retires (down to `min_workers`).
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(10)};
    /// Queued tasks beyond this fail with `error::overloaded` instead of growing memory.
    std::size_t max_queue = 65536;
};

/// Everything a `pier::server` is configured with at run time.
struct server_options {
    /// Address to bind: an IPv4 or IPv6 literal ("127.0.0.1", "0.0.0.0", "::1", "::").
    /// Default loopback, so that nothing is exposed by accident.
    std::string address = "127.0.0.1";
    /// Port; 0 picks an ephemeral one (see `server::local_endpoint()`).
    std::uint16_t port = 0;
    /// Event-loop threads; 0 = std::thread::hardware_concurrency().
    std::size_t threads = 0;
    /// Connections beyond this are accepted and closed at once (counted in
    /// `stats::rejected`, reported to `on_reject`). 0 = RLIMIT_NOFILE minus 64 descriptors kept
    /// for listeners, files and the process.
    std::size_t max_connections = 0;
    listen_options listen{};
    timeout_options timeouts{};
    write_options write{};
    socket_buffer_options socket_buffers{};
    zero_copy_options zero_copy{};
    worker_options workers{};
    /// Install SIGINT/SIGTERM handlers that call `stop()` (for programs; libraries embedding
    /// a server usually leave signals to the application).
    bool handle_signals = false;
};

} // namespace pier
