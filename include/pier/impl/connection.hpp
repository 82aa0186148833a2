// pier/impl/connection.hpp: out-of-line definitions of pier::connection.
#pragma once

#include <pier/connection.hpp>
#include <pier/detail/hooks.hpp>

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace pier {

template <class P>
connection<P>::connection(detail::server_core& core, detail::shard& shard, scheduler_type& sched,
                          typename transport_type::context& ctx, socket_type&& socket,
                          const asio::ip::tcp::endpoint& remote, std::uint64_t id)
    : core_(core), sched_(sched), ctx_(ctx), executor_(socket.get_executor()),
      stream_(std::move(socket), ctx), remote_(remote), id_(id) {
    // Linked into the shard by the server once a shared_ptr owns it (shard::insert).
    shard_ = &shard;
}

template <class P> connection<P>::~connection() {
    // Freed without fail() only after the server's lots are gone (its io_contexts being
    // destroyed with handlers pending): the descriptor is closed, the lot not touched.
    if (in_lot())
        ::close(lot_fd_);
    // Unlink first: the sweeper may be looking at this object under the shard's lock.
    auto* sh = shard_;
    sh->erase(this);
    detail::shard_counters::add(sh->counters.closed);
    core_.connection_closed();
}

template <class P> asio::ip::tcp::endpoint connection<P>::local_endpoint() const {
    if (in_lot()) {
        asio::ip::tcp::endpoint ep;
        socklen_t len = static_cast<socklen_t>(ep.capacity());
        if (::getsockname(lot_fd_, ep.data(), &len) != 0)
            return {};
        ep.resize(len);
        return ep;
    }
    std::error_code ec;
    return transport_type::socket(stream_).local_endpoint(ec);
}

// --- the loop's lot (detail/loop_lot.hpp) -----------------------------------------------------
//
// A data handler's connection over plain TCP lives in its loop's lot: added once, edge-
// triggered, for input and room to write. A report of input is read until a read comes back
// shorter than the buffer (drained: the next input brings a report of its own), at most 4 reads
// a turn; then the connection yields to the others (loop_lot::later). A write that finds the
// socket's buffer full waits for the report of room. Nothing that needs Asio's socket (the
// stream or socket accessors, coroutine reads, files, relays, a lingering close) is done in
// the lot: leave_lot() gives the descriptor back to Asio's reactor first, for good.

// Called only where lot_capable holds (loop_read).
template <class P> bool connection<P>::enter_lot() {
    auto* lot = shard_->lot;
    auto& s = transport_type::socket(stream_);
    if (!lot || !s.is_open())
        return false;
    const int fd = s.native_handle();
    const auto key = lot->join(this, fd);
    if (!key)
        return false; // the kernel refused: the connection stays in Asio's reactor
    std::error_code ec;
    s.release(ec); // out of Asio's reactor; the descriptor stays open
    if (ec) {
        lot->withdraw(*key, fd);
        return false;
    }
    lot_fd_ = fd;
    lot_key_ = *key;
    // Input that came before the descriptor joined is reported by the join itself.
    return true;
}

template <class P> void connection<P>::leave_lot() noexcept {
    if constexpr (lot_capable) {
        if (!in_lot() || !on_executor())
            return;
        const int fd = std::exchange(lot_fd_, -1);
        shard_->lot->withdraw(lot_key_, fd);
        lot_ready_ = false;
        std::error_code ec;
        transport_type::socket(stream_).assign(remote_.protocol(), fd, ec);
        if (ec) {
            ::close(fd);
            fail(ec);
            return;
        }
        // What waited on the lot now waits on Asio: a write for room, the loop for input.
        if (writing_) {
            writing_ = false;
            start_async_write();
        }
        if (reading_) {
            reading_ = false;
            try {
                asio::post(executor_, [self = this->shared_from_this()] { self->loop_read(); });
            } catch (...) {
                fail(make_error_code(error::closed));
            }
        }
    }
}

template <class P> void connection<P>::lot_report(std::uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        lot_ready_ = true;
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            lot_ended_ = true; // no report follows: read to the end
    }
    // EPOLLOUT comes with every report while there is room; only a waiting write wants it.
    if (writing_ && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
        writing_ = false;
        start_async_write();
    }
    if (lot_ready_ || state_ != state::open)
        lot_resume();
}

template <class P> void connection<P>::lot_resume() {
    // Only the loop waiting in the lot (reading_, set by arm_read) continues here.
    if (!reading_)
        return;
    reading_ = false;
    lot_reads_ = 0;
    loop_read();
}

