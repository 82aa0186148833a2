// pier/metrics/impl/registry.hpp: out-of-line definitions for <pier/metrics/registry.hpp>.
#pragma once

#include <pier/metrics/registry.hpp>
#include <pier/ws/utf8.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <thread>

namespace pier::metrics {

constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
    case errc::invalid_metric_name:
        return "invalid_metric_name";
    case errc::invalid_label_name:
        return "invalid_label_name";
    case errc::reserved_label_name:
        return "reserved_label_name";
    case errc::duplicate_label_name:
        return "duplicate_label_name";
    case errc::label_count_mismatch:
        return "label_count_mismatch";
    case errc::invalid_text:
        return "invalid_text";
    case errc::name_taken:
        return "name_taken";
    case errc::too_many_series:
        return "too_many_series";
    case errc::invalid_buckets:
        return "invalid_buckets";
    }
    return "unknown";
}

namespace detail {

constexpr bool is_alpha_(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

inline std::atomic<unsigned> next_stripe{0};
inline thread_local unsigned this_thread_stripe = ~0u;

inline unsigned stripe_index() noexcept {
    unsigned s = this_thread_stripe;
    if (s == ~0u) [[unlikely]]
        s = this_thread_stripe = next_stripe.fetch_add(1, std::memory_order_relaxed) & 0xffffu;
    return s;
}

inline std::size_t resolve_stripes(std::size_t wanted) {
    if (wanted == 0)
        wanted = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 64);
    return std::bit_ceil(std::clamp<std::size_t>(wanted, 1, 1024));
}

// The exposition format's value syntax is Go's ParseFloat: "+Inf", "-Inf", "NaN", or a
// decimal. Written as client_golang writes it (strconv's shortest 'g' form: the exponent form
// only for exponents below -4 or from 6 up), so an `le` label reads the same as the one a Go
// exporter gives the same bound: 0.0001 is "0.0001", 1e-05 is "1e-05", 1e6 is "1e+06".
inline void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[48];
    char* end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific).ptr;
    const char* e = std::find(buf, end, 'e');
    int exp = 0;
    std::from_chars(e + (e[1] == '+' ? 2 : 1), end, exp);
    if (exp < -4 || exp >= 6) {
        out.append(buf, end);
        return;
    }
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed).ptr);
}

inline void append_value(std::string& out, std::uint64_t v) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Label values: `\`, `"` and newline are escaped; HELP: `\` and newline (format 0.0.4).
inline void append_escaped(std::string& out, std::string_view s, bool quote) {
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quote)
            out += "\\\"";
        else
            out += c;
    }
}

inline void append_label(std::string& out, std::string_view name, std::string_view value) {
    if (!out.empty())
        out += ',';
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
}

[[noreturn]] inline void refuse(errc e, std::string_view what) {
    std::string msg = "pier::metrics: ";
    msg += to_string(e);
    msg += ": ";
    msg += what;
    throw registration_error(e, msg);
}

inline void check_label_names(const std::vector<std::string_view>& names,
                              const std::vector<std::pair<std::string, std::string>>& consts,
                              bool histogram) {
    std::vector<std::string_view> seen;
    for (const auto& c : consts)
        seen.push_back(c.first);
    for (auto n : names) {
        if (!valid_label_name(n))
            refuse(errc::invalid_label_name, n);
        if (n.starts_with("__") || (histogram && n == "le"))
            refuse(errc::reserved_label_name, n);
        if (std::find(seen.begin(), seen.end(), n) != seen.end())
            refuse(errc::duplicate_label_name, n);
        seen.push_back(n);
    }
}

// The names a family puts on its sample lines.
inline std::vector<std::string> exposed_names(metric_type t, std::string_view name) {
    std::string n(name);
    if (t != metric_type::histogram)
        return {n};
    return {n + "_bucket", n + "_sum", n + "_count", n};
}

} // namespace detail

