// pier/metrics/registry.hpp: Prometheus metrics: counters, gauges and histograms, grouped in
// families with labels, and a writer for the text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//     pier::metrics::registry reg;
//     auto& sent = reg.add_counter("pier_ws_messages_sent_total", "Messages sent.");
//     auto& closed = reg.add_counter_family("pier_ws_connections_closed_total",
//                                           "Connections closed, by reason.", {"reason"});
//     auto& timeouts = closed.add({"timeout"});         // at start-up: takes a lock
//     auto& rtt = reg.add_histogram("pier_ws_heartbeat_rtt_seconds", "Ping to Pong.",
//                                   {0.001, 0.01, 0.1, 1});
//     sent.inc();  timeouts.inc();  rtt.observe(0.004);  // hot path: no lock, no allocation
//     std::string body = reg.text();                      // GET /metrics, with content_type
//
// The model: a registry holds families by name; a family has a type, a HELP text and label
// names; its series are the label-value combinations added to it. Series are created up
// front (at most `max_series_per_family` of them), so a label's values are a bounded set
// known at registration, such as the reasons a connection closes: nothing on the hot path
// creates a series, and every series is exported from the start at 0, which Prometheus's
// rate() needs to see the first increment.
//
// Hot-path cost. The pool updates metrics from every event-loop thread. A counter or a
// histogram is split into `stripes` cells, each on its own cache line; a thread updates the
// cell picked by a per-thread index handed out round-robin, with one relaxed fetch_add, and
// a scrape sums the cells. With no more threads than stripes, every loop thread owns its
// line, so an increment costs what an uncontended atomic add costs (no line moves between
// cores); a single shared atomic instead moves its line between the cores on every update.
// This is "per-shard instances summed at scrape time" without the caller having to pass its
// shard. bench/micro/metrics.cpp measures both: uncontended, a striped increment costs 1.7 ns
// against 2.0 ns for a shared atomic; the development VM (2 vCPUs shared with other builds)
// did not show the contention itself, which needs two cores updating at once. Gauges are one
// atomic each: they move with connection and subscription changes, far rarer than messages,
// and `set` cannot be split into cells.
//
// Consistency: a scrape reads each cell once, relaxed. A histogram's _count is the sum of
// its buckets as read, so it always equals the +Inf bucket; _sum is read separately and may
// miss observations made during the scrape (they show up in the next one).
//
// Thread safety: counter, gauge and histogram updates are safe from any thread. Registering
// (add_*) and writing are safe from any thread and serialised by the registry's mutex;
// callbacks run on the writing thread under that mutex, and must not register.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace pier::metrics {

/// The Content-Type of the text `registry::write` produces.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Why a registration was refused.
enum class errc : std::uint8_t {
    invalid_metric_name,  ///< not [a-zA-Z_:][a-zA-Z0-9_:]*
    invalid_label_name,   ///< not [a-zA-Z_][a-zA-Z0-9_]*
    reserved_label_name,  ///< starts with "__", or "le" on a histogram
    duplicate_label_name, ///< a label name twice (const labels included)
    label_count_mismatch, ///< label values given do not match the family's label names
    invalid_text,         ///< HELP text or a label value that is not valid UTF-8
    name_taken,           ///< a family of another type, HELP or labels has the name, or
                          ///< a histogram's _bucket/_sum/_count would collide with it
    too_many_series,      ///< more than registry_options::max_series_per_family
    invalid_buckets,      ///< no bucket, or bounds not finite and strictly increasing
};

/// A short name for `e`, e.g. "invalid_metric_name".
constexpr std::string_view to_string(errc e) noexcept;

/// Thrown by the add_* functions. Registration happens at start-up with names written in
/// code, so a refusal is a programming error: an exception names it at once.
class registration_error : public std::invalid_argument {
public:
    registration_error(errc code, const std::string& what)
        : std::invalid_argument(what), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

/// Whether `name` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
constexpr bool valid_metric_name(std::string_view name) noexcept;
/// Whether `name` is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*); "__"-names are reserved
/// for Prometheus itself and refused by the registry on top of this check.
constexpr bool valid_label_name(std::string_view name) noexcept;

struct registry_options {
    /// Cells per counter and histogram. 0 (the default) picks the number of hardware
    /// threads, rounded up to a power of two and capped at 64: one cell per event-loop thread
    /// when there is a loop per core. A counter costs 64 bytes per cell; a histogram
    /// 8 × (buckets + 2) bytes per cell, rounded up to 64. Rounded up to a power of two.
    std::size_t stripes = 0;
    /// Labels written on every series of the registry, e.g. {{"pool", "chat"}} when several
    /// pools share one registry. Default none.
    std::vector<std::pair<std::string, std::string>> const_labels = {};
    /// Most series one family may have. Default 1000: far above the label sets pier uses (a
    /// few dozen reasons at most), low enough that a bug adding series per user or per topic
    /// fails loudly instead of growing every scrape without bound.
    std::size_t max_series_per_family = 1000;
};

namespace detail {

/// This thread's cell index (unmasked); assigned round-robin on first use.
inline unsigned stripe_index() noexcept;

struct alignas(64) cell {
    std::atomic<std::uint64_t> value{0};
};

} // namespace detail

/// A monotonically increasing count (of events, bytes, …). Its name should end in `_total`.
class counter {
public:
    /// Adds `n`. Wait-free: one relaxed atomic add on this thread's cell.
    void inc(std::uint64_t n = 1) noexcept {
        cells_[detail::stripe_index() & mask_].value.fetch_add(n, std::memory_order_relaxed);
    }
    /// The sum of the cells (the value a scrape would write).
    std::uint64_t value() const noexcept;

