// pier/socks5/protocol.hpp: the SOCKS version 5 handshake (RFC 1928) and its username/password
// authentication (RFC 1929) as pure functions over bytes: parse what the client sent, format
// what the server answers. The I/O around them is the application's (examples/socks5_proxy.cpp).
//
//     socks5::greeting g;
//     auto r = socks5::parse_greeting(c.input(), g);
//     if (r.st == socks5::parse_status::incomplete) … read more
//     if (r.st == socks5::parse_status::error) … send select_method(none_acceptable), close
//
// Every parser takes the bytes received so far and answers complete (with the size consumed),
// incomplete (call again with more), or error (with the reply the RFC prescribes). Nothing is
// allocated; results are views into the input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pier::socks5 {

/// Authentication methods (RFC 1928 §3).
enum class method : std::uint8_t {
    no_auth = 0x00,
    gssapi = 0x01,
    username_password = 0x02, ///< RFC 1929
    none_acceptable = 0xFF,
};

/// Commands (RFC 1928 §4).
enum class command : std::uint8_t { connect = 0x01, bind = 0x02, udp_associate = 0x03 };

/// Address types (RFC 1928 §5).
enum class address_type : std::uint8_t { ipv4 = 0x01, domain = 0x03, ipv6 = 0x04 };

/// The REP field of a reply (RFC 1928 §6).
enum class reply : std::uint8_t {
    succeeded = 0x00,
    general_failure = 0x01,
    not_allowed = 0x02, ///< connection not allowed by ruleset
    network_unreachable = 0x03,
    host_unreachable = 0x04,
    connection_refused = 0x05,
    ttl_expired = 0x06,
    command_not_supported = 0x07,
    address_type_not_supported = 0x08,
};

enum class parse_status : std::uint8_t { complete, incomplete, error };

/// Why a message was refused.
enum class error : std::uint8_t {
    none,
    bad_version,         ///< VER is not 5 (1 in an RFC 1929 request)
    no_methods,          ///< NMETHODS is 0
    bad_reserved,        ///< RSV is not 0
    unsupported_command, ///< BIND, UDP ASSOCIATE or an unknown command
    unsupported_address, ///< ATYP is not 1, 3 or 4
    empty_domain,        ///< a domain name of length 0
    bad_domain,          ///< a domain name with a NUL or control byte
    empty_username,      ///< RFC 1929: ULEN or PLEN of 0 (both are 1 to 255)
};

struct parse_result {
    parse_status st = parse_status::incomplete;
    /// Bytes of the message, once complete.
    std::size_t size = 0;
    error err = error::none;
};

/// The client's greeting: VER, NMETHODS, METHODS (RFC 1928 §3).
struct greeting {
    std::span<const std::uint8_t> methods;
    bool offers(method m) const noexcept {
        for (auto b : methods)
            if (b == static_cast<std::uint8_t>(m))
                return true;
        return false;
    }
};

/// The username/password request: VER=1, ULEN, UNAME, PLEN, PASSWD (RFC 1929 §2).
struct credentials {
    std::string_view username;
    std::string_view password;
};

/// A request: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT (RFC 1928 §4).
struct request {
    command cmd = command::connect;
    address_type type = address_type::ipv4;
    /// Network byte order: 4 bytes for IPv4, 16 for IPv6.
    std::array<std::uint8_t, 16> address{};
    /// For address_type::domain: the name as sent (1 to 255 bytes, no NUL or control bytes).
    std::string_view domain;
    std::uint16_t port = 0;
};

inline parse_result parse_greeting(std::string_view in, greeting& out) noexcept;
inline parse_result parse_credentials(std::string_view in, credentials& out) noexcept;
inline parse_result parse_request(std::string_view in, request& out) noexcept;

/// The reply to an unacceptable or refused request, RFC 1928 §6 (and how to answer `e`):
/// general failure for malformed requests, command not supported, address type not supported.
constexpr reply reply_for(error e) noexcept;

/// The method-selection message: VER=5, METHOD.
constexpr std::array<std::uint8_t, 2> select_method(method m) noexcept {
    return {0x05, static_cast<std::uint8_t>(m)};
}

/// The RFC 1929 answer: VER=1, STATUS (0 = success; anything else fails and the server closes).
constexpr std::array<std::uint8_t, 2> auth_status(bool ok) noexcept {
    return {0x01, static_cast<std::uint8_t>(ok ? 0x00 : 0x01)};
}

/// A reply with BND.ADDR and BND.PORT: 10 bytes for IPv4, 22 for IPv6. `address` in network
/// byte order (4 or 16 bytes used). Returns the bytes written into `out` (at least 22 long).
inline std::size_t format_reply(reply rep, address_type type, std::span<const std::uint8_t> address,
                                std::uint16_t port, std::span<std::uint8_t, 22> out) noexcept;

/// A failure reply (no bound address: IPv4 0.0.0.0:0, as RFC 1928 leaves it to the server).
constexpr std::array<std::uint8_t, 10> failure_reply(reply rep) noexcept {
    return {0x05, static_cast<std::uint8_t>(rep), 0x00, 0x01, 0, 0, 0, 0, 0, 0};
}

