// pier/impl/connection_transfer.hpp: pier::connection's file sends, relays and batching
// (sendfile, splice, TCP_CORK): the parts of the write path that involve more than memory.
#pragma once

#include <pier/connection.hpp>
#include <pier/detail/pipe_pool.hpp>
#include <pier/detail/zero_copy.hpp>

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>

namespace pier {

template <class P> std::error_code connection<P>::set_cork(bool on) noexcept {
    const int v = on ? 1 : 0;
    if (::setsockopt(native(), IPPROTO_TCP, TCP_CORK, &v, sizeof v) != 0)
        return {errno, asio::error::get_system_category()};
    return {};
}

template <class P> detail::transfer_state& connection<P>::transfer() {
    if (!xfer_)
        xfer_ = std::make_unique<detail::transfer_state>();
    return *xfer_;
}

// --- file regions -----------------------------------------------------------------------------

template <class P>
send_result connection<P>::try_send_file(std::shared_ptr<const file> f, std::uint64_t offset,
                                         std::uint64_t length, flush when) {
    if (!on_executor()) {
        asio::post(executor_, [self = this->shared_from_this(), f = std::move(f), offset, length,
                               when]() mutable {
            self->enqueue_file(std::move(f), offset, length, when, nullptr);
        });
        return send_result::queued;
    }
    return enqueue_file(std::move(f), offset, length, when, nullptr);
}

template <class P>
send_result connection<P>::enqueue_file(std::shared_ptr<const file> f, std::uint64_t offset,
                                        std::uint64_t length, flush when, std::uint64_t* mark) {
    if (state_ != state::open || close_requested_ || output_shut_ || !f)
        return send_result::closed;
    leave_lot(); // file ranges are written through Asio's socket (sendfile, splice)
    if (length == 0)
        return send_result::queued;
    const auto& w = core_.options.write;
    if (queue_.files() >= w.max_queued_files) {
        detail::shard_counters::add(counters().slow_consumers);
        fail(error::slow_consumer);
        return send_result::closed;
    }
    transfer();
    const bool was_empty = queue_.empty();
    queue_.append_file(std::move(f), offset, length);
    if (mark)
        *mark = queue_.file_bytes_queued_total();
    if (was_empty)
        write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
    if (!writing_) {
        if (when == flush::now)
            flush_now();
        else if (when == flush::deferred && !flush_scheduled_) {
            flush_scheduled_ = true;
            asio::post(executor_, [self = this->shared_from_this()] {
                self->flush_scheduled_ = false;
                self->flush_now();
            });
        }
    }
    if (state_ != state::open)
        return send_result::closed;
    return queue_.bytes() > w.high_water ? send_result::backpressure : send_result::queued;
}

template <class P>
asio::awaitable<std::error_code> connection<P>::send_file(std::shared_ptr<const file> f,
                                                          std::uint64_t offset,
                                                          std::uint64_t length) {
    std::uint64_t mark = 0;
    const auto r = enqueue_file(std::move(f), offset, length, flush::now, &mark);
    if (r == send_result::closed)
        co_return closed_error();
    if (length == 0)
        co_return std::error_code{};
    while (queue_.file_bytes_sent() < mark && state_ != state::closed) {
        if (!drain_timer_)
            drain_timer_ = std::make_unique<asio::steady_timer>(executor_);
        xfer_->file_wait_mark = std::min(xfer_->file_wait_mark, mark);
        if (drain_timer_->expiry() != asio::steady_timer::time_point::max())
            drain_timer_->expires_at(asio::steady_timer::time_point::max());
        if (!writing_)
            flush_now();
        if (queue_.file_bytes_sent() >= mark || state_ == state::closed)
            break;
        co_await drain_timer_->async_wait(use_tuple);
    }
    if (state_ == state::closed)
        co_return closed_error();
    co_return std::error_code{};
}

// Whether file ranges may go to the socket without passing through user space.
template <class P> bool connection<P>::file_zero_copy() noexcept {
    return core_.options.zero_copy.files != file_method::copy && !transfer().file_refused &&
           detail::raw_writes<transport_type>(stream_);
}

// The write path once a file range is queued: non-blocking steps until the socket is full,
// the queue holds memory only (back to the gather-write path), or `max_step` bytes have gone
// in this pass (then the rest waits behind the other connections of this thread).
template <class P> void connection<P>::flush_files() {
    if (writing_ || queue_.empty() || state_ == state::closed)
        return;
    const std::size_t budget = core_.options.zero_copy.max_step;
    std::size_t moved = 0;
    for (;;) {
        std::error_code ec;
        const std::size_t files_before = queue_.files();
        std::size_t n;
        {
            // sendfile(2) and splice(2) raise SIGPIPE on a reset connection: they take no
            // MSG_NOSIGNAL.
            detail::sigpipe_guard no_sigpipe;
            n = write_front(ec);
        }
        if (n > 0) {
            queue_.consume(n);
            transfer().stats.files_sent += files_before - queue_.files();
            detail::shard_counters::add(counters().bytes_out, n);
            touch();
            moved += n;
        }
        if (ec && ec != asio::error::would_block) {
            fail(ec);
            return;
        }
        if (queue_.empty()) {
            write_stall_since_ms.store(0, std::memory_order_relaxed);
            wake_drain();
            return;
        }
        if (n > 0)
            write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
        wake_drain();
        if (ec || n == 0)
            return wait_writable();
        if (queue_.files() == 0)
            return start_async_write();
        if (moved >= budget) {
            writing_ = true;
            asio::post(executor_, [self = this->shared_from_this()] {
                self->writing_ = false;
                self->flush_now();
            });
            return;
        }
    }
}

template <class P> void connection<P>::wait_writable() {
    writing_ = true;
    transport_type::socket(stream_).async_wait(
        detail::write_wait<transport_type>(stream_),
        [self = this->shared_from_this()](std::error_code ec) {
            self->writing_ = false;
            if (ec || self->state_ == state::closed) {
                if (ec && self->state_ != state::closed)
                    self->fail(ec);
                self->wake_drain();
                return;
            }
            self->flush_now();
        });
}

// One non-blocking attempt to hand the front of the queue to the kernel; returns the bytes
// taken (consumed by the caller). Memory ranges in front of a file range are written with
// MSG_MORE when the file follows by zero copy, or together with the file's first bytes when
// it is copied (one TLS record for a header and the start of its body).
template <class P> std::size_t connection<P>::write_front(std::error_code& ec) {
    const auto& zc = core_.options.zero_copy;
    const std::size_t step = std::max<std::size_t>(zc.max_step, 1);
    const std::size_t n_mem = queue_.gather(iov_, core_.options.write.max_gather);
    if (n_mem > 0) {
        const auto next = queue_.file_at(n_mem);
        if (next && file_zero_copy())
            return detail::try_write_some_more<transport_type>(
                stream_, std::span<const asio::const_buffer>(iov_), ec);
        std::size_t memory = 0;
        for (const auto& b : iov_)
            memory += b.size();
        if (next && memory < detail::copy_buffer_size) {
            const std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(next->size, detail::copy_buffer_size - memory));
            char* buf = detail::copy_buffer();
            const std::size_t got =
                detail::pread_some(next->f->native_handle(), next->offset, buf, want, ec);
            if (ec)
                return 0;
            if (got > 0)
                iov_.emplace_back(buf, got);
        }
        const std::size_t n =
            transport_type::try_write_some(stream_, std::span<const asio::const_buffer>(iov_), ec);
        if (n > memory)
            transfer().stats.copied_bytes += n - memory;
        return n;
    }
    const auto front = queue_.file_at(0);
    if (!front) // cannot happen: gather stops only at a file range
        return 0;
    const std::size_t limit = static_cast<std::size_t>(std::min<std::uint64_t>(front->size, step));
    auto& x = transfer();
    if (file_zero_copy()) {
        std::size_t n = 0;
        if (zc.files == file_method::splice) {
            n = write_file_splice(*front, limit, ec);
        } else {
            n = detail::send_file<transport_type>(stream_, front->f->native_handle(), front->offset,
                                                  limit, ec);
            if (n > 0) {
                // A stream that can say whether the kernel encrypts is a TLS stream.
                if constexpr (requires { stream_.kernel_tls_send(); })
                    x.stats.ktls_sendfile_bytes += n;
                else
                    x.stats.sendfile_bytes += n;
            } else if (!ec) {
                ec = make_error_code(error::file_truncated);
            }
        }
        if (!detail::refused(ec))
            return n;
        // The kernel cannot send this file this way (a file system without splice support, a
        // descriptor that is not a regular file): copy from now on.
        ec.clear();
        x.file_refused = true;
        ++x.stats.fallbacks;
    }
    return write_file_copy(*front, limit, ec);
}

