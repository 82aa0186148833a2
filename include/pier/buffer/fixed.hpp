// pier/buffer/fixed.hpp: a read buffer owned by each connection.
#pragma once

#include <pier/buffer/read_buffer.hpp>
#include <pier/fwd.hpp>

#include <cstddef>
#include <memory>

namespace pier::buffer {

/// Each connection owns a `Size`-byte read buffer, allocated with the connection. Reads go
/// straight into it (one syscall per read, no readiness wait), which makes this the fastest
/// policy for busy connections; the cost is `Size` bytes per connection, idle or not. `Size`
/// is also the largest message a handler can see unconsumed at once.
template <std::size_t Size> struct fixed {
    static_assert(Size >= 64, "pier: buffer::fixed needs at least 64 bytes");
    using category = pier::category::buffer;
    static constexpr std::size_t capacity = Size;
    static constexpr bool holds_storage_when_idle = true;

    struct storage {
        static char* acquire() { return static_cast<char*>(::operator new(Size)); }
        static void release(char* p) noexcept { ::operator delete(p); }
    };
    using read_buffer = detail::basic_read_buffer<Size, storage, true>;
};

} // namespace pier::buffer
