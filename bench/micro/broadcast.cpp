// Micro-benchmarks: in-process WebSocket broadcast fan-out, no sockets. One message framed
// once by ws::prepare (pier/ws/session.hpp) is delivered to N subscribers, each with its own
// write queue (pier/ws/detail/out_queue.hpp) as a session has: per delivery, a reference-count
// increment (push_shared), the gather of the iovec list and the consume (the decrement)
// once the "kernel" took the frame. Items/s count deliveries.
//
//   broadcast_fanout    one 64 B text message to N = 1, 100, 1000 subscribers
//   broadcast_prepare   framing the message once (a copy into one shared buffer)
#include <pier/pier.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace ws = pier::ws;

constexpr std::size_t max_gather = 16;

const std::string payload =
    "broadcast:{\"type\":\"tick\",\"symbol\":\"AAPL\",\"price\":189.25,\"vol\":1}";

struct subscriber {
    ws::detail::out_queue queue;
    std::array<asio::const_buffer, max_gather> iov;
};

std::size_t deliver(const ws::prepared_message& m, subscriber& s) {
    s.queue.push_shared(m.frame);
    s.queue.gather(s.iov);
    const std::size_t n = s.queue.bytes();
    s.queue.consume(n);
    return n;
}

// Once: every subscriber gathers the one frame by reference, an unmasked final text frame
// with the payload, and gives its reference back.
bool fanout_works(const ws::prepared_message& m, std::vector<subscriber>& subs) {
    const auto f = m.frame.view();
    if (f.size() != 2 + payload.size() || std::uint8_t(f[0]) != 0x81 ||
        std::uint8_t(f[1]) != payload.size() || f.substr(2) != payload)
        return false;
    for (auto& s : subs)
        s.queue.push_shared(m.frame);
    if (m.frame.get()->use_count() != subs.size() + 1)
        return false;
    for (auto& s : subs) {
        if (s.queue.gather(s.iov) != 1 || s.iov[0].data() != f.data() ||
            s.iov[0].size() != f.size())
            return false;
        s.queue.consume(s.queue.bytes());
    }
    return m.frame.get()->use_count() == 1;
}

void broadcast_fanout(benchmark::State& state) {
    const auto n = std::size_t(state.range(0));
    const auto message = ws::prepare(ws::opcode::text, payload);
    std::vector<subscriber> subs(n);
    if (!fanout_works(message, subs)) {
        state.SkipWithError("broadcast: wrong frame, or not shared by reference");
        return;
    }
    for (auto _ : state) {
        std::size_t bytes = 0;
        for (auto& s : subs)
            bytes += deliver(message, s);
        benchmark::DoNotOptimize(bytes);
    }
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(n));
}

void broadcast_prepare(benchmark::State& state) {
    for (auto _ : state) {
        auto m = ws::prepare(ws::opcode::text, payload);
        benchmark::DoNotOptimize(m.frame.get());
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(broadcast_fanout)->ArgName("subscribers")->Arg(1)->Arg(100)->Arg(1000);
BENCHMARK(broadcast_prepare);
