// pier/redis/detail/subscriber_link.hpp: one pub/sub connection that keeps the server's
// subscriptions equal to a wanted set, in batches, across reconnects, with a liveness probe.
#pragma once

#include <pier/redis/cluster.hpp>
#include <pier/redis/detail/link.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pier::redis {

/// One message, as handed to the message callback: views valid during the call only.
struct message {
    std::string_view channel;
    std::string_view payload;
    bool sharded = false; ///< came from SSUBSCRIBE (smessage) rather than SUBSCRIBE
};

namespace detail {

/// What a subscriber tells its owner. Every member may be empty.
struct subscriber_hooks {
    std::function<void(const message&)> on_message;
    /// The server confirmed a wanted channel; `again` when it had been confirmed before (after
    /// a reconnect or a move): messages may have been missed.
    std::function<void(std::string_view channel, bool sharded, bool again)> on_subscribed;
    /// The server dropped a sharded channel on its own (its slot moved). Empty: resubscribe
    /// here. Set (a cluster client): the channel is no longer wanted here; the owner places it.
    std::function<void(std::string_view channel)> on_dropped;
    /// A sharded subscribe was answered MOVED: none of that slot's channels is subscribed
    /// here, and they are no longer wanted here; the owner places them.
    std::function<void(std::uint16_t slot, const endpoint& to, std::vector<std::string> channels)>
        on_moved;
};

class subscriber_link final : public link {
public:
    subscriber_link(any_executor ex, target t, const subscriber_options& o,
                    std::shared_ptr<stats> st, bool cluster)
        : link(std::move(ex), std::move(t), o.connection, std::move(st), true), sopt_(o),
          cluster_(cluster), probe_timer_(ex_) {}

    subscriber_hooks hooks;

    /// Wants `channel`; subscribed within this loop pass's batch. `again`: report its
    /// confirmation as a resubscription (it was subscribed elsewhere before).
    void add(std::string_view channel, bool sharded, bool again = false) {
        auto [it, inserted] = want_[sharded].try_emplace(std::string(channel));
        if (inserted)
            it->second.again = again;
        mark(it->first, sharded);
    }
    /// No longer wants `channel`; unsubscribed in this loop pass's batch if it was subscribed.
    void remove(std::string_view channel, bool sharded) {
        auto it = want_[sharded].find(channel);
        if (it == want_[sharded].end())
            return;
        mark(it->first, sharded);
        want_[sharded].erase(it);
    }
    bool wants(std::string_view channel, bool sharded) const {
        return want_[sharded].find(channel) != want_[sharded].end();
    }
    std::size_t wanted() const noexcept { return want_[0].size() + want_[1].size(); }
    /// The wanted channels of one kind (for moving them elsewhere).
    std::vector<std::string> channels(bool sharded) const {
        std::vector<std::string> out;
        out.reserve(want_[sharded].size());
        for (const auto& [name, _] : want_[sharded])
            out.push_back(name);
        return out;
    }
    /// Clears the hooks and closes: the owner is letting go of this subscriber.
    void detach() {
        hooks = {};
        close();
    }

private:
    struct wanted_channel {
        bool confirmed = false; // the server confirmed it on some connection
        bool again = false;     // report the next confirmation as a resubscription
    };
    // Heterogeneous lookup, so that a message's channel view needs no std::string.
    struct hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using channel_map = std::unordered_map<std::string, wanted_channel, hash, std::equal_to<>>;
    using channel_set = std::unordered_set<std::string, hash, std::equal_to<>>;

    std::shared_ptr<subscriber_link> self() {
        return std::static_pointer_cast<subscriber_link>(shared_from_this());
    }

    void mark(std::string_view channel, bool sharded) {
        if (!is_up()) {
            // on_up reconciles everything wanted; remembering names meanwhile would only
            // grow with every channel touched while the server is away.
            start();
            return;
        }
        dirty_[sharded].emplace(channel);
        if (!reconcile_posted_) {
            reconcile_posted_ = true;
            asio::post(ex_, [self = self()] {
                self->reconcile_posted_ = false;
                self->reconcile();
            });
        }
    }