// A close, a shutdown or a deadline while the loop waits in the lot: no report will come for
// it, so the loop's next turn is posted (once) to see it.
template <class P> void connection<P>::lot_kick() noexcept {
    if (std::exchange(lot_kicked_, true))
        return;
    try {
        asio::post(executor_, [self = this->shared_from_this()] {
            self->lot_kicked_ = false;
            self->lot_resume();
        });
    } catch (...) {
        lot_kicked_ = false;
    }
}

// fail() in the lot: the descriptor closes (which takes it out of the lot), and its reports
// already taken find nothing.
template <class P> void connection<P>::lot_close() noexcept {
    const int fd = std::exchange(lot_fd_, -1);
    shard_->lot->leave(lot_key_);
    ::close(fd);
    writing_ = false;
    if (reading_)
        lot_kick();
}

template <class P>
std::size_t connection<P>::raw_write(std::span<const asio::const_buffer> bufs,
                                     std::error_code& ec) {
    if (in_lot())
        return detail::raw_send(lot_fd_, bufs, ec);
    return transport_type::try_write_some(stream_, bufs, ec);
}

// --- input ------------------------------------------------------------------------------------

// A read in three steps, shared by the coroutine `read()` and the callback loop that drives
// data handlers: begin_read settles what needs no waiting, arm_read records the wait for the
// sweeper, end_read interprets the outcome.
template <class P> std::optional<std::error_code> connection<P>::begin_read() {
    if (state_ == state::closed)
        return close_reason_ ? close_reason_ : error::closed;
    if (close_requested_)
        return make_error_code(error::closed);
    if (input_ended_)
        return make_error_code(asio::error::eof);
    if (!queue_.empty() && !writing_)
        flush_now();
    if (shutting_down_ && buffer_.data().empty()) {
        // Input the client sent before the shutdown is still answered; then we stop. One read
        // only: a client that sends its next request as soon as a reply arrives would
        // otherwise hold the connection open until the shutdown deadline cuts a reply short.
        if (!shutdown_read_done_) {
            shutdown_read_done_ = true;
            std::error_code ec;
            auto n = in_lot() ? detail::raw_recv(lot_fd_, buffer_.prepare(), ec)
                              : transport_type::try_read_some(stream_, buffer_.prepare(), ec);
            if (!ec && n > 0) {
                buffer_.commit(n);
                detail::shard_counters::add(counters().bytes_in, n);
                touch_read();
                return std::error_code{};
            }
        }
        buffer_.release_if_empty();
        return make_error_code(error::shutting_down);
    }
    if (buffer_.holds_storage() && buffer_.prepare().size() == 0)
        return make_error_code(error::buffer_full);
    return std::nullopt;
}

template <class P> void connection<P>::arm_read() noexcept {
    // The read timeout counts from the first wait on the current partial input, so a client
    // that trickles a message byte by byte cannot reset it; consumed input is progress.
    const std::size_t pending = buffer_.data().size();
    if (pending == 0)
        partial_since_ms_ = 0;
    else if (partial_since_ms_ == 0 || pending < pending_after_read_)
        partial_since_ms_ = detail::coarse_now_ms();
    read_wait_since_ms.store(partial_since_ms_, std::memory_order_relaxed);
    reading_ = true;
}

template <class P> std::error_code connection<P>::end_read(std::error_code ec, std::size_t n) {
    reading_ = false;
    read_wait_since_ms.store(0, std::memory_order_relaxed);
    if (ec == asio::error::operation_aborted) {
        if (state_ == state::closed)
            ec = close_reason_ ? close_reason_ : error::closed;
        else if (close_requested_)
            ec = error::closed;
        else if (shutting_down_) {
            shutdown_read_done_ = true;
            std::error_code ec2;
            n = transport_type::try_read_some(stream_, buffer_.prepare(), ec2);
            ec = (!ec2 && n > 0) ? std::error_code{} : make_error_code(error::shutting_down);
        }
    }
    if (ec) {
        buffer_.release_if_empty();
        if (ec == asio::error::eof)
            input_ended_ = true;
        return ec;
    }
    buffer_.commit(n);
    read_once_ = true;
    pending_after_read_ = buffer_.data().size();
    detail::shard_counters::add(counters().bytes_in, n);
    touch_read();
    return {};
}

