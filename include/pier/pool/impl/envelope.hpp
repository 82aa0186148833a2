// pier/pool/impl/envelope.hpp: out-of-line definitions for <pier/pool/envelope.hpp>.
#pragma once

#include <pier/pool/envelope.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace pier::pool {

constexpr std::string_view to_string(message_type t) noexcept {
    switch (t) {
    case message_type::ping:
        return "ping";
    case message_type::pong:
        return "pong";
    case message_type::welcome:
        return "welcome";
    case message_type::subscribe:
        return "subscribe";
    case message_type::unsubscribe:
        return "unsubscribe";
    case message_type::data:
        return "data";
    case message_type::error:
        return "error";
    case message_type::heartbeat:
        return "heartbeat";
    }
    return "unknown";
}

constexpr std::optional<message_type> message_type_from(std::string_view name) noexcept {
    for (auto t : {message_type::ping, message_type::pong, message_type::welcome,
                   message_type::subscribe, message_type::unsubscribe, message_type::data,
                   message_type::error, message_type::heartbeat})
        if (to_string(t) == name)
            return t;
    return std::nullopt;
}

constexpr bool client_may_send(message_type t) noexcept {
    return t == message_type::ping || t == message_type::pong || t == message_type::subscribe ||
           t == message_type::unsubscribe || t == message_type::data;
}

constexpr std::string_view to_string(decode_error e) noexcept {
    switch (e) {
    case decode_error::none:
        return "none";
    case decode_error::too_large:
        return "too_large";
    case decode_error::malformed_json:
        return "malformed_json";
    case decode_error::too_deep:
        return "too_deep";
    case decode_error::not_an_object:
        return "not_an_object";
    case decode_error::duplicate_field:
        return "duplicate_field";
    case decode_error::missing_type:
        return "missing_type";
    case decode_error::unknown_type:
        return "unknown_type";
    case decode_error::unexpected_type:
        return "unexpected_type";
    case decode_error::bad_field_type:
        return "bad_field_type";
    case decode_error::field_too_large:
        return "field_too_large";
    case decode_error::missing_topic:
        return "missing_topic";
    case decode_error::bad_topic:
        return "bad_topic";
    case decode_error::missing_data:
        return "missing_data";
    case decode_error::missing_error:
        return "missing_error";
    case decode_error::bad_since:
        return "bad_since";
    case decode_error::bad_offset:
        return "bad_offset";
    }
    return "unknown_error";
}

namespace detail {

inline void put2(char* p, unsigned v) noexcept {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

} // namespace detail

inline void format_timestamp(timestamp t, std::span<char, timestamp_size> out) noexcept {
    using namespace std::chrono;
    constexpr timestamp earliest{sys_days{year{0} / January / 1}};
    constexpr timestamp latest{sys_days{year{9999} / December / 31} + days{1} - milliseconds{1}};
    t = std::clamp(t, earliest, latest);

    const auto second = floor<seconds>(t);
    const auto ms = static_cast<unsigned>((t - second).count());
    // The date and time of day cost a few dozen integer divisions; a broadcast storm formats
    // the same second thousands of times, so each thread keeps the last one it formatted.
    struct cache {
        std::int64_t second = std::numeric_limits<std::int64_t>::min();
        std::array<char, 19> text{};
    };
    static thread_local cache last;
    const std::int64_t key = second.time_since_epoch().count();
    if (last.second != key) {
        const auto day = floor<days>(second);
        const year_month_day ymd{day};
        const hh_mm_ss<seconds> hms{second - day};
        char* p = last.text.data();
        const auto y = static_cast<unsigned>(static_cast<int>(ymd.year()));
        detail::put2(p, y / 100);
        detail::put2(p + 2, y % 100);
        p[4] = '-';
        detail::put2(p + 5, static_cast<unsigned>(ymd.month()));
        p[7] = '-';
        detail::put2(p + 8, static_cast<unsigned>(ymd.day()));
        p[10] = 'T';
        detail::put2(p + 11, static_cast<unsigned>(hms.hours().count()));
        p[13] = ':';
        detail::put2(p + 14, static_cast<unsigned>(hms.minutes().count()));
        p[16] = ':';
        detail::put2(p + 17, static_cast<unsigned>(hms.seconds().count()));
        last.second = key;
    }
    char* o = out.data();
    std::memcpy(o, last.text.data(), last.text.size());
    o[19] = '.';
    o[20] = static_cast<char>('0' + ms / 100);
    detail::put2(o + 21, ms % 100);
    o[23] = 'Z';
}

} // namespace pier::pool
