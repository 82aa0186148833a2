// pier/impl/log.hpp: out-of-line definitions for <pier/log.hpp>.
#pragma once

#include <array>

#include <pier/detail/json.hpp>
#include <pier/log.hpp>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <utility>

#include <unistd.h>

namespace pier::log {

constexpr std::string_view to_string(level l) noexcept {
    switch (l) {
    case level::trace:
        return "trace";
    case level::debug:
        return "debug";
    case level::info:
        return "info";
    case level::warn:
        return "warn";
    case level::error:
        return "error";
    case level::off:
        return "off";
    }
    return "off";
}

constexpr std::optional<level> parse_level(std::string_view s) noexcept {
    for (auto l : {level::trace, level::debug, level::info, level::warn, level::error, level::off})
        if (to_string(l) == s)
            return l;
    return std::nullopt;
}

inline sink stderr_sink() {
    return [](std::string_view line) {
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            const ssize_t n = ::write(2, p, left);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    };
}

inline void append_rfc3339(std::string& out, std::int64_t ms) {
    std::int64_t secs = ms / 1000;
    std::int64_t milli = ms % 1000;
    if (milli < 0) {
        milli += 1000;
        --secs;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    const auto two = [](char* p, int v) {
        p[0] = static_cast<char>('0' + v / 10 % 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    const int year = tm.tm_year + 1900;
    buf[0] = static_cast<char>('0' + year / 1000 % 10);
    buf[1] = static_cast<char>('0' + year / 100 % 10);
    two(buf + 2, year % 100);
    buf[4] = '-';
    two(buf + 5, tm.tm_mon + 1);
    buf[7] = '-';
    two(buf + 8, tm.tm_mday);
    buf[10] = 'T';
    two(buf + 11, tm.tm_hour);
    buf[13] = ':';
    two(buf + 14, tm.tm_min);
    buf[16] = ':';
    two(buf + 17, tm.tm_sec);
    buf[19] = '.';
    buf[20] = static_cast<char>('0' + milli / 100);
    two(buf + 21, static_cast<int>(milli % 100));
    buf[23] = 'Z';
    out.append(buf, 24);
}

namespace detail {
// A line's buffer is borrowed from the thread and given back, so that after the first few
// events logging allocates nothing. A nested event (a field computed by code that logs) finds
// it taken and allocates its own.
inline thread_local std::string spare_line;
// What a line needs after its last field: `,"truncated":true}` and the newline.
inline constexpr std::size_t line_reserve = 20;
} // namespace detail

// --- event -----------------------------------------------------------------------------------

inline event::event(logger& log, level l, std::string_view name, std::int64_t wall_ms)
    : log_(&log), level_(l) {
    buf_.swap(detail::spare_line);
    buf_.clear();
    buf_ += "{\"ts\":\"";
    append_rfc3339(buf_, wall_ms);
    buf_ += "\",\"level\":\"";
    buf_ += to_string(l);
    buf_ += "\",\"event\":";
    pier::detail::append_json_string(buf_, name, 128);
}

inline event::event(event&& o) noexcept
    : log_(std::exchange(o.log_, nullptr)), level_(o.level_), truncated_(o.truncated_),
      mark_(o.mark_), buf_(std::move(o.buf_)) {}

inline event::~event() {
    if (log_ == nullptr) // filtered out or moved from: nothing borrowed, nothing to write
        return;
    if (truncated_)
        buf_ += ",\"truncated\":true";
    buf_ += "}\n";
    log_->finish(buf_);
    if (buf_.capacity() > detail::spare_line.capacity()) {
        buf_.clear();
        detail::spare_line.swap(buf_);
    }
}

inline bool event::begin_field(std::string_view key) {
    if (log_ == nullptr || truncated_)
        return false;
    mark_ = buf_.size();
    buf_ += ',';
    pier::detail::append_json_string(buf_, key, 128);
    buf_ += ':';
    return true;
}

inline void event::end_field() {
    if (buf_.size() + detail::line_reserve > log_->o_.max_line_bytes) {
        buf_.resize(mark_);
        truncated_ = true;
    }
}

inline event& event::field(std::string_view key, std::string_view value) {
    if (begin_field(key)) {
        pier::detail::append_json_string(buf_, value, log_->o_.max_string_bytes);
        end_field();
    }
    return *this;
}

inline event& event::field(std::string_view key, bool value) {
    if (begin_field(key)) {
        buf_ += value ? "true" : "false";
        end_field();
    }
    return *this;
}

inline event& event::field(std::string_view key, double value) {
    if (begin_field(key)) {
        pier::detail::append_json_double(buf_, value);
        end_field();
    }
    return *this;
}

template <std::integral Int>
requires(!std::same_as<Int, bool>) event& event::field(std::string_view key, Int value) {
    if (begin_field(key)) {
        pier::detail::append_json_integer(buf_, value);
        end_field();
    }
    return *this;
}

// --- logger ----------------------------------------------------------------------------------

inline logger::logger(options o) : o_(std::move(o)), level_(o_.min_level) {
    o_.max_line_bytes = std::max<std::size_t>(o_.max_line_bytes, 256);
    sink_ = o_.out ? o_.out : stderr_sink();
    last_summary_ms_ = mono_now();
}

inline logger::~logger() {
    flush_suppressed();
}

inline std::int64_t logger::mono_now() const {
    if (o_.monotonic_ms)
        return o_.monotonic_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t logger::wall_now() const {
    if (o_.wall_ms)
        return o_.wall_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline void logger::set_sink(sink s) {
    std::lock_guard lock(mutex_);
    sink_ = s ? std::move(s) : stderr_sink();
}

inline void logger::set_rate_limit(std::string_view event_name, rate_limit limit) {
    std::lock_guard lock(mutex_);
    overrides_.insert_or_assign(std::string(event_name), limit);
    if (auto it = buckets_.find(event_name); it != buckets_.end()) {
        it->second.limit = limit;
        it->second.tokens = limit.burst;
    }
}

inline bool logger::admit_locked(std::string_view name, std::int64_t now) {
    auto it = buckets_.find(name);
    if (it == buckets_.end()) {
        const bool full = buckets_.size() >= o_.max_event_kinds;
        const std::string key = full ? std::string("log.other") : std::string(name);
        it = buckets_.find(key);
        if (it == buckets_.end()) {
            bucket b;
            auto ov = overrides_.find(key);
            b.limit = ov != overrides_.end() ? ov->second : o_.limit;
            b.tokens = b.limit.burst;
            b.last_ms = now;
            it = buckets_.emplace(key, b).first;
        }
    }
    bucket& b = it->second;
    if (b.limit.is_unlimited())
        return true;
    if (now > b.last_ms) {
        b.tokens = std::min(b.limit.burst, b.tokens + static_cast<double>(now - b.last_ms) *
                                                          b.limit.per_second / 1000.0);
        b.last_ms = now;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
    }
    ++b.suppressed;
    suppressed_total_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

inline void logger::write_locked(std::string_view line) {
    try {
        sink_(line);
    } catch (...) {
        // A sink that throws loses its line; the logger must not take the caller down.
    }
}

inline void logger::summaries_locked(std::int64_t now) {
    last_summary_ms_ = now;
    std::string line;
    for (auto& [name, b] : buckets_) {
        if (b.suppressed == 0)
            continue;
        line.clear();
        line += "{\"ts\":\"";
        append_rfc3339(line, wall_now());
        line += "\",\"level\":\"warn\",\"event\":\"log.suppressed\",\"suppressed_event\":";
        pier::detail::append_json_string(line, name, 128);
        line += ",\"count\":";
        pier::detail::append_json_integer(line, b.suppressed);
        line += "}\n";
        b.suppressed = 0;
        write_locked(line);
    }
}

inline event logger::start(level l, std::string_view name) {
    const std::int64_t now = mono_now();
    {
        std::lock_guard lock(mutex_);
        if (now - last_summary_ms_ >= o_.summary_interval.count())
            summaries_locked(now);
        if (!admit_locked(name, now))
            return event();
    }
    return event(*this, l, name, wall_now());
}

inline void logger::finish(std::string& line) {
    std::lock_guard lock(mutex_);
    write_locked(line);
}

inline void logger::flush_suppressed() {
    std::lock_guard lock(mutex_);
    summaries_locked(mono_now());
}

// --- lifecycle events ------------------------------------------------------------------------

namespace detail {
/// A connection id as the pool's API writes it: 16 lowercase hex digits, so that a log line
/// and an admin listing can be matched by eye.
inline std::string_view id_text(std::uint64_t id, std::array<char, 17>& buf) noexcept {
    constexpr char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i, id >>= 4)
        buf[static_cast<std::size_t>(i)] = hex[id & 0xf];
    return {buf.data(), 16};
}
} // namespace detail

inline void connection_open(logger& log, std::uint64_t connection_id, std::string_view user_id,
                            std::string_view remote) {
    std::array<char, 17> id;
    log.info("ws.open")
        .field("connection_id", detail::id_text(connection_id, id))
        .field("user_id", user_id)
        .field("remote", remote);
}

inline void connection_close(logger& log, std::uint64_t connection_id, std::string_view user_id,
                             std::uint16_t code, std::string_view reason, std::string_view cause) {
    std::array<char, 17> id;
    log.info("ws.close")
        .field("connection_id", detail::id_text(connection_id, id))
        .field("user_id", user_id)
        .field("code", code)
        .field("reason", reason)
        .field("cause", cause);
}

inline void auth_failure(logger& log, std::string_view remote, std::string_view why,
                         std::uint64_t connection_id) {
    if (auto e = log.warn("ws.auth_failure")) {
        e.field("remote", remote).field("why", why);
        std::array<char, 17> id;
        if (connection_id != 0)
            e.field("connection_id", detail::id_text(connection_id, id));
    }
}

inline void limit_refused(logger& log, std::string_view limit, std::string_view remote,
                          std::string_view user_id) {
    if (auto e = log.warn("ws.limit_refused")) {
        e.field("limit", limit).field("remote", remote);
        if (!user_id.empty())
            e.field("user_id", user_id);
    }
}

inline void cleanup(logger& log, std::uint64_t removed, double duration_ms) {
    log.info("ws.cleanup").field("removed", removed).field("duration_ms", duration_ms);
}

inline void admin_action(logger& log, std::string_view action, std::string_view target,
                         std::uint64_t affected, std::string_view remote) {
    log.info("admin.action")
        .field("action", action)
        .field("target", target)
        .field("affected", affected)
        .field("remote", remote);
}

} // namespace pier::log
