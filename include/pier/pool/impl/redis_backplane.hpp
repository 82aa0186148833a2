// pier/pool/impl/redis_backplane.hpp: the Redis backplane's node (pool/redis_backplane.hpp).
#pragma once

#include <pier/detail/thread_name.hpp>
#include <pier/pool/pool.hpp> // send_report, used complete here
#include <pier/pool/redis_backplane.hpp>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace pier::pool {

namespace detail {

// The publish script: the next offset of the topic (a new epoch, and an empty history, when
// the topic has none), the message appended to the history, and published, in one atomic
// step at the topic's master. Offsets go through string.format('%d'): Lua's own number to
// string conversion writes 1e+15 for large ones.
//   KEYS: meta, stream
//   ARGV: channel, body, history size, history ttl (s), meta ttl (s), epoch if new
inline constexpr std::string_view publish_lua = R"lua(
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[6]
  redis.call('HSET', KEYS[1], 'e', e, 's', '0')
  redis.call('DEL', KEYS[2])
end
local off = string.format('%d', redis.call('HINCRBY', KEYS[1], 's', 1))
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[3] ~= '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], off .. '-0', 'b', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('SPUBLISH', ARGV[1], 't' .. off .. ':' .. e .. ':' .. ARGV[2])
return off
)lua";

// The position script: the topic's epoch and last offset (made if there are none, so that a
// subscriber has a position before the first publish) and, when `since` is given, the history
// after it: after its offset in the same epoch, from the start in another one. Nothing when
// more than the history size is wanted (it cannot all be there).
//   KEYS: meta, stream
//   ARGV: epoch if new, meta ttl (s), since epoch ('' for none), since offset, history size
inline constexpr std::string_view position_lua = R"lua(
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', e, 's', '0')
  redis.call('DEL', KEYS[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
local top = redis.call('HGET', KEYS[1], 's')
if ARGV[3] == '' then return {top, e} end
local since = ARGV[4]
if ARGV[3] ~= e then since = '0' end
local n = tonumber(top) - tonumber(since)
if n <= 0 or n > tonumber(ARGV[5]) then return {top, e} end
return {top, e, redis.call('XRANGE', KEYS[2], '(' .. since, '+', 'COUNT', n)}
)lua";

/// How often the node looks at deadlines and mirrors the client's state. 50 ms: the
/// granularity of position_timeout and of `connected` going false.
inline constexpr std::chrono::milliseconds backplane_sweep{50};

/// Other nodes a node remembers having heard from (to name them as missing when it cannot ask
/// the cluster). 1,024: more than any pool's node count; past it the one heard from longest
/// ago is forgotten.
inline constexpr std::size_t max_known_peers = 1024;

// An application's own envelope type name (outbound::type_name, where the pool has it):
// carried in the body and given back to the codec on every node.
template <class E> std::string_view type_name_of(const E& e) noexcept {
    if constexpr (requires { e.type_name; })
        return e.type_name;
    else
        return {};
}
template <class E> E&& with_type_name(E&& e, std::string_view name) noexcept {
    if constexpr (requires { e.type_name = name; })
        e.type_name = name;
    return std::forward<E>(e);
}

/// What the position script answered, before it is encoded for anyone.
struct raw_position {
    position_result::status status = position_result::status::unavailable;
    stream_position position{};
    std::vector<std::pair<std::uint64_t, std::string>> bodies{}; // offset, body
};

inline std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 20)
        return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
        return std::nullopt;
    return v;
}

/// Reads the position script's reply against `since` (see position_lua).
inline raw_position read_position_reply(const pier::redis::reply& r,
                                        const std::optional<stream_position>& since) {
    using pier::redis::reply_kind;
    raw_position out;
    if (r.kind != reply_kind::array || r.elements.size() < 2 ||
        r.elements[0].kind != reply_kind::string || r.elements[1].kind != reply_kind::string)
        return out;
    const auto top = parse_u64(r.elements[0].str);
    if (!top || !wire::valid_token(r.elements[1].str, wire::max_epoch))
        return out;
    out.position = {*top, r.elements[1].str};
    out.status = position_result::status::ok;
    if (!since)
        return out;
    const bool same = since->epoch == out.position.epoch;
    if (same && since->offset > *top) {
        out.status = position_result::status::epoch_changed; // a position from another history
        return out;
    }
    if (!same)
        out.status = position_result::status::epoch_changed;
    const std::uint64_t from = same ? since->offset : 0;
    if (*top == from)
        return out;
    // Complete, or nothing: a client must not get a suffix with a hole before it.
    bool complete = r.elements.size() == 3 && r.elements[2].kind == reply_kind::array &&
                    r.elements[2].elements.size() == *top - from;
    if (complete) {
        std::uint64_t expect = from + 1;
        for (const auto& e : r.elements[2].elements) {
            if (e.kind != reply_kind::array || e.elements.size() != 2 ||
                e.elements[0].kind != reply_kind::string ||
                e.elements[1].kind != reply_kind::array) {
                complete = false;
                break;
            }
            const auto id = wire::parse_entry_id(e.elements[0].str);
            const auto& fields = e.elements[1].elements;
            const pier::redis::reply* body = nullptr;
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
                if (fields[i].str == "b")
                    body = &fields[i + 1];
            if (!id || *id != expect || !body) {
                complete = false;
                break;
            }
            out.bodies.emplace_back(*id, body->str);
            ++expect;
        }
    }
    if (!complete) {
        out.bodies.clear();
        if (same)
            out.status = position_result::status::history_trimmed;
    }
    return out;
}

} // namespace detail

namespace wire = detail::wire;

