// pier/redis/detail/command_link.hpp: a pipelined command connection: replies matched to
// commands first-in first-out, a deadline per command, a bounded queue.
#pragma once

#include <pier/redis/detail/callback.hpp>
#include <pier/redis/detail/link.hpp>
#include <pier/redis/script.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace pier::redis::detail {

class command_link final : public link {
public:
    command_link(any_executor ex, target t, const connection_options& o, std::shared_ptr<stats> st)
        : link(std::move(ex), std::move(t), o, std::move(st), false), deadline_timer_(ex_) {}

    /// Sends one formatted command; `cb` gets its reply (or why there is none). Never calls
    /// `cb` before returning.
    void send(std::string_view bytes, callback cb) {
        const auto s = current();
        if (s == state::closed)
            return post_failure(ex_, std::move(cb), make_error_code(error::closed));
        if (s == state::down) {
            bump(stats_->refused_not_connected);
            return post_failure(ex_, std::move(cb), make_error_code(error::not_connected));
        }
        if (inflight_.size() + held_.size() >= opt_.max_pending ||
            queued_bytes() + held_bytes_.size() + bytes.size() > opt_.max_queued_bytes) {
            bump(stats_->refused_queue_full);
            return post_failure(ex_, std::move(cb), make_error_code(error::queue_full));
        }
        bump(stats_->commands);
        bump(stats_->pending);
        if (s == state::up) {
            send_raw(bytes);
            inflight_.push_back({std::move(cb), clock::now() + opt_.command_timeout});
            arm_deadline();
            return;
        }
        held_bytes_.append(bytes);
        held_.push_back({std::move(cb), {}});
        start();
    }

    /// Makes sure the server caches `s` before the next command on this connection runs:
    /// the first time a script is used on a connection, a SCRIPT LOAD goes ahead of its
    /// EVALSHA in the pipeline. Without it, the first EVALSHAs after a connect (a restart, a
    /// failover) meet NOSCRIPT and are retried as EVAL, and a call made while a retry is on its
    /// way runs before it: publishes would be numbered out of order. SCRIPT LOAD rather than
    /// EVAL also keeps the script out of the cache Redis 7.4 evicts EVAL'd scripts from. Only a
    /// SCRIPT FLUSH on a live connection still leads to the NOSCRIPT fallback.
    void preload(const script& s) {
        if (const auto st = current(); st == state::down || st == state::closed)
            return; // the command that follows is refused as well
        if (std::find(loaded_.begin(), loaded_.end(), s.sha1()) != loaded_.end())
            return;
        std::string bytes;
        const std::string_view args[] = {"SCRIPT", "LOAD", s.source()};
        if (format_command(args, bytes))
            return; // the EVALSHA's NOSCRIPT fallback still runs it
        loaded_.push_back(s.sha1());
        send(bytes, callback([self = std::static_pointer_cast<command_link>(shared_from_this()),
                              sha = s.sha1()](std::error_code ec, reply) {
                 if (ec) // not loaded (refused, or the connection went): the next call tries again
                     std::erase(self->loaded_, sha);
             }));
    }

    std::size_t pending() const noexcept { return inflight_.size() + held_.size(); }

    /// Called when a connection or attempt ends and a reconnect follows (not on close).
    std::function<void()> on_state_down;

private:
    struct entry {
        callback cb;
        clock::time_point deadline;
    };

    void on_up() override {
        const auto deadline = clock::now() + opt_.command_timeout;
        for (auto& e : held_)
            inflight_.push_back({std::move(e.cb), deadline});
        held_.clear();
        send_raw(held_bytes_);
        held_bytes_.clear();
        arm_deadline();
    }

    void on_reply(reply&& r) override {
        if (inflight_.empty())
            return fail(make_error_code(error::protocol_error)); // a reply nobody asked for
        auto cb = std::move(inflight_.front().cb);
        inflight_.pop_front();
        drop(stats_->pending);
        bump(stats_->replies);
        std::error_code ec;
        if (r.is_error()) {
            bump(stats_->error_replies);
            ec = make_error_code(error::server_error);
        }
        cb(ec, std::move(r));
    }

    void on_down(std::error_code ec, bool closing) override {
        loaded_.clear(); // a new connection may meet a server that never saw them
        auto inflight = std::move(inflight_);
        auto held = std::move(held_);
        inflight_.clear();
        held_.clear();
        held_bytes_.clear();
        if (closing) {
            deadline_timer_.cancel();
        }
        const auto n = inflight.size() + held.size();
        drop(stats_->pending, n);
        bump(stats_->lost, n);
        bool first = true;
        for (auto& e : inflight) {
            std::error_code why = closing ? ec : make_error_code(error::connection_lost);
            if (first && ec == error::command_timeout)
                why = ec;
            first = false;
            post_failure(ex_, std::move(e.cb), why);
        }
        // Never sent: they learn why the attempt failed (refused, timeout, handshake …).
        for (auto& e : held)
            post_failure(ex_, std::move(e.cb), ec);
        if (!closing && on_state_down)
            on_state_down();
    }

    // One timer for the whole pipeline: every command gets the same timeout and they are
    // written in order, so the oldest one's deadline is the earliest.
    void arm_deadline() {
        if (deadline_armed_ || inflight_.empty())
            return;
        deadline_armed_ = true;
        deadline_timer_.expires_at(inflight_.front().deadline);
        deadline_timer_.async_wait(
            [self = std::static_pointer_cast<command_link>(shared_from_this())](std::error_code) {
                self->deadline_armed_ = false;
                if (!self->is_up() || self->inflight_.empty())
                    return;
                if (self->inflight_.front().deadline <= clock::now()) {
                    bump(self->stats_->timeouts);
                    return self->fail(make_error_code(error::command_timeout));
                }
                self->arm_deadline();
            });
    }

    std::deque<entry> inflight_; // written (or being written), awaiting replies in order
    std::deque<entry> held_;     // issued while connecting, sent once the handshake is done
    std::string held_bytes_;
    std::vector<std::string> loaded_; // SHA-1s of the scripts loaded on this connection
    asio::steady_timer deadline_timer_;
    bool deadline_armed_ = false;
};

} // namespace pier::redis::detail
