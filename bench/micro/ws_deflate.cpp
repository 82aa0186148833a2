// Micro-benchmarks: permessage-deflate (pier/ws/deflate.hpp), compressing outgoing and
// inflating incoming JSON-like text messages of 64 B, 1 KiB and 16 KiB, with context takeover
// on (the default: each message may refer to the ones before) and off (each message alone).
// Bytes/s count uncompressed bytes; the `ratio` counter is uncompressed / compressed.
//
// Each benchmark cycles through a corpus of distinct messages: with context takeover, sending
// one message over and over would compress to a few bytes of back-references. Inflation
// replays the compressed corpus in order, which stays valid across the wrap because the first
// message was compressed with an empty window.
#include <pier/pier.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

namespace ws = pier::ws;

constexpr std::size_t corpus_size = 16;

// A message of exactly `size` bytes: market-data-like records with varying fields.
std::string json_message(std::size_t size, std::uint32_t seed) {
    static constexpr const char* symbols[] = {"AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA"};
    static constexpr const char* sides[] = {"buy", "sell"};
    std::uint32_t x = seed * 2654435761u + 1;
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return x;
    };
    std::string s = "[";
    while (s.size() < size) {
        const std::uint32_t r = next();
        s += "{\"type\":\"trade\",\"symbol\":\"";
        s += symbols[r % 6];
        s += "\",\"side\":\"";
        s += sides[(r >> 3) & 1];
        s += "\",\"price\":";
        s += std::to_string(100 + r % 900) + "." + std::to_string(10 + (r >> 8) % 90);
        s += ",\"qty\":" + std::to_string(1 + (r >> 12) % 5000);
        s += ",\"id\":" + std::to_string(next());
        s += ",\"ts\":" + std::to_string(1700000000000ull + next() % 100000);
        s += "},";
    }
    s.resize(size);
    s.back() = ']';
    return s;
}

std::vector<std::string> corpus(std::size_t size) {
    std::vector<std::string> c;
    for (std::uint32_t i = 0; i < corpus_size; ++i)
        c.push_back(json_message(size, i + 1));
    return c;
}

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// What pier agrees to by default (12-bit windows both ways), with or without context takeover.
ws::deflate_params params(bool takeover) {
    ws::deflate_params p;
    p.server_max_window_bits = 12;
    p.client_max_window_bits = 12;
    p.server_no_context_takeover = !takeover;
    p.client_no_context_takeover = !takeover;
    return p;
}

// The corpus compressed in order by a fresh codec; empty on failure.
std::vector<std::string> compress_all(const std::vector<std::string>& messages, bool takeover) {
    ws::deflate_codec codec(params(takeover));
    std::vector<std::string> out(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i)
        if (codec.compress(bytes(messages[i]), out[i], true) != ws::deflate_status::ok)
            return {};
    return out;
}

// Inflates `compressed` in order `rounds` times with `codec` and compares with `messages`.
bool inflates_to(ws::deflate_codec& codec, const std::vector<std::string>& compressed,
                 const std::vector<std::string>& messages, int rounds) {
    std::string out;
    for (int round = 0; round < rounds; ++round)
        for (std::size_t i = 0; i < compressed.size(); ++i) {
            out.clear();
            if (codec.decompress(bytes(compressed[i]), out, true) != ws::deflate_status::ok ||
                out != messages[i])
                return false;
        }
    return true;
}

// The timed loop: `step(i, out)` on message i of the corpus, in turn, with `out` cleared.
template <class Step> void cycle(benchmark::State& state, std::size_t count, Step step) {
    std::string out;
    std::size_t i = 0;
    for (auto _ : state) {
        out.clear();
        ws::deflate_status st = step(i, out);
        benchmark::DoNotOptimize(st);
        benchmark::DoNotOptimize(out.data());
        i = (i + 1) % count;
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * state.range(0));
}

void ws_deflate_compress(benchmark::State& state) {
    const bool takeover = state.range(1) != 0;
    const auto messages = corpus(std::size_t(state.range(0)));
    {
        // inflate(deflate(x)) == x, twice round the corpus.
        const auto compressed = compress_all(messages, takeover);
        ws::deflate_codec reader(params(takeover));
        if (compressed.empty() || !inflates_to(reader, compressed, messages, 2)) {
            state.SkipWithError("ws_deflate: round trip failed");
            return;
        }
    }
    ws::deflate_codec codec(params(takeover));
    std::uint64_t compressed_bytes = 0;
    cycle(state, messages.size(), [&](std::size_t i, std::string& out) {
        auto st = codec.compress(bytes(messages[i]), out, true);
        compressed_bytes += out.size();
        return st;
    });
    if (compressed_bytes > 0)
        state.counters["ratio"] =
            double(state.iterations() * state.range(0)) / double(compressed_bytes);
}

void ws_deflate_inflate(benchmark::State& state) {
    const bool takeover = state.range(1) != 0;
    const auto messages = corpus(std::size_t(state.range(0)));
    const auto compressed = compress_all(messages, takeover);
    ws::deflate_codec codec(params(takeover));
    // Leaves the codec at the start of the corpus, its window warm as in the timed loop.
    if (compressed.empty() || !inflates_to(codec, compressed, messages, 2)) {
        state.SkipWithError("ws_deflate: round trip failed");
        return;
    }
    std::uint64_t compressed_bytes = 0;
    for (const auto& c : compressed)
        compressed_bytes += c.size();
    cycle(state, compressed.size(), [&](std::size_t i, std::string& out) {
        return codec.decompress(bytes(compressed[i]), out, true);
    });
    state.counters["ratio"] =
        double(std::uint64_t(state.range(0)) * compressed.size()) / double(compressed_bytes);
}

void sizes_and_takeover(benchmark::internal::Benchmark* b) {
    b->ArgNames({"bytes", "takeover"});
    for (std::int64_t size : {64, 1024, 16384})
        for (std::int64_t takeover : {1, 0})
            b->Args({size, takeover});
}

} // namespace

BENCHMARK(ws_deflate_compress)->Apply(sizes_and_takeover);
BENCHMARK(ws_deflate_inflate)->Apply(sizes_and_takeover);