template <class P> asio::awaitable<std::error_code> connection<P>::read() {
    leave_lot();
    if (auto settled = begin_read())
        co_return *settled;
    // The caller's cancellation (`co_await (c.read() || timer.async_wait(…))`) reaches the
    // wait in flight: the read then ends with operation_aborted and the connection lives on.
    auto cs = co_await asio::this_coro::cancellation_state;
    auto parent = cs.slot();
    if (parent.is_connected())
        parent.assign([this](asio::cancellation_type t) { read_cancel_.emit(t); });
    arm_read();
    std::error_code ec;
    std::size_t n = 0;
    if constexpr (!buffer_policy_type::holds_storage_when_idle) {
        for (;;) {
            if (busy_ || transport_type::buffered_input(stream_)) {
                // Busy: keep the block and read speculatively (one recv, no epoll_ctl);
                // the sweep parks the connection once it was quiet for a sweep period.
                mark_busy_reading(true);
                auto [rec, rn] = co_await stream_.async_read_some(
                    buffer_.prepare(),
                    asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
                mark_busy_reading(false);
                if (rec == asio::error::operation_aborted && parking_ && !close_requested_ &&
                    state_ == state::open && !shutting_down_) {
                    parking_ = false;
                    busy_ = false;
                    continue; // park: give the block back and wait for readiness
                }
                parking_ = false;
                ec = rec;
                n = rn;
                break;
            }
            // Idle: the block goes back to the pool for the wait, so an idle connection holds
            // none (16 KiB each, most of an idle connection's memory).
            buffer_.release_if_empty();
            auto [wec] = co_await transport_type::socket(stream_).async_wait(
                asio::socket_base::wait_read,
                asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
            if (wec) {
                ec = wec;
                break;
            }
            busy_ = true;
        }
    } else {
        auto [rec, rn] = co_await stream_.async_read_some(
            buffer_.prepare(), asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
        ec = rec;
        n = rn;
    }
    if (parent.is_connected())
        parent.clear();
    co_return end_read(ec, n);
}

// --- the data-handler loop ------------------------------------------------------------------
//
// Data handlers need no coroutine: plain completion handlers drive read -> on_data -> reply,
// which keeps the per-message cost near that of a hand-written epoll loop. The connection is
// kept alive by `self_` from loop_start to loop_end; no operation of the loop is pending when
// loop_end runs.

template <class P> void connection<P>::loop_read() {
    for (;;) {
        if (auto settled = begin_read()) {
            if (*settled)
                return loop_end(*settled);
            if (!loop_dispatch())
                return;
            continue;
        }
        arm_read();
        if (in_lot()) {
            if (!lot_ready_) {
                // The lot reports the next input. A connection the sweep found quiet gives
                // its block back for the wait (parked); a busy one keeps it.
                if (busy_)
                    mark_busy_reading(true);
                else
                    buffer_.release_if_empty();
                return;
            }
            if (lot_reads_ == 4) {
                shard_->lot->later(lot_key_); // input left: the others' turn first
                return;
            }
            ++lot_reads_;
            const auto room = buffer_.prepare();
            std::error_code ec;
            std::size_t n = detail::raw_recv(lot_fd_, room, ec);
            if (ec == asio::error::would_block) {
                lot_ready_ = false;
                reading_ = false;
                continue;
            }
            if (!ec && n == 0)
                ec = asio::error::eof;
            // Shorter than the buffer: drained, unless the peer's end was reported with it.
            if (ec || (n < room.size() && !lot_ended_))
                lot_ready_ = false;
            busy_ = true;
            if (auto e = end_read(ec, n))
                return loop_end(e);
            if (!loop_dispatch())
                return;
            continue;
        }
        if constexpr (lot_capable) {
            // The lot is entered when the connection waits for input after its first read: a
            // connect-per-request exchange (read, reply, close) never waits again, and is
            // spared the move's two epoll_ctl calls (out of Asio's reactor, into the lot).
            if (read_once_ && !lot_tried_) {
                lot_tried_ = true;
                if (enter_lot())
                    continue;
            }
        }
        if constexpr (!buffer_policy_type::holds_storage_when_idle) {
            if (!busy_ && !transport_type::buffered_input(stream_)) {
                buffer_.release_if_empty();
                transport_type::socket(stream_).async_wait(
                    asio::socket_base::wait_read,
                    asio::bind_cancellation_slot(
                        read_cancel_.slot(), [this](std::error_code ec) { loop_readable(ec); }));
                return;
            }
            mark_busy_reading(true);
        }
        // Busy (or a fixed buffer): read speculatively into the held buffer: one recv when
        // data is there, no epoll_ctl.
        stream_.async_read_some(buffer_.prepare(),
                                asio::bind_cancellation_slot(
                                    read_cancel_.slot(), [this](std::error_code ec, std::size_t n) {
                                        loop_on_read(ec, n);
                                    }));
        return;
    }
}

template <class P> void connection<P>::loop_readable(std::error_code ec) {
    if (ec)
        return loop_on_read(ec, 0);
    // Readable after an idle wait: busy again, and the speculative read finds the data.
    busy_ = true;
    reading_ = false;
    loop_read();
}

template <class P> void connection<P>::loop_on_read(std::error_code ec, std::size_t n) {
    if constexpr (!buffer_policy_type::holds_storage_when_idle) {
        mark_busy_reading(false);
        if (ec == asio::error::operation_aborted && parking_) {
            parking_ = false;
            busy_ = false;
            reading_ = false;
            return loop_read(); // parked: the block goes back, a readiness wait follows
        }
        parking_ = false;
    }
    if (auto e = end_read(ec, n))
        return loop_end(e);
    if (loop_dispatch())
        loop_read();
}

// Feeds input to on_data until it needs more; false when the loop continues elsewhere (an
// offload) or has ended.
template <class P> bool connection<P>::loop_dispatch() {
    while (state_ == state::open && !close_requested_) {
        const std::string_view in = buffer_.data();
        if (in.empty())
            break;
        if constexpr (scheduler_type::offloads) {
            async_offload(
                sched_.pool(), [this, in] { return hooks_.on_data(hooks_.handler, *this, in); },
                asio::bind_executor(executor_, [this](std::exception_ptr ep, std::size_t n) {
                    if (ep)
                        return loop_fault();
                    if (n == 0)
                        return loop_read();
                    consume(n);
                    if (loop_dispatch())
                        loop_read();
                }));
            return false;
        } else {
            std::size_t n;
            try {
                n = hooks_.on_data(hooks_.handler, *this, in);
            } catch (...) {
                loop_fault();
                return false;
            }
            if (n == 0)
                break;
            consume(n);
        }
    }
    if (state_ != state::open || close_requested_) {
        loop_end({});
        return false;
    }
    return true;
}

template <class P> void connection<P>::loop_fault() {
    detail::shard_counters::add(counters().handler_errors);
    fail(make_error_code(error::closed));
    loop_end({});
}

template <class P> void connection<P>::loop_end(std::error_code why) {
    if (why && !close_reason_ && why != error::closed)
        close_reason_ = why;
    asio::co_spawn(executor_, loop_tail(std::move(self_)), asio::detached);
}

template <class P>
asio::awaitable<void> connection<P>::loop_tail(std::shared_ptr<connection> self) {
    co_await self->finish();
    self->hooks_.on_close(self->hooks_.handler, *self, self->close_reason_);
}

// --- output -----------------------------------------------------------------------------------

template <class P> send_result connection<P>::try_send(std::string_view data, flush when) {
    return try_send_parts(std::span<const std::string_view>(&data, 1), when);
}

template <class P>
send_result connection<P>::try_send_parts(std::span<const std::string_view> parts, flush when) {
    if (!on_executor()) {
        std::size_t total = 0;
        for (auto p : parts)
            total += p.size();
        std::string joined;
        joined.reserve(total);
        for (auto p : parts)
            joined.append(p);
        asio::post(executor_, [self = this->shared_from_this(), b = shared_buffer(joined), when] {
            self->enqueue(std::span<const std::string_view>(), &b, when);
        });
        return send_result::queued;
    }
    return enqueue(parts, nullptr, when);
}

template <class P> send_result connection<P>::try_send(const shared_buffer& data, flush when) {
    if (!on_executor()) {
        asio::post(executor_, [self = this->shared_from_this(), data, when] {
            self->enqueue(std::span<const std::string_view>(), &data, when);
        });
        return send_result::queued;
    }
    return enqueue(std::span<const std::string_view>(), &data, when);
}

// `parts` are copied if they must be queued; `shared`, if given, is one more part after them,
// queued by reference.
template <class P>
send_result connection<P>::enqueue(std::span<const std::string_view> parts,
                                   const shared_buffer* shared, flush when) {
    if (state_ != state::open || close_requested_ || output_shut_)
        return send_result::closed;
    constexpr std::size_t max_direct = 8;
    std::size_t total = shared ? shared->size() : 0;
    for (auto p : parts)
        total += p.size();
    if (total == 0)
        return send_result::queued;
    const auto& w = core_.options.write;

    std::size_t written = 0;
    if (queue_.empty() && !writing_ && when == flush::now && parts.size() < max_direct) {
        std::array<asio::const_buffer, max_direct> bufs;
        std::size_t n = 0;
        for (auto p : parts)
            bufs[n++] = asio::const_buffer(p.data(), p.size());
        if (shared)
            bufs[n++] = asio::const_buffer(shared->data(), shared->size());
        std::error_code ec;
        written = raw_write(std::span<const asio::const_buffer>(bufs.data(), n), ec);
        if (ec && ec != asio::error::would_block) {
            fail(ec);
            return send_result::closed;
        }
        if (written > 0) {
            detail::shard_counters::add(counters().bytes_out, written);
            touch();
        }
        if (written == total)
            return send_result::queued;
    }

    const std::size_t rest = total - written;
    if (queue_.bytes() + rest > w.max_queued) {
        detail::shard_counters::add(counters().slow_consumers);
        fail(error::slow_consumer);
        return send_result::closed;
    }
    if constexpr (backpressure == backpressure_action::drop) {
        if (written == 0 && queue_.bytes() + rest > w.high_water) {
            detail::shard_counters::add(counters().dropped_messages);
            return send_result::dropped;
        }
    } else if constexpr (backpressure == backpressure_action::close) {
        if (queue_.bytes() + rest > w.high_water) {
            detail::shard_counters::add(counters().slow_consumers);
            fail(error::slow_consumer);
            return send_result::closed;
        }
    }

    const bool was_empty = queue_.empty();
    // Skip what the direct write took; a partially written part is copied (rare).
    std::size_t skip = written;
    for (auto p : parts) {
        if (skip >= p.size()) {
            skip -= p.size();
            continue;
        }
        queue_.append_copy(p.substr(skip));
        skip = 0;
    }
    if (shared) {
        if (skip == 0)
            queue_.append_shared(*shared);
        else
            queue_.append_copy(shared->view().substr(skip));
    }
    if (was_empty)
        write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);

    if (!writing_) {
        if (when == flush::now)
            start_async_write();
        else if (when == flush::deferred && !flush_scheduled_) {
            flush_scheduled_ = true;
            asio::post(executor_, [self = this->shared_from_this()] {
                self->flush_scheduled_ = false;
                self->flush_now();
            });
        }
    }
    return queue_.bytes() > w.high_water ? send_result::backpressure : send_result::queued;
}

// Hands queued output to the kernel without waiting; what remains goes to an async write.
template <class P> void connection<P>::flush_now() {
    if (writing_ || queue_.empty() || state_ == state::closed)
        return;
    if (queue_.files() > 0)
        return flush_files();
    queue_.gather(iov_, core_.options.write.max_gather);
    std::error_code ec;
    auto n = raw_write(std::span<const asio::const_buffer>(iov_), ec);
    if (ec && ec != asio::error::would_block) {
        fail(ec);
        return;
    }
    if (n > 0) {
        queue_.consume(n);
        detail::shard_counters::add(counters().bytes_out, n);
        touch();
    }
    if (queue_.empty()) {
        write_stall_since_ms.store(0, std::memory_order_relaxed);
        wake_drain();
    } else {
        if (n > 0)
            write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
        start_async_write();
    }
}

template <class P> void connection<P>::start_async_write() {
    if (writing_ || queue_.empty() || state_ == state::closed)
        return;
    if (queue_.files() > 0)
        return flush_files();
    writing_ = true;
    queue_.gather(iov_, core_.options.write.max_gather);
    if (in_lot()) {
        std::error_code ec;
        const auto n = detail::raw_send(lot_fd_, iov_, ec);
        if (ec == asio::error::would_block)
            return; // the lot reports room (EPOLLOUT), edge-triggered
        return on_written(ec, n);
    }
    stream_.async_write_some(std::span<const asio::const_buffer>(iov_),
                             [self = this->shared_from_this()](std::error_code ec, std::size_t n) {
                                 self->on_written(ec, n);
                             });
}

template <class P> void connection<P>::on_written(std::error_code ec, std::size_t n) {
    writing_ = false;
    // Closed while this completion was queued: fail() already emptied the queue.
    if (ec || state_ == state::closed) {
        if (ec && state_ != state::closed)
            fail(ec);
        wake_drain();
        return;
    }
    queue_.consume(n);
    detail::shard_counters::add(counters().bytes_out, n);
    touch();
    if (queue_.empty())
        write_stall_since_ms.store(0, std::memory_order_relaxed);
    else
        write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
    wake_drain();
    if (!queue_.empty())
        start_async_write();
}

// Wakes the waiters on drain_timer_ whose condition may now hold: wait_drain (queued bytes at
// or below drain_target_; a target of 0 also waits for file ranges), send_file (file bytes
// sent past its mark) and acquire_writer. Waiters re-check and wait again if not.
template <class P> void connection<P>::wake_drain() noexcept {
    if (!drain_timer_)
        return;
    const bool drained = queue_.bytes() <= drain_target_ && (drain_target_ != 0 || queue_.empty());
    const bool file_sent = xfer_ && queue_.file_bytes_sent() >= xfer_->file_wait_mark;
    if (drained || file_sent || state_ == state::closed) {
        drain_target_ = static_cast<std::size_t>(-1);
        if (xfer_)
            xfer_->file_wait_mark = static_cast<std::uint64_t>(-1);
        drain_timer_->cancel();
    }
}

template <class P> asio::awaitable<std::error_code> connection<P>::wait_drain(std::size_t target) {
    auto pending = [&] { return queue_.bytes() > target || (target == 0 && !queue_.empty()); };
    while (pending() && state_ != state::closed) {
        if (!drain_timer_)
            drain_timer_ = std::make_unique<asio::steady_timer>(executor_);
        drain_target_ = std::min(drain_target_, target);
        // Not reset when already at "never": expires_at cancels the pending waits, and two
        // waiters (a handler and a relay direction) would keep cancelling each other.
        if (drain_timer_->expiry() != asio::steady_timer::time_point::max())
            drain_timer_->expires_at(asio::steady_timer::time_point::max());
        if (!writing_)
            flush_now();
        if (!pending() || state_ == state::closed)
            break;
        co_await drain_timer_->async_wait(use_tuple);
    }
    if (state_ == state::closed)
        co_return close_reason_ ? close_reason_ : error::closed;
    co_return std::error_code{};
}

template <class P>
asio::awaitable<std::error_code> connection<P>::suspend_if_needed(send_result r) {
    switch (r) {
    case send_result::queued:
        co_return std::error_code{};
    case send_result::dropped:
        co_return make_error_code(error::slow_consumer);
    case send_result::closed:
        co_return close_reason_ ? close_reason_ : error::closed;
    case send_result::backpressure:
        break;
    }
    if constexpr (backpressure == backpressure_action::suspend)
        co_return co_await wait_drain(core_.options.write.low_water);
    co_return std::error_code{};
}

template <class P> asio::awaitable<std::error_code> connection<P>::send(std::string_view data) {
    co_return co_await suspend_if_needed(
        enqueue(std::span<const std::string_view>(&data, 1), nullptr, flush::now));
}

template <class P> asio::awaitable<std::error_code> connection<P>::send(shared_buffer data) {
    co_return co_await suspend_if_needed(
        enqueue(std::span<const std::string_view>(), &data, flush::now));
}

template <class P> asio::awaitable<std::error_code> connection<P>::flush_all() {
    co_return co_await wait_drain(0);
}

// --- the kernel's view ------------------------------------------------------------------------

template <class P> std::size_t connection<P>::kernel_unread_bytes() const noexcept {
    int v = 0;
    if (::ioctl(native(), SIOCINQ, &v) != 0)
        return 0;
    return static_cast<std::size_t>(v);
}
template <class P> std::size_t connection<P>::kernel_unsent_bytes() const noexcept {
    int v = 0;
    if (::ioctl(native(), SIOCOUTQ, &v) != 0)
        return 0;
    return static_cast<std::size_t>(v);
}
// Plain getsockopt/setsockopt on the descriptor, which works in the lot and in Asio's reactor.
// Linux reports twice what was set (the rest is its bookkeeping); like Asio's get_option, the
// getters report half, the size as set.
template <class P> int connection<P>::send_buffer_size() const noexcept {
    int v = 0;
    socklen_t len = sizeof v;
    return ::getsockopt(native(), SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 ? v / 2 : -1;
}
template <class P> int connection<P>::receive_buffer_size() const noexcept {
    int v = 0;
    socklen_t len = sizeof v;
    return ::getsockopt(native(), SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 ? v / 2 : -1;
}
template <class P> std::error_code connection<P>::set_send_buffer_size(int bytes) noexcept {
    if (::setsockopt(native(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0)
        return {errno, asio::error::get_system_category()};
    return {};
}
template <class P> std::error_code connection<P>::set_receive_buffer_size(int bytes) noexcept {
    if (::setsockopt(native(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0)
        return {errno, asio::error::get_system_category()};
    return {};
}
template <class P> pier::socket_buffers connection<P>::socket_buffers() const noexcept {
    return read_socket_buffers(native());
}
template <class P> buffer_size connection<P>::apply_send_buffer_size(int bytes) noexcept {
    std::error_code ec;
    return pier::apply_send_buffer_size(native(), bytes, ec);
}
template <class P> buffer_size connection<P>::apply_receive_buffer_size(int bytes) noexcept {
    std::error_code ec;
    return pier::apply_receive_buffer_size(native(), bytes, ec);
}
template <class P> std::optional<pier::tcp_info> connection<P>::tcp_info() const noexcept {
    if (!in_lot() && !transport_type::socket(stream_).is_open())
        return std::nullopt;
    std::error_code ec;
    return read_tcp_info(native(), ec);
}

// --- lifecycle --------------------------------------------------------------------------------

template <class P> void connection<P>::close() noexcept {
    if (!on_executor()) {
        asio::post(executor_, [self = this->shared_from_this()] { self->close(); });
        return;
    }
    if (close_requested_ || state_ == state::closed)
        return;
    close_requested_ = true;
    if (reading_ && in_lot())
        lot_kick();
    else if (reading_)
        read_cancel_.emit(asio::cancellation_type::terminal);
}

template <class P> void connection<P>::abort(std::error_code why) noexcept {
    if (!on_executor()) {
        asio::post(executor_, [self = this->shared_from_this(), why] { self->abort(why); });
        return;
    }
    fail(why);
}

template <class P> void connection<P>::fail(std::error_code why) noexcept {
    if (state_ == state::closed)
        return;
    if (!close_reason_)
        close_reason_ = why;
    state_ = state::closed;
    std::error_code ec;
    if (in_lot())
        lot_close();
    else
        transport_type::socket(stream_).close(ec);
    queue_.clear();
    if (xfer_)
        xfer_->file_pipe.reset(); // closed, not cached, if it still holds bytes
    write_stall_since_ms.store(0, std::memory_order_relaxed);
    phase_deadline_ms.store(0, std::memory_order_relaxed);
    wake_drain();
}

template <class P> void connection<P>::expire(std::error_code why) noexcept {
    if (state_ == state::closed)
        return;
    if (why == error::handshake_timeout)
        detail::shard_counters::add(counters().handshake_failures);
    else if (why != error::shutting_down && why != error::closed)
        detail::shard_counters::add(counters().timeouts);
    fail(why);
}

template <class P> void connection<P>::begin_shutdown() noexcept {
    if (shutting_down_ || state_ == state::closed)
        return;
    shutting_down_ = true;
    phase_kind.store(phase::shutdown, std::memory_order_relaxed);
    phase_deadline_ms.store(detail::coarse_now_ms() + core_.options.timeouts.shutdown.count(),
                            std::memory_order_relaxed);
    // A handler waiting for a new message is interrupted; one in the middle of a message or a
    // reply is left to finish it.
    if (reading_ && buffer_.data().empty()) {
        if (in_lot())
            lot_kick();
        else
            read_cancel_.emit(asio::cancellation_type::terminal);
    }
}

template <class P> void connection<P>::post_expire(std::error_code why) {
    if (auto self = this->weak_from_this().lock())
        asio::post(executor_, [self = std::move(self), why] { self->expire(why); });
}

template <class P> void connection<P>::post_park() {
    if (auto self = this->weak_from_this().lock())
        asio::post(executor_, [self = std::move(self)] {
            if (self->busy_ && self->reading_ && self->buffer_.data().empty() &&
                self->state_ == state::open && !self->close_requested_) {
                if (self->in_lot()) { // bookkeeping only: the lot reports input either way
                    self->busy_ = false;
                    self->buffer_.release_if_empty();
                    return;
                }
                self->parking_ = true;
                self->read_cancel_.emit(asio::cancellation_type::terminal);
            }
        });
}

template <class P> void connection<P>::post_shutdown() {
    if (auto self = this->weak_from_this().lock())
        asio::post(executor_, [self = std::move(self)] { self->begin_shutdown(); });
}

// --- the connection's life --------------------------------------------------------------------

template <class P> template <class Handler> asio::awaitable<void> connection<P>::serve(Handler& h) {
    auto self = this->shared_from_this();
    if (core_.stopping.load())
        begin_shutdown();
    const auto hs = core_.options.timeouts.handshake.count();
    if (hs > 0) {
        phase_kind.store(phase::handshake, std::memory_order_relaxed);
        phase_deadline_ms.store(detail::coarse_now_ms() + hs, std::memory_order_relaxed);
    }
    std::error_code hec = co_await transport_type::handshake(stream_, ctx_);
    if (state_ == state::closed)
        hec = close_reason_;
    if (hec) {
        // The hook first: whoever sees the counter move may expect the hook to have run.
        detail::call_on_handshake_error(h, std::as_const(remote_), hec);
        if (hec != error::handshake_timeout)
            detail::shard_counters::add(counters().handshake_failures);
        fail(hec);
        co_return;
    }
    if (!shutting_down_) {
        phase_kind.store(phase::none, std::memory_order_relaxed);
        phase_deadline_ms.store(0, std::memory_order_relaxed);
    }
    touch();

    if constexpr (stream_handler<Handler, connection>) {
        detail::call_on_open(h, *this);
        try {
            co_await h(*this);
        } catch (...) {
            detail::shard_counters::add(counters().handler_errors);
            fail(make_error_code(error::closed));
        }
        co_await finish();
        detail::call_on_close(h, *this, std::as_const(close_reason_));
    } else {
        start_data_loop(h, std::move(self));
    }
}

template <class P>
template <class Handler>
void connection<P>::start_data_loop(Handler& h, std::shared_ptr<connection> self) {
    detail::call_on_open(h, *this);
    hooks_.handler = &h;
    hooks_.on_data = [](void* p, connection& c, std::string_view in) -> std::size_t {
        return static_cast<Handler*>(p)->on_data(c, in);
    };
    hooks_.on_close = [](void* p, connection& c, std::error_code why) {
        detail::call_on_close(*static_cast<Handler*>(p), c, std::as_const(why));
    };
    self_ = std::move(self);
    loop_read();
}

template <class P>
template <class Handler>
void connection<P>::start(Handler& h, std::shared_ptr<connection> self) {
    // A data handler over a transport without a handshake needs no coroutine at all.
    if constexpr (data_handler<Handler, connection> && !stream_handler<Handler, connection> &&
                  !detail::has_handshake<transport_type>) {
        if (core_.stopping.load())
            begin_shutdown();
        start_data_loop(h, std::move(self));
    } else {
        asio::co_spawn(executor_, serve_owned(std::move(self), h), asio::detached);
    }
}

// Linger only where the peer may still be sending: unread input now, or an end the handler did
// not choose (shutdown, deadline, error). A handler that closed after its reply (HTTP
// `Connection: close`) with nothing unread closes at once: close(2) sends the FIN, and the cost
// of a lingering read is saved on every connect-per-request exchange.
template <class P> bool connection<P>::lingers() const noexcept {
    if (core_.options.timeouts.linger.count() <= 0 || input_ended_)
        return false;
    return !close_requested_ || !buffer_.data().empty() || kernel_unread_bytes() > 0;
}

// The graceful end: flush, FIN, lingering read, close. Bounded by the write timeout (a stall),
// the shutdown deadline and `timeouts.linger`.
template <class P> asio::awaitable<void> connection<P>::finish() {
    if (state_ == state::closed)
        co_return;
    state_ = state::closing;
    if (in_lot()) {
        // The common ends (the peer's FIN, or a close after the reply) need nothing of Asio:
        // nothing is queued and no lingering read follows.
        if (queue_.empty() && !lingers()) {
            const auto reason = close_reason_;
            fail(reason ? reason : error::closed);
            close_reason_ = reason;
            co_return;
        }
        leave_lot();
    }
    if (!queue_.empty()) {
        // wait_drain checks `closed`; closing still writes.
        while (!queue_.empty() && state_ != state::closed) {
            if (!drain_timer_)
                drain_timer_ = std::make_unique<asio::steady_timer>(executor_);
            drain_target_ = 0;
            drain_timer_->expires_at(asio::steady_timer::time_point::max());
            if (!writing_)
                flush_now();
            if (queue_.empty() || state_ == state::closed)
                break;
            co_await drain_timer_->async_wait(use_tuple);
        }
    }
    if (state_ == state::closed)
        co_return;
    if (!output_shut_) // shutdown_output() sent the end already
        co_await transport_type::shutdown(stream_);
    if (state_ == state::closed)
        co_return;

    const auto linger = core_.options.timeouts.linger.count();
    const auto reason = close_reason_;
    if (lingers()) {
        std::error_code ignored;
        transport_type::socket(stream_).shutdown(asio::socket_base::shutdown_send, ignored);
        const auto until = detail::coarse_now_ms() + linger;
        const auto current = phase_deadline_ms.load(std::memory_order_relaxed);
        if (current == 0 || until < current) {
            phase_kind.store(phase::linger, std::memory_order_relaxed);
            phase_deadline_ms.store(until, std::memory_order_relaxed);
        }
        buffer_.consume(buffer_.data().size());
        std::size_t discarded = 0;
        while (state_ != state::closed && discarded < (std::size_t{1} << 20)) {
            auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(), use_tuple);
            if (ec)
                break;
            discarded += n;
        }
        buffer_.release_if_empty();
    }
    // A deadline during the lingering read is not a failure of the connection.
    fail(reason ? reason : error::closed);
    close_reason_ = reason;
}

} // namespace pier
