// pier/write/queue.hpp: the per-connection write queue behind `send`/`try_send`.
#pragma once

#include <pier/buffer/shared_buffer.hpp>
#include <pier/config.hpp>
#include <pier/file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace pier {

/// The answer of `connection::try_send`.
enum class send_result {
    queued,       ///< accepted (written to the kernel already, or queued below the high-water mark)
    backpressure, ///< accepted, but the queue is above the high-water mark: slow down
    dropped,      ///< refused by `backpressure::drop`; nothing was queued
    closed,       ///< refused: the connection is closed or closing
};

/// When queued output is handed to the kernel. Whatever is chosen, bytes leave in the order
/// they were sent, and everything queued is flushed before the connection reads again
/// (`read()`, the next `on_data`), by `flush_all()`, and at the connection's end.
enum class flush {
    /// Write at once when nothing is queued (one syscall, lowest latency).
    now,
    /// Queue, and flush once at the end of the current event-loop pass, so that many messages
    /// sent to one connection in one pass (a broadcast burst) leave in one gather write.
    deferred,
    /// More follows at once: queue without writing and without scheduling a flush, so that
    /// this part leaves with the next one that is sent with `now` (a header, then its body).
    /// When the next part is a file region (`send_file`) on plain TCP, the header is written
    /// with MSG_MORE, so the kernel puts it in the same TCP segment as the file's first bytes
    /// instead of sending a small segment of its own; over TLS the header and the start of the
    /// body share a record. Nothing leaves until a part with `now` follows (or a read, a
    /// `flush_all()`, the end): send the rest promptly. For longer batches across calls, see
    /// `connection::set_cork` (TCP_CORK).
    more,
};

namespace detail {

/// Queued output: a FIFO of byte ranges. Copied data lands in chunks of at least
/// `chunk_size` bytes that are appended to in place (a chunk never moves, so appending to one
/// that is being written is safe) and consecutive copies extend one range, which is how many
/// small sends coalesce into one buffer. Shared payloads are queued by reference.
///
/// A range can also be a region of an open file (`append_file`): it takes its place in the
/// order like any other range, and the writer sends it with sendfile(2) (or copies it) when it
/// reaches the front, so a header queued before it and a message queued after it are sent in
/// order. `gather` stops at a file range; `bytes()` counts memory only (what a queue costs),
/// `file_bytes()` the file bytes still to send.
/// Not thread-safe: used on the connection's executor only.
class write_queue {
public:
    static constexpr std::size_t chunk_size = 16384;

    bool empty() const noexcept { return head_ == segments_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }
    /// File bytes not yet sent, and the file ranges they are in.
    std::uint64_t file_bytes() const noexcept { return file_bytes_; }
    std::size_t files() const noexcept { return files_; }
    /// File bytes ever consumed: `send_file` waits until this passes the end of its region.
    std::uint64_t file_bytes_sent() const noexcept { return file_bytes_sent_; }
    std::uint64_t file_bytes_queued_total() const noexcept {
        return file_bytes_sent_ + file_bytes_;
    }

    void append_copy(std::string_view s) {
        if (s.empty())
            return;
        if (!chunk_ || chunk_capacity_ - chunk_used_ < s.size()) {
            chunk_capacity_ = std::max(chunk_size, s.size());
            chunk_ = std::make_shared_for_overwrite<char[]>(chunk_capacity_);
            chunk_used_ = 0;
        }
        char* dst = chunk_.get() + chunk_used_;
        std::memcpy(dst, s.data(), s.size());
        chunk_used_ += s.size();
        bytes_ += s.size();
        if (!empty()) {
            auto& last = segments_.back();
            if (!last.source && last.owner == chunk_ && last.data + last.size == dst) {
                last.size += s.size();
                return;
            }
        }
        segments_.push_back({chunk_, dst, s.size()});
    }

    void append_shared(const shared_buffer& b) {
        if (b.empty())
            return;
        segments_.push_back({b.owner(), b.data(), b.size()});
        bytes_ += b.size();
    }

    /// Queues `length` bytes of `f` from `offset` (length > 0).
    void append_file(std::shared_ptr<const file> f, std::uint64_t offset, std::uint64_t length) {
        if (length == 0)
            return;
        segments_.push_back(
            {nullptr, nullptr, static_cast<std::size_t>(length), std::move(f), offset});
        file_bytes_ += length;
        ++files_;
    }

    /// Fills `out` with up to `max` memory ranges from the front, stopping at a file range;
    /// returns how many (0 when the front is a file range).
    std::size_t gather(std::vector<asio::const_buffer>& out, std::size_t max) const {
        out.clear();
        for (std::size_t i = head_; i < segments_.size() && out.size() < max; ++i) {
            if (segments_[i].source)
                break;
            out.emplace_back(segments_[i].data, segments_[i].size);
        }
        return out.size();
    }

    /// The file range at the front, or (with `after` memory ranges skipped, as `gather`
    /// returned them) the one right behind them; null if there is none there.
    struct file_range {
        const file* f;
        std::uint64_t offset;
        std::uint64_t size;
    };
    std::optional<file_range> file_at(std::size_t after = 0) const noexcept {
        const std::size_t i = head_ + after;
        if (i >= segments_.size() || !segments_[i].source)
            return std::nullopt;
        const auto& s = segments_[i];
        return file_range{s.source.get(), s.offset, s.size};
    }

    /// Drops `n` written bytes from the front, memory and file ranges alike.
    void consume(std::size_t n) noexcept {
        while (n > 0 && head_ < segments_.size()) {
            auto& s = segments_[head_];
            const std::size_t step = std::min(n, s.size);
            if (s.source) {
                file_bytes_ -= step;
                file_bytes_sent_ += step;
                s.offset += step;
            } else {
                bytes_ -= std::min(step, bytes_);
                s.data += step;
            }
            s.size -= step;
            n -= step;
            if (s.size > 0)
                return;
            if (s.source) {
                s.source.reset();
                --files_;
            }
            s.owner.reset();
            ++head_;
        }
        compact();
    }

    void clear() noexcept {
        // File bytes never sent still count as "passed": a waiting send_file wakes up and
        // sees the connection's error.
        file_bytes_sent_ += file_bytes_;
        segments_.clear();
        head_ = 0;
        bytes_ = 0;
        file_bytes_ = 0;
        files_ = 0;
        release_chunk();
    }

private:
    struct segment {
        std::shared_ptr<const char[]> owner;
        const char* data;
        std::size_t size;
        // A file range: `size` bytes of `source` from `offset` (owner and data are null).
        std::shared_ptr<const file> source{};
        std::uint64_t offset = 0;
    };

    void compact() noexcept {
        if (head_ == segments_.size()) {
            segments_.clear();
            head_ = 0;
            // An idle connection keeps no chunk: the next send allocates one, or writes
            // directly without any.
            release_chunk();
        } else if (head_ > 32 && head_ * 2 > segments_.size()) {
            segments_.erase(segments_.begin(),
                            segments_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void release_chunk() noexcept {
        chunk_.reset();
        chunk_used_ = chunk_capacity_ = 0;
    }

    std::vector<segment> segments_;
    std::size_t head_ = 0;
    std::size_t bytes_ = 0;
    std::uint64_t file_bytes_ = 0;
    std::uint64_t file_bytes_sent_ = 0;
    std::size_t files_ = 0;
    std::shared_ptr<char[]> chunk_;
    std::size_t chunk_used_ = 0;
    std::size_t chunk_capacity_ = 0;
};

} // namespace detail
} // namespace pier