constexpr bool valid_metric_name(std::string_view name) noexcept {
    if (name.empty() || !(detail::is_alpha_(name[0]) || name[0] == ':'))
        return false;
    for (char c : name)
        if (!(detail::is_alpha_(c) || detail::is_digit(c) || c == ':'))
            return false;
    return true;
}

constexpr bool valid_label_name(std::string_view name) noexcept {
    if (name.empty() || !detail::is_alpha_(name[0]))
        return false;
    for (char c : name)
        if (!(detail::is_alpha_(c) || detail::is_digit(c)))
            return false;
    return true;
}

// --- counter ---------------------------------------------------------------------------------

inline counter::counter(std::size_t stripes)
    : cells_(new detail::cell[stripes]), mask_(static_cast<unsigned>(stripes - 1)) {}

inline std::uint64_t counter::value() const noexcept {
    std::uint64_t sum = 0;
    for (unsigned i = 0; i <= mask_; ++i)
        sum += cells_[i].value.load(std::memory_order_relaxed);
    return sum;
}

// --- histogram -------------------------------------------------------------------------------

inline void histogram::free_aligned::operator()(std::atomic<std::uint64_t>* p) const noexcept {
    ::operator delete (static_cast<void*>(p), std::align_val_t{64});
}

inline histogram::histogram(std::vector<double> bounds, std::size_t stripes)
    : bounds_(std::move(bounds)),
      // buckets (bounds + the +Inf one) and the sum, rounded up to whole cache lines so that
      // no two cells share one
      stride_((bounds_.size() + 2 + 7) / 8 * 8), n_cells_(stripes),
      mask_(static_cast<unsigned>(stripes - 1)) {
    const std::size_t n = stride_ * n_cells_;
    void* raw = ::operator new (n * sizeof(std::atomic<std::uint64_t>), std::align_val_t{64});
    auto* p = static_cast<std::atomic<std::uint64_t>*>(raw);
    for (std::size_t i = 0; i < n; ++i)
        ::new (static_cast<void*>(p + i)) std::atomic<std::uint64_t>(0);
    slots_.reset(p);
}

inline void histogram::observe(double v) noexcept {
    if (std::isnan(v))
        return;
    // Bucket lists are short (a dozen bounds): a linear scan beats binary search there.
    std::size_t b = 0;
    while (b < bounds_.size() && v > bounds_[b])
        ++b;
    std::atomic<std::uint64_t>* cell = slots_.get() + (detail::stripe_index() & mask_) * stride_;
    cell[b].fetch_add(1, std::memory_order_relaxed);
    // The sum is a double kept as its bit pattern; the cell is this thread's, so the
    // compare-exchange almost never retries.
    auto& sum = cell[bounds_.size() + 1];
    std::uint64_t old = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(old,
                                      std::bit_cast<std::uint64_t>(std::bit_cast<double>(old) + v),
                                      std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
}

inline histogram::snapshot histogram::collect() const {
    snapshot s;
    const std::size_t nb = bounds_.size() + 1;
    s.cumulative.assign(nb, 0);
    for (std::size_t c = 0; c < n_cells_; ++c) {
        const std::atomic<std::uint64_t>* cell = slots_.get() + c * stride_;
        for (std::size_t b = 0; b < nb; ++b)
            s.cumulative[b] += cell[b].load(std::memory_order_relaxed);
        s.sum += std::bit_cast<double>(cell[nb].load(std::memory_order_relaxed));
    }
    for (std::size_t b = 1; b < nb; ++b)
        s.cumulative[b] += s.cumulative[b - 1];
    s.count = s.cumulative.back();
    return s;
}

// --- family ----------------------------------------------------------------------------------

template <class Metric>
std::string family<Metric>::render_labels(const std::vector<std::string_view>& values) const {
    if (values.size() != label_names_.size())
        detail::refuse(errc::label_count_mismatch, name_);
    std::string out = owner_->const_labels_;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!ws::is_valid_utf8(values[i]))
            detail::refuse(errc::invalid_text, name_ + " label " + label_names_[i]);
        detail::append_label(out, label_names_[i], values[i]);
    }
    return out;
}

