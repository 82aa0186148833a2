// Micro-benchmarks: a connection's write queue (pier/write/queue.hpp) outside any socket: K
// small parts queued, gathered into the iovec list of one write (at most
// write_options::max_gather = 64 ranges, as the connection does) and consumed as if the
// kernel took everything. Items/s count parts.
//
//   write_queue_copy     parts queued by copy (connection::try_send with a string): they
//                        coalesce into one range of the queue's chunk
//   write_queue_shared   shared_buffer parts queued by reference (try_send with a
//                        shared_buffer): one range each
#include <pier/pier.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr std::size_t part_size = 64;
constexpr std::size_t max_gather = pier::write_options{}.max_gather;

std::vector<std::string> parts(std::size_t k) {
    std::vector<std::string> p;
    for (std::size_t i = 0; i < k; ++i) {
        p.emplace_back(part_size, char('a' + i % 26));
        p.back().back() = '\n';
    }
    return p;
}

// The gathered ranges, concatenated.
std::string joined(const std::vector<asio::const_buffer>& iov) {
    std::string s;
    for (const auto& b : iov)
        s.append(static_cast<const char*>(b.data()), b.size());
    return s;
}

// Queues k parts with `append(queue, i)` and gathers them: once for `gathered_ok` to check the
// iovec list, then in the timed loop; each round is consumed as if the kernel took it all.
template <class Append, class Check>
void measure(benchmark::State& state, std::size_t k, Append append, Check gathered_ok,
             const char* error) {
    pier::detail::write_queue q;
    std::vector<asio::const_buffer> iov;
    const auto fill = [&] {
        for (std::size_t i = 0; i < k; ++i)
            append(q, i);
        q.gather(iov, max_gather);
    };
    fill();
    const bool ok = gathered_ok(iov);
    q.consume(q.bytes());
    if (!ok || !q.empty()) {
        state.SkipWithError(error);
        return;
    }
    for (auto _ : state) {
        fill();
        const std::size_t n = q.bytes();
        q.consume(n);
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(iov.data());
    }
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(k));
}

void write_queue_copy(benchmark::State& state) {
    const auto k = std::size_t(state.range(0));
    const auto data = parts(k);
    std::string expected;
    for (const auto& p : data)
        expected += p;
    measure(
        state, k, [&](pier::detail::write_queue& q, std::size_t i) { q.append_copy(data[i]); },
        [&](const std::vector<asio::const_buffer>& iov) {
            return iov.size() == 1 && joined(iov) == expected;
        },
        "write_queue: copies did not coalesce into one range");
}

void write_queue_shared(benchmark::State& state) {
    const auto k = std::size_t(state.range(0));
    std::vector<pier::shared_buffer> data;
    for (const auto& p : parts(k))
        data.emplace_back(p);
    measure(
        state, k, [&](pier::detail::write_queue& q, std::size_t i) { q.append_shared(data[i]); },
        [&](const std::vector<asio::const_buffer>& iov) {
            // Held by `data`, by the queue and by this owner() copy: queued by reference.
            bool ok = iov.size() == std::min(k, max_gather) && data[0].owner().use_count() == 3;
            for (std::size_t i = 0; ok && i < iov.size(); ++i)
                ok = iov[i].data() == data[i].data() && iov[i].size() == data[i].size();
            return ok;
        },
        "write_queue: shared parts not queued by reference");
}

} // namespace

BENCHMARK(write_queue_copy)->ArgName("parts")->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(write_queue_shared)->ArgName("parts")->Arg(1)->Arg(8)->Arg(64);
