// pier/redis/detail/client_impl.hpp: what `client` runs on: one command connection and one
// subscriber per server (standalone) or per master (cluster), the slot map, redirects, and the
// placement of sharded channels on the masters that own their slots.
#pragma once

#include <pier/redis/cluster.hpp>
#include <pier/redis/detail/callback.hpp>
#include <pier/redis/detail/command_link.hpp>
#include <pier/redis/detail/subscriber_link.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/script.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/url.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pier::redis::detail {

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(any_executor ex, url u, const client_options& o)
        : ex_(std::move(ex)), url_(std::move(u)), opt_(o), stats_(std::make_shared<stats>()),
          cluster_(url_.cluster), refresh_timer_(ex_),
          refresh_backoff_(o.cluster_refresh_min_interval, o.connection.reconnect_max) {
        if (url_.nodes.empty())
            throw std::system_error(make_error_code(error::invalid_argument),
                                    "pier.redis: URL without a node");
        if (url_.tls) {
            // One context for every connection, subscribers included.
            opt_.connection.tls.context = make_tls_context(opt_.connection.tls);
            opt_.subscriber.connection.tls = opt_.connection.tls;
        }
        if (cluster_)
            slots_.assign(cluster_slots, nullptr);
        for (const auto& ep : url_.nodes)
            node_for(ep, false);
        single_ = cluster_ ? nullptr : nodes_.begin()->second.get();
    }

    const any_executor& get_executor() const noexcept { return ex_; }
    stats& counters() noexcept { return *stats_; }
    bool is_cluster() const noexcept { return cluster_; }

    std::function<void(const message&)> on_message;
    std::function<void(std::string_view, bool, bool)> on_subscribed;

    void start() {
        if (started_ || closed_)
            return;
        started_ = true;
        if (cluster_)
            request_refresh();
        else
            single_->cmd->start();
    }

    void close() {
        if (closed_)
            return;
        closed_ = true;
        ++refresh_gen_;
        refresh_timer_.cancel();
        for (auto& [_, n] : nodes_) {
            n->cmd->on_state_down = nullptr;
            n->cmd->close();
            if (n->sub)
                n->sub->detach();
        }
        nodes_.clear();
        slots_.clear();
        single_ = plain_at_ = nullptr;
        set(stats_->channels, 0);
        sharded_.clear();
    }

    /// Sends a formatted command to the owner of `slot` (-1: any node), following redirects.
    /// `s`: the command is an EVALSHA of this script, which the connection it goes out on
    /// loads first if it has not yet (command_link::preload).
    void exec(std::string_view bytes, int slot, callback cb, const script* s = nullptr) {
        if (closed_)
            return post_failure(ex_, std::move(cb), make_error_code(error::closed));
        start();
        if (!cluster_) {
            if (s)
                single_->cmd->preload(*s);
            return single_->cmd->send(bytes, std::move(cb));
        }
        auto req = std::make_unique<request>();
        req->bytes.assign(bytes);
        req->slot = slot;
        req->cb = std::move(cb);
        if (s)
            req->s = *s;
        exec_request(std::move(req), nullptr, false);
    }

    std::error_code subscribe(std::string_view channel, bool sharded) {
        if (channel.empty())
            return make_error_code(error::invalid_argument);
        if (closed_)
            return make_error_code(error::closed);
        start();
        if (cluster_ && sharded) {
            if (sharded_.contains(channel))
                return {};
            if (channels_ >= opt_.subscriber.max_channels)
                return make_error_code(error::too_many_channels);
            const auto slot = keyslot(channel);
            auto& e = sharded_.emplace(std::string(channel), sharded_channel{slot}).first->second;
            e.at = slots_[slot];
            if (e.at)
                sub_of(*e.at).add(channel, true);
            else
                request_refresh();
        } else {
            auto& home = sub_of(cluster_ ? plain_home() : *single_);
            if (home.wants(channel, sharded))
                return {};
            if (channels_ >= opt_.subscriber.max_channels)
                return make_error_code(error::too_many_channels);
            home.add(channel, sharded);
        }
        ++channels_;
        bump(stats_->channels);
        return {};
    }

    void unsubscribe(std::string_view channel, bool sharded) {
        if (closed_)
            return;
        if (cluster_ && sharded) {
            auto it = sharded_.find(channel);
            if (it == sharded_.end())
                return;
            if (it->second.at)
                it->second.at->sub->remove(channel, true);
            sharded_.erase(it);
        } else {
            node* home = cluster_ ? plain_at_ : single_;
            if (!home || !home->sub || !home->sub->wants(channel, sharded))
                return;
            home->sub->remove(channel, sharded);
        }
        --channels_;
        drop(stats_->channels);
    }

