// pier/ws/utf8.hpp: an incremental UTF-8 validator for WebSocket text messages and close
// reasons (RFC 6455 §5.6, §8.1; RFC 3629 §4).
//
// Text messages arrive in fragments and each fragment in arbitrary reads, and RFC 6455 §8.1
// wants the connection failed as soon as the bytes cannot be UTF-8, so the validator carries
// its state across calls and rejects at the first byte that makes the input invalid (E0 80
// fails at the 80, not at the end of the message). It accepts exactly the well-formed byte
// sequences of the Unicode Standard's Table 3-7: no overlong forms, no surrogates
// (U+D800–U+DFFF), nothing above U+10FFFF. `complete()` additionally refuses input that stops
// inside a sequence, which is what a message end needs.
//
// Hand-written on purpose: neither OpenSSL nor zlib (pier's dependencies) exposes a UTF-8
// validator. The approach is Björn Höhrmann's "Flexible and Economical UTF-8 Decoder": bytes
// map to 12 classes and a 9-state DFA walks them (two small tables, no branches on the byte
// value), preceded by an ASCII fast path that checks 16 bytes per step with word-wide
// operations, since most text on the wire is ASCII.
//
// Thread safety: distinct objects safe, shared objects unsafe; the free function is
// reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pier::ws {

/// Validates UTF-8 delivered in pieces. Cost: one byte of state, no allocation.
class utf8_validator {
public:
    /// Feeds the next piece of the text. Returns false once the input seen so far can no
    /// longer be valid UTF-8 (and keeps returning false until reset()).
    bool write(std::span<const std::uint8_t> data) noexcept;
    bool write(std::string_view data) noexcept {
        return write({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
    }
    /// No invalid byte so far (the input may still stop inside a sequence).
    bool valid() const noexcept { return state_ != reject_state; }
    /// Everything written is valid UTF-8 and ends on a code point boundary: call at the end
    /// of a message.
    bool complete() const noexcept { return state_ == accept_state; }
    /// Starts a new text.
    void reset() noexcept { state_ = accept_state; }

private:
    static constexpr std::uint8_t accept_state = 0;
    static constexpr std::uint8_t reject_state = 1;
    std::uint8_t state_ = accept_state;
};

/// Whether `s` is, in full, valid UTF-8.
bool is_valid_utf8(std::string_view s) noexcept;

} // namespace pier::ws

#include <pier/ws/impl/utf8.hpp>
