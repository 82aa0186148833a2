// pier/pool/detail/base64url.hpp: base64url without padding (RFC 4648 §5, as JWS uses it,
// RFC 7515 §2 and Appendix C). Internal: never part of a public signature.
//
// Decoding is written here rather than taken from OpenSSL: EVP_DecodeBlock decodes the
// standard alphabet only, wants padding, ignores surrounding whitespace and returns lengths
// that count the padding, so a strict decoder around it would rewrite and re-check the input
// anyway. This one refuses everything that is not the canonical spelling (padding, the '+'
// '/' alphabet, whitespace, a length of 4n+1, unused low bits that are not zero), so a
// token has exactly one text for its bytes. Encoding is EVP_EncodeBlock plus a translation.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pier::pool::detail {

inline constexpr std::array<std::int8_t, 256> base64url_values = [] {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t)
        v = -1;
    std::int8_t n = 0;
    for (char c = 'A'; c <= 'Z'; ++c)
        t[static_cast<unsigned char>(c)] = n++;
    for (char c = 'a'; c <= 'z'; ++c)
        t[static_cast<unsigned char>(c)] = n++;
    for (char c = '0'; c <= '9'; ++c)
        t[static_cast<unsigned char>(c)] = n++;
    t[static_cast<unsigned char>('-')] = n++;
    t[static_cast<unsigned char>('_')] = n++;
    return t;
}();

/// The decoded size of `encoded_size` base64url characters, or SIZE_MAX for a length no
/// canonical encoding has (4n+1).
constexpr std::size_t base64url_decoded_size(std::size_t encoded_size) noexcept {
    switch (encoded_size % 4) {
    case 0:
        return encoded_size / 4 * 3;
    case 2:
        return encoded_size / 4 * 3 + 1;
    case 3:
        return encoded_size / 4 * 3 + 2;
    default:
        return static_cast<std::size_t>(-1);
    }
}

/// Decodes canonical unpadded base64url `in` into `out` (replaced). False, with `out`
/// unspecified, on any other input or when the result would exceed `max_size` bytes.
inline bool base64url_decode(std::string_view in, std::string& out, std::size_t max_size) {
    const std::size_t size = base64url_decoded_size(in.size());
    if (size == static_cast<std::size_t>(-1) || size > max_size)
        return false;
    out.resize(size);
    auto value = [&](std::size_t i) noexcept {
        return base64url_values[static_cast<unsigned char>(in[i])];
    };
    std::size_t i = 0, o = 0;
    for (; i + 4 <= in.size(); i += 4) {
        const int a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
        if ((a | b | c | d) < 0)
            return false;
        const auto v = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6 | d);
        out[o++] = static_cast<char>(v >> 16);
        out[o++] = static_cast<char>(v >> 8);
        out[o++] = static_cast<char>(v);
    }
    const std::size_t rest = in.size() - i;
    if (rest == 0)
        return true;
    const int a = value(i), b = value(i + 1), c = rest == 3 ? value(i + 2) : 0;
    if ((a | b | c) < 0)
        return false;
    const auto v = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6);
    // The bits past the last whole byte must be zero, or two texts would decode alike.
    if ((rest == 2 && (v & 0xffff)) || (rest == 3 && (v & 0xff)))
        return false;
    out[o++] = static_cast<char>(v >> 16);
    if (rest == 3)
        out[o++] = static_cast<char>(v >> 8);
    return true;
}

/// Appends the unpadded base64url encoding of `in` to `out`.
inline void base64url_append(std::string_view in, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + (in.size() + 2) / 3 * 4 + 1);
    auto* dst = reinterpret_cast<unsigned char*>(out.data() + start);
    const auto* src = reinterpret_cast<const unsigned char*>(in.data());
    // EVP_EncodeBlock takes an int length: encode in blocks well below INT_MAX that are a
    // multiple of 3 bytes, so no padding appears between them.
    constexpr std::size_t block = 3 * (1 << 20);
    std::size_t written = 0;
    for (std::size_t done = 0; done < in.size(); done += block) {
        const std::size_t n = in.size() - done < block ? in.size() - done : block;
        written += static_cast<std::size_t>(
            EVP_EncodeBlock(dst + written, src + done, static_cast<int>(n)));
    }
    out.resize(start + written);
    while (out.size() > start && out.back() == '=')
        out.pop_back();
    for (std::size_t i = start; i < out.size(); ++i) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
}

} // namespace pier::pool::detail
