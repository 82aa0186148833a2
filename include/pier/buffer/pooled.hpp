// pier/buffer/pooled.hpp: read buffers borrowed from a per-thread pool only while needed.
#pragma once

#include <pier/buffer/read_buffer.hpp>
#include <pier/fwd.hpp>

#include <cstddef>
#include <new>
#include <vector>

namespace pier::buffer {

/// A thread-local free list of `Size`-byte blocks, keeping at most `MaxRetained` spare blocks
/// per thread (the rest go back to the allocator), so a burst cannot pin memory for good.
/// A block may be returned on another thread than it came from (shared_pool moves
/// connections between threads); it then joins that thread's list.
template <std::size_t Size, std::size_t MaxRetained> class block_pool {
public:
    static char* acquire() {
        auto& l = list();
        if (!l.blocks.empty()) {
            char* p = l.blocks.back();
            l.blocks.pop_back();
            return p;
        }
        return static_cast<char*>(::operator new(Size));
    }
    static void release(char* p) noexcept {
        auto& l = list();
        if (l.blocks.size() < MaxRetained) {
            try {
                l.blocks.push_back(p);
                return;
            } catch (...) {
            }
        }
        ::operator delete(p);
    }
    /// Spare blocks held by the calling thread.
    static std::size_t retained() noexcept { return list().blocks.size(); }

private:
    struct free_list {
        std::vector<char*> blocks;
        ~free_list() {
            for (char* p : blocks)
                ::operator delete(p);
        }
    };
    static free_list& list() noexcept {
        thread_local free_list l;
        return l;
    }
};

/// An idle connection holds no read buffer: pier waits for the socket to become readable,
/// then borrows a `Size`-byte block from the thread's pool, reads, and returns the block as
/// soon as the handler has consumed all input. 10,000 idle connections cost no read buffers;
/// the price is one readiness wait (an epoll_ctl) per read, which `fixed` avoids.
template <std::size_t Size, std::size_t MaxRetained> struct pooled {
    static_assert(Size >= 64, "pier: buffer::pooled needs at least 64 bytes");
    using category = pier::category::buffer;
    static constexpr std::size_t capacity = Size;
    static constexpr bool holds_storage_when_idle = false;
    using pool = block_pool<Size, MaxRetained>;
    using read_buffer = detail::basic_read_buffer<Size, pool, false>;
};

} // namespace pier::buffer
