// pier/write/queue.hpp: the per-connection write queue behind `send`/`try_send`.
#pragma once

#include <pier/buffer/shared_buffer.hpp>
#include <pier/config.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
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

/// When queued output is handed to the kernel.
enum class flush {
    /// Write at once when nothing is queued (one syscall, lowest latency).
    now,
    /// Queue, and flush once at the end of the current event-loop pass, so that many messages
    /// sent to one connection in one pass (a broadcast burst) leave in one gather write.
    deferred,
};

namespace detail {

/// Queued output: a FIFO of byte ranges. Copied data lands in chunks of at least
/// `chunk_size` bytes that are appended to in place (a chunk never moves, so appending to one
/// that is being written is safe) and consecutive copies extend one range, which is how many
/// small sends coalesce into one buffer. Shared payloads are queued by reference.
/// Not thread-safe: used on the connection's executor only.
class write_queue {
public:
    static constexpr std::size_t chunk_size = 16384;

    bool empty() const noexcept { return head_ == segments_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }

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
            if (last.owner == chunk_ && last.data + last.size == dst) {
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

    /// Fills `out` with up to `max` ranges from the front; returns how many.
    std::size_t gather(std::vector<asio::const_buffer>& out, std::size_t max) const {
        out.clear();
        for (std::size_t i = head_; i < segments_.size() && out.size() < max; ++i)
            out.emplace_back(segments_[i].data, segments_[i].size);
        return out.size();
    }

    /// Drops `n` written bytes from the front.
    void consume(std::size_t n) noexcept {
        bytes_ -= std::min(n, bytes_);
        while (n > 0 && head_ < segments_.size()) {
            auto& s = segments_[head_];
            if (n < s.size) {
                s.data += n;
                s.size -= n;
                return;
            }
            n -= s.size;
            s.owner.reset();
            ++head_;
        }
        compact();
    }

    void clear() noexcept {
        segments_.clear();
        head_ = 0;
        bytes_ = 0;
        release_chunk();
    }

private:
    struct segment {
        std::shared_ptr<const char[]> owner;
        const char* data;
        std::size_t size;
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
    std::shared_ptr<char[]> chunk_;
    std::size_t chunk_used_ = 0;
    std::size_t chunk_capacity_ = 0;
};

} // namespace detail
} // namespace pier