template <class P>
redis::node<P>::node(P& pool, const redis_options& o)
    : pool_(pool), opt_(o), publish_script_(std::string(detail::publish_lua)),
      position_script_(std::string(detail::position_lua)), sweep_timer_(io_), probe_timer_(io_),
      presence_timer_(io_), interest_timer_(io_) {
    if (!wire::valid_token(opt_.prefix, wire::max_node_id, true))
        throw std::invalid_argument("pier.pool.redis: bad prefix (1-64 printable characters, "
                                    "no space or braces)");
    std::random_device rd;
    rng_.seed((std::uint64_t{rd()} << 32) ^ rd() ^
              static_cast<std::uint64_t>(clock::now().time_since_epoch().count()));
    id_ = opt_.node_id.empty() ? new_epoch() : opt_.node_id;
    if (!wire::valid_token(id_, wire::max_node_id, true))
        throw std::invalid_argument("pier.pool.redis: bad node id (1-64 printable characters, "
                                    "no space or braces)");
    control_ = wire::control_channel(opt_.prefix);
    reply_ = wire::reply_channel(opt_.prefix, id_);
    presence_key_ = wire::presence_key(opt_.prefix);
    channels_.emplace(control_, channel_ref{channel_kind::control, {}});
    channels_.emplace(reply_, channel_ref{channel_kind::reply, {}});
    make_client(); // parses the URL now: a bad one throws here, not on the node's thread
}

template <class P> redis::node<P>::~node() {
    stop();
}

template <class P> void redis::node<P>::post(std::function<void()> fn) {
    asio::post(io_, std::move(fn));
}

template <class P> std::string redis::node<P>::new_epoch() {
    static constexpr char hex[] = "0123456789abcdef";
    const auto v = rng_();
    std::string s(16, '0');
    for (int i = 0; i < 16; ++i)
        s[static_cast<std::size_t>(i)] = hex[(v >> (60 - 4 * i)) & 15];
    return s;
}

template <class P> template <class Env> std::string redis::node<P>::encode(const Env& e) const {
    return pool_.codec().encode(e);
}

// --- life -----------------------------------------------------------------------------------

template <class P> void redis::node<P>::start() {
    std::lock_guard lock(life_);
    if (started_ || stopped_)
        return;
    started_ = true;
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] {
        pier::detail::set_thread_name("pier-redis", 0);
        io_.run();
    });
    post([this] { begin(); });
}

template <class P> void redis::node<P>::stop() noexcept {
    {
        std::lock_guard lock(life_);
        if (stopped_)
            return;
        stopped_ = true;
        if (!started_) {
            client_.reset();
            return;
        }
    }
    post([this] {
        closing_ = true;
        sweep_timer_.cancel();
        probe_timer_.cancel();
        presence_timer_.cancel();
        interest_timer_.cancel();
        // Requests still waiting get what they have: their callers are not left hanging.
        while (!requests_.empty())
            finish_request(requests_.begin()->first);
        client_->close();
        io_.stop();
    });
    work_.reset();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
        thread_.join();
    client_.reset();
}

template <class P> void redis::node<P>::make_client() {
    client_ = std::make_unique<pier::redis::client>(io_.get_executor(), opt_.url, opt_.client);
    client_->on_message([this](const pier::redis::message& m) { on_message(m); });
    client_->on_subscribed(
        [this](std::string_view channel, bool, bool again) { on_subscribed(channel, again); });
}

template <class P> void redis::node<P>::subscribe_all() {
    client_->subscribe(control_, false);
    client_->subscribe(reply_, false);
    for (auto& [name, t] : topics_)
        client_->subscribe(t.channel, true);
    for (auto& [name, ch] : users_)
        client_->subscribe(ch, true);
}

template <class P> void redis::node<P>::begin() {
    client_->start();
    subscribe_all();
    sweep();
    presence();
    probe_timer_.expires_after(opt_.probe_interval);
    probe_timer_.async_wait([this](std::error_code ec) {
        if (!ec)
            probe();
    });
}

// --- interest -------------------------------------------------------------------------------

template <class P> void redis::node<P>::topic_interest(std::string_view topic, bool) {
    std::lock_guard lock(pending_m_);
    pending_topics_.emplace(topic);
    schedule_drain();
}

template <class P> void redis::node<P>::user_interest(std::string_view user, bool) {
    std::lock_guard lock(pending_m_);
    pending_users_.emplace(user);
    schedule_drain();
}

// Under pending_m_: the first change of a burst arms the timer that applies them all.
template <class P> void redis::node<P>::schedule_drain() {
    if (drain_posted_)
        return;
    drain_posted_ = true;
    post([this] {
        interest_timer_.expires_after(opt_.interest_delay);
        interest_timer_.async_wait([this](std::error_code ec) {
            if (!ec)
                drain_interest();
        });
    });
}

template <class P> void redis::node<P>::hold_interest() {
    std::lock_guard lock(pending_m_);
    ++interest_holds_;
}

template <class P> void redis::node<P>::release_interest() {
    std::lock_guard lock(pending_m_);
    if (--interest_holds_ == 0 && drain_deferred_) {
        drain_deferred_ = false;
        post([this] { drain_interest(); });
    }
}

template <class P> void redis::node<P>::drain_interest() {
    string_set topics, users;
    {
        std::lock_guard lock(pending_m_);
        if (interest_holds_ > 0) {
            drain_deferred_ = true; // drain_posted_ stays set: no other timer meanwhile
            return;
        }
        topics.swap(pending_topics_);
        users.swap(pending_users_);
        drain_posted_ = false;
    }
    if (closing_)
        return;
    // The engine's counts are the truth, whatever order the shards' calls came in.
    for (const auto& t : topics)
        apply_topic(t, pool_.has_topic(t));
    for (const auto& u : users)
        apply_user(u, pool_.has_user(u));
    // Position requests that came before their topic's interest was applied.
    auto early = std::move(early_);
    early_.clear();
    waiting_ -= early.size();
    for (auto& w : early)
        enqueue_position(std::move(w));
}

template <class P> void redis::node<P>::apply_topic(const std::string& topic, bool want) {
    auto it = topics_.find(topic);
    if (want == (it != topics_.end()))
        return;
    if (want) {
        topic_entry t;
        t.name = topic;
        t.channel = wire::topic_channel(opt_.prefix, topic);
        t.meta = wire::topic_meta(opt_.prefix, topic);
        t.stream = wire::topic_stream(opt_.prefix, topic);
        if (client_->subscribe(t.channel, true))
            return; // too many channels: the topic is served locally only
        channels_.emplace(t.channel, channel_ref{channel_kind::topic, topic});
        topics_.emplace(topic, std::move(t));
        return;
    }
    auto& t = it->second;
    client_->unsubscribe(t.channel, true);
    channels_.erase(t.channel);
    // Nobody is left to answer: the shards ignore answers for connections that left.
    for (auto& w : t.waiters)
        answer_position(w.req, position_result{});
    waiting_ -= t.waiters.size();
    topics_.erase(it);
}