private:
    struct node {
        endpoint ep;
        std::shared_ptr<command_link> cmd;
        std::shared_ptr<subscriber_link> sub; // made with the first channel placed here
    };
    struct request {
        std::string bytes;
        int slot = -1;
        int redirects = 0;
        callback cb;
        std::optional<script> s; // an EVALSHA's script
    };
    struct sharded_channel {
        std::uint16_t slot = 0;
        node* at = nullptr;     // the node whose subscriber wants it; null: not placed
        bool confirmed = false; // confirmed somewhere before: a move is a resubscription
    };
    struct hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    node* node_for(const endpoint& ep, bool start = true) {
        auto key = ep.to_string();
        auto it = nodes_.find(key);
        if (it == nodes_.end()) {
            auto n = std::make_unique<node>();
            n->ep = ep;
            n->cmd =
                std::make_shared<command_link>(ex_, make_target(url_, ep), opt_.connection, stats_);
            if (cluster_) {
                // A lost connection may mean a failover: the map is reloaded.
                n->cmd->on_state_down = [this] { request_refresh(); };
            }
            it = nodes_.emplace(std::move(key), std::move(n)).first;
        }
        if (start)
            it->second->cmd->start();
        return it->second.get();
    }

    subscriber_link& sub_of(node& n) {
        if (n.sub)
            return *n.sub;
        n.sub = std::make_shared<subscriber_link>(ex_, make_target(url_, n.ep), opt_.subscriber,
                                                  stats_, cluster_);
        auto& h = n.sub->hooks;
        h.on_message = [this](const message& m) {
            if (on_message)
                on_message(m);
        };
        h.on_subscribed = [this](std::string_view channel, bool sharded, bool again) {
            if (cluster_ && sharded)
                if (auto it = sharded_.find(channel); it != sharded_.end())
                    it->second.confirmed = true;
            if (on_subscribed)
                on_subscribed(channel, sharded, again);
        };
        if (cluster_) {
            node* self = &n;
            h.on_dropped = [this, self](std::string_view channel) {
                if (auto it = sharded_.find(channel); it != sharded_.end() && it->second.at == self)
                    it->second.at = nullptr;
                request_refresh();
            };
            h.on_moved = [this](std::uint16_t slot, const endpoint& to,
                                std::vector<std::string> names) {
                bump(stats_->moved);
                node* owner = node_for(to);
                slots_[slot] = owner;
                for (const auto& name : names)
                    if (auto it = sharded_.find(name); it != sharded_.end()) {
                        it->second.at = owner;
                        sub_of(*owner).add(name, true, it->second.confirmed);
                    }
                request_refresh();
            };
        }
        n.sub->start();
        return *n.sub;
    }

    node& plain_home() {
        if (!plain_at_)
            plain_at_ = any_node();
        return *plain_at_;
    }

    node* any_node() {
        if (nodes_.empty())
            for (const auto& ep : url_.nodes)
                node_for(ep);
        node* first = nullptr;
        for (auto& [_, n] : nodes_) {
            if (n->cmd->is_up())
                return n.get();
            if (!first)
                first = n.get();
        }
        return first;
    }

    void exec_request(std::unique_ptr<request> req, node* to, bool asking) {
        if (closed_)
            return post_failure(ex_, std::move(req->cb), make_error_code(error::closed));
        if (!to)
            to = req->slot >= 0 && slots_[static_cast<std::size_t>(req->slot)]
                     ? slots_[static_cast<std::size_t>(req->slot)]
                     : any_node();
        if (req->s)
            to->cmd->preload(*req->s); // ahead of ASKING, which must come right before its command
        if (asking) {
            static const std::string asking_bytes = [] {
                std::string b;
                format_command({"ASKING"}, b);
                return b;
            }();
            to->cmd->send(asking_bytes, callback([](std::error_code, reply) {}));
        }
        const std::string_view bytes = req->bytes; // stays put: the request is on the heap
        to->cmd->send(bytes, callback([self = shared_from_this(), req = std::move(req),
                                       host = to->ep.host](std::error_code ec, reply r) mutable {
                          self->on_result(std::move(req), host, ec, std::move(r));
                      }));
    }

    void on_result(std::unique_ptr<request> req, const std::string& host, std::error_code ec,
                   reply r) {
        if (ec == error::server_error && !closed_) {
            if (auto rd = parse_redirect(r.text(), host)) {
                if (++req->redirects > opt_.max_redirects)
                    return req->cb(make_error_code(error::too_many_redirects), std::move(r));
                node* to = node_for(rd->to);
                if (rd->ask) {
                    bump(stats_->ask);
                } else {
                    bump(stats_->moved);
                    slots_[rd->slot] = to;
                    request_refresh();
                }
                return exec_request(std::move(req), to, rd->ask);
            }
            if (r.text().starts_with("TRYAGAIN")) {
                if (++req->redirects > opt_.max_redirects)
                    return req->cb(make_error_code(error::too_many_redirects), std::move(r));
                bump(stats_->tryagain);
                auto t = std::make_shared<asio::steady_timer>(ex_, opt_.tryagain_delay);
                t->async_wait(
                    [self = shared_from_this(), t, req = std::move(req)](std::error_code) mutable {
                        self->exec_request(std::move(req), nullptr, false);
                    });
                return;
            }
            if (r.text().starts_with("CLUSTERDOWN"))
                request_refresh();
        }
        req->cb(ec, std::move(r));
    }

    // --- the slot map -----------------------------------------------------------------------

    void request_refresh() {
        if (!cluster_ || closed_)
            return;
        if (refreshing_) {
            refresh_again_ = true;
            return;
        }
        schedule_refresh(last_refresh_ + opt_.cluster_refresh_min_interval);
    }

    // Keeps the earliest of the scheduled times.
    void schedule_refresh(clock::time_point at) {
        if (refresh_armed_ && refresh_at_ <= at)
            return;
        refresh_armed_ = true;
        refresh_at_ = at;
        refresh_timer_.expires_at(at);
        refresh_timer_.async_wait([self = shared_from_this(), g = ++refresh_gen_](std::error_code) {
            if (g != self->refresh_gen_ || self->closed_)
                return;
            self->refresh_armed_ = false;
            self->refresh();
        });
    }

    void refresh() {
        if (refreshing_ || closed_)
            return;
        refreshing_ = true;
        refresh_again_ = false;
        last_refresh_ = clock::now();
        // Nodes that are up first; the seeds too when none is (a restarted cluster).
        std::vector<endpoint> candidates, later;
        for (auto& [_, n] : nodes_)
            (n->cmd->is_up() ? candidates : later).push_back(n->ep);
        if (candidates.empty())
            for (const auto& ep : url_.nodes)
                if (std::find(later.begin(), later.end(), ep) == later.end())
                    later.push_back(ep);
        candidates.insert(candidates.end(), later.begin(), later.end());
        try_refresh(std::move(candidates), 0);
    }

    void try_refresh(std::vector<endpoint> candidates, std::size_t i) {
        if (closed_)
            return;
        if (i == candidates.size())
            return refreshed(false);
        static const std::string cluster_slots_bytes = [] {
            std::string b;
            format_command({"CLUSTER", "SLOTS"}, b);
            return b;
        }();
        node* n = node_for(candidates[i]);
        n->cmd->send(cluster_slots_bytes,
                     callback([self = shared_from_this(), candidates = std::move(candidates), i,
                               host = n->ep.host](std::error_code ec, reply r) mutable {
                         if (self->closed_)
                             return;
                         std::vector<slot_range> ranges;
                         if (!ec)
                             ec = parse_cluster_slots(r, host, ranges);
                         if (!ec && ranges.empty())
                             ec = make_error_code(error::unexpected_reply); // not in a cluster yet
                         if (ec)
                             return self->try_refresh(std::move(candidates), i + 1);
                         self->apply(ranges);
                         self->refreshed(true);
                     }));
    }

    void refreshed(bool ok) {
        refreshing_ = false;
        if (closed_)
            return;
        if (ok) {
            bump(stats_->map_refreshes);
            refresh_backoff_.reset();
            schedule_refresh(clock::now() + opt_.cluster_refresh_interval);
            if (refresh_again_)
                request_refresh();
        } else {
            bump(stats_->map_refresh_failures);
            schedule_refresh(clock::now() + refresh_backoff_.next() +
                             opt_.cluster_refresh_min_interval);
        }
    }

    void apply(const std::vector<slot_range>& ranges) {
        std::vector<node*> slots(cluster_slots, nullptr);
        std::unordered_set<node*> masters;
        for (const auto& r : ranges) {
            node* n = node_for(r.master);
            masters.insert(n);
            std::fill(slots.begin() + r.first, slots.begin() + r.last + 1, n);
        }
        slots_ = std::move(slots);
        std::unordered_set<node*> gone;
        for (auto& [_, n] : nodes_)
            if (!masters.contains(n.get()))
                gone.insert(n.get());

        // Sharded channels follow their slots; plain ones leave a node that is no master.
        for (auto& [name, e] : sharded_) {
            node* owner = slots_[e.slot];
            if (owner == e.at)
                continue;
            if (e.at && !gone.contains(e.at) && e.at->sub)
                e.at->sub->remove(name, true);
            e.at = owner;
            if (owner)
                sub_of(*owner).add(name, true, e.confirmed);
        }
        if (plain_at_ && gone.contains(plain_at_) && !masters.empty()) {
            node* from = plain_at_;
            plain_at_ = *masters.begin();
            if (from->sub)
                for (const auto& name : from->sub->channels(false))
                    sub_of(*plain_at_).add(name, false, true);
        }
        if (plain_at_ && gone.contains(plain_at_))
            plain_at_ = nullptr;
        for (auto it = nodes_.begin(); it != nodes_.end();) {
            if (!gone.contains(it->second.get())) {
                ++it;
                continue;
            }
            it->second->cmd->on_state_down = nullptr;
            it->second->cmd->close(make_error_code(error::connection_lost));
            if (it->second->sub)
                it->second->sub->detach();
            it = nodes_.erase(it);
        }
    }

    any_executor ex_;
    url url_;
    client_options opt_;
    std::shared_ptr<stats> stats_;
    bool cluster_;
    bool started_ = false;
    bool closed_ = false;
    std::map<std::string, std::unique_ptr<node>> nodes_; // by endpoint::to_string()
    node* single_ = nullptr;                             // standalone: the one node
    std::vector<node*> slots_;                           // cluster: slot → master, or null
    node* plain_at_ = nullptr; // cluster: where plain (unsharded) channels are subscribed
    std::unordered_map<std::string, sharded_channel, hash, std::equal_to<>> sharded_;
    std::size_t channels_ = 0;

    asio::steady_timer refresh_timer_;
    std::uint64_t refresh_gen_ = 0;
    bool refresh_armed_ = false;
    clock::time_point refresh_at_{};
    bool refreshing_ = false;
    bool refresh_again_ = false;
    clock::time_point last_refresh_{};
    backoff refresh_backoff_;
};

} // namespace pier::redis::detail
