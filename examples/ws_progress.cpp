// ws_progress: progress of batch jobs, pushed to the browsers that watch them. Jobs run on a
// worker thread of the program's own (not on the pool's event loops); each publishes its
// progress to the topic batch_progress_{id} through pool.publish, from that thread.
//
//   ws_progress --secret S [--max-jobs N] [--max-steps N] [--print-token USER]
//               [common options: --address, --port, --threads, --idle-timeout-ms]
//
//   POST /jobs?steps=N&step_ms=M     (Authorization: Bearer <token>) starts a job of N steps,
//                                    one every M ms; answers 201 {"id":7,"topic":
//                                    "batch_progress_7"}
//   GET  /jobs/{id}                  (the same token) the job's state, as below
//   ws://HOST:PORT/ws?token=…&topics=batch_progress_7
//                                    the job's owner only (authorize): first the job's
//                                    current state, then every step, as data envelopes
//                                    {"job":7,"state":"running","done":3,"total":10,
//                                     "percent":30}, the last with "state":"finished"
//
// The cross-thread path this demonstrates: pool.publish from the worker encodes the envelope
// once and frames it once, then makes one post per shard into that shard's bounded mailbox
// (ws::options::mailbox_budget, 64 MiB by default), carrying the one shared frame; each shard
// queues it on its own subscribers of the topic, on its own thread, with no lock. The worker
// never waits for the shards. The report (send_report, given to the `done` callback on the
// last shard) says how many connections got it and how many shards refused it because their
// mailbox was full; the worker counts those and carries on: progress is a state, not a
// stream of deltas, so the next step makes up for a lost one.
//
// Because messages carry the whole state, a late subscriber loses nothing: it gets the
// current state first. Messages may arrive twice (a step published while the snapshot was
// taken); a client keeps the largest `done`.
//
// Tokens: HS256 with `sub` (the user id) and `exp`, signed with --secret. --print-token USER
// prints a one-hour token for USER and exits (for trying it by hand).
#include "common/cli.hpp"

#include <pier/pool.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::string_view topic_prefix = "batch_progress_";

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    std::uint64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size())
        return std::nullopt;
    return v;
}

/// A job's state, as published.
struct job_state {
    std::uint64_t id = 0;
    std::string owner;
    unsigned done = 0, total = 0;
    bool finished = false;

    std::string json() const {
        const nlohmann::json j{{"job", id},
                               {"state", finished ? "finished" : "running"},
                               {"done", done},
                               {"total", total},
                               {"percent", total ? done * 100 / total : 100}};
        return j.dump();
    }
};

