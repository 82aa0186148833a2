// pier/write/backpressure.hpp: what a connection does when its write queue passes the
// high-water mark (`write_options::high_water`).
#pragma once

#include <pier/concepts.hpp>
#include <pier/fwd.hpp>

namespace pier::backpressure {

/// `co_await send()` suspends the sender until the queue drains to `low_water`;
/// `try_send()` still queues (it cannot wait) and answers `send_result::backpressure`, up to
/// the hard limit `max_queued`. The right choice when the producer can slow down (echo,
/// request/response, streaming a file).
struct suspend {
    using category = pier::category::backpressure;
    static constexpr backpressure_action action = backpressure_action::suspend;
};

/// New messages are refused (`send_result::dropped`) while the queue is above the high-water
/// mark. For feeds where a late message is worthless (market data, game state): the consumer
/// misses messages but the connection lives.
struct drop {
    using category = pier::category::backpressure;
    static constexpr backpressure_action action = backpressure_action::drop;
};

/// The connection is closed with `error::slow_consumer` once the queue passes the high-water
/// mark: a consumer that cannot keep up is cut off instead of slowing others or growing memory.
struct close {
    using category = pier::category::backpressure;
    static constexpr backpressure_action action = backpressure_action::close;
};

/// WebSocket sessions only: the oldest whole messages that were not yet written are dropped
/// to make room (a message of which a byte reached the kernel is always finished), so a slow
/// consumer gets the newest data. Counted as dropped messages.
struct drop_oldest {
    using category = pier::category::backpressure;
    static constexpr backpressure_action action = backpressure_action::drop_oldest;
};

/// WebSocket sessions only: a message sent with a key (e.g. a topic's hash) replaces the
/// queued, unwritten message with the same key (the consumer gets only the latest state of
/// each key); then, if still short of room, as drop_oldest.
struct latest {
    using category = pier::category::backpressure;
    static constexpr backpressure_action action = backpressure_action::latest;
};

} // namespace pier::backpressure