    // Brings the server's set (as far as sent) to the wanted set for every dirty channel:
    // one command per kind and direction (per slot for a cluster's sharded channels), at most
    // max_channels_per_command channels each.
    void reconcile() {
        if (!is_up())
            return;
        for (int sharded = 0; sharded < 2; ++sharded) {
            auto dirty = std::move(dirty_[sharded]);
            dirty_[sharded].clear();
            std::map<int, std::vector<std::string_view>> subs, unsubs; // by slot (or -1)
            for (const auto& name : dirty) {
                const bool want = want_[sharded].contains(name);
                const bool have = sent_[sharded].contains(name);
                const int group = sharded && cluster_ ? keyslot(name) : -1;
                if (want && !have) {
                    sent_[sharded].insert(name);
                    subs[group].push_back(name);
                } else if (!want && have) {
                    sent_[sharded].erase(name);
                    ++unsub_pending_[sharded][name];
                    unsubs[group].push_back(name);
                }
            }
            for (const auto& [_, names] : subs)
                send_batches(sharded ? "SSUBSCRIBE" : "SUBSCRIBE", names);
            for (const auto& [_, names] : unsubs)
                send_batches(sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", names);
        }
    }

    void send_batches(std::string_view verb, const std::vector<std::string_view>& names) {
        const auto per = std::max<std::size_t>(sopt_.max_channels_per_command, 1);
        std::vector<std::string_view> args;
        for (std::size_t i = 0; i < names.size(); i += per) {
            args.assign(1, verb);
            args.insert(args.end(), names.begin() + static_cast<std::ptrdiff_t>(i),
                        names.begin() +
                            static_cast<std::ptrdiff_t>(std::min(i + per, names.size())));
            std::string bytes;
            if (format_command(args, bytes))
                continue; // only out of memory or > 1 GiB of names: nothing sensible to send
            send_raw(bytes);
            bump(verb.find("UNSUB") == std::string_view::npos ? stats_->subscribe_commands
                                                              : stats_->unsubscribe_commands);
        }
    }

    void on_up() override {
        for (int sharded = 0; sharded < 2; ++sharded) {
            sent_[sharded].clear();
            unsub_pending_[sharded].clear();
            dirty_[sharded].clear();
            for (const auto& [name, _] : want_[sharded])
                dirty_[sharded].insert(name);
        }
        reconcile();
        probe_outstanding_ = false;
        arm_probe(sopt_.probe_interval);
    }

    void on_down(std::error_code, bool) override {
        ++probe_gen_;
        probe_timer_.cancel();
        dirty_[0].clear(); // the next on_up subscribes everything wanted
        dirty_[1].clear();
    }

    void on_reply(reply&& r) override {
        if (r.kind == reply_kind::array && !r.elements.empty() &&
            r.elements[0].kind == reply_kind::string) {
            const auto& e = r.elements;
            const std::string_view kind = e[0].str;
            const bool three = e.size() == 3 && e[1].kind == reply_kind::string;
            if ((kind == "message" || kind == "smessage") && three)
                return deliver(e[1].str, e[2].str, kind == "smessage");
            if ((kind == "subscribe" || kind == "ssubscribe") && three)
                return confirmed(e[1].str, kind == "ssubscribe");
            if ((kind == "unsubscribe" || kind == "sunsubscribe") && three)
                return unsubscribed(e[1].str, kind == "sunsubscribe");
            if (kind == "pong")
                return pong();
            return; // psubscribe & co.: pier never sends them
        }
        if (r.kind == reply_kind::status && r.str == "PONG")
            return pong(); // PING outside subscribed mode (nothing wanted)
        if (r.is_error()) {
            bump(stats_->subscriber_errors);
            if (auto rd = parse_redirect(r.str, where().host); rd && !rd->ask)
                return moved(rd->slot, rd->to);
        }
    }

    void deliver(std::string_view channel, std::string_view payload, bool sharded) {
        // Messages still in flight after an unsubscribe are not delivered.
        if (!wants(channel, sharded))
            return;
        bump(stats_->messages);
        set(stats_->last_message_us,
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()));
        if (hooks.on_message)
            hooks.on_message(message{channel, payload, sharded});
    }