// The buffered path: read up to 64 KiB at the range's offset, write what the socket takes.
// Whatever it does not take is read again next time (the same bytes, as a blocked TLS record
// requires).
template <class P>
std::size_t connection<P>::write_file_copy(const detail::write_queue::file_range& r,
                                           std::size_t limit, std::error_code& ec) {
    char* buf = detail::copy_buffer();
    const std::size_t want = std::min(limit, detail::copy_buffer_size);
    const std::size_t got = detail::pread_some(r.f->native_handle(), r.offset, buf, want, ec);
    if (ec)
        return 0;
    if (got == 0) {
        ec = make_error_code(error::file_truncated);
        return 0;
    }
    const asio::const_buffer b(buf, got);
    const std::size_t n =
        transport_type::try_write_some(stream_, std::span<const asio::const_buffer>(&b, 1), ec);
    transfer().stats.copied_bytes += n;
    return n;
}

// file_method::splice: file -> pipe -> socket. The pipe holds the front range's next bytes
// between steps (a full socket); it goes back to the thread's cache once empty.
template <class P>
std::size_t connection<P>::write_file_splice(const detail::write_queue::file_range& r,
                                             std::size_t limit, std::error_code& ec) {
    auto& x = transfer();
    const auto& zc = core_.options.zero_copy;
    auto& pipe = x.file_pipe;
    if (!pipe.valid()) {
        pipe = detail::pipe_lease::acquire(zc.pipe_size, zc.idle_pipes, zc.max_pipes);
        if (!pipe.valid()) {
            ec = make_error_code(asio::error::operation_not_supported);
            return 0;
        }
    }
    if (pipe.held() == 0) {
        std::uint64_t off = r.offset;
        const std::size_t in = detail::splice_some(r.f->native_handle(), &off, pipe.write_end(),
                                                   std::min(limit, pipe.capacity()), 0, ec);
        if (ec)
            return 0;
        if (in == 0) {
            ec = make_error_code(error::file_truncated);
            return 0;
        }
        pipe.filled(in);
    }
    const unsigned more = r.size > pipe.held() ? SPLICE_F_MORE : 0;
    const std::size_t out =
        detail::splice_some(pipe.read_end(), nullptr,
                            transport_type::socket(stream_).native_handle(), pipe.held(), more, ec);
    pipe.drained(out);
    x.stats.splice_bytes += out;
    if (pipe.held() == 0)
        pipe.reset();
    return out;
}

