// Micro-benchmarks: UTF-8 validation of WebSocket text messages (pier/ws/utf8.hpp), on ASCII
// (the common case) and on mixed text with 2-, 3- and 4-byte sequences.
#include <pier/pier.hpp>
#include <pier/ws/utf8.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace {

std::string repeat_to(std::string_view unit, std::size_t size) {
    std::string s;
    while (s.size() + unit.size() <= size)
        s += unit;
    while (s.size() < size)
        s += 'a';
    return s;
}

void validate(benchmark::State& state, const std::string& text) {
    for (auto _ : state) {
        bool ok = pier::ws::is_valid_utf8(text);
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(text.size()));
}

void utf8_ascii(benchmark::State& state) {
    validate(state,
             repeat_to("{\"type\":\"tick\",\"price\":101.25} ", std::size_t(state.range(0))));
}

void utf8_mixed(benchmark::State& state) {
    // "héllo wörld – 日本語 😀 " : 1-, 2-, 3- and 4-byte sequences.
    validate(state, repeat_to("h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x93 \xe6\x97\xa5\xe6\x9c\xac"
                              "\xe8\xaa\x9e \xf0\x9f\x98\x80 ",
                              std::size_t(state.range(0))));
}

// Streaming validation in 1 kB pieces, as a message arriving over several reads is checked.
void utf8_streaming(benchmark::State& state) {
    std::string text = repeat_to("h\xc3\xa9llo w\xc3\xb6rld ", std::size_t(state.range(0)));
    std::string_view all = text;
    for (auto _ : state) {
        pier::ws::utf8_validator v;
        for (std::size_t i = 0; i < all.size(); i += 1024)
            v.write(all.substr(i, 1024));
        bool ok = v.complete();
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(text.size()));
}

} // namespace

BENCHMARK(utf8_ascii)->Arg(64)->Arg(16384);
BENCHMARK(utf8_mixed)->Arg(64)->Arg(16384);
BENCHMARK(utf8_streaming)->Arg(16384);
