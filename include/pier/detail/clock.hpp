// pier/detail/clock.hpp: a cheap monotonic clock for deadlines.
#pragma once

#include <cstdint>
#include <ctime>

namespace pier::detail {

/// Milliseconds of CLOCK_MONOTONIC_COARSE. Deadlines are checked by a sweep at
/// `timeout_options::resolution`, so the coarse clock's few-millisecond granularity costs
/// nothing while reading it is several times cheaper than steady_clock on the hot path.
inline std::int64_t coarse_now_ms() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

} // namespace pier::detail
