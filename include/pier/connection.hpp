// pier/connection.hpp: one accepted connection, as a handler sees it.
#pragma once

#include <pier/buffer/shared_buffer.hpp>
#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/detail/clock.hpp>
#include <pier/detail/loop_lot.hpp>
#include <pier/detail/registry.hpp>
#include <pier/detail/zero_copy.hpp>
#include <pier/error.hpp>
#include <pier/file.hpp>
#include <pier/sched/worker_pool.hpp>
#include <pier/stats.hpp>
#include <pier/tcp_info.hpp>
#include <pier/write/queue.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace pier {

/// What one step of `connection::send_from` or `receive_into` did: `bytes` moved, or why none
/// could be (`asio::error::eof` when the source ended cleanly).
struct transfer_step {
    std::error_code error;
    std::size_t bytes = 0;
};

/// What a relay's socket must offer (an Asio TCP socket does): its descriptor for splice(2),
/// readiness waits, and non-blocking reads and writes for the copy path.
template <class S>
concept relay_socket = requires(S& s, std::error_code& ec, asio::mutable_buffer mb,
                                asio::const_buffer cb) {
    { s.native_handle() } -> std::convertible_to<int>;
    { s.is_open() } -> std::convertible_to<bool>;
    s.non_blocking(true, ec);
    { s.read_some(mb, ec) } -> std::convertible_to<std::size_t>;
    { s.write_some(cb, ec) } -> std::convertible_to<std::size_t>;
    s.async_wait(asio::socket_base::wait_read, use_tuple);
};