// --- relays -----------------------------------------------------------------------------------

// Takes the write side for a relay step: waits until nothing is queued or being written, so
// that the step's bytes follow everything sent before, and keeps other writes queued behind it
// (writing_) until release_writer.
template <class P> asio::awaitable<std::error_code> connection<P>::acquire_writer() {
    for (;;) {
        if (state_ != state::open || output_shut_)
            co_return closed_error();
        if (!writing_ && queue_.empty())
            break;
        const auto drained = co_await wait_drain(0);
        if (drained)
            co_return drained;
        // wait_drain returns with the queue empty; a write of its last bytes may still be
        // completing (writing_), in which case its completion wakes us again.
        if (writing_ && queue_.empty()) {
            if (!drain_timer_)
                drain_timer_ = std::make_unique<asio::steady_timer>(executor_);
            drain_target_ = 0;
            if (drain_timer_->expiry() != asio::steady_timer::time_point::max())
                drain_timer_->expires_at(asio::steady_timer::time_point::max());
            co_await drain_timer_->async_wait(use_tuple);
        }
    }
    writing_ = true;
    co_return std::error_code{};
}

template <class P> void connection<P>::release_writer() {
    writing_ = false;
    if (state_ == state::closed) {
        wake_drain();
        return;
    }
    if (!queue_.empty()) {
        // Sends queued behind the step have waited since it began: that is their stall.
        if (write_stall_since_ms.load(std::memory_order_relaxed) == 0)
            write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
        flush_now();
    } else {
        wake_drain();
    }
}

