// libFuzzer target for pier/ws/frame.hpp: parses a byte stream as a sequence of frames, as a
// transport would (accumulate a header, then skip its payload), and checks that
// - every accepted header obeys RFC 6455 §5 (masking by role, control frame rules, RSV bits,
//   limits), and the fragmentation state agrees with the frames seen;
// - feeding the stream whole, byte by byte or in 3-byte reads gives the same frames and the
//   same final error;
// - masking in two pieces equals masking at once, and masking twice restores the data;
// - a Close payload that validates survives write_close_payload / parse_close_payload.
#include <pier/ws/frame.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ws = pier::ws;

namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);            \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

struct event {
    int st;
    int err;
    std::uint8_t op;
    bool fin, rsv1;
    std::uint64_t len;
    std::uint8_t size;
    bool operator==(const event&) const = default;
};

struct config {
    ws::frame_limits lim;
    ws::role role;
    bool rsv1;
};

std::vector<event> run(const std::uint8_t* data, std::size_t size, std::size_t step,
                       const config& cfg) {
    std::vector<event> out;
    ws::frame_parser p(cfg.lim, cfg.role);
    p.allow_rsv1(cfg.rsv1);
    std::vector<std::uint8_t> acc;
    std::uint64_t skip = 0;
    bool open = false;
    for (std::size_t pos = 0; pos < size;) {
        const std::size_t n = std::min(step, size - pos);
        for (std::size_t i = 0; i < n; ++i, ++pos) {
            if (skip > 0) {
                --skip;
                continue;
            }
            acc.push_back(data[pos]);
            ws::frame_header h;
            const auto r = p.parse(std::span<const std::uint8_t>(acc), h);
            if (r.st == ws::frame_result::incomplete) {
                CHECK(acc.size() < ws::max_frame_header_size);
                continue;
            }
            out.push_back({r.st, static_cast<int>(r.err), static_cast<std::uint8_t>(h.op), h.fin,
                           h.rsv1, h.payload_size, h.size});
            if (r.st == ws::frame_result::error) {
                const int e = static_cast<int>(r.err);
                CHECK(e == 1002 || e == 1009);
                // Sticky.
                CHECK(p.parse(std::span<const std::uint8_t>(acc), h).st == ws::frame_result::error);
                return out;
            }
            // Decided exactly when the last header byte arrived.
            CHECK(r.header_size == acc.size() && r.header_size == h.size);
            CHECK(h.size >= 2 && h.size <= ws::max_frame_header_size);
            CHECK(h.masked == (cfg.role == ws::role::server));
            CHECK(!h.rsv2 && !h.rsv3);
            const auto op = static_cast<std::uint8_t>(h.op);
            CHECK(op <= 2 || (op >= 8 && op <= 10));
            if (ws::is_control(h.op)) {
                CHECK(h.fin && h.payload_size <= ws::max_control_payload && !h.rsv1);
            } else {
                CHECK(h.payload_size <= cfg.lim.max_frame_size);
                CHECK(p.message_size() <= cfg.lim.max_message_size);
                CHECK((h.op == ws::opcode::continuation) == open);
                CHECK(!h.rsv1 || (cfg.rsv1 && h.op != ws::opcode::continuation));
                open = !h.fin;
                CHECK(p.in_message() == open);
                CHECK(p.message_opcode() == ws::opcode::text ||
                      p.message_opcode() == ws::opcode::binary);
            }
            skip = h.payload_size;
            acc.clear();
        }
    }
    return out;
}

void check_masking(const std::uint8_t* data, std::size_t size) {
    if (size < 5)
        return;
    const std::array<std::uint8_t, 4> key{data[0], data[1], data[2], data[3]};
    const std::size_t offset = data[4];
    std::vector<std::uint8_t> once(data + 5, data + size), pieces = once;
    const std::size_t cut = once.empty() ? 0 : data[4] % (once.size() + 1);
    const std::size_t end_off = ws::apply_mask(once, key, offset);
    std::size_t off = ws::apply_mask({pieces.data(), cut}, key, offset);
    off = ws::apply_mask({pieces.data() + cut, pieces.size() - cut}, key, off);
    CHECK(off == end_off && off == (offset + once.size()) % 4);
    CHECK(once == pieces);
    for (std::size_t i = 0; i < once.size(); ++i)
        CHECK((once[i] ^ key[(offset + i) % 4]) == data[5 + i]);
    ws::apply_mask(once, key, offset);
    CHECK(std::equal(once.begin(), once.end(), data + 5));
}

void check_close(const std::uint8_t* data, std::size_t size) {
    const auto r = ws::parse_close_payload({data, std::min<std::size_t>(size, 125)});
    if (!r.ok) {
        CHECK(r.err == ws::close_code::protocol_error || r.err == ws::close_code::invalid_payload);
        return;
    }
    CHECK(ws::is_valid_utf8(r.reason));
    std::array<std::uint8_t, 125> buf;
    const std::size_t n =
        ws::write_close_payload(buf, static_cast<ws::close_code>(r.code), r.reason);
    const auto back = ws::parse_close_payload({buf.data(), n});
    CHECK(back.ok && back.code == r.code && back.reason == r.reason);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::uint8_t sel = data[0];
    config cfg{{}, (sel & 1) != 0 ? ws::role::client : ws::role::server, (sel & 2) != 0};
    if ((sel & 4) != 0)
        cfg.lim = {.max_frame_size = 64u + (sel >> 3) * 8u, .max_message_size = 300};
    ++data;
    --size;
    const auto whole = run(data, size, size == 0 ? 1 : size, cfg);
    CHECK(run(data, size, 1, cfg) == whole);
    CHECK(run(data, size, 3, cfg) == whole);
    check_masking(data, size);
    check_close(data, size);
    return 0;
}