    void confirmed(std::string_view channel, bool sharded) {
        auto it = want_[sharded].find(channel);
        if (it == want_[sharded].end() || !sent_[sharded].contains(channel))
            return;
        const bool again = it->second.confirmed || it->second.again;
        it->second.confirmed = true;
        it->second.again = false;
        bump(stats_->subscriptions);
        if (again)
            bump(stats_->resubscribes);
        if (hooks.on_subscribed)
            hooks.on_subscribed(channel, sharded, again);
    }

    void unsubscribed(std::string_view channel, bool sharded) {
        auto& pending = unsub_pending_[sharded];
        if (auto it = pending.find(channel); it != pending.end()) {
            if (--it->second == 0)
                pending.erase(it);
            return; // the answer to our own unsubscribe
        }
        // Unasked: Redis 7 drops a slot's shard channels from its subscribers when the slot
        // moves to another node.
        auto it = sent_[sharded].find(channel);
        if (it == sent_[sharded].end())
            return;
        sent_[sharded].erase(it);
        bump(stats_->server_unsubscribes);
        if (sharded && hooks.on_dropped) {
            const std::string name(channel);
            want_[sharded].erase(name);
            hooks.on_dropped(name);
        } else {
            mark(channel, sharded); // wanted still: subscribe again, here
        }
    }

    void moved(std::uint16_t slot, const endpoint& to) {
        std::vector<std::string> names;
        for (auto it = want_[1].begin(); it != want_[1].end();) {
            if (keyslot(it->first) == slot) {
                sent_[1].erase(it->first);
                names.push_back(it->first);
                it = hooks.on_moved ? want_[1].erase(it) : std::next(it);
            } else {
                ++it;
            }
        }
        if (hooks.on_moved)
            hooks.on_moved(slot, to, std::move(names));
    }

    void arm_probe(std::chrono::milliseconds after) {
        probe_timer_.expires_after(after);
        probe_timer_.async_wait([self = self(), g = ++probe_gen_](std::error_code) {
            if (g != self->probe_gen_ || !self->is_up())
                return;
            if (self->probe_outstanding_) {
                bump(self->stats_->probe_timeouts);
                return self->fail(make_error_code(error::probe_timeout));
            }
            self->probe_outstanding_ = true;
            self->probe_sent_ = clock::now();
            bump(self->stats_->probes);
            std::string ping;
            format_command({"PING"}, ping);
            self->send_raw(ping);
            self->arm_probe(self->sopt_.probe_timeout);
        });
    }

    void pong() {
        if (!probe_outstanding_)
            return;
        probe_outstanding_ = false;
        set(stats_->probe_rtt_us,
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - probe_sent_)
                    .count()));
        arm_probe(sopt_.probe_interval);
    }

    subscriber_options sopt_;
    bool cluster_;        // sharded channels batch per slot (CROSSSLOT otherwise)
    channel_map want_[2]; // [sharded]
    channel_set sent_[2]; // subscribed as far as sent
    std::unordered_map<std::string, int, hash, std::equal_to<>> unsub_pending_[2];
    channel_set dirty_[2];
    bool reconcile_posted_ = false;
    asio::steady_timer probe_timer_;
    std::uint64_t probe_gen_ = 0;
    bool probe_outstanding_ = false;
    clock::time_point probe_sent_{};
};

} // namespace detail
} // namespace pier::redis