template <class Metric>
typename family<Metric>::series* family<Metric>::find(const std::string& labels) {
    for (auto& s : series_)
        if (s->labels == labels)
            return s.get();
    return nullptr;
}

template <class Metric>
typename family<Metric>::series& family<Metric>::make(const std::vector<std::string_view>& values) {
    std::string labels = render_labels(values);
    if (series* s = find(labels))
        return *s;
    if (series_.size() >= owner_->options_.max_series_per_family)
        detail::refuse(errc::too_many_series, name_);
    auto s = std::make_unique<series>();
    s->labels = std::move(labels);
    series_.push_back(std::move(s));
    return *series_.back();
}

template <class Metric>
Metric& family<Metric>::add(const std::vector<std::string_view>& label_values) {
    std::lock_guard lock(owner_->mutex_);
    series& s = make(label_values);
    if (!s.metric) {
        if (s.fn)
            detail::refuse(errc::name_taken, name_ + " series already has a callback");
        if constexpr (std::is_same_v<Metric, histogram>)
            s.metric = std::make_unique<histogram>(bounds_, owner_->stripes_);
        else if constexpr (std::is_same_v<Metric, counter>)
            s.metric = std::make_unique<counter>(owner_->stripes_);
        else
            s.metric = std::make_unique<Metric>();
    }
    return *s.metric;
}

template <class Metric>
void family<Metric>::add_callback(
    const std::vector<std::string_view>& label_values,
    std::function<double()> fn) requires(!std::is_same_v<Metric, histogram>) {
    std::lock_guard lock(owner_->mutex_);
    series& s = make(label_values);
    if (s.metric || s.fn)
        detail::refuse(errc::name_taken, name_ + " series already registered");
    s.fn = std::move(fn);
}

// --- registry --------------------------------------------------------------------------------

inline registry::registry(registry_options options)
    : options_(std::move(options)), stripes_(detail::resolve_stripes(options_.stripes)) {
    std::vector<std::pair<std::string, std::string>> none;
    std::vector<std::string_view> names;
    for (const auto& [n, v] : options_.const_labels)
        names.push_back(n);
    detail::check_label_names(names, none, false);
    for (const auto& [n, v] : options_.const_labels) {
        if (!ws::is_valid_utf8(v))
            detail::refuse(errc::invalid_text, "const label " + n);
        detail::append_label(const_labels_, n, v);
    }
}

template <class Metric>
family<Metric>& registry::add_family(metric_type type, std::string_view name, std::string_view help,
                                     const std::vector<std::string_view>& label_names,
                                     std::vector<double> bounds) {
    if (!valid_metric_name(name))
        detail::refuse(errc::invalid_metric_name, name);
    if (!ws::is_valid_utf8(help))
        detail::refuse(errc::invalid_text, std::string(name) + " HELP");
    detail::check_label_names(label_names, options_.const_labels, type == metric_type::histogram);
    if (type == metric_type::histogram) {
        if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity())
            bounds.pop_back();
        if (bounds.empty())
            detail::refuse(errc::invalid_buckets, std::string(name) + ": no bucket");
        for (std::size_t i = 0; i < bounds.size(); ++i)
            if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                detail::refuse(errc::invalid_buckets,
                               std::string(name) + ": bounds must be finite and increasing");
    }
    std::vector<std::string> names(label_names.begin(), label_names.end());

    std::lock_guard lock(mutex_);
    if (auto it = families_.find(name); it != families_.end()) {
        entry& e = it->second;
        auto* f = static_cast<family<Metric>*>(e.fam.get());
        if (e.type != type || e.help != help || e.label_names != names ||
            (type == metric_type::histogram && f->bounds_ != bounds))
            detail::refuse(errc::name_taken, name);
        return *f;
    }
    // A histogram's sample names must not meet another family's, in either direction.
    for (const auto& mine : detail::exposed_names(type, name))
        for (const auto& [other, e] : families_)
            for (const auto& theirs : detail::exposed_names(e.type, other))
                if (mine == theirs)
                    detail::refuse(errc::name_taken, std::string(name) + " collides with " + other);

    auto* f = new family<Metric>(*this, std::string(name), names);
    f->bounds_ = std::move(bounds);
    entry e{type, std::string(help), std::move(names)};
    e.fam = std::unique_ptr<void, void (*)(void*)>(
        f, [](void* p) { delete static_cast<family<Metric>*>(p); });
    families_.emplace(std::string(name), std::move(e));
    return *f;
}