template <class P>
template <relay_socket Source>
asio::awaitable<transfer_step> connection<P>::send_from(Source& source, std::size_t max) {
    auto self = this->shared_from_this();
    leave_lot();
    if (max == 0)
        max = 1;
    auto& x = transfer();
    const auto& zc = core_.options.zero_copy;
    std::error_code ec;
    source.non_blocking(true, ec);
    const int src = source.native_handle();
    auto& sock = transport_type::socket(stream_);

    while (zc.relays == relay_method::splice && !x.relay_refused &&
           detail::raw_writes<transport_type>(stream_)) {
        const auto acquired = co_await acquire_writer();
        if (acquired)
            co_return transfer_step{acquired, 0};
        auto pipe = detail::pipe_lease::acquire(zc.pipe_size, zc.idle_pipes, zc.max_pipes);
        if (!pipe.valid()) {
            release_writer();
            break; // out of pipes: copy this step
        }
        const std::size_t in = detail::splice_some(src, nullptr, pipe.write_end(),
                                                   std::min(max, pipe.capacity()), 0, ec);
        if (ec == asio::error::would_block) {
            // Nothing to move yet: let other writes through while waiting for the source.
            release_writer();
            pipe.reset();
            auto [wec] = co_await source.async_wait(asio::socket_base::wait_read, use_tuple);
            if (wec)
                co_return transfer_step{wec, 0};
            continue;
        }
        if (detail::refused(ec)) {
            release_writer();
            x.relay_refused = true;
            ++x.stats.fallbacks;
            break;
        }
        if (ec || in == 0) {
            release_writer();
            co_return transfer_step{ec ? ec : make_error_code(asio::error::eof), 0};
        }
        pipe.filled(in);
        while (pipe.held() > 0) {
            std::size_t out;
            {
                detail::sigpipe_guard no_sigpipe;
                out = detail::splice_some(pipe.read_end(), nullptr, sock.native_handle(),
                                          pipe.held(), 0, ec);
            }
            if (out > 0) {
                pipe.drained(out);
                x.stats.splice_bytes += out;
                detail::shard_counters::add(counters().bytes_out, out);
                touch();
                write_stall_since_ms.store(pipe.held() || !queue_.empty() ? detail::coarse_now_ms()
                                                                          : 0,
                                           std::memory_order_relaxed);
                continue;
            }
            if (ec == asio::error::would_block) {
                if (write_stall_since_ms.load(std::memory_order_relaxed) == 0)
                    write_stall_since_ms.store(detail::coarse_now_ms(), std::memory_order_relaxed);
                auto [wec] = co_await sock.async_wait(asio::socket_base::wait_write, use_tuple);
                if (state_ == state::closed) {
                    release_writer();
                    co_return transfer_step{closed_error(), 0};
                }
                if (wec) {
                    fail(wec);
                    release_writer();
                    co_return transfer_step{wec, 0};
                }
                continue;
            }
            // The peer is gone (or the kernel refused mid-way, which it does not for sockets):
            // the bytes in the pipe are lost, and the lease closes it.
            if (!ec)
                ec = make_error_code(asio::error::broken_pipe);
            write_stall_since_ms.store(0, std::memory_order_relaxed);
            fail(ec);
            release_writer();
            co_return transfer_step{ec, 0};
        }
        release_writer();
        co_return transfer_step{{}, in};
    }

    // The buffered path: read what the source has into the thread's copy buffer and queue it
    // (written at once when the socket takes it). Waiting first while the queue is above
    // low_water bounds what piles up here to low_water plus one read.
    const auto& w = core_.options.write;
    for (;;) {
        if (state_ != state::open || close_requested_ || output_shut_)
            co_return transfer_step{closed_error(), 0};
        if (queue_.bytes() > w.low_water) {
            const auto drained = co_await wait_drain(w.low_water);
            if (drained)
                co_return transfer_step{drained, 0};
        }
        char* buf = detail::copy_buffer();
        const std::size_t n = source.read_some(
            asio::mutable_buffer(buf, std::min(max, detail::copy_buffer_size)), ec);
        if (ec == asio::error::would_block) {
            auto [wec] = co_await source.async_wait(asio::socket_base::wait_read, use_tuple);
            if (wec)
                co_return transfer_step{wec, 0};
            continue;
        }
        if (ec)
            co_return transfer_step{ec, 0};
        const std::string_view part(buf, n);
        if (enqueue(std::span<const std::string_view>(&part, 1), nullptr, flush::now) ==
            send_result::closed)
            co_return transfer_step{closed_error(), 0};
        x.stats.copied_bytes += n;
        co_return transfer_step{{}, n};
    }
}

// Writes up to `max` bytes of input() to `sink`, waiting while it is full; consumes them.
template <class P>
template <class Sink>
asio::awaitable<transfer_step> connection<P>::write_input_to(Sink& sink, std::size_t max) {
    const std::string_view in = buffer_.data().substr(0, max);
    std::size_t done = 0;
    while (done < in.size()) {
        std::error_code ec;
        const std::size_t n =
            sink.write_some(asio::const_buffer(in.data() + done, in.size() - done), ec);
        if (ec == asio::error::would_block) {
            auto [wec] = co_await sink.async_wait(asio::socket_base::wait_write, use_tuple);
            if (wec)
                ec = wec;
            else
                continue;
        }
        if (ec) {
            consume(done);
            co_return transfer_step{ec, done};
        }
        done += n;
    }
    consume(done);
    buffer_.release_if_empty();
    transfer().stats.copied_bytes += done;
    co_return transfer_step{{}, done};
}

