// pier/ws/detail/engine.hpp: the WebSocket layer's machinery behind ws::server: the session
// implementation (one object per connection, driven by completion handlers), the per-shard
// runtime (session list, handle table, flush list, mailbox, sweep) and the engine that plugs
// into pier::server as the owner of its connections.
//
// Internal. Everything here runs on one shard's executor, except `engine::adopt` (the accept
// loop), `engine::deliver` and the mailbox's `push` (any thread).
#pragma once

#include <pier/buffer/pooled.hpp>
#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/detail/clock.hpp>
#include <pier/detail/hooks.hpp>
#include <pier/detail/lot.hpp>
#include <pier/detail/registry.hpp>
#include <pier/error.hpp>
#include <pier/http/request.hpp>
#include <pier/shard.hpp>
#include <pier/ws/negotiate.hpp>
#include <pier/ws/options.hpp>
#include <pier/ws/session.hpp>

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pier::ws::detail {

template <class H> struct data_of { using type = no_data; };
template <class H>
requires requires {
    typename H::session_data;
}
struct data_of<H> {
    using type = typename H::session_data;
};

/// The session type handlers of `Handler` receive.
template <class Handler, class Policies>
using session_for = session<Policies, typename data_of<Handler>::type>;

/// Reads and writes the protected state of sessions for the layer's own code.
struct session_access {
    template <class S> static session_base& base(S& s) noexcept { return s; }
};

// --- hooks ----------------------------------------------------------------------------------

/// What guarded() does when a hook threw (out of line: the hot path only calls the hook).
template <class Handler>
[[gnu::noinline, gnu::cold]] bool hook_failed(Handler& h, pier::detail::shard_counters& c,
                                              std::string_view hook) noexcept {
    c.handler_errors.fetch_add(1, std::memory_order_relaxed);
    try {
        pier::detail::call_on_hook_error(h, hook, std::current_exception());
    } catch (...) {
    }
    return false;
}

/// Runs a hook; an exception is counted, reported to `on_hook_error` (if the handler has one)
/// and swallowed. Returns false if it threw. Inline, since it wraps every message's delivery.
template <class Handler, class F>
[[gnu::always_inline]] inline bool guarded(Handler& h, pier::detail::shard_counters& c,
                                           std::string_view hook, F&& f) noexcept {
    try {
        f();
        return true;
    } catch (...) {
        return hook_failed(h, c, hook);
    }
}

// --- the read buffer ------------------------------------------------------------------------

/// The session's input: `Cap` bytes from a per-thread pool while input flows, none while
/// parked. Compact (16 bytes) since every idle session carries one.
template <std::size_t Cap, bool Keep> class input_buffer {
public:
    using pool = pier::buffer::block_pool<Cap, 256>;
    static constexpr std::size_t capacity = Cap;

    input_buffer() = default;
    input_buffer(const input_buffer&) = delete;
    input_buffer& operator=(const input_buffer&) = delete;
    ~input_buffer() {
        if (block_)
            pool::release(block_);
    }
    asio::mutable_buffer prepare() {
        if (!block_)
            block_ = pool::acquire();
        if (end_ == Cap && begin_ > 0)
            compact();
        return {block_ + end_, Cap - end_};
    }
    /// Moves unconsumed input to the front (so a frame that fits the buffer can be read whole).
    void compact() noexcept {
        if (begin_ == 0)
            return;
        std::memmove(block_, block_ + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    std::size_t room_after_compaction() const noexcept { return Cap - (end_ - begin_); }
    void commit(std::size_t n) noexcept { end_ += static_cast<std::uint32_t>(n); }
    void consume(std::size_t n) noexcept {
        begin_ += static_cast<std::uint32_t>(n);
        if (begin_ >= end_)
            begin_ = end_ = 0;
    }
    std::span<char> data() noexcept {
        return block_ ? std::span<char>(block_ + begin_, end_ - begin_) : std::span<char>();
    }
    bool empty() const noexcept { return begin_ == end_; }
    bool holds() const noexcept { return block_ != nullptr; }
    void release_if_empty() noexcept {
        if (!Keep && block_ && begin_ == end_) {
            pool::release(block_);
            block_ = nullptr;
            begin_ = end_ = 0;
        }
    }
    void release() noexcept {
        if (block_) {
            pool::release(block_);
            block_ = nullptr;
        }
        begin_ = end_ = 0;
    }

private:
    char* block_ = nullptr;
    std::uint32_t begin_ = 0;
    std::uint32_t end_ = 0;
};

// --- the mailbox ------------------------------------------------------------------------------

/// A message for one session from another thread, or a task for the shard.
struct mail {
    std::uint32_t slot = 0, gen = 0;
    opcode op = opcode::text;
    std::uint16_t close_code = 0;
    std::uint32_t key = 0;
    frame_ref frame;
    frame_ref compressed;
    bool http = false;          ///< `frame` is a deferred HTTP response
    std::function<void()> task; ///< set: run this on the shard instead
    std::size_t cost = 0;
};

/// The shard's inbox from other threads: bounded in bytes, checked by the sender, and one
/// post per batch (the first mail of a batch schedules the drain; the rest only append).
class mailbox {
public:
    /// Per mail, on top of its frame's bytes: the entry, the lock, the drain's work.
    static constexpr std::size_t overhead = 96;

    explicit mailbox(std::size_t budget) : budget_(budget) {}

    /// Appends `m` unless the budget would be passed. Returns queued/backpressure/dropped, and
    /// sets `schedule` when the caller must post the drain.
    send_result push(mail&& m, bool& schedule) {
        const std::size_t cost = m.cost;
        const auto before = used_.fetch_add(cost, std::memory_order_acq_rel);
        if (before + cost > budget_) {
            used_.fetch_sub(cost, std::memory_order_acq_rel);
            return send_result::dropped;
        }
        {
            std::lock_guard lock(m_);
            in_.push_back(std::move(m));
        }
        schedule = !scheduled_.exchange(true, std::memory_order_acq_rel);
        return before + cost > budget_ / 2 ? send_result::backpressure : send_result::queued;
    }
    /// Takes everything queued (on the shard); the caller gives the bytes back with `done`.
    void take(std::vector<mail>& out) {
        scheduled_.store(false, std::memory_order_release);
        std::lock_guard lock(m_);
        out.swap(in_);
    }
    void done(std::size_t cost) noexcept { used_.fetch_sub(cost, std::memory_order_acq_rel); }
    std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

private:
    std::size_t budget_;
    std::atomic<std::size_t> used_{0};
    std::atomic<bool> scheduled_{false};
    std::mutex m_;
    std::vector<mail> in_;
};

template <class Handler, class Policies> class engine;

// --- the session implementation ---------------------------------------------------------------

template <class Handler, class Policies>
class session_impl final : public session_for<Handler, Policies> {
public:
    using base_type = session_for<Handler, Policies>;
    using engine_type = engine<Handler, Policies>;
    using scheduler_type = typename Policies::scheduler;
    using executor_type = typename scheduler_type::executor_type;
    using transport_type = typename Policies::transport;
    using stream_type = typename transport_type::template stream<executor_type>;
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, executor_type>;
    using shard_type = typename engine_type::shard_type;
    using buffer_type = input_buffer<Policies::buffer::capacity + max_frame_header_size,
                                     Policies::buffer::holds_storage_when_idle>;

    /// Whether a session lives in its shard's lot (detail/lot.hpp), out of Asio's reactor:
    /// plain TCP, with a buffer policy that gives its storage back while idle.
    static constexpr bool can_detach =
        pier::detail::detachable<transport_type> && !Policies::buffer::holds_storage_when_idle;

    session_impl(shard_type& sh, socket_type&& socket)
        : shard_(&sh), stream_(std::move(socket), sh.eng->transport()),
          parser_(sh.eng->ws_options().limits, role::server) {
        this->env_ = &sh.env;
    }
    ~session_impl() {
        if (detached()) {
            ::close(take_fd());
            shard_->lot_left();
        }
    }

    void start();
    void begin_shutdown();
    /// One sweep: deadlines, keep-alive, parking. `now` in shard milliseconds.
    void sweep(ms32 now);
    /// Writes what is queued, as far as the socket takes it.
    void flush();
    /// A mail for this session arrived.
    void deliver(mail& m);
    /// Fails the connection (RFC 6455 §7.1.7): drops unsent output, sends Close with `code`,
    /// reports on_close, and closes the TCP connection once the Close is out (bounded by
    /// close_timeout).
    void fail(close_code code, std::string_view reason = {});
    /// Closes the TCP connection now; on_close reports 1006 if nothing was reported yet.
    void close_now(std::error_code why);
    bool finished() const noexcept {
        return this->state_ == session_state::closed && this->pending_ops_ == 0;
    }
    socket_type& socket() noexcept { return transport_type::socket(stream_); }
    /// The descriptor, in the reactor or in the lot.
    int native_handle() noexcept { return fd_ >= 0 ? fd_ : socket().native_handle(); }
    shard_type& shard_of() const noexcept { return *shard_; }
    /// The lot reported the socket (`events`: EPOLLIN, EPOLLOUT, ...), on the shard, inside an
    /// entry point.
    void on_lot_event(std::uint32_t events);
    /// Reads while input is reported and wanted (a bounded number of reads: a session with
    /// more left is handed to the shard for later in the pass).
    void lot_pump();

private:
    /// A completion handler's body, as a shard entry point; a session it finished is
    /// handed to the shard for destruction at the end.
    template <class F> void entry(F&& f) {
        shard_->enter([&] {
            f();
            shard_->retire_if_finished(this);
        });
    }
    Handler& handler() noexcept;
    ms32 now() const noexcept;
    pier::detail::shard_counters& counters() noexcept;
    void arm_read();
    void on_read(std::error_code ec, std::size_t n);
    void on_readable(std::error_code ec);
    void arm_write();
    void on_writable(std::error_code ec);
    void process();
    void handle_http();
    void refuse(unsigned status, std::string response);
    bool feed();
    bool data_piece(std::span<std::uint8_t> piece);
    bool end_message();
    bool control_frame(std::string_view payload);
    bool deliver_message(std::string_view data, bool text);
    bool whole_data_message(char* payload, std::size_t header_left);
    void report_close(close_code code, std::string_view reason);
    void finish_after_flush();
    void lingering_done();
    bool assembly_reserve(std::size_t more);
    void assembly_release() noexcept;
    void read_done(std::error_code ec, std::size_t n);
    /// The descriptor is out of Asio's reactor, in the shard's lot.
    bool detached() const noexcept { return fd_ >= 0; }
    /// The detached descriptor, handed over (the session is no longer counted as parked).
    int take_fd() noexcept {
        if (this->parked_)
            shard_->counters->parked.fetch_sub(1, std::memory_order_relaxed);
        return std::exchange(fd_, -1);
    }
    /// Out of Asio's reactor into the lot, for the session's lifetime. False: the kernel
    /// refused (no descriptors, epoll watches exhausted), and the session stays in the reactor.
    bool enter_lot();
    /// Idle (no read buffer held) or busy; `stats().parked` counts idle sessions in the lot.
    void park(bool idle) noexcept;
    std::size_t write_now(std::span<const asio::const_buffer> b, std::error_code& ec);
    void close_socket() noexcept;

    struct assembly {
        std::string msg;  // the message being assembled
        std::string ctrl; // a control frame's payload, split across reads
        std::size_t reserved = 0;
    };

    shard_type* shard_;
    stream_type stream_;
    buffer_type in_;
    frame_parser parser_;
    frame_header hdr_{};
    std::uint64_t remaining_ = 0; // payload bytes of the current frame still to come
    std::unique_ptr<assembly> asm_;
    utf8_validator utf8_;
    std::uint8_t mask_off_ = 0;
    bool in_frame_ : 1 = false;
    bool assembling_ : 1 = false;
    bool close_reported_ : 1 = false;
    bool finishing_ : 1 = false;   // close the TCP connection once the queue is empty
    bool lingering_ : 1 = false;   // FIN sent; reading until the peer's or the deadline
    bool lot_ready_ : 1 = false;   // in the lot: input was reported and not read to the end yet
    bool lot_ended_ : 1 = false;   // in the lot: the peer's FIN or an error was reported
    bool pumping_ : 1 = false;     // in the lot: lot_pump() is on the stack
    bool peer_closed_ : 1 = false; // the peer's Close came (its closing handshake, or its answer)
    int fd_ = -1;                  // >= 0: detached, the descriptor is out of Asio's reactor
};

// --- the shard ----------------------------------------------------------------------------------

template <class Impl> class shard {
public:
    using engine_type = typename Impl::engine_type;
    using executor_type = typename Impl::executor_type;
    using env_type = typename Impl::base_type::env;

    shard(engine_type& e, std::size_t index, executor_type ex);
    ~shard();

    engine_type* eng;
    std::size_t index;
    executor_type executor;
    env_type env{};
    mailbox box;
    pier::detail::shard_counters* counters;

    /// A new session's first steps, on this shard.
    void adopt(Impl* s);
    /// If `s` is finished, it is destroyed at the end of the current entry point (listed once,
    /// however many times it is retired).
    void retire_if_finished(Impl* s) {
        if (s->finished() && !s->retired_) {
            s->retired_ = true;
            finished_.push_back(s);
        }
    }
    /// Marks `s` as having output to flush at the end of the current pass.
    void mark_dirty(session_base* s) noexcept;
    /// Runs `f` as a shard entry point: afterwards, dirty sessions are flushed and finished
    /// ones destroyed.
    template <class F> void enter(F&& f);
    void sweep(std::int64_t now_ms);
    void begin_shutdown();
    /// Frees every session left, without callbacks (the loops have stopped).
    void destroy_all() noexcept;
    void drain_mail();
    session_handle handle_of(const session_base* s) const noexcept;
    Impl* resolve(std::uint32_t slot, std::uint32_t gen) const noexcept;
    /// A lot key (slot and generation, detail/lot.hpp) back to its session, or nullptr.
    Impl* resolve(std::uint64_t key) const noexcept {
        return resolve(static_cast<std::uint32_t>(key >> 32), static_cast<std::uint32_t>(key));
    }
    /// Milliseconds since the shard began (never 0): read once per entry point.
    ms32 now() const noexcept;
    std::uint64_t next_id();
    /// Bytes of partial messages held by this shard's sessions (options::assembly_budget).
    std::size_t assembling = 0;
    std::array<asio::const_buffer, 64> iov{};
    /// Where a flush copies small frames into one range (session_impl::flush).
    std::array<char, 16384> stage;
    std::size_t sessions = 0;

    /// The lot, opened on first use; nullptr if the kernel refused.
    pier::detail::lot* lot() { return lot_.get(); }
    /// Adds the descriptor of the session in `slot` to the lot.
    bool lot_add(std::uint32_t slot, int fd) { return lot_.add(fd, lot_key(slot)); }
    /// A session whose descriptor was in the lot closed it.
    void lot_left() noexcept { lot_.left(); }
    /// `s` stopped reading with input left (lot_pump's bound): it reads again later in this
    /// pass of the loop, after the sessions already reported.
    void lot_later(Impl* s) { lot_.later(lot_key(s->slot_)); }

    // The lot's driver calls these (detail/lot.hpp).
    template <class F> void lot_enter(F&& f) { enter(std::forward<F>(f)); }
    void lot_report(std::uint64_t key, std::uint32_t events);
    void lot_resume(std::uint64_t key);

    template <class F> void for_each(F&& f) {
        for (session_base* s = head_; s;) {
            auto* next = s->next_;
            f(*static_cast<Impl*>(s));
            s = next;
        }
    }

private:
    ms32 clock() const noexcept;
    /// The lot's key for the session in `slot`: the slot and its generation.
    std::uint64_t lot_key(std::uint32_t slot) const noexcept {
        return (std::uint64_t{slot} << 32) | gens_[slot];
    }
    void flush_dirty();
    void reap();
    void link(Impl* s);
    void unlink(Impl* s) noexcept;

    session_base* head_ = nullptr;
    session_base* dirty_head_ = nullptr;
    std::vector<Impl*> finished_;
    int depth_ = 0;
    bool flush_posted_ = false;
    std::vector<Impl*> slots_;
    std::vector<std::uint32_t> gens_;
    std::vector<std::uint32_t> free_slots_;
    std::vector<mail> inbox_;
    std::int64_t epoch_; ///< coarse milliseconds (detail/clock.hpp) when the shard began
    ms32 now_ = 1;       ///< now(), read when the current entry point began
    std::array<std::uint64_t, 64> ids_{};
    std::size_t ids_left_ = 0;
    pier::detail::lot_driver<shard, executor_type> lot_{*this, executor};
};

// --- the engine: pier::server's connection owner ------------------------------------------------

template <class Handler, class Policies> class engine final : public session_handle::sink {
public:
    using impl_type = session_impl<Handler, Policies>;
    using shard_type = shard<impl_type>;
    using session_type = session_for<Handler, Policies>;
    using scheduler_type = typename Policies::scheduler;
    using executor_type = typename scheduler_type::executor_type;
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, executor_type>;
    using transport_context = typename Policies::transport::context;

    /// pier::server asks its handler this: the engine creates and owns its connections.
    static constexpr bool owns_connections = true;

    engine() = default;
    engine(options o, Handler h) : opts_(std::move(o)), handler_(std::move(h)) {}
    /// The handler built in place (for handlers that cannot move).
    template <class... Args>
    engine(options o, std::in_place_t, Args&&... args)
        : opts_(std::move(o)), handler_(std::forward<Args>(args)...) {}
    engine(engine&&) = delete;

    Handler& handler() noexcept { return handler_; }
    const options& ws_options() const noexcept { return opts_; }
    transport_context& transport() noexcept { return *tctx_; }
    pier::detail::server_core& core() noexcept { return *core_; }

    // --- called by pier::server ------------------------------------------------------------
    template <class Scheduler>
    void attach(pier::detail::server_core& core, Scheduler& sched, transport_context& tctx);
    void adopt(std::size_t shard, socket_type&& s, const asio::ip::tcp::endpoint& peer);
    void begin_shutdown(std::size_t shard) { shards_[shard]->begin_shutdown(); }
    /// After the loops stopped for good, before the io_contexts go: frees what is left.
    void detach() noexcept {
        for (auto& s : shards_)
            s->destroy_all();
    }
    void sweep(std::size_t shard, std::int64_t now_ms) { shards_[shard]->sweep(now_ms); }
    bool on_accept(const asio::ip::tcp::endpoint& peer) {
        if constexpr (requires(Handler & h) { h.on_accept(peer); })
            return handler_.on_accept(peer);
        return true;
    }

    // --- session_handle::sink ----------------------------------------------------------------
    send_result deliver(std::size_t shard, std::uint32_t slot, std::uint32_t gen, opcode op,
                        frame_ref frame, frame_ref compressed, std::uint32_t key,
                        std::uint16_t close_code, bool http) override;
    /// Runs `fn` on `shard` through its mailbox (counted against its budget as `cost`).
    send_result post_mail(std::size_t shard, std::function<void()> fn, std::size_t cost);

    std::size_t shard_count() const noexcept { return shards_.size(); }
    shard_type& shard_at(std::size_t i) noexcept { return *shards_[i]; }

private:
    options opts_{};
    Handler handler_{};
    pier::detail::server_core* core_ = nullptr;
    transport_context* tctx_ = nullptr;
    std::vector<std::unique_ptr<shard_type>> shards_;
};

} // namespace pier::ws::detail

#include <pier/ws/detail/impl/engine.hpp>
