// pier/connection.hpp: one accepted connection, as a handler sees it.
#pragma once

#include <pier/buffer/shared_buffer.hpp>
#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/detail/clock.hpp>
#include <pier/detail/registry.hpp>
#include <pier/error.hpp>
#include <pier/sched/worker_pool.hpp>
#include <pier/write/queue.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier {

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
/// `try_send`, `close` and `abort`, which may be called from any thread: off the executor they
/// post the request there (the message is copied, or shared for a `shared_buffer`) and
/// `try_send` answers `queued`; the backpressure policy applies when it arrives.
template <class Policies>
class connection final : public detail::connection_base,
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
    stream_type& stream() noexcept { return stream_; }
    socket_type& socket() noexcept { return transport_type::socket(stream_); }

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
    /// Waits until everything queued has been handed to the kernel.
    asio::awaitable<std::error_code> flush_all();
    /// Bytes accepted by send/try_send and not yet handed to the kernel.
    std::size_t queued_bytes() const noexcept { return queue_.bytes(); }

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
    void flush_now();
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
    void touch() noexcept {
        last_activity_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
    }
    void touch_read() noexcept { touch(); }
    bool on_executor() const noexcept { return executor_.running_in_this_thread(); }
    void mark_busy_reading(bool b) noexcept { busy_reading.store(b, std::memory_order_relaxed); }
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
    std::shared_ptr<connection> self_; // keeps a data handler's connection alive
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
    // Slow-loris defence: when the handler began waiting on the current partial input, and
    // how much input there was after the last read (less at the next wait = progress).
    std::int64_t partial_since_ms_ = 0;
    std::size_t pending_after_read_ = 0;
};

} // namespace pier

#include <pier/impl/connection.hpp>