template <class P> void redis::node<P>::apply_user(const std::string& user, bool want) {
    auto it = users_.find(user);
    if (want == (it != users_.end()))
        return;
    if (want) {
        auto ch = wire::user_channel(opt_.prefix, user);
        if (client_->subscribe(ch, true))
            return;
        channels_.emplace(ch, channel_ref{channel_kind::user, user});
        users_.emplace(user, std::move(ch));
        return;
    }
    client_->unsubscribe(it->second, true);
    channels_.erase(it->second);
    users_.erase(it);
}

// --- publishing -----------------------------------------------------------------------------

template <class P>
bool redis::node<P>::publish_topic(std::string_view topic, const outbound& env,
                                   std::span<const std::uint64_t> exclude, send_done& done) {
    c_.publishes.fetch_add(1, std::memory_order_relaxed);
    const wire::body_fields f{
        .type = env.type,
        .encoded = false,
        .time_ms = (env.time == timestamp{} ? now() : env.time).time_since_epoch().count(),
        .seq = 0, // numbered on the node's thread, in the order the publishes go to Redis
        .origin = id_,
        .error = env.error,
        .type_name = detail::type_name_of(env),
        .exclude = exclude,
        .payload = env.data};
    const auto size = wire::body_size(f);
    if (outgoing_.fetch_add(size, std::memory_order_acq_rel) + size > opt_.max_outgoing_bytes) {
        outgoing_.fetch_sub(size, std::memory_order_acq_rel);
        c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
        return false; // the pool delivers it locally, without a position
    }
    std::string body;
    wire::write_body(body, f);
    post([this, topic = std::string(topic), body = std::move(body),
          done = std::move(done)]() mutable {
        outgoing_.fetch_sub(body.size(), std::memory_order_acq_rel);
        run_publish(std::move(topic), std::move(body), std::move(done));
    });
    return true;
}

template <class P>
void redis::node<P>::run_publish(std::string topic, std::string body, send_done done) {
    if (closing_)
        return;
    const auto seq = ++seq_;
    wire::set_seq(body, seq);
    std::vector<std::string> keys, args;
    std::string channel;
    if (auto it = topics_.find(topic); it != topics_.end()) {
        keys = {it->second.meta, it->second.stream};
        channel = it->second.channel;
    } else {
        keys = {wire::topic_meta(opt_.prefix, topic), wire::topic_stream(opt_.prefix, topic)};
        channel = wire::topic_channel(opt_.prefix, topic);
    }
    args = {std::move(channel),
            body,
            std::to_string(opt_.history_size),
            std::to_string(std::max<std::int64_t>(1, opt_.history_ttl.count())),
            std::to_string(std::max<std::int64_t>(1, opt_.meta_ttl.count())),
            new_epoch()};
    client_->script(
        publish_script_, std::move(keys), std::move(args),
        [this, topic = std::move(topic), body = std::move(body), seq,
         done = std::move(done)](std::error_code ec, pier::redis::reply) mutable {
            if (ec) {
                // Not numbered, or not known to be: this node's subscribers get it
                // now, without a position; the other nodes' cannot.
                c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
                if (closing_)
                    return;
                using pier::redis::error;
                const bool unknown = ec == error::connection_lost || ec == error::command_timeout ||
                                     ec == error::closed;
                auto it = topics_.find(topic);
                if (it != topics_.end()) // the earlier ones first, whose copies did not come
                    flush_own(it->second, seq, {});
                if (unknown && it != topics_.end()) {
                    auto& t = it->second;
                    if (t.own_seen >= seq) // it ran, and came back already
                        return done ? done(send_report{}) : void();
                    // If it ran, its numbered copy may still come: as a position.
                    t.unnumbered.insert(seq);
                    if (t.unnumbered.size() > topic_entry::own_limit)
                        t.unnumbered.erase(t.unnumbered.begin());
                }
                deliver_unnumbered(topic, body, std::move(done));
                return;
            }
            // Numbered: this node delivers it when it comes back on the channel.
            auto it = topics_.find(topic);
            if (it != topics_.end() && it->second.own_seen < seq) {
                auto& t = it->second;
                auto at = t.own_pending.end();
                while (at != t.own_pending.begin() && std::prev(at)->seq > seq)
                    --at;
                t.own_pending.insert(at,
                                     {seq, std::move(body), clock::now() + opt_.position_timeout});
                if (t.own_pending.size() > topic_entry::own_limit) // the oldest goes out now
                    flush_own(t, t.own_pending.front().seq + 1, {});
            }
            if (!done)
                return;
            if (it == topics_.end() || !it->second.confirmed)
                return done(send_report{});
            own_[seq] = own_publish{std::move(done), clock::now() + opt_.position_timeout};
        });
}

template <class P>
void redis::node<P>::deliver_unnumbered(const std::string& topic, std::string_view body,
                                        send_done done) {
    const auto b = wire::parse_body(body);
    if (!b)
        return;
    std::vector<std::uint64_t> ex(b->exclude_count());
    for (std::size_t i = 0; i < ex.size(); ++i)
        ex[i] = b->exclude(i);
    auto text = encode(
        detail::with_type_name(outbound{.type = b->type,
                                        .topic = topic,
                                        .data = b->payload,
                                        .error = b->error,
                                        .time = timestamp(std::chrono::milliseconds(b->time_ms))},
                               b->type_name));
    pool_.send_encoded(P::target_kind::topic, topic, {}, std::move(text), std::move(ex),
                       std::move(done));
}

template <class P>
void redis::node<P>::flush_own(topic_entry& t, std::uint64_t below, clock::time_point now) {
    while (!t.own_pending.empty()) {
        auto& first = t.own_pending.front();
        if (first.seq >= below && !(now != clock::time_point{} && now >= first.deadline))
            return;
        const auto seq = first.seq;
        auto body = std::move(first.body);
        t.own_pending.pop_front();
        // Its numbered copy, if it comes after all, is a position only.
        t.unnumbered.insert(seq);
        if (t.unnumbered.size() > topic_entry::own_limit)
            t.unnumbered.erase(t.unnumbered.begin());
        deliver_unnumbered(t.name, body, {});
    }
}

