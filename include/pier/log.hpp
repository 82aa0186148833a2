// pier/log.hpp: structured logs: one JSON object per line, through a sink the application can
// replace, with a rate limit per event kind so that a flood of bad clients cannot flood the log.
//
//     pier::log::logger log({.min_level = pier::log::level::info});   // stderr by default
//     log.info("ws.open").field("connection_id", id).field("user_id", user);
//     //
//     {"ts":"2026-12-04T22:14:48.123Z","level":"info","event":"ws.open","connection_id":7,"user_id":"ann"}
//
//     if (log.enabled(pier::log::level::debug))          // skip argument work when filtered
//         log.debug("ws.frame").field("bytes", expensive());
//
// Lines. Every line is a JSON object (RFC 8259) with `ts` (RFC 3339, UTC, milliseconds),
// `level` and `event` first, then the fields in the order they were added, then `"\n"`. The
// keys ts, level, event and truncated are the logger's: do not add fields with those names.
// Strings are escaped as pier/detail/json.hpp says: control characters escaped, invalid
// UTF-8 replaced by U+FFFD per maximal subpart (deterministic, so the same bytes always log
// the same way), and a string longer than `max_string_bytes` cut with "…". A field that
// would take the line past `max_line_bytes` is left out, with the ones after it, and the line
// gets `"truncated":true`. NaN and infinities become null.
//
// Cost. A filtered-out event costs one relaxed load and a branch: `log.debug(…)` returns an
// inert builder whose field() calls return at once (the arguments are still evaluated, hence
// enabled()). An event that passes the level takes the logger's mutex twice: once for its
// rate limit and once to hand the finished line to the sink.
//
// Rate limit. Each event name has a token bucket (`options::limit`, overridable per name):
// an event that finds it empty is dropped and counted. The counts come out as lines of their
// own, {"level":"warn","event":"log.suppressed","suppressed_event":"ws.auth_failure",
// "count":N}, at most once per `summary_interval`: from the next event of any kind after
// that, from flush_suppressed() (the pool calls it from its periodic cleanup, so a flood that
// stops is still reported), and from the destructor. Nothing is dropped silently.
//
// No secrets by construction: the lifecycle helpers at the end of this file take the fields
// an operator needs (ids, codes, reasons, addresses) and no parameter that could carry a
// credential, and nothing here logs a request or its headers.
//
// Thread safety: every member function is safe from any thread. The sink is called with the
// logger's mutex held, so lines never interleave and a sink needs no lock of its own; a sink
// must not log to the same logger. An `event` belongs to the thread that made it.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pier::log {

enum class level : std::uint8_t { trace, debug, info, warn, error, off };

/// "trace", "debug", "info", "warn", "error", "off".
constexpr std::string_view to_string(level l) noexcept;
/// The level named `s` (as to_string writes it), or nullopt.
constexpr std::optional<level> parse_level(std::string_view s) noexcept;

/// Receives each finished line, ending in '\n'.
using sink = std::function<void(std::string_view line)>;

/// The default sink: each line to standard error in one write(2) (repeated only after a
/// partial write or EINTR), so lines from several processes sharing the descriptor do not
/// interleave; a pipe keeps writes of up to PIPE_BUF (4096) bytes whole, which is why
/// max_line_bytes defaults to that. Errors are ignored: there is nowhere left to report them.
sink stderr_sink();

/// A token bucket: `burst` events at once, refilled at `per_second`.
struct rate_limit {
    double per_second = 20;
    double burst = 100;
    /// No limit for this event kind.
    static constexpr rate_limit unlimited() noexcept { return {-1, -1}; }
    constexpr bool is_unlimited() const noexcept { return per_second < 0; }
};

struct options {
    /// Events below this level are dropped for one branch. Default info.
    level min_level = level::info;
    /// Where lines go. Empty (the default): stderr_sink().
    sink out = {};
    /// The bucket every event name gets unless set_rate_limit() says otherwise. Default 100
    /// at once, then 20 a second, per name: enough for every event of a normal minute and a
    /// few lines a second of any one kind during an attack.
    rate_limit limit = {};
    /// Least time between two rounds of "log.suppressed" lines. Default 10 s.
    std::chrono::milliseconds summary_interval = std::chrono::seconds(10);
    /// Longest line, '\n' included. Default 4096 (PIPE_BUF: see stderr_sink). At least 256.
    std::size_t max_line_bytes = 4096;
    /// Longest string field value, after escaping. Default 512: a user id or a close reason
    /// (at most 123 bytes by RFC 6455) fits; a hostile 1 MB "user id" does not.
    std::size_t max_string_bytes = 512;
    /// Most event names with a bucket of their own. Default 256; names past it share one
    /// bucket, reported as "log.other". Event names are written in code, so this only
    /// matters if a name is built from input, which it should not be.
    std::size_t max_event_kinds = 256;
    /// Clocks, replaceable for tests. Empty: steady_clock (for the rate limit) and
    /// system_clock (for `ts`), both in milliseconds.
    std::function<std::int64_t()> monotonic_ms = {};
    std::function<std::int64_t()> wall_ms = {};
};

class logger;

/// One log line being built; written to the sink when it is destroyed (at the end of the
/// statement that made it). Inert, and free, when the logger filtered the event out.
class event {
public:
    /// Whether the event will be written.
    explicit operator bool() const noexcept { return log_ != nullptr; }