template <class P>
template <relay_socket Sink>
asio::awaitable<transfer_step> connection<P>::receive_into(Sink& sink, std::size_t max) {
    auto self = this->shared_from_this();
    leave_lot();
    if (max == 0)
        max = 1;
    std::error_code ec;
    sink.non_blocking(true, ec);
    if (state_ == state::closed)
        co_return transfer_step{closed_error(), 0};
    if (close_requested_)
        co_return transfer_step{make_error_code(error::closed), 0};
    // What was read before the relay began (bytes pipelined after a proxy handshake) goes
    // first.
    if (!buffer_.data().empty())
        co_return co_await write_input_to(sink, max);
    if (input_ended_)
        co_return transfer_step{make_error_code(asio::error::eof), 0};

    auto& x = transfer();
    const auto& zc = core_.options.zero_copy;
    auto& sock = transport_type::socket(stream_);
    while (zc.relays == relay_method::splice && !x.relay_refused &&
           detail::raw_reads<transport_type>(stream_)) {
        if (shutting_down_)
            co_return transfer_step{make_error_code(error::shutting_down), 0};
        auto pipe = detail::pipe_lease::acquire(zc.pipe_size, zc.idle_pipes, zc.max_pipes);
        if (!pipe.valid())
            break;
        const std::size_t in = detail::splice_some(sock.native_handle(), nullptr, pipe.write_end(),
                                                   std::min(max, pipe.capacity()), 0, ec);
        if (ec == asio::error::would_block) {
            pipe.reset();
            buffer_.release_if_empty();
            // Waits like read(): close(), abort() and the server's shutdown interrupt it; no
            // partial message is pending, so no read timeout runs (the idle timeout does).
            read_wait_since_ms.store(0, std::memory_order_relaxed);
            reading_ = true;
            auto [wec] = co_await sock.async_wait(
                asio::socket_base::wait_read,
                asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
            reading_ = false;
            if (state_ == state::closed)
                co_return transfer_step{closed_error(), 0};
            if (close_requested_)
                co_return transfer_step{make_error_code(error::closed), 0};
            if (wec == asio::error::operation_aborted && shutting_down_)
                co_return transfer_step{make_error_code(error::shutting_down), 0};
            if (wec)
                co_return transfer_step{wec, 0};
            continue;
        }
        if (detail::refused(ec)) {
            x.relay_refused = true;
            ++x.stats.fallbacks;
            break;
        }
        if (ec)
            co_return transfer_step{ec, 0};
        if (in == 0) {
            input_ended_ = true;
            co_return transfer_step{make_error_code(asio::error::eof), 0};
        }
        pipe.filled(in);
        detail::shard_counters::add(counters().bytes_in, in);
        touch_read();
        const int out_fd = sink.native_handle();
        while (pipe.held() > 0) {
            std::size_t out;
            {
                detail::sigpipe_guard no_sigpipe;
                out = detail::splice_some(pipe.read_end(), nullptr, out_fd, pipe.held(), 0, ec);
            }
            if (out > 0) {
                pipe.drained(out);
                x.stats.splice_bytes += out;
                continue;
            }
            if (ec == asio::error::would_block) {
                auto [wec] = co_await sink.async_wait(asio::socket_base::wait_write, use_tuple);
                if (!wec && sink.is_open())
                    continue;
                ec = wec ? wec : make_error_code(asio::error::bad_descriptor);
            }
            if (!ec)
                ec = make_error_code(asio::error::broken_pipe);
            co_return transfer_step{ec, 0}; // the lease closes the pipe and what it holds
        }
        co_return transfer_step{{}, in};
    }

    // The buffered path: read() decrypts into input(), which goes to the sink from there.
    const auto read_error = co_await read();
    if (read_error)
        co_return transfer_step{read_error, 0};
    co_return co_await write_input_to(sink, max);
}

template <class P> asio::awaitable<std::error_code> connection<P>::shutdown_output() {
    leave_lot();
    if (output_shut_)
        co_return std::error_code{};
    const auto drained = co_await wait_drain(0);
    if (drained)
        co_return drained;
    if (state_ == state::closed)
        co_return closed_error();
    output_shut_ = true;
    co_await transport_type::shutdown(stream_);
    std::error_code ec;
    transport_type::socket(stream_).shutdown(asio::socket_base::shutdown_send, ec);
    co_return std::error_code{};
}

} // namespace pier
