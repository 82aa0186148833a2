// pier/redis/cluster.hpp: the pure parts of Redis Cluster (https://redis.io/docs/reference/
// cluster-spec/): which of the 16384 hash slots a key or channel belongs to, the slot map from
// CLUSTER SLOTS, and the MOVED/ASK redirections. The I/O that uses them is in client.hpp.
//
// Thread safety: pure functions on values.
#pragma once

#include <pier/redis/error.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/url.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::redis {

/// Number of hash slots in a Redis Cluster.
inline constexpr std::uint16_t cluster_slots = 16384;

namespace detail {
// CRC16-CCITT in its XMODEM form (polynomial 0x1021, initial value 0, no reflection), the one
// the cluster spec names. Hand-written because neither hiredis 0.14 nor OpenSSL has it; the
// table is built at compile time and checked against the spec's vector in the unit tests.
inline constexpr std::array<std::uint16_t, 256> crc16_table = [] {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        unsigned crc = i << 8;
        for (int b = 0; b < 8; ++b)
            crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
        t[i] = static_cast<std::uint16_t>(crc);
    }
    return t;
}();
} // namespace detail

/// CRC16-XMODEM of `data` ("123456789" → 0x31C3).
constexpr std::uint16_t crc16(std::string_view data) noexcept {
    std::uint16_t crc = 0;
    for (unsigned char c : data)
        crc = static_cast<std::uint16_t>((crc << 8) ^ detail::crc16_table[((crc >> 8) ^ c) & 0xff]);
    return crc;
}

/// The hash slot of a key or sharded channel: CRC16 mod 16384 of the whole name, or of the
/// part between the first `{` and the first `}` after it when that part is not empty (a hash
/// tag: `{user1000}.following` and `{user1000}.followers` share a slot).
constexpr std::uint16_t keyslot(std::string_view key) noexcept {
    const auto open = key.find('{');
    if (open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close != open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(crc16(key) & (cluster_slots - 1));
}

/// One entry of CLUSTER SLOTS: slots [first, last] served by `master`.
struct slot_range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    endpoint master;
};

/// Reads a CLUSTER SLOTS reply. An empty host in it means "the node you asked"
/// (`asked_host`); ranges whose master has no known endpoint (`?`) are left out, so their
/// slots stay unowned. Fails with unexpected_reply on any other shape.
inline std::error_code parse_cluster_slots(const reply& r, std::string_view asked_host,
                                           std::vector<slot_range>& out) {
    out.clear();
    const auto bad = make_error_code(error::unexpected_reply);
    if (r.kind != reply_kind::array)
        return bad;
    for (const auto& e : r.elements) {
        if (e.kind != reply_kind::array || e.elements.size() < 3)
            return bad;
        const auto& first = e.elements[0];
        const auto& last = e.elements[1];
        const auto& node = e.elements[2];
        if (first.kind != reply_kind::integer || last.kind != reply_kind::integer ||
            first.integer < 0 || last.integer < first.integer || last.integer >= cluster_slots)
            return bad;
        if (node.kind != reply_kind::array || node.elements.size() < 2 ||
            node.elements[1].kind != reply_kind::integer || node.elements[1].integer <= 0 ||
            node.elements[1].integer > 65535)
            return bad;
        const auto& host = node.elements[0];
        if (host.kind != reply_kind::string && host.kind != reply_kind::nil)
            return bad;
        if (host.str == "?")
            continue;
        slot_range range;
        range.first = static_cast<std::uint16_t>(first.integer);
        range.last = static_cast<std::uint16_t>(last.integer);
        range.master.host = host.str.empty() ? std::string(asked_host) : host.str;
        range.master.port = static_cast<std::uint16_t>(node.elements[1].integer);
        out.push_back(std::move(range));
    }
    return {};
}

/// A cluster redirection: MOVED (the slot has a new owner: update the map) or ASK (the slot
/// is migrating: send this one command to `to`, after ASKING).
struct redirect {
    bool ask = false;
    std::uint16_t slot = 0;
    endpoint to;
};

/// Reads `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>` (an error reply's text).
/// An empty host means the node that answered (`answering_host`). nullopt for any other
/// error text.
inline std::optional<redirect> parse_redirect(std::string_view text,
                                              std::string_view answering_host) {
    redirect r;
    if (text.starts_with("MOVED "))
        text.remove_prefix(6);
    else if (text.starts_with("ASK ")) {
        text.remove_prefix(4);
        r.ask = true;
    } else
        return std::nullopt;
    const auto space = text.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 5)
        return std::nullopt;
    unsigned slot = 0;
    for (char c : text.substr(0, space)) {
        if (c < '0' || c > '9')
            return std::nullopt;
        slot = slot * 10 + static_cast<unsigned>(c - '0');
    }
    if (slot >= cluster_slots)
        return std::nullopt;
    r.slot = static_cast<std::uint16_t>(slot);
    const auto addr = text.substr(space + 1);
    // Redis writes IPv6 addresses unbracketed ("::1:7000"): the port follows the last colon.
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    const auto port = addr.substr(colon + 1);
    if (port.empty() || port.size() > 5)
        return std::nullopt;
    unsigned p = 0;
    for (char c : port) {
        if (c < '0' || c > '9')
            return std::nullopt;
        p = p * 10 + static_cast<unsigned>(c - '0');
    }
    if (p == 0 || p > 65535)
        return std::nullopt;
    auto host = addr.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    r.to.host = host.empty() ? std::string(answering_host) : std::string(host);
    r.to.port = static_cast<std::uint16_t>(p);
    return r;
}

} // namespace pier::redis
