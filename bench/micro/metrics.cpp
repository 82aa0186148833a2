// Micro-benchmarks: updating pier::metrics from event-loop threads (pier/metrics/registry.hpp),
// against the alternatives its design was chosen over.
//
//   metrics_counter_striped     counter::inc(): a relaxed fetch_add on this thread's cell
//   metrics_counter_shared      one relaxed std::atomic fetch_add that every thread shares
//   metrics_counter_plain       a non-atomic per-thread increment: the floor (what a per-shard
//                               instance that only its own thread writes costs)
//   metrics_histogram_observe   histogram::observe() with the pool's 13 RTT buckets
//   metrics_gauge_inc_dec       gauge::inc() + dec(): one shared atomic<double>
//   metrics_scrape_pool         registry::write() of the pool's metric set (pool.hpp)
//
// Each runs on 1 and 2 threads: with 2, the shared atomic's cache line moves between the
// cores on every update, the striped one's does not.
#include <pier/metrics/pool.hpp>
#include <pier/metrics/registry.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace {

pier::metrics::registry& shared_registry() {
    static pier::metrics::registry reg;
    return reg;
}

void metrics_counter_striped(benchmark::State& state) {
    static auto& c = shared_registry().add_counter("bench_striped_total", "bench");
    for (auto _ : state)
        c.inc();
    if (state.thread_index() == 0 && c.value() == 0)
        state.SkipWithError("counter did not count");
}
BENCHMARK(metrics_counter_striped)->Threads(1)->Threads(2);

void metrics_counter_shared(benchmark::State& state) {
    alignas(64) static std::atomic<std::uint64_t> c{0};
    for (auto _ : state)
        c.fetch_add(1, std::memory_order_relaxed);
    if (state.thread_index() == 0 && c.load() == 0)
        state.SkipWithError("counter did not count");
}
BENCHMARK(metrics_counter_shared)->Threads(1)->Threads(2);

void metrics_counter_plain(benchmark::State& state) {
    std::uint64_t c = 0;
    for (auto _ : state) {
        ++c;
        benchmark::DoNotOptimize(c);
    }
}
BENCHMARK(metrics_counter_plain)->Threads(1)->Threads(2);

void metrics_histogram_observe(benchmark::State& state) {
    static auto& h = shared_registry().add_histogram(
        "bench_rtt_seconds", "bench",
        {pier::metrics::default_rtt_buckets.begin(), pier::metrics::default_rtt_buckets.end()});
    double v = 0.0001;
    for (auto _ : state) {
        h.observe(v);
        v = v > 5 ? 0.0001 : v * 1.7;
    }
    if (state.thread_index() == 0 && h.collect().count == 0)
        state.SkipWithError("histogram did not count");
}
BENCHMARK(metrics_histogram_observe)->Threads(1)->Threads(2);

void metrics_gauge_inc_dec(benchmark::State& state) {
    static auto& g = shared_registry().add_gauge("bench_open", "bench");
    for (auto _ : state) {
        g.inc();
        g.dec();
    }
}
BENCHMARK(metrics_gauge_inc_dec)->Threads(1)->Threads(2);

void metrics_scrape_pool(benchmark::State& state) {
    pier::metrics::registry reg;
    pier::metrics::pool_metrics m(reg);
    m.messages_sent.inc(123456);
    std::string out;
    for (auto _ : state) {
        out.clear();
        reg.write(out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
    if (out.find("pier_ws_messages_sent_total 123456\n") == std::string::npos)
        state.SkipWithError("scrape output wrong");
}
BENCHMARK(metrics_scrape_pool);

} // namespace