template <class P>
void redis::node<P>::deliver_numbered(topic_entry& t, std::uint64_t offset, std::string_view epoch,
                                      const wire::body_view& b, send_done done) {
    const position_view pv{offset, epoch};
    const bool own = b.origin == id_;
    if (own) {
        t.own_seen = std::max(t.own_seen, b.seq);
        if (auto it = std::find_if(t.own_pending.begin(), t.own_pending.end(),
                                   [&](const auto& e) { return e.seq == b.seq; });
            it != t.own_pending.end())
            t.own_pending.erase(it);
    }
    std::vector<std::uint64_t> ex;
    std::string text;
    if (own && t.unnumbered.erase(b.seq) != 0) {
        // Delivered here already, unnumbered: its position only.
        text = encode(outbound{.type = message_type::subscribe, .topic = t.name, .position = &pv});
    } else {
        ex.resize(b.exclude_count());
        for (std::size_t i = 0; i < ex.size(); ++i)
            ex[i] = b.exclude(i);
        text = encode(detail::with_type_name(
            outbound{.type = b.type,
                     .topic = t.name,
                     .data = b.payload,
                     .error = b.error,
                     .position = &pv,
                     .time = timestamp(std::chrono::milliseconds(b.time_ms))},
            b.type_name));
    }
    // A shard whose mailbox was full did not get it: fetch it again for that shard's
    // subscribers (the others have it and skip it by offset).
    auto after = [this, name = t.name, epoch = std::string(epoch), offset,
                  done = std::move(done)](const send_report& r) {
        if (r.shards_refused != 0)
            post([this, name, epoch, offset] {
                if (auto it = topics_.find(name); it != topics_.end() && !closing_)
                    resync(it->second, stream_position{offset - 1, epoch});
            });
        if (done)
            done(r);
    };
    pool_.send_encoded(P::target_kind::topic, t.name, {}, std::move(text), std::move(ex),
                       std::move(after), offset, std::string(epoch));
}