    explicit counter(std::size_t stripes);

private:
    std::unique_ptr<detail::cell[]> cells_;
    unsigned mask_;
};

/// A value that goes up and down (connections open, topics). One atomic.
class gauge {
public:
    void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
    void inc(double d = 1) noexcept { add(d); }
    void dec(double d = 1) noexcept { add(-d); }
    double value() const noexcept { return v_.load(std::memory_order_relaxed); }

    gauge() = default;

private:
    alignas(64) std::atomic<double> v_{0}; // its own cache line: see the file comment
};

/// Observations counted in buckets by upper bound (`le`), with their sum and count. The
/// bounds are fixed when the family is registered; +Inf is implied.
class histogram {
public:
    /// Counts `v` in the first bucket whose bound is >= v (and in +Inf). NaN is ignored: it
    /// would turn _sum into NaN for the life of the process.
    void observe(double v) noexcept;

    struct snapshot {
        std::vector<std::uint64_t> cumulative; ///< per bound, then +Inf (== count)
        double sum = 0;
        std::uint64_t count = 0;
    };
    snapshot collect() const;
    /// The finite upper bounds, ascending.
    std::span<const double> bounds() const noexcept { return bounds_; }

    histogram(std::vector<double> bounds, std::size_t stripes);
    histogram(const histogram&) = delete;
    histogram& operator=(const histogram&) = delete;

private:
    struct free_aligned {
        void operator()(std::atomic<std::uint64_t>* p) const noexcept;
    };
    std::vector<double> bounds_;
    std::size_t stride_;  // slots per cell: buckets (+Inf included), the sum, padding
    std::size_t n_cells_; // stripes
    unsigned mask_;
    std::unique_ptr<std::atomic<std::uint64_t>[], free_aligned> slots_;
};

enum class metric_type : std::uint8_t { counter, gauge, histogram };

class registry;

/// The series of one metric name. Obtained from registry::add_*_family; lives as long as the
/// registry, as do the series it hands out.
template <class Metric> class family {
public:
    /// The series with these label values (one per label name, in order), created at 0 on
    /// first use. Takes the registry's lock: call it at start-up and keep the reference.
    Metric& add(const std::vector<std::string_view>& label_values);
    /// A series whose value `fn` computes at each scrape, for values something else already
    /// keeps (a pool's topic count). Counters and gauges only. `fn` runs on the scraping
    /// thread under the registry's lock and must be thread-safe and quick.
    void add_callback(const std::vector<std::string_view>& label_values,
                      std::function<double()> fn) requires(!std::is_same_v<Metric, histogram>);

    std::string_view name() const noexcept { return name_; }

    family(const family&) = delete;
    family& operator=(const family&) = delete;

private:
    friend class registry;
    struct series {
        std::string labels; // rendered `a="x",b="y"`, const labels first; may be empty
        std::unique_ptr<Metric> metric;
        std::function<double()> fn;
    };
    family(registry& owner, std::string name, std::vector<std::string> label_names)
        : owner_(&owner), name_(std::move(name)), label_names_(std::move(label_names)) {}
    std::string render_labels(const std::vector<std::string_view>& values) const;
    series* find(const std::string& labels);
    series& make(const std::vector<std::string_view>& values);

    registry* owner_;
    std::string name_;
    std::vector<std::string> label_names_;
    std::vector<double> bounds_; // histograms
    std::vector<std::unique_ptr<series>> series_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

/// The metrics of a process (or of one pool), written in the 0.0.4 text format.
/// Distinct objects: safe. Shared objects: safe (see the file comment).
class registry {
public:
    explicit registry(registry_options options = {});
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// Registers a family, or returns the existing one when a family of the same type, HELP
    /// and label names (and buckets) has the name; throws registration_error otherwise.
    counter_family& add_counter_family(std::string_view name, std::string_view help,
                                       const std::vector<std::string_view>& label_names);
    gauge_family& add_gauge_family(std::string_view name, std::string_view help,
                                   const std::vector<std::string_view>& label_names);
    /// `bounds`: finite, strictly increasing upper bounds (a trailing +Inf is dropped).
    histogram_family& add_histogram_family(std::string_view name, std::string_view help,
                                           std::vector<double> bounds,
                                           const std::vector<std::string_view>& label_names);

    /// Shorthands for a family with no labels and its one series.
    counter& add_counter(std::string_view name, std::string_view help) {
        return add_counter_family(name, help, {}).add({});
    }
    gauge& add_gauge(std::string_view name, std::string_view help) {
        return add_gauge_family(name, help, {}).add({});
    }
    histogram& add_histogram(std::string_view name, std::string_view help,
                             std::vector<double> bounds) {
        return add_histogram_family(name, help, std::move(bounds), {}).add({});
    }

    /// Appends every family with at least one series, in name order (series in the order
    /// they were added), in the text format 0.0.4.
    void write(std::string& out) const;
    /// write() into a new string.
    std::string text() const {
        std::string s;
        write(s);
        return s;
    }

    /// Cells per counter/histogram in this registry (options.stripes, resolved).
    std::size_t stripes() const noexcept { return stripes_; }

private:
    template <class> friend class family;
    struct entry {
        metric_type type;
        std::string help;
        std::vector<std::string> label_names;
        std::unique_ptr<void, void (*)(void*)> fam{nullptr, nullptr};
    };
    template <class Metric>
    family<Metric>& add_family(metric_type type, std::string_view name, std::string_view help,
                               const std::vector<std::string_view>& label_names,
                               std::vector<double> bounds);

    registry_options options_;
    std::size_t stripes_;
    std::string const_labels_; // rendered, without braces
    mutable std::mutex mutex_;
    std::map<std::string, entry, std::less<>> families_;
};

} // namespace pier::metrics

#include <pier/metrics/impl/registry.hpp>
