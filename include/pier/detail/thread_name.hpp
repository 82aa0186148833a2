// pier/detail/thread_name.hpp
#pragma once

#include <pthread.h>

#include <cstdio>

namespace pier::detail {

/// Names the calling thread (visible in top -H, perf and gdb); best effort.
inline void set_thread_name(const char* prefix, std::size_t index) noexcept {
    char name[16];
    std::snprintf(name, sizeof name, "%s%zu", prefix, index);
    ::pthread_setname_np(::pthread_self(), name);
}

} // namespace pier::detail
