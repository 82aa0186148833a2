// Micro-benchmarks: the read buffers of pier's default buffer policy, buffer::pooled
// (pier/buffer/pooled.hpp), single thread, against plain operator new/delete of the same size
// as the baseline.
//
//   buffer_pool_block_pool      borrow and return one block (block_pool::acquire/release)
//   buffer_pool_read_buffer     a connection's read cycle: prepare (borrows), commit, consume,
//                               release_if_empty (returns)
//   buffer_pool_new_delete      operator new + delete of the same size (the baseline)
//   buffer_pool_burst_*         64 blocks borrowed, then all returned: many connections
//                               readable in one event-loop pass
#include <pier/pier.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <new>

namespace {

constexpr std::size_t burst = 64;

template <std::size_t Size> using policy = pier::buffer::pooled<Size, 256>;

// Once: a returned block is handed out again, and a read buffer gives back what was read
// and holds no block once it is consumed.
template <std::size_t Size> bool pool_works() {
    using pool = typename policy<Size>::pool;
    char* a = pool::acquire();
    pool::release(a);
    const std::size_t spare = pool::retained();
    char* b = pool::acquire();
    const bool reused = a == b && pool::retained() + 1 == spare;
    pool::release(b);

    typename policy<Size>::read_buffer rb;
    auto room = rb.prepare();
    if (room.size() != Size)
        return false;
    std::memcpy(room.data(), "hello", 5);
    rb.commit(5);
    const bool read = rb.data() == "hello";
    rb.consume(5);
    rb.release_if_empty();
    return reused && read && !rb.holds_storage() && rb.data().empty();
}

template <std::size_t Size> void buffer_pool_block_pool(benchmark::State& state) {
    using pool = typename policy<Size>::pool;
    if (!pool_works<Size>()) {
        state.SkipWithError("buffer_pool: the pool does not reuse blocks");
        return;
    }
    for (auto _ : state) {
        char* p = pool::acquire();
        benchmark::DoNotOptimize(p);
        pool::release(p);
    }
    state.SetItemsProcessed(state.iterations());
}

template <std::size_t Size> void buffer_pool_read_buffer(benchmark::State& state) {
    if (!pool_works<Size>()) {
        state.SkipWithError("buffer_pool: the pool does not reuse blocks");
        return;
    }
    typename policy<Size>::read_buffer rb;
    for (auto _ : state) {
        auto room = rb.prepare();
        benchmark::DoNotOptimize(room);
        rb.commit(64);
        auto in = rb.data();
        benchmark::DoNotOptimize(in);
        rb.consume(in.size());
        rb.release_if_empty();
    }
    state.SetItemsProcessed(state.iterations());
}

template <std::size_t Size> void buffer_pool_new_delete(benchmark::State& state) {
    for (auto _ : state) {
        void* p = ::operator new(Size);
        benchmark::DoNotOptimize(p);
        ::operator delete(p);
    }
    state.SetItemsProcessed(state.iterations());
}

template <std::size_t Size> void buffer_pool_burst_pool(benchmark::State& state) {
    using pool = typename policy<Size>::pool;
    if (!pool_works<Size>()) {
        state.SkipWithError("buffer_pool: the pool does not reuse blocks");
        return;
    }
    std::array<char*, burst> blocks;
    for (auto _ : state) {
        for (auto& p : blocks)
            p = pool::acquire();
        benchmark::DoNotOptimize(blocks.data());
        for (auto* p : blocks)
            pool::release(p);
    }
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(burst));
}

template <std::size_t Size> void buffer_pool_burst_new_delete(benchmark::State& state) {
    std::array<void*, burst> blocks;
    for (auto _ : state) {
        for (auto& p : blocks)
            p = ::operator new(Size);
        benchmark::DoNotOptimize(blocks.data());
        for (auto* p : blocks)
            ::operator delete(p);
    }
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(burst));
}

} // namespace

// 16384 is pooled's default; 4096 a small-buffer configuration.
BENCHMARK_TEMPLATE(buffer_pool_block_pool, 4096);
BENCHMARK_TEMPLATE(buffer_pool_block_pool, 16384);
BENCHMARK_TEMPLATE(buffer_pool_read_buffer, 16384);
BENCHMARK_TEMPLATE(buffer_pool_new_delete, 4096);
BENCHMARK_TEMPLATE(buffer_pool_new_delete, 16384);
BENCHMARK_TEMPLATE(buffer_pool_burst_pool, 16384);
BENCHMARK_TEMPLATE(buffer_pool_burst_new_delete, 16384);