/// The jobs and the one worker thread that runs them all: each job advances one step every
/// `step` and publishes its state. Finished jobs are kept (for GET /jobs/{id} and late
/// subscribers) until `max_jobs` would be passed, oldest first.
///
/// Thread safety: every member function may be called from any thread.
template <class Pool> class job_runner {
public:
    job_runner(Pool& pool, std::size_t max_jobs) : pool_(pool), max_jobs_(max_jobs) {}
    ~job_runner() { stop(); }

    void start() {
        worker_ = std::thread([this] { run(); });
    }
    void stop() {
        {
            std::lock_guard lock(m_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (worker_.joinable())
            worker_.join();
    }

    /// A new job, or nullopt when max_jobs are running.
    std::optional<std::uint64_t> submit(std::string owner, unsigned steps,
                                        std::chrono::milliseconds step) {
        std::lock_guard lock(m_);
        if (jobs_.size() >= max_jobs_) {
            // Room is made from finished jobs only: running ones are someone's work.
            auto it = jobs_.begin();
            while (it != jobs_.end() && !it->second.state.finished)
                ++it;
            if (it == jobs_.end())
                return std::nullopt;
            jobs_.erase(it);
        }
        const auto id = next_id_++;
        auto& j = jobs_[id];
        j.state = {.id = id, .owner = std::move(owner), .total = steps};
        j.step = step;
        j.next = clock_type::now() + step;
        cv_.notify_all();
        return id;
    }

    std::optional<job_state> find(std::uint64_t id) const {
        std::lock_guard lock(m_);
        auto it = jobs_.find(id);
        if (it == jobs_.end())
            return std::nullopt;
        return it->second.state;
    }

    /// Shards whose mailbox refused a progress message (full): the figure to watch.
    std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

private:
    struct job {
        job_state state;
        std::chrono::milliseconds step{};
        clock_type::time_point next{};
    };

    void run() {
        std::unique_lock lock(m_);
        while (!stopping_) {
            auto wake = clock_type::time_point::max();
            for (auto& [id, j] : jobs_)
                if (!j.state.finished)
                    wake = std::min(wake, j.next);
            if (wake == clock_type::time_point::max())
                cv_.wait(lock);
            else
                cv_.wait_until(lock, wake);
            const auto now = clock_type::now();
            std::vector<job_state> due;
            for (auto& [id, j] : jobs_) {
                if (j.state.finished || j.next > now)
                    continue;
                ++j.state.done; // the job's real work would be here
                j.state.finished = j.state.done >= j.state.total;
                j.next += j.step;
                due.push_back(j.state);
            }
            // Published without the lock: publish never blocks, but there is no reason to
            // make submit() and find() wait for the encoding.
            lock.unlock();
            for (const auto& s : due) {
                const auto topic = std::string(topic_prefix) + std::to_string(s.id);
                const auto data = s.json();
                pool_.publish(topic, {.data = data}, {}, [this](const pier::pool::send_report& r) {
                    if (r.shards_refused != 0)
                        refused_.fetch_add(r.shards_refused, std::memory_order_relaxed);
                });
            }
            lock.lock();
        }
    }

    Pool& pool_;
    const std::size_t max_jobs_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::map<std::uint64_t, job> jobs_;
    std::uint64_t next_id_ = 1;
    bool stopping_ = false;
    std::atomic<std::uint64_t> refused_{0};
    std::thread worker_;
};

struct progress;
using pool_type = pier::ws::pool<progress>;

struct progress {
    job_runner<pool_type>* jobs = nullptr; // set before the pool starts
    pool_type* pool = nullptr;
    pier::pool::jwt_keys keys;
    unsigned max_steps = 1000;

    /// The job behind a topic name, when it is one of `user`'s.
    std::optional<job_state> owned_job(std::string_view topic, std::string_view user) const {
        if (!topic.starts_with(topic_prefix))
            return std::nullopt;
        const auto id = parse_u64(topic.substr(topic_prefix.size()));
        if (!id)
            return std::nullopt;
        auto s = jobs->find(*id);
        if (!s || s->owner != user)
            return std::nullopt;
        return s;
    }

    template <class C> bool authorize(C& c, std::string_view topic) {
        if (!owned_job(topic, c.data().user_id))
            return false; // answered {"type":"error","topic":T,"error":"forbidden"}
        // The current state goes to this connection after the subscription exists (the
        // subscribe's acknowledgement, or the welcome for ?topics=, goes out first): a post to
        // this shard runs after the hook that is running now.
        pool->server().post_to_shard(
            c.shard(), [this, id = c.id(), user = c.data().user_id, t = std::string(topic)] {
                if (auto s = owned_job(t, user)) {
                    const std::uint64_t to[] = {id};
                    const auto data = s->json();
                    pool->send_to(to, {.topic = t, .data = data});
                }
            });
        return true;
    }

    template <class C> bool on_http(C& c, const pier::http::request_view& r) {
        auto opts = pier::http::reply_options::for_request(r);
        std::string out;
        const bool create = r.path() == "/jobs";
        const bool show = r.path().starts_with("/jobs/");
        if (!create && !show)
            return false;
        const auto user = authenticate(r);
        if (!user) {
            pier::http::append_unauthorized(out, "a valid Bearer token is required", opts);
        } else if (create && r.method() != "POST") {
            const pier::http::header allow[] = {{"Allow", "POST"}};
            opts.headers = allow;
            pier::http::append_json_error(out, 405, "method_not_allowed", "POST /jobs", opts);
        } else if (create) {
            const auto q = r.query();
            const auto steps = parse_u64(pier::http::decoded_query_param(q, "steps").value_or(""));
            const auto step_ms =
                parse_u64(pier::http::decoded_query_param(q, "step_ms").value_or(""));
            if (!steps || *steps == 0 || *steps > max_steps || !step_ms || *step_ms > 60000) {
                pier::http::append_json_error(
                    out, 400, "bad_job",
                    "steps: 1.." + std::to_string(max_steps) + ", step_ms: 0..60000", opts);
            } else if (auto id = jobs->submit(*user, static_cast<unsigned>(*steps),
                                              std::chrono::milliseconds(*step_ms))) {
                const nlohmann::json body{
                    {"id", *id}, {"topic", std::string(topic_prefix) + std::to_string(*id)}};
                pier::http::append_json_reply(out, 201, body.dump(), opts);
            } else {
                pier::http::append_json_error(out, 503, "too_many_jobs",
                                              "every job slot is running", opts);
            }
        } else {
            const auto id = parse_u64(r.path().substr(6));
            const auto s = id ? jobs->find(*id) : std::nullopt;
            if (!s || s->owner != *user)
                pier::http::append_json_error(out, 404, "no_such_job", "not one of yours", opts);
            else
                pier::http::append_json_reply(out, 200, s->json(), opts);
        }
        c.send_http(out);
        return true;
    }

    std::optional<std::string> authenticate(const pier::http::request_view& r) const {
        std::string scratch;
        const auto tok = pier::pool::extract_token(r, scratch);
        if (!tok)
            return std::nullopt;
        auto v = pier::pool::verify_hs256(tok.token, keys, unix_now());
        if (!v)
            return std::nullopt;
        return std::move(v.claims.sub);
    }
};

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(argc, argv, {"secret", "max-jobs", "max-steps", "print-token"},
                               " --secret S [--max-jobs N] [--max-steps N] [--print-token USER]");
    const auto secret = cli.get("secret", "");
    if (secret.size() < pier::pool::jwt_min_key_size) {
        std::fprintf(stderr, "%s: --secret is required, at least %zu bytes\n", argv[0],
                     pier::pool::jwt_min_key_size);
        return 2;
    }
    if (const auto user = cli.get("print-token", ""); !user.empty()) {
        std::printf(
            "%s\n",
            pier::pool::sign_hs256({{"sub", user}, {"exp", unix_now() + 3600}}, secret).c_str());
        return 0;
    }
    const auto max_jobs = cli.get_int("max-jobs", 64);
    const auto max_steps = cli.get_int("max-steps", 1000);
    if (max_jobs <= 0 || max_steps <= 0) {
        std::fprintf(stderr, "%s: --max-jobs and --max-steps must be positive\n", argv[0]);
        return 2;
    }
    pier::raise_fd_limit();
    pier::pool::pool_options po;
    po.keys.current = secret;
    auto so = cli.options;
    so.max_connections = 0; // the pool's own limit (pool_options) answers 503
    progress app;
    app.keys.current = secret;
    app.max_steps = static_cast<unsigned>(max_steps);
    pool_type pool(so, po, std::move(app));
    job_runner<pool_type> jobs(pool, static_cast<std::size_t>(max_jobs));
    pool.handler().jobs = &jobs;
    pool.handler().pool = &pool;
    jobs.start();
    const int rc = examples::serve(pool);
    jobs.stop(); // before the pool goes: the worker publishes into it
    return rc;
}