    event& field(std::string_view key, std::string_view value);
    event& field(std::string_view key, const char* value) {
        return field(key, std::string_view(value ? value : ""));
    }
    event& field(std::string_view key, bool value);
    event& field(std::string_view key, double value);
    template <std::integral Int>
    requires(!std::same_as<Int, bool>) event& field(std::string_view key, Int value);

    event(event&& o) noexcept;
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    event& operator=(event&&) = delete;
    ~event();

private:
    friend class logger;
    event() noexcept = default;
    event(logger& log, level l, std::string_view name, std::int64_t wall_ms);
    bool begin_field(std::string_view key);
    void end_field();

    logger* log_ = nullptr;
    level level_ = level::info;
    bool truncated_ = false;
    std::size_t mark_ = 0;
    std::string buf_;
};

/// A structured logger. Distinct objects: safe. Shared objects: safe (see the file comment).
class logger {
public:
    explicit logger(options o = {});
    /// Writes the pending "log.suppressed" lines.
    ~logger();
    logger(const logger&) = delete;
    logger& operator=(const logger&) = delete;

    bool enabled(level l) const noexcept {
        return l >= level_.load(std::memory_order_relaxed) && l != level::off;
    }
    level min_level() const noexcept { return level_.load(std::memory_order_relaxed); }
    void set_level(level l) noexcept { level_.store(l, std::memory_order_relaxed); }
    /// Replaces the sink (empty: stderr). Lines already being written finish on the old one.
    void set_sink(sink s);
    /// Sets the bucket of one event name (e.g. rate_limit::unlimited() for admin actions).
    void set_rate_limit(std::string_view event_name, rate_limit limit);

    /// Starts an event; inert when `l` is filtered out or the name's bucket is empty.
    event log(level l, std::string_view name) {
        if (!enabled(l)) [[likely]]
            return event();
        return start(l, name);
    }
    event trace(std::string_view name) { return log(level::trace, name); }
    event debug(std::string_view name) { return log(level::debug, name); }
    event info(std::string_view name) { return log(level::info, name); }
    event warn(std::string_view name) { return log(level::warn, name); }
    event error(std::string_view name) { return log(level::error, name); }

    /// Writes a "log.suppressed" line for every event name that dropped events since its
    /// last one, now (regardless of summary_interval).
    void flush_suppressed();

    /// Events dropped by the rate limit so far, all names together.
    std::uint64_t suppressed_total() const noexcept {
        return suppressed_total_.load(std::memory_order_relaxed);
    }

    /// The options in force (min_level and the sink may have changed since).
    const options& config() const noexcept { return o_; }

private:
    friend class event;
    struct bucket {
        rate_limit limit;
        double tokens = 0;
        std::int64_t last_ms = 0;
        std::uint64_t suppressed = 0;
        bool fresh = true;
    };
    event start(level l, std::string_view name);
    bool admit_locked(std::string_view name, std::int64_t now);
    void summaries_locked(std::int64_t now);
    void write_locked(std::string_view line);
    void finish(std::string& line);
    std::int64_t mono_now() const;
    std::int64_t wall_now() const;

    options o_;
    std::atomic<level> level_;
    std::atomic<std::uint64_t> suppressed_total_{0};
    std::mutex mutex_;
    sink sink_;
    std::map<std::string, bucket, std::less<>> buckets_;
    std::map<std::string, rate_limit, std::less<>> overrides_;
    std::int64_t last_summary_ms_ = 0;
};

/// Appends `ms` (milliseconds since the Unix epoch) as RFC 3339 UTC with milliseconds:
/// "2026-12-04T22:14:48.123Z".
void append_rfc3339(std::string& out, std::int64_t ms);

// --- lifecycle events ----------------------------------------------------------------------
// The events the pool writes, with their names and fields in one place so that operators and
// tests can rely on them. None takes a token, a header or a request.

/// info "ws.open": connection_id, user_id, remote.
void connection_open(logger& log, std::uint64_t connection_id, std::string_view user_id,
                     std::string_view remote);
/// info "ws.close": connection_id, user_id, code (the WebSocket close code), reason (the
/// close reason sent or received), cause (pier's word for why: "timeout", "admin", …).
void connection_close(logger& log, std::uint64_t connection_id, std::string_view user_id,
                      std::uint16_t code, std::string_view reason, std::string_view cause);
/// warn "ws.auth_failure": remote, why ("missing_token", "invalid_token", …), and the
/// connection id when there is one. Never the credential.
void auth_failure(logger& log, std::string_view remote, std::string_view why,
                  std::uint64_t connection_id = 0);
/// warn "ws.limit_refused": limit (e.g. "max_connections_per_user"), remote, user_id.
void limit_refused(logger& log, std::string_view limit, std::string_view remote,
                   std::string_view user_id = {});
/// info "ws.cleanup": removed (connections), duration_ms.
void cleanup(logger& log, std::uint64_t removed, double duration_ms);
/// info "admin.action": action ("disconnect", "broadcast", "cleanup"), target (what it
/// applied to: "user_id=ann", "topic=news"), affected (a count), remote (the admin's
/// address).
void admin_action(logger& log, std::string_view action, std::string_view target,
                  std::uint64_t affected, std::string_view remote);

} // namespace pier::log

#include <pier/impl/log.hpp>