inline counter_family& registry::add_counter_family(std::string_view name, std::string_view help,
                                                    const std::vector<std::string_view>& labels) {
    return add_family<counter>(metric_type::counter, name, help, labels, {});
}

inline gauge_family& registry::add_gauge_family(std::string_view name, std::string_view help,
                                                const std::vector<std::string_view>& labels) {
    return add_family<gauge>(metric_type::gauge, name, help, labels, {});
}

inline histogram_family&
registry::add_histogram_family(std::string_view name, std::string_view help,
                               std::vector<double> bounds,
                               const std::vector<std::string_view>& labels) {
    return add_family<histogram>(metric_type::histogram, name, help, labels, std::move(bounds));
}

namespace detail {

inline void append_sample_name(std::string& out, std::string_view name, std::string_view suffix,
                               std::string_view labels, std::string_view extra = {}) {
    out += name;
    out += suffix;
    if (!labels.empty() || !extra.empty()) {
        out += '{';
        out += labels;
        if (!labels.empty() && !extra.empty())
            out += ',';
        out += extra;
        out += '}';
    }
    out += ' ';
}

} // namespace detail

inline void registry::write(std::string& out) const {
    std::lock_guard lock(mutex_);
    for (const auto& kv : families_) {
        // Named references, not a structured binding: lambdas below use them, and clang
        // before 16 cannot capture structured bindings.
        const std::string& name = kv.first;
        const entry& e = kv.second;
        const auto header = [&](std::string_view type) {
            out += "# HELP ";
            out += name;
            out += ' ';
            detail::append_escaped(out, e.help, false);
            out += "\n# TYPE ";
            out += name;
            out += ' ';
            out += type;
            out += '\n';
        };
        switch (e.type) {
        case metric_type::counter:
        case metric_type::gauge: {
            const bool is_counter = e.type == metric_type::counter;
            auto emit = [&](const auto& fam) {
                if (fam.series_.empty())
                    return;
                header(is_counter ? "counter" : "gauge");
                for (const auto& s : fam.series_) {
                    detail::append_sample_name(out, name, {}, s->labels);
                    if (s->fn)
                        detail::append_value(out, s->fn());
                    else
                        detail::append_value(out, s->metric->value());
                    out += '\n';
                }
            };
            if (is_counter)
                emit(*static_cast<const counter_family*>(e.fam.get()));
            else
                emit(*static_cast<const gauge_family*>(e.fam.get()));
            break;
        }
        case metric_type::histogram: {
            const auto& fam = *static_cast<const histogram_family*>(e.fam.get());
            if (fam.series_.empty())
                break;
            header("histogram");
            std::vector<std::string> le;
            for (double b : fam.bounds_) {
                std::string v = "le=\"";
                detail::append_value(v, b);
                le.push_back(v + '"');
            }
            le.push_back("le=\"+Inf\"");
            for (const auto& s : fam.series_) {
                const auto snap = s->metric->collect();
                for (std::size_t b = 0; b < le.size(); ++b) {
                    detail::append_sample_name(out, name, "_bucket", s->labels, le[b]);
                    detail::append_value(out, snap.cumulative[b]);
                    out += '\n';
                }
                detail::append_sample_name(out, name, "_sum", s->labels);
                detail::append_value(out, snap.sum);
                out += '\n';
                detail::append_sample_name(out, name, "_count", s->labels);
                detail::append_value(out, snap.count);
                out += '\n';
            }
            break;
        }
        }
    }
}

} // namespace pier::metrics
