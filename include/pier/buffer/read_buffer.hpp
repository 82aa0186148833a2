// pier/buffer/read_buffer.hpp: the read buffer shared by the buffer policies.
#pragma once

#include <pier/config.hpp>

#include <cstddef>
#include <cstring>
#include <string_view>

namespace pier::buffer::detail {

/// Unconsumed input in [begin_, end_) of a `Size`-byte block obtained from `Storage`.
/// `Keep` says whether the block stays with the connection when no input is pending.
/// Consumed bytes are reclaimed lazily: the unconsumed tail is moved to the front only when
/// more room is needed, so a handler that consumes whole messages never pays for a memmove.
template <std::size_t Size, class Storage, bool Keep> class basic_read_buffer {
public:
    basic_read_buffer() = default;
    basic_read_buffer(const basic_read_buffer&) = delete;
    basic_read_buffer& operator=(const basic_read_buffer&) = delete;
    ~basic_read_buffer() {
        if (block_)
            Storage::release(block_);
    }

    /// Room to read into; acquires a block if none is held. Empty when the buffer is full of
    /// unconsumed input.
    asio::mutable_buffer prepare() {
        if (!block_)
            block_ = Storage::acquire();
        if (end_ == Size && begin_ > 0) {
            std::memmove(block_, block_ + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        return {block_ + end_, Size - end_};
    }
    void commit(std::size_t n) noexcept { end_ += n; }
    void consume(std::size_t n) noexcept {
        begin_ += n < end_ - begin_ ? n : end_ - begin_;
        if (begin_ == end_)
            begin_ = end_ = 0;
    }
    std::string_view data() const noexcept {
        return block_ ? std::string_view(block_ + begin_, end_ - begin_) : std::string_view();
    }
    bool holds_storage() const noexcept { return block_ != nullptr; }
    void release_if_empty() noexcept {
        if (!Keep && block_ && begin_ == end_) {
            Storage::release(block_);
            block_ = nullptr;
        }
    }

private:
    char* block_ = nullptr;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

} // namespace pier::buffer::detail