/// A connection accepted by a `pier::server`, handed to the handler by reference.
///
/// Input: `co_await read()` waits until more bytes arrived and appends them to `input()`;
/// the handler `consume(n)`s what it used. With `buffer::pooled` the buffer behind `input()`
/// is borrowed only while input is pending.
///
/// Output: pier owns the write queue. `try_send()` never waits: it writes at once when
/// nothing is queued (one send(2) for a typical reply), queues otherwise, and answers with a
/// `send_result`; `co_await send()` also waits while the queue is above the high-water mark
/// under `backpressure::suspend`. Queued sends coalesce into one gather write. Bytes count as
/// queued from `send` until the kernel took them; every queue is bounded by
/// `write_options::max_queued`.
///
/// Lifetime: the server keeps the connection alive while its handler runs; keep a
/// `std::shared_ptr` (`shared_from_this()`) to send to it from elsewhere later — a send to a
/// closed connection answers `send_result::closed`. Such references must not outlive the
/// server: its io_contexts own the socket and the strand. Release them when the connection
/// closes (the `on_close` hook) or before destroying the server, preferably on a loop thread;
/// while a reference is held, `stop()` waits for the connection up to its last-resort
/// deadline.
///
/// Thread safety: everything runs on the connection's executor (`get_executor()`), except
/// `try_send`, `try_send_file`, `close` and `abort`, which may be called from any thread: off
/// the executor they post the request there (the message is copied, or shared for a
/// `shared_buffer`) and answer `queued`; the backpressure policy applies when it arrives.
template <class Policies>
class connection final : public detail::connection_base,
                         private detail::lot_member,
                         public std::enable_shared_from_this<connection<Policies>> {
public:
    using policies_type = Policies;
    using scheduler_type = typename Policies::scheduler;
    using executor_type = typename scheduler_type::executor_type;
    using transport_type = typename Policies::transport;
    using stream_type = typename transport_type::template stream<executor_type>;
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, executor_type>;
    using buffer_policy_type = typename Policies::buffer;
    static constexpr backpressure_action backpressure = Policies::backpressure::action;
    /// Whether a data handler's connection can live in its loop's lot (detail/loop_lot.hpp):
    /// plain TCP, on a loop of its own (sched::per_thread), with no offloading.
    static constexpr bool lot_capable =
        std::is_same_v<transport_type, pier::transport::tcp> && !scheduler_type::offloads &&
        std::is_same_v<executor_type, asio::io_context::executor_type>;

    /// Used by the server.
    connection(detail::server_core& core, detail::shard& shard, scheduler_type& sched,
               typename transport_type::context& ctx, socket_type&& socket,
               const asio::ip::tcp::endpoint& remote, std::uint64_t id);
    ~connection() override;

    // --- identity -------------------------------------------------------------------------

    /// Unique within the server's lifetime; never 0.
    std::uint64_t id() const noexcept { return id_; }
    const asio::ip::tcp::endpoint& remote_endpoint() const noexcept { return remote_; }
    asio::ip::tcp::endpoint local_endpoint() const;
    executor_type get_executor() const noexcept { return executor_; }
    /// The transport stream (e.g. to read the negotiated ALPN protocol of a TLS stream).
    /// A data handler's connection over plain TCP normally lives outside Asio's reactor (see
    /// lot_capable); asking for its stream or socket puts it back there for good, on the
    /// connection's executor only, so that Asio's operations on it work as usual.
    stream_type& stream() noexcept {
        leave_lot();
        return stream_;
    }
    socket_type& socket() noexcept {
        leave_lot();
        return transport_type::socket(stream_);
    }

    // --- input ----------------------------------------------------------------------------

    /// Flushes queued output, then waits until at least one more byte is in `input()`.
    /// Errors: `asio::error::eof` (peer closed), `error::idle_timeout`, `error::read_timeout`,
    /// `error::buffer_full` (input() is full and unconsumed), `error::shutting_down`,
    /// `error::closed`, or the socket's error.
    asio::awaitable<std::error_code> read();
    /// All input received and not yet consumed.
    std::string_view input() const noexcept { return buffer_.data(); }
    /// The same bytes, writable in place (e.g. to unmask WebSocket payloads).
    std::span<char> mutable_input() noexcept {
        auto d = buffer_.data();
        return {const_cast<char*>(d.data()), d.size()};
    }
    /// Marks the first `n` bytes of `input()` as used.
    void consume(std::size_t n) noexcept { buffer_.consume(n); }

    // --- output ---------------------------------------------------------------------------

    /// Sends a copy of `data` (see the class comment). Never waits.
    send_result try_send(std::string_view data, flush when = flush::now);
    /// Sends `data` without copying it: many connections can share one payload.
    send_result try_send(const shared_buffer& data, flush when = flush::now);
    /// Sends the concatenation of `parts` (e.g. a frame header and its payload) as one
    /// message: one gather write when nothing is queued, copies only of what must wait.
    send_result try_send_parts(std::span<const std::string_view> parts, flush when = flush::now);
    /// As `try_send`, but under `backpressure::suspend` waits while the queue is above the
    /// high-water mark (until it drains to `low_water`). Returns the connection's error if it
    /// closed, `error::slow_consumer` if the message was refused for the queue's limits.
    asio::awaitable<std::error_code> send(std::string_view data);
    asio::awaitable<std::error_code> send(shared_buffer data);
    /// Waits until everything queued (file regions included) has been handed to the kernel.
    asio::awaitable<std::error_code> flush_all();
    /// Bytes accepted by send/try_send and not yet handed to the kernel.
    std::size_t queued_bytes() const noexcept { return queue_.bytes(); }
    /// TCP_CORK: while on, the kernel sends only full segments and holds a partial one (up to
    /// 200 ms) for what follows, across any number of sends; turning it off sends what it
    /// holds at once. For a reply assembled from several sends that are not all known when the
    /// first goes out. One header followed by its body needs no cork: `flush::more` does that
    /// per send. Plain TCP; over TLS it batches the encrypted records the same way.
    std::error_code set_cork(bool on) noexcept;

    // --- files and relays: zero copy ------------------------------------------------------

    /// Queues `length` bytes of the file `f` from `offset`, in order with everything sent
    /// before and after it. When the region reaches the front it goes out with sendfile(2) on
    /// plain TCP (or SSL_sendfile over kernel TLS, splice(2) under `file_method::splice`),
    /// the bytes never entering user space; over TLS without kernel TLS, or when the kernel
    /// refuses, it is read and written in 64 KiB steps (`transfer_stats()` tells which). A
    /// header sent just before with `flush::more` leaves in the same TCP segment as the file's
    /// first bytes. Progress, partial writes and a full socket are handled like any queued
    /// bytes (backpressure, write timeout). The file is kept open until the region has gone.
    /// If the file turns out shorter than the region, the connection is closed with
    /// `error::file_truncated` (the length was promised). File bytes do not count as queued
    /// bytes (they take no memory); at most `write_options::max_queued_files` regions may be
    /// queued. Never waits; any thread, like `try_send`.
    send_result try_send_file(std::shared_ptr<const file> f, std::uint64_t offset,
                              std::uint64_t length, flush when = flush::now);
    /// As `try_send_file`, then waits until the whole region has been handed to the kernel,
    /// whatever the backpressure policy: a handler that sends file after file cannot queue
    /// ahead of the client. Errors as `send`.
    asio::awaitable<std::error_code> send_file(std::shared_ptr<const file> f, std::uint64_t offset,
                                               std::uint64_t length);
    /// One step of a relay into this connection: waits until `source` (another socket, used
    /// on this connection's executor) has bytes, then moves up to `max` of them to the peer,
    /// after everything queued before, and returns once they have been handed to the kernel.
    /// With plain TCP that is splice(2) from the source into a pipe and from the pipe into
    /// the socket (`relay_method::splice`); otherwise they are copied, and the step returns
    /// once they are queued, waiting first while more than `low_water` bytes are queued. Either
    /// way, at most a pipe's worth (or `low_water` + 64 KiB) is in flight per direction: a
    /// source faster than the peer is not read again until the peer has taken what it got.
    /// `asio::error::eof` when the source has ended; the source's or the connection's error
    /// otherwise. One `send_from` at a time per connection. Stream handlers only (it waits).
    template <relay_socket Source>
    asio::awaitable<transfer_step> send_from(Source& source,
                                             std::size_t max = std::size_t{1} << 20);
    /// The other direction: waits until the peer has sent bytes and moves up to `max` of them
    /// to `sink`, returning once `sink` has taken them (so a slow sink stops this connection's
    /// reading: the peer's TCP window closes, nothing piles up here). Bytes already in
    /// `input()` go first. splice(2) on plain TCP; over TLS the decrypted input is written
    /// from `input()`. `asio::error::eof` when the peer has finished sending; errors as
    /// `read()`, or the sink's. Not while a `read()` is waiting.
    template <relay_socket Sink>
    asio::awaitable<transfer_step> receive_into(Sink& sink, std::size_t max = std::size_t{1} << 20);
    /// Ends the output direction once everything queued has gone (TLS close_notify, then the
    /// TCP FIN), while input goes on: a half-close, for relays and other protocols that end
    /// one direction first. Later sends answer `closed`.
    asio::awaitable<std::error_code> shutdown_output();
    /// Which path this connection's file sends and relays took, in bytes.
    pier::transfer_stats transfer_stats() const noexcept {
        return xfer_ ? xfer_->stats : pier::transfer_stats{};
    }

    // --- the kernel's view (ioctl/getsockopt; one syscall each) ----------------------------

    /// Bytes received by the kernel and not yet read (SIOCINQ).
    std::size_t kernel_unread_bytes() const noexcept;
    /// Bytes in the kernel's send queue: not yet sent or not yet acknowledged (SIOCOUTQ).
    std::size_t kernel_unsent_bytes() const noexcept;
    /// SO_SNDBUF / SO_RCVBUF as set: Linux doubles the value for its bookkeeping and Asio
    /// halves what getsockopt reports, so these read back what was set.
    int send_buffer_size() const noexcept;
    int receive_buffer_size() const noexcept;
    std::error_code set_send_buffer_size(int bytes) noexcept;
    std::error_code set_receive_buffer_size(int bytes) noexcept;
    /// Both buffer sizes as the kernel reports them (not halved: what it really reserves, see
    /// `pier::socket_buffers`); with autotuning they grow while the connection runs.
    pier::socket_buffers socket_buffers() const noexcept;
    /// Sets SO_SNDBUF / SO_RCVBUF and reports what the kernel applied (twice the request, or
    /// less when net.core.wmem_max / rmem_max clamped it). Turns autotuning off for that
    /// direction: see the README's guide before using it.
    buffer_size apply_send_buffer_size(int bytes) noexcept;
    buffer_size apply_receive_buffer_size(int bytes) noexcept;
    /// TCP_INFO (see pier/tcp_info.hpp): round-trip time and variance, retransmissions,
    /// congestion window, bytes acknowledged and received, delivery rate… read now, one
    /// getsockopt(2). nullopt once the socket is closed.
    std::optional<pier::tcp_info> tcp_info() const noexcept;

    // --- lifecycle ------------------------------------------------------------------------

    /// Graceful close: no more input is delivered (`read()` answers `error::closed`), queued
    /// output is flushed, then FIN, a bounded lingering read, and close. Any thread.
    void close() noexcept;
    /// Immediate close: queued output is discarded. Any thread.
    void abort(std::error_code why = error::closed) noexcept;
    bool is_open() const noexcept { return state_ == state::open && !close_requested_; }
    /// True once the server is shutting down: finish the current reply and return.
    bool stopping() const noexcept { return shutting_down_; }
    /// Why the connection ended (empty while open or after a clean end by the handler).
    std::error_code close_reason() const noexcept { return close_reason_; }

    // --- blocking work ---------------------------------------------------------------------

    /// Runs `f()` on the worker pool of `sched::workers` and resumes on this connection's
    /// executor with its result (rethrowing its exception; `std::system_error` with
    /// `error::overloaded` when the pool's queue is full).
    template <class F>
    requires scheduler_type::offloads auto offload(F&& f) {
        return async_offload(sched_.pool(), std::forward<F>(f), asio::use_awaitable);
    }

private:
    // Entry points only the server and its registry call.
    template <class H, class P2> friend class pier::server;

    /// Runs the handshake, the handler and the graceful end, on the connection's executor.
    /// `self` is this connection.
    template <class Handler> void start(Handler& h, std::shared_ptr<connection> self);
    template <class Handler> asio::awaitable<void> serve(Handler& h);
    void post_expire(std::error_code why) override;
    void post_shutdown() override;
    void post_park() override;

    enum class state : std::uint8_t { open, closing, closed };

    send_result enqueue(std::span<const std::string_view> parts, const shared_buffer* shared,
                        flush when);
    send_result enqueue_file(std::shared_ptr<const file> f, std::uint64_t offset,
                             std::uint64_t length, flush when, std::uint64_t* mark);
    void flush_now();
    // The write path when file ranges are queued (impl/connection_transfer.hpp).
    void flush_files();
    std::size_t write_front(std::error_code& ec);
    std::size_t write_file_copy(const detail::write_queue::file_range& r, std::size_t limit,
                                std::error_code& ec);
    std::size_t write_file_splice(const detail::write_queue::file_range& r, std::size_t limit,
                                  std::error_code& ec);
    void wait_writable();
    bool file_zero_copy() noexcept;
    detail::transfer_state& transfer();
    asio::awaitable<std::error_code> acquire_writer();
    void release_writer();
    template <class Sink>
    asio::awaitable<transfer_step> write_input_to(Sink& sink, std::size_t max);
    std::error_code closed_error() const noexcept {
        return close_reason_ ? close_reason_ : make_error_code(error::closed);
    }
    void start_async_write();
    void on_written(std::error_code ec, std::size_t n);
    void wake_drain() noexcept;
    asio::awaitable<std::error_code> wait_drain(std::size_t target);
    asio::awaitable<std::error_code> suspend_if_needed(send_result r);
    void fail(std::error_code why) noexcept;
    void expire(std::error_code why) noexcept;
    void begin_shutdown() noexcept;
    std::optional<std::error_code> begin_read();
    void arm_read() noexcept;
    std::error_code end_read(std::error_code ec, std::size_t n);
    void loop_read();
    void loop_readable(std::error_code ec);
    void loop_on_read(std::error_code ec, std::size_t n);
    bool loop_dispatch();
    void loop_fault();
    void loop_end(std::error_code why);
    static asio::awaitable<void> loop_tail(std::shared_ptr<connection> self);
    template <class Handler> void start_data_loop(Handler& h, std::shared_ptr<connection> self);
    template <class Handler>
    static asio::awaitable<void> serve_owned(std::shared_ptr<connection> self, Handler& h) {
        co_await self->serve(h);
    }
    asio::awaitable<void> finish();
    bool lingers() const noexcept;
    void touch() noexcept {
        last_activity_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
    }
    void touch_read() noexcept { touch(); }
    bool on_executor() const noexcept { return executor_.running_in_this_thread(); }
    void mark_busy_reading(bool b) noexcept { busy_reading.store(b, std::memory_order_relaxed); }

    // The loop's lot (detail/loop_lot.hpp): a data handler's connection over plain TCP.
    bool in_lot() const noexcept { return lot_fd_ >= 0; }
    /// The descriptor, in the lot or in Asio's socket.
    int native() const noexcept {
        return in_lot() ? lot_fd_ : transport_type::socket(stream_).native_handle();
    }
    bool enter_lot();
    void leave_lot() noexcept;
    void lot_report(std::uint32_t events) override;
    void lot_resume() override;
    void lot_kick() noexcept;
    void lot_close() noexcept;
    std::size_t raw_write(std::span<const asio::const_buffer> bufs, std::error_code& ec);
    detail::shard_counters& counters() noexcept { return shard_->counters; }

    // The data handler's entry points, type-erased so that the loop is not a template.
    struct data_hooks {
        void* handler = nullptr;
        std::size_t (*on_data)(void*, connection&, std::string_view) = nullptr;
        void (*on_close)(void*, connection&, std::error_code) = nullptr;
    };

    detail::server_core& core_;
    scheduler_type& sched_;
    typename transport_type::context& ctx_;
    executor_type executor_;
    mutable stream_type stream_;
    typename buffer_policy_type::read_buffer buffer_;
    detail::write_queue queue_;
    std::vector<asio::const_buffer> iov_;
    asio::cancellation_signal read_cancel_;
    std::unique_ptr<asio::steady_timer> drain_timer_;
    std::unique_ptr<detail::transfer_state> xfer_; // file sends and relays only
    std::shared_ptr<connection> self_;             // keeps a data handler's connection alive
    data_hooks hooks_;
    std::size_t drain_target_ = static_cast<std::size_t>(-1);
    asio::ip::tcp::endpoint remote_;
    std::error_code close_reason_;
    std::uint64_t id_;
    state state_ = state::open;
    bool writing_ = false;
    bool reading_ = false;
    bool flush_scheduled_ = false;
    bool close_requested_ = false;
    bool shutting_down_ = false;
    bool input_ended_ = false;
    bool shutdown_read_done_ = false; // the one read allowed after the shutdown began
    bool busy_ = false;               // input flowed lately: reads keep the buffer and speculate
    bool parking_ = false;            // the busy read is being cancelled to park the connection
    bool output_shut_ = false;        // shutdown_output(): no more sends
    bool lot_ready_ = false;          // in the lot: input was reported and not read to the end yet
    bool lot_ended_ = false;          // in the lot: the peer's FIN or an error was reported
    bool lot_kicked_ = false;         // in the lot: a turn is posted to see a close or a deadline
    bool lot_tried_ = false;          // the data loop tried to enter the lot (once)
    bool read_once_ = false;          // some input was read
    std::uint8_t lot_reads_ = 0;      // reads in this turn (bounded: then it yields)
    int lot_fd_ = -1;                 // in the lot: the descriptor, released from Asio's socket
    std::uint64_t lot_key_ = 0;       // its name in the lot
    // Slow-loris defence: when the handler began waiting on the current partial input, and
    // how much input there was after the last read (less at the next wait = progress).
    std::int64_t partial_since_ms_ = 0;
    std::size_t pending_after_read_ = 0;
};

} // namespace pier

#include <pier/impl/connection.hpp>
#include <pier/impl/connection_transfer.hpp>
