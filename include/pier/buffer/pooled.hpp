// pier/buffer/pooled.hpp: read buffers borrowed from a per-thread pool only while needed.
#pragma once

#include <pier/buffer/read_buffer.hpp>
#include <pier/fwd.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
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
            l.low = std::min(l.low, l.blocks.size());
            l.cold = std::min(l.cold, l.blocks.size());
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

    /// Gives the memory of spare blocks that no one took since the last call back to the
    /// kernel (madvise(MADV_DONTNEED) on their whole pages), keeping the blocks: after a burst
    /// (a connect storm's handshakes) the thread's spares stop counting in its resident
    /// memory, and a later burst faults their pages in again. Called by a periodic sweep on
    /// the owning thread. Returns the blocks given back by this call.
    static std::size_t trim() noexcept {
        auto& l = list();
        // Blocks are taken from the back: those below the lowest count seen since the last
        // call were not touched in that period. Those below `cold` were given back before.
        const std::size_t idle = std::min(l.low, l.blocks.size());
        std::size_t n = 0;
        for (std::size_t i = l.cold; i < idle; ++i, ++n)
            decommit(l.blocks[i]);
        l.cold = std::max(l.cold, idle);
        l.low = l.blocks.size();
        return n;
    }

    /// Frees the spare blocks that no one took since the last call (back to the allocator):
    /// for pools of blocks smaller than a page, which trim() cannot give back, and whose
    /// retention is set high so that a pass of the loop that needs many (a broadcast's
    /// subscribers) reuses them instead of calling the allocator for each. Called by a
    /// periodic sweep on the owning thread (not mixed with trim() on the same pool). Returns
    /// the blocks freed.
    static std::size_t shrink() noexcept {
        auto& l = list();
        const std::size_t idle = std::min(l.low, l.blocks.size());
        for (std::size_t i = 0; i < idle; ++i)
            ::operator delete(l.blocks[i]);
        l.blocks.erase(l.blocks.begin(), l.blocks.begin() + static_cast<std::ptrdiff_t>(idle));
        if (l.blocks.empty())
            std::vector<char*>().swap(l.blocks); // and the list's own storage
        l.cold = 0;
        l.low = l.blocks.size();
        return idle;
    }

private:
    static void decommit(char* p) noexcept {
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) & ~(page - 1);
        const auto end = (reinterpret_cast<std::uintptr_t>(p) + Size) & ~(page - 1);
        if (end > begin)
            ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
    struct free_list {
        std::vector<char*> blocks;
        std::size_t low = 0;  ///< the fewest spares since the last trim
        std::size_t cold = 0; ///< blocks[0, cold) have given their pages back
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