/// Compares two secrets in time that depends only on their lengths, not on where they differ.
inline bool equal_secret(std::string_view a, std::string_view b) noexcept;

// --- definitions ------------------------------------------------------------------------------

inline parse_result parse_greeting(std::string_view in, greeting& out) noexcept {
    if (in.empty())
        return {};
    if (static_cast<std::uint8_t>(in[0]) != 0x05)
        return {parse_status::error, 0, error::bad_version};
    if (in.size() < 2)
        return {};
    const std::size_t n = static_cast<std::uint8_t>(in[1]);
    if (n == 0)
        return {parse_status::error, 0, error::no_methods};
    if (in.size() < 2 + n)
        return {};
    out.methods = {reinterpret_cast<const std::uint8_t*>(in.data()) + 2, n};
    return {parse_status::complete, 2 + n, error::none};
}

inline parse_result parse_credentials(std::string_view in, credentials& out) noexcept {
    if (in.empty())
        return {};
    if (static_cast<std::uint8_t>(in[0]) != 0x01)
        return {parse_status::error, 0, error::bad_version};
    if (in.size() < 2)
        return {};
    const std::size_t ulen = static_cast<std::uint8_t>(in[1]);
    if (ulen == 0)
        return {parse_status::error, 0, error::empty_username};
    if (in.size() < 2 + ulen + 1)
        return {};
    const std::size_t plen = static_cast<std::uint8_t>(in[2 + ulen]);
    if (plen == 0)
        return {parse_status::error, 0, error::empty_username};
    const std::size_t size = 3 + ulen + plen;
    if (in.size() < size)
        return {};
    out.username = in.substr(2, ulen);
    out.password = in.substr(3 + ulen, plen);
    return {parse_status::complete, size, error::none};
}

inline parse_result parse_request(std::string_view in, request& out) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(in[i]); };
    if (in.empty())
        return {};
    if (byte(0) != 0x05)
        return {parse_status::error, 0, error::bad_version};
    if (in.size() < 4)
        return {};
    if (byte(2) != 0x00)
        return {parse_status::error, 0, error::bad_reserved};
    const std::uint8_t cmd = byte(1);
    std::size_t addr_size = 0;
    std::size_t addr_at = 4;
    switch (byte(3)) {
    case 0x01:
        addr_size = 4;
        break;
    case 0x04:
        addr_size = 16;
        break;
    case 0x03:
        if (in.size() < 5)
            return {};
        addr_size = byte(4);
        addr_at = 5;
        if (addr_size == 0)
            return {parse_status::error, 0, error::empty_domain};
        break;
    default:
        return {parse_status::error, 0, error::unsupported_address};
    }
    const std::size_t size = addr_at + addr_size + 2;
    if (in.size() < size)
        return {};
    // The command is judged once the whole request is in, so that the reply to BIND or UDP
    // ASSOCIATE comes after the client finished sending (RFC 1928 §6 replies to a request).
    if (cmd != 0x01)
        return {parse_status::error, size, error::unsupported_command};
    out = request{};
    out.cmd = command::connect;
    out.type = static_cast<address_type>(byte(3));
    if (out.type == address_type::domain) {
        out.domain = in.substr(addr_at, addr_size);
        for (char c : out.domain)
            if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) == 0x7f)
                return {parse_status::error, size, error::bad_domain};
    } else {
        for (std::size_t i = 0; i < addr_size; ++i)
            out.address[i] = byte(addr_at + i);
    }
    out.port = static_cast<std::uint16_t>((byte(addr_at + addr_size) << 8) |
                                          byte(addr_at + addr_size + 1));
    return {parse_status::complete, size, error::none};
}

constexpr reply reply_for(error e) noexcept {
    switch (e) {
    case error::unsupported_command:
        return reply::command_not_supported;
    case error::unsupported_address:
        return reply::address_type_not_supported;
    default:
        return reply::general_failure;
    }
}

inline std::size_t format_reply(reply rep, address_type type, std::span<const std::uint8_t> address,
                                std::uint16_t port, std::span<std::uint8_t, 22> out) noexcept {
    const std::size_t n = type == address_type::ipv6 ? 16 : 4;
    out[0] = 0x05;
    out[1] = static_cast<std::uint8_t>(rep);
    out[2] = 0x00;
    out[3] = static_cast<std::uint8_t>(type == address_type::ipv6 ? address_type::ipv6
                                                                  : address_type::ipv4);
    for (std::size_t i = 0; i < n; ++i)
        out[4 + i] = i < address.size() ? address[i] : 0;
    out[4 + n] = static_cast<std::uint8_t>(port >> 8);
    out[5 + n] = static_cast<std::uint8_t>(port & 0xff);
    return 6 + n;
}

inline bool equal_secret(std::string_view a, std::string_view b) noexcept {
    // Hand-written rather than CRYPTO_memcmp so that this header needs no OpenSSL (the fuzz
    // targets build without it); the loop runs over the longer length whatever the content.
    const std::size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

} // namespace pier::socks5
