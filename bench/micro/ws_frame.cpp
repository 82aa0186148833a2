// Micro-benchmarks: WebSocket frame-header parsing and (un)masking (pier/ws/frame.hpp), the
// per-message work of every WebSocket scenario in bench/run.py.
#include <pier/pier.hpp>
#include <pier/ws/frame.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <vector>

namespace {

// A masked client frame header for a payload of `size` bytes.
std::vector<std::uint8_t> client_header(std::uint64_t size) {
    std::array<std::uint8_t, pier::ws::max_frame_header_size> h{};
    std::size_t n = pier::ws::write_masked_frame_header(h, pier::ws::opcode::binary, size,
                                                        {0x12, 0x34, 0x56, 0x78});
    return {h.begin(), h.begin() + std::ptrdiff_t(n)};
}

void ws_frame_parse_header(benchmark::State& state) {
    auto header = client_header(std::uint64_t(state.range(0)));
    pier::ws::frame_parser parser;
    pier::ws::frame_header out;
    for (auto _ : state) {
        auto r = parser.parse(header, out);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(out);
    }
}

void ws_frame_unmask(benchmark::State& state) {
    std::vector<std::uint8_t> payload(std::size_t(state.range(0)), 0x5a);
    const std::array<std::uint8_t, 4> key{0x12, 0x34, 0x56, 0x78};
    for (auto _ : state) {
        auto off = pier::ws::apply_mask(payload, key);
        benchmark::DoNotOptimize(off);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * state.range(0));
}

// Unaligned start, in three pieces: how a payload split across reads is unmasked.
void ws_frame_unmask_pieces(benchmark::State& state) {
    std::vector<std::uint8_t> buffer(std::size_t(state.range(0)) + 1, 0x5a);
    std::span<std::uint8_t> payload(buffer.data() + 1, buffer.size() - 1);
    const std::array<std::uint8_t, 4> key{0x12, 0x34, 0x56, 0x78};
    std::size_t third = payload.size() / 3;
    for (auto _ : state) {
        std::size_t off = pier::ws::apply_mask(payload.subspan(0, third), key);
        off = pier::ws::apply_mask(payload.subspan(third, third), key, off);
        off = pier::ws::apply_mask(payload.subspan(2 * third), key, off);
        benchmark::DoNotOptimize(off);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * state.range(0));
}

} // namespace

BENCHMARK(ws_frame_parse_header)->Arg(64)->Arg(16384)->Arg(1 << 20);
BENCHMARK(ws_frame_unmask)->Arg(64)->Arg(16384)->Arg(1 << 20);
BENCHMARK(ws_frame_unmask_pieces)->Arg(16384);