template <class P>
void redis::node<P>::publish_user(std::string_view user, std::string_view encoded,
                                  std::span<const std::uint64_t> exclude) {
    c_.publishes.fetch_add(1, std::memory_order_relaxed);
    const wire::body_fields f{.type = message_type::data,
                              .encoded = true,
                              .time_ms = 0,
                              .seq = 0,
                              .origin = id_,
                              .error = {},
                              .type_name = {},
                              .exclude = exclude,
                              .payload = encoded};
    const auto size = wire::body_size(f) + 1;
    if (outgoing_.fetch_add(size, std::memory_order_acq_rel) + size > opt_.max_outgoing_bytes) {
        outgoing_.fetch_sub(size, std::memory_order_acq_rel);
        c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string msg(1, 'u');
    wire::write_body(msg, f);
    post([this, user = std::string(user), msg = std::move(msg)] {
        outgoing_.fetch_sub(msg.size(), std::memory_order_acq_rel);
        if (closing_)
            return;
        const auto ch = [&] {
            if (auto it = users_.find(user); it != users_.end())
                return it->second;
            return wire::user_channel(opt_.prefix, user);
        }();
        client_->publish(ch, msg, true, [this](std::error_code ec, pier::redis::reply) {
            if (ec)
                c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
        });
    });
}

// --- receiving ------------------------------------------------------------------------------

template <class P> void redis::node<P>::on_message(const pier::redis::message& m) {
    c_.messages_in.fetch_add(1, std::memory_order_relaxed);
    if (closing_)
        return;
    auto it = channels_.find(m.channel);
    if (it == channels_.end())
        return; // unsubscribed meanwhile
    switch (it->second.kind) {
    case channel_kind::topic:
        if (auto t = topics_.find(it->second.key); t != topics_.end())
            on_topic_message(t->second, m.payload);
        return;
    case channel_kind::user:
        return on_user_message(it->second.key, m.payload);
    case channel_kind::control:
    case channel_kind::reply:
        return on_control(m.payload);
    }
}

template <class P> void redis::node<P>::on_topic_message(topic_entry& t, std::string_view payload) {
    const auto tm = wire::parse_topic_message(payload);
    const auto b = tm ? wire::parse_body(tm->body) : std::nullopt;
    if (!b || b->encoded) {
        c_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    send_done done;
    if (b->origin == id_)
        if (auto o = own_.find(b->seq); o != own_.end()) {
            done = std::move(o->second.done);
            own_.erase(o);
        }
    const stream_position at{tm->offset, std::string(tm->epoch)};
    if (t.resyncing) {
        t.dropped = at; // fetched again from the history if the resync does not cover it
        if (done)
            done(send_report{});
        return;
    }
    if (t.known && t.last.epoch == at.epoch) {
        if (at.offset <= t.last.offset) {
            if (done) // already delivered (by a resync that fetched it)
                done(send_report{});
            return;
        }
        if (at.offset > t.last.offset + 1) {
            // The subscription skipped messages: fetch them, this one with them.
            t.dropped = at;
            if (done)
                done(send_report{});
            return resync(t);
        }
    } else if (t.known) {
        // The topic's history changed under a live subscription (Redis restarted, flushed, or
        // the meta expired): say so before the new epoch's first message.
        const auto err =
            encode(outbound{.type = message_type::error,
                            .topic = t.name,
                            .error = to_string(position_result::status::epoch_changed)});
        pool_.send_encoded(P::target_kind::topic, t.name, {}, err, {}, {});
    }
    t.known = true;
    t.last = at;
    deliver_numbered(t, at.offset, at.epoch, *b, std::move(done));
}

template <class P>
void redis::node<P>::on_user_message(const std::string& user, std::string_view payload) {
    if (payload.empty() || payload[0] != 'u') {
        c_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const auto b = wire::parse_body(payload.substr(1));
    if (!b || !b->encoded) {
        c_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (b->origin == id_)
        return; // delivered locally when it was sent
    std::vector<std::uint64_t> ex(b->exclude_count());
    for (std::size_t i = 0; i < ex.size(); ++i)
        ex[i] = b->exclude(i);
    pool_.send_encoded(P::target_kind::user, user, {}, std::string(b->payload), std::move(ex), {});
}

template <class P> void redis::node<P>::on_subscribed(std::string_view channel, bool again) {
    auto it = channels_.find(channel);
    if (it == channels_.end())
        return;
    if (it->second.kind != channel_kind::topic) {
        if (again)
            c_.resubscribes.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    auto tit = topics_.find(it->second.key);
    if (tit == topics_.end())
        return;
    auto& t = tit->second;
    const bool re = again || t.ever_confirmed;
    t.confirmed = t.ever_confirmed = true;
    if (re) {
        // Messages published while this node was not subscribed are missed: fetch them.
        c_.resubscribes.fetch_add(1, std::memory_order_relaxed);
        resync(t);
    }
    auto waiters = std::move(t.waiters);
    t.waiters.clear();
    waiting_ -= waiters.size();
    for (auto& w : waiters)
        serve_position(t, std::move(w.req));
}

// --- positions ------------------------------------------------------------------------------

template <class P> void redis::node<P>::request_position(position_request req) {
    post([this, req = std::move(req)]() mutable {
        if (closing_)
            return;
        if (waiting_ >= opt_.max_pending_positions)
            return answer_position(req, position_result{});
        if (!topics_.contains(req.topic) && pool_.has_topic(req.topic)) {
            // Its interest waits for the burst's drain (interest_delay): so does it.
            early_.push_back(waiter{std::move(req), clock::now() + opt_.position_timeout});
            ++waiting_;
            return;
        }
        enqueue_position(waiter{std::move(req), clock::now() + opt_.position_timeout});
    });
}

template <class P> void redis::node<P>::enqueue_position(waiter w) {
    // `w` may have been counted in waiting_ (from early_): uncount, and count again if kept.
    auto it = topics_.find(w.req.topic);
    if (it == topics_.end())
        return answer_position(w.req, position_result{});
    auto& t = it->second;
    if (t.confirmed)
        return serve_position(t, std::move(w.req));
    // Redis is down: do not keep the client waiting for a confirmation.
    if (ever_up_ && !up_.load(std::memory_order_relaxed))
        return answer_position(w.req, position_result{});
    t.waiters.push_back(std::move(w));
    ++waiting_;
}

template <class P> void redis::node<P>::serve_position(topic_entry& t, position_request req) {
    std::vector<std::string> args = {
        new_epoch(), std::to_string(std::max<std::int64_t>(1, opt_.meta_ttl.count())),
        req.since ? req.since->epoch : std::string(),
        req.since ? std::to_string(req.since->offset) : std::string("0"),
        std::to_string(opt_.history_size)};
    client_->script(
        position_script_, {t.meta, t.stream}, std::move(args),
        [this, req = std::move(req)](std::error_code ec, pier::redis::reply r) mutable {
            auto raw = ec ? detail::raw_position{} : detail::read_position_reply(r, req.since);
            position_result res;
            res.result = raw.status;
            res.position = std::move(raw.position);
            if (raw.status == position_result::status::unavailable)
                return answer_position(req, std::move(res));
            if (auto it = topics_.find(req.topic);
                it != topics_.end() && !it->second.known && !it->second.floor)
                it->second.floor = res.position; // the lowest position handed out
            res.entries.reserve(raw.bodies.size());
            for (auto& [offset, body] : raw.bodies) {
                const auto b = wire::parse_body(body);
                if (!b || b->encoded)
                    continue; // read_position_reply checked the ids; a bad body is skipped
                if (b->excludes(req.connection)) {
                    res.entries.emplace_back(offset, std::string()); // not for it: a notice
                    continue;
                }
                const position_view pv{offset, res.position.epoch};
                res.entries.emplace_back(
                    offset, encode(detail::with_type_name(
                                outbound{.type = b->type,
                                         .topic = req.topic,
                                         .data = b->payload,
                                         .error = b->error,
                                         .position = &pv,
                                         .time = timestamp(std::chrono::milliseconds(b->time_ms))},
                                b->type_name)));
            }
            answer_position(req, std::move(res));
        });
}

template <class P>
void redis::node<P>::answer_position(const position_request& req, position_result r) {
    c_.positions.fetch_add(1, std::memory_order_relaxed);
    if (req.since)
        c_.recoveries.fetch_add(1, std::memory_order_relaxed);
    if (r.result != position_result::status::ok)
        c_.recovery_failures.fetch_add(req.since ? 1 : 0, std::memory_order_relaxed);
    pool_.answer_position(req.shard, req.connection, req.topic, req.generation, std::move(r));
}

template <class P>
void redis::node<P>::resync(topic_entry& t, std::optional<stream_position> from) {
    if (from) {
        if (!t.resync_from || t.resync_from->epoch != from->epoch ||
            from->offset < t.resync_from->offset)
            t.resync_from = std::move(from);
    }
    if (t.resyncing) {
        t.again = true;
        return;
    }
    t.resyncing = true;
    t.retry = false;
    c_.resyncs.fetch_add(1, std::memory_order_relaxed);
    std::optional<stream_position> since = t.known ? std::optional(t.last) : t.floor;
    if (t.resync_from) {
        if (!since || since->epoch != t.resync_from->epoch || t.resync_from->offset < since->offset)
            since = t.resync_from;
        t.resync_from.reset();
    }
    std::vector<std::string> args = {
        new_epoch(), std::to_string(std::max<std::int64_t>(1, opt_.meta_ttl.count())),
        since ? since->epoch : std::string(),
        since ? std::to_string(since->offset) : std::string("0"),
        std::to_string(opt_.history_size)};
    client_->script(
        position_script_, {t.meta, t.stream}, std::move(args),
        [this, name = t.name, since](std::error_code ec, pier::redis::reply r) {
            auto it = topics_.find(name);
            if (it == topics_.end() || closing_)
                return;
            auto& t = it->second;
            t.resyncing = false;
            const auto raw = ec ? detail::raw_position{} : detail::read_position_reply(r, since);
            if (raw.status == position_result::status::unavailable) {
                // Redis went away again (or only the subscription is back): the sweep tries
                // again while Redis looks reachable, its next confirmation too.
                t.dropped.reset();
                t.again = false;
                t.retry = true;
                return;
            }
            const bool lost = since && raw.status != position_result::status::ok;
            if (lost) {
                const auto err = encode(outbound{
                    .type = message_type::error, .topic = t.name, .error = to_string(raw.status)});
                pool_.send_encoded(P::target_kind::topic, t.name, {}, err, {}, {});
            }
            for (const auto& [offset, body] : raw.bodies)
                if (const auto b = wire::parse_body(body); b && !b->encoded)
                    deliver_numbered(t, offset, raw.position.epoch, *b, {});
            if (since || t.known) {
                t.known = true;
                t.last = raw.position;
            } else if (!t.floor) {
                t.floor = raw.position;
            }
            if (lost) {
                // Where the subscribers are now: after the error, a client may jump here.
                const position_view pv{raw.position.offset, raw.position.epoch};
                pool_.send_encoded(P::target_kind::topic, t.name, {},
                                   encode(outbound{.type = message_type::subscribe,
                                                   .topic = t.name,
                                                   .position = &pv}),
                                   {}, {}, raw.position.offset, raw.position.epoch);
            }
            const bool again =
                t.again || (t.dropped && !(t.dropped->epoch == raw.position.epoch &&
                                           t.dropped->offset <= raw.position.offset));
            t.again = false;
            t.dropped.reset();
            if (again)
                resync(t);
        });
}

// --- maintenance ----------------------------------------------------------------------------

template <class P> void redis::node<P>::sweep() {
    if (closing_)
        return;
    const auto& st = client_->stats();
    const bool up = st.connected();
    ever_up_ = ever_up_ || up;
    up_.store(up, std::memory_order_relaxed);
    c_.channels.store(st.channels.load(std::memory_order_relaxed), std::memory_order_relaxed);
    c_.disconnects.store(retired_disconnects_ + st.disconnects.load(std::memory_order_relaxed),
                         std::memory_order_relaxed);
    const auto now = clock::now();
    for (auto it = early_.begin(); it != early_.end();) {
        if (now >= it->deadline) {
            answer_position(it->req, position_result{});
            --waiting_;
            it = early_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [name, t] : topics_) {
        flush_own(t, 0, now); // copies that never came back: delivered here, unnumbered
        if (t.retry && up && !t.resyncing) {
            t.retry = false;
            resync(t);
        }
        if (t.waiters.empty())
            continue;
        const bool down = ever_up_ && !up;
        // erase_if moves only the waiters behind an answered one. (A hand-written compaction
        // moved each kept waiter onto itself, and libstdc++ empties a short std::string moved
        // onto itself: the answer then named topic "", and the client never got one.)
        waiting_ -= std::erase_if(t.waiters, [&](const waiter& w) {
            if (!down && now < w.deadline)
                return false;
            answer_position(w.req, position_result{});
            return true;
        });
    }
    for (auto it = own_.begin(); it != own_.end();) {
        if (now >= it->second.deadline) {
            if (it->second.done)
                it->second.done(send_report{});
            it = own_.erase(it);
        } else {
            ++it;
        }
    }
    sweep_timer_.expires_after(detail::backplane_sweep);
    sweep_timer_.async_wait([this](std::error_code ec) {
        if (!ec)
            sweep();
    });
}

template <class P>
void redis::node<P>::publish_control(const std::string& channel, const nlohmann::json& msg) {
    std::string text = "c" + msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    c_.publishes.fetch_add(1, std::memory_order_relaxed);
    client_->publish(channel, text, false, [this](std::error_code ec, pier::redis::reply) {
        if (ec)
            c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
    });
}

template <class P> void redis::node<P>::probe() {
    if (closing_)
        return;
    const auto now = clock::now();
    if (probe_outstanding_) {
        if (now - probe_at_ < opt_.probe_timeout) {
            probe_timer_.expires_at(probe_at_ + opt_.probe_timeout);
            probe_timer_.async_wait([this](std::error_code ec) {
                if (!ec)
                    probe();
            });
            return;
        }
        // Redis took the publish and the subscription never delivered it.
        probe_outstanding_ = false;
        probe_ok_.store(false, std::memory_order_relaxed);
        c_.probe_failures.fetch_add(1, std::memory_order_relaxed);
        if (opt_.reset_after_probe_failures != 0 &&
            ++probe_misses_ >= opt_.reset_after_probe_failures) {
            probe_misses_ = 0;
            reset_client();
        }
    }
    const auto n = ++probe_sent_;
    nlohmann::json msg{{"op", "probe"}, {"node", id_}, {"n", n}};
    probe_outstanding_ = true;
    probe_at_ = clock::now();
    client_->publish(
        reply_, "c" + msg.dump(), false, [this, n](std::error_code ec, pier::redis::reply) {
            if (n != probe_sent_ || closing_ || !ec)
                return;
            // Refused at once (Redis is known to be down: `up_` says so), not
            // lost on the way: no probe failure.
            if (ec == pier::redis::error::not_connected || ec == pier::redis::error::queue_full)
                probe_outstanding_ = false;
        });
    probe_timer_.expires_after(opt_.probe_interval);
    probe_timer_.async_wait([this](std::error_code ec) {
        if (!ec)
            probe();
    });
}

template <class P> void redis::node<P>::reset_client() {
    c_.resets.fetch_add(1, std::memory_order_relaxed);
    retired_disconnects_ += client_->stats().disconnects.load(std::memory_order_relaxed);
    client_->on_message({});
    client_->on_subscribed({});
    client_->close();
    make_client();
    client_->start();
    for (auto& [name, t] : topics_)
        t.confirmed = false; // confirmed again by the new client: a resubscription
    subscribe_all();
}

template <class P> void redis::node<P>::presence() {
    if (closing_)
        return;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto cut = now_ms - 10 * opt_.presence_interval.count();
    client_->command({"ZADD", presence_key_, std::to_string(now_ms), id_},
                     [](std::error_code, pier::redis::reply) {});
    client_->command({"ZREMRANGEBYSCORE", presence_key_, "-inf", std::to_string(cut)},
                     [](std::error_code, pier::redis::reply) {});
    // Who else is alive: what a request names as missing when Redis is gone by then.
    const auto since = now_ms - 3 * opt_.presence_interval.count();
    client_->command({"ZRANGEBYSCORE", presence_key_, std::to_string(since), "+inf"},
                     [this](std::error_code ec, pier::redis::reply rep) {
                         if (ec || rep.kind != pier::redis::reply_kind::array)
                             return;
                         for (const auto& e : rep.elements)
                             if (e.kind == pier::redis::reply_kind::string)
                                 heard_from(e.str);
                     });
    presence_timer_.expires_after(opt_.presence_interval);
    presence_timer_.async_wait([this](std::error_code ec) {
        if (!ec)
            presence();
    });
}

// --- the control plane ----------------------------------------------------------------------

namespace detail {
inline const std::string* json_string(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->template get_ptr<const std::string*>() : nullptr;
}
} // namespace detail

template <class P>
void redis::node<P>::cluster_survey(std::string kind, nlohmann::json args,
                                    std::chrono::milliseconds deadline,
                                    std::function<void(cluster_answer)> done) {
    nlohmann::json msg{{"op", "survey"}, {"kind", kind}, {"args", args}};
    start_request(std::move(msg), deadline, std::move(done),
                  [this, kind = std::move(kind),
                   args = std::move(args)](std::function<void(nlohmann::json)> cb) {
                      pool_.local_survey(kind, args, std::move(cb));
                  });
}

template <class P>
void redis::node<P>::cluster_disconnect(cluster_selector sel, std::uint16_t code,
                                        std::string reason, std::chrono::milliseconds deadline,
                                        std::function<void(cluster_answer)> done) {
    nlohmann::json msg{{"op", "disconnect"},
                       {"by", to_string(sel.by)},
                       {"keys", sel.keys},
                       {"code", code},
                       {"reason", reason}};
    start_request(std::move(msg), deadline, std::move(done),
                  [this, sel = std::move(sel), code,
                   reason = std::move(reason)](std::function<void(nlohmann::json)> cb) {
                      pool_.local_disconnect(sel, code, reason,
                                             [cb = std::move(cb)](std::size_t n) {
                                                 cb(nlohmann::json{{"disconnected", n}});
                                             });
                  });
}

template <class P>
void redis::node<P>::start_request(
    nlohmann::json msg, std::chrono::milliseconds deadline,
    std::function<void(cluster_answer)> done,
    std::function<void(std::function<void(nlohmann::json)>)> run_local) {
    auto go = [this, msg = std::move(msg), deadline, done = std::move(done),
               run_local = std::move(run_local)]() mutable {
        const auto id = id_ + "/" + std::to_string(++request_seq_);
        // Stopping, past the bound, or Redis unreachable: this node answers alone, at once,
        // and the answer says that the cluster was not asked (and whom it would have asked).
        std::string why = closing_                                        ? "stopping"
                          : requests_.size() >= opt_.max_pending_requests ? "too_many_requests"
                          : !connected()                                  ? "backplane_unavailable"
                                                                          : "";
        const bool alone = !why.empty();
        request r;
        r.done = std::move(done);
        r.timer = std::make_unique<asio::steady_timer>(
            io_, std::clamp(deadline, std::chrono::milliseconds(1), opt_.max_deadline));
        r.timer->async_wait([this, id](std::error_code ec) {
            if (!ec)
                finish_request(id);
        });
        if (alone)
            request_alone(r, std::move(why));
        requests_.emplace(id, std::move(r));
        if (!alone) {
            msg["id"] = id;
            msg["from"] = id_;
            c_.publishes.fetch_add(1, std::memory_order_relaxed);
            client_->publish(
                control_, "c" + msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                false, [this, id](std::error_code ec, pier::redis::reply) {
                    if (!ec)
                        return;
                    c_.publish_errors.fetch_add(1, std::memory_order_relaxed);
                    // The request never reached the others.
                    if (auto it = requests_.find(id);
                        it != requests_.end() && it->second.answer.error.empty()) {
                        request_alone(it->second, "backplane_unavailable");
                        check_request(id);
                    }
                });
            // Whom to wait for: the nodes that announced themselves lately.
            const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            const auto since = now_ms - 3 * opt_.presence_interval.count();
            client_->command({"ZRANGEBYSCORE", presence_key_, std::to_string(since), "+inf"},
                             [this, id](std::error_code ec, pier::redis::reply rep) {
                                 auto it = requests_.find(id);
                                 if (it == requests_.end() || !it->second.answer.error.empty())
                                     return;
                                 if (ec || rep.kind != pier::redis::reply_kind::array) {
                                     // Whom to wait for is unknown: those heard from lately,
                                     // until the deadline.
                                     auto nodes = known_peers();
                                     nodes.insert(nodes.begin(), id_);
                                     it->second.expected = std::move(nodes);
                                     return check_request(id);
                                 }
                                 std::vector<std::string> nodes{id_};
                                 for (const auto& e : rep.elements)
                                     if (e.kind == pier::redis::reply_kind::string &&
                                         e.str != id_) {
                                         nodes.push_back(e.str);
                                         heard_from(e.str);
                                     }
                                 it->second.expected = std::move(nodes);
                                 check_request(id);
                             });
        }
        run_local([this, id](nlohmann::json res) {
            post([this, id, res = std::move(res)]() mutable {
                add_answer(id, id_, std::move(res));
            });
        });
    };
    post(std::move(go));
}

template <class P> void redis::node<P>::heard_from(const std::string& node) {
    if (node == id_ || !wire::valid_token(node, wire::max_node_id, true))
        return;
    const auto now = clock::now();
    if (auto it = peers_.find(node); it != peers_.end()) {
        it->second = now;
        return;
    }
    if (peers_.size() >= detail::max_known_peers) {
        // Full: the one heard from longest ago makes room.
        auto oldest =
            std::min_element(peers_.begin(), peers_.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
        peers_.erase(oldest);
    }
    peers_.emplace(node, now);
}

template <class P> std::vector<std::string> redis::node<P>::known_peers() {
    // Forgotten as the presence set forgets them: ten intervals without a sign.
    const auto cut = clock::now() - 10 * opt_.presence_interval;
    std::vector<std::string> out;
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (it->second < cut) {
            it = peers_.erase(it);
        } else {
            out.push_back(it->first);
            ++it;
        }
    }
    return out;
}

template <class P> void redis::node<P>::request_alone(request& r, std::string why) {
    r.answer.error = std::move(why);
    r.expected = std::vector<std::string>{id_};
    r.answer.missing = known_peers();
}

template <class P>
void redis::node<P>::add_answer(const std::string& id, const std::string& node,
                                nlohmann::json result) {
    if (node != id_)
        heard_from(node);
    auto it = requests_.find(id);
    if (it == requests_.end())
        return;
    auto& r = it->second;
    for (const auto& a : r.answer.answered)
        if (a.node == node)
            return;
    if (node == id_) {
        r.local_done = true;
        r.answer.answered.insert(r.answer.answered.begin(), node_answer{node, std::move(result)});
    } else {
        r.answer.answered.push_back(node_answer{node, std::move(result)});
    }
    check_request(id);
}

template <class P> void redis::node<P>::check_request(const std::string& id) {
    auto it = requests_.find(id);
    if (it == requests_.end() || !it->second.local_done || !it->second.expected)
        return;
    for (const auto& n : *it->second.expected) {
        const auto& a = it->second.answer.answered;
        if (std::none_of(a.begin(), a.end(), [&](const node_answer& x) { return x.node == n; }))
            return;
    }
    finish_request(id);
}

template <class P> void redis::node<P>::finish_request(const std::string& id) {
    auto it = requests_.find(id);
    if (it == requests_.end())
        return;
    auto r = std::move(it->second);
    requests_.erase(it);
    if (r.timer)
        r.timer->cancel();
    if (r.expected)
        for (const auto& n : *r.expected) {
            const auto& a = r.answer.answered;
            if (std::none_of(a.begin(), a.end(), [&](const node_answer& x) { return x.node == n; }))
                r.answer.missing.push_back(n);
        }
    if (r.done)
        r.done(std::move(r.answer));
}

template <class P> void redis::node<P>::on_control(std::string_view payload) {
    const auto bad = [this] { c_.bad_messages.fetch_add(1, std::memory_order_relaxed); };
    if (payload.empty() || payload[0] != 'c' || payload.size() > opt_.max_control_message)
        return bad();
    auto j = nlohmann::json::parse(payload.substr(1), nullptr, false);
    const auto* op = j.is_object() ? detail::json_string(j, "op") : nullptr;
    if (!op)
        return bad();
    if (*op == "probe") {
        const auto* node = detail::json_string(j, "node");
        const auto n = j.find("n");
        if (!node || *node != id_ || n == j.end() || !n->is_number_unsigned())
            return bad();
        if (n->template get<std::uint64_t>() != probe_sent_ || !probe_outstanding_)
            return; // a late one
        probe_outstanding_ = false;
        probe_misses_ = 0;
        probe_ok_.store(true, std::memory_order_relaxed);
        c_.probe_rtt_us.store(
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - probe_at_)
                    .count()),
            std::memory_order_relaxed);
        return;
    }
    if (*op == "answer") {
        const auto* id = detail::json_string(j, "id");
        const auto* node = detail::json_string(j, "node");
        const auto result = j.find("result");
        if (!id || !node || result == j.end())
            return bad();
        return add_answer(*id, *node, std::move(*result));
    }
    if (*op == "survey" || *op == "disconnect")
        return serve_request(j);
    bad();
}

template <class P> void redis::node<P>::serve_request(const nlohmann::json& j) {
    const auto bad = [this] { c_.bad_messages.fetch_add(1, std::memory_order_relaxed); };
    const auto* from = detail::json_string(j, "from");
    const auto* id = detail::json_string(j, "id");
    const auto* op = detail::json_string(j, "op");
    if (!from || !id || !wire::valid_token(*from, wire::max_node_id, true))
        return bad();
    if (*from == id_)
        return; // this node answered itself already
    heard_from(*from);
    auto answer = [this, to = wire::reply_channel(opt_.prefix, *from),
                   id = *id](nlohmann::json result) {
        post([this, to, id, result = std::move(result)] {
            if (!closing_)
                publish_control(
                    to, nlohmann::json{
                            {"op", "answer"}, {"id", id}, {"node", id_}, {"result", result}});
        });
    };
    if (*op == "survey") {
        const auto* kind = detail::json_string(j, "kind");
        if (!kind)
            return bad();
        const auto args = j.find("args");
        return pool_.local_survey(*kind, args == j.end() ? nlohmann::json() : *args,
                                  std::move(answer));
    }
    cluster_selector sel;
    const auto* by = detail::json_string(j, "by");
    const auto keys = j.find("keys");
    const auto code = j.find("code");
    const auto* reason = detail::json_string(j, "reason");
    if (!by || keys == j.end() || !keys->is_array() || code == j.end() ||
        !code->is_number_unsigned() || !reason)
        return bad();
    if (*by == "user")
        sel.by = cluster_selector::kind::user;
    else if (*by == "topic")
        sel.by = cluster_selector::kind::topic;
    else if (*by == "ids")
        sel.by = cluster_selector::kind::ids;
    else
        return bad();
    for (const auto& k : *keys)
        if (k.is_string())
            sel.keys.push_back(k.template get<std::string>());
    const auto c = code->template get<std::uint64_t>();
    pool_.local_disconnect(sel, c >= 1000 && c <= 4999 ? static_cast<std::uint16_t>(c) : 4005,
                           reason->substr(0, 123), [answer = std::move(answer)](std::size_t n) {
                               answer(nlohmann::json{{"disconnected", n}});
                           });
}

// --- state ----------------------------------------------------------------------------------

template <class P> bool redis::node<P>::connected() const noexcept {
    return up_.load(std::memory_order_relaxed) && probe_ok_.load(std::memory_order_relaxed);
}

template <class P> backplane_state redis::node<P>::state() const {
    const auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    backplane_state s;
    s.enabled = true;
    s.connected = connected();
    s.node_id = id_;
    s.probe_rtt_us = get(c_.probe_rtt_us);
    s.probe_failures = get(c_.probe_failures);
    s.resets = get(c_.resets);
    s.publishes = get(c_.publishes);
    s.publish_errors = get(c_.publish_errors);
    s.messages_in = get(c_.messages_in);
    s.bad_messages = get(c_.bad_messages);
    s.channels = get(c_.channels);
    s.disconnects = get(c_.disconnects);
    s.resubscribes = get(c_.resubscribes);
    s.resyncs = get(c_.resyncs);
    s.positions = get(c_.positions);
    s.recoveries = get(c_.recoveries);
    s.recovery_failures = get(c_.recovery_failures);
    s.outgoing_bytes = outgoing_.load(std::memory_order_relaxed);
    return s;
}

} // namespace pier::pool
