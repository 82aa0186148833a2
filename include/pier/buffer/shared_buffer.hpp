// pier/buffer/shared_buffer.hpp: an immutable payload shared by many sends (broadcast).
#pragma once

#include <pier/config.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace pier {

/// Immutable bytes with shared ownership. Queuing one on a thousand connections costs a
/// thousand reference-count increments, not a thousand copies; it is safe to hand to other
/// threads because nobody can change it.
///
/// Thread safety: distinct objects and shared ones alike are safe (like std::shared_ptr).
class shared_buffer {
public:
    shared_buffer() = default;
    /// Copies `s` once.
    explicit shared_buffer(std::string_view s)
        : data_(std::make_shared_for_overwrite<char[]>(s.size())), size_(s.size()) {
        if (size_)
            std::memcpy(data_.get(), s.data(), size_);
    }

    std::string_view view() const noexcept { return {data_.get(), size_}; }
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// The owning pointer, for queues that keep the bytes alive while they are written.
    std::shared_ptr<const char[]> owner() const noexcept { return data_; }

private:
    std::shared_ptr<char[]> data_;
    std::size_t size_ = 0;
};

} // namespace pier
