// pier/pool/impl/admin.hpp: the pool's operator surface on its own port: the admin API, the
// Prometheus metrics, the health check and the dashboard (pool/pool.hpp lists the paths).
// Answers that need every shard (stats, listings, disconnects) are gathered with one post per
// shard and sent later through the WebSocket layer's deferred HTTP reply.
#pragma once

#include <pier/pool/impl/pool.hpp>

#include <pier/http/auth.hpp>
#include <pier/http/reply.hpp>
#include <pier/http/router.hpp>
#include <pier/metrics/registry.hpp>
#include <pier/pool/dashboard.hpp>

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

namespace pier::pool::detail {

/// Whether `path` belongs to the admin surface (anything else goes to the handler's on_http).
inline bool admin_path(std::string_view path) noexcept {
    return path == "/healthz" || path == "/metrics" || path == "/admin" ||
           path.starts_with("/api/admin/") || path == "/api/admin";
}

/// A request body's JSON, checked field by field: each problem has its own error name.
struct body_error {
    std::string error, detail;
};

inline std::optional<body_error> parse_object(std::string_view body, nlohmann::json& out,
                                              std::initializer_list<std::string_view> allowed) {
    if (body.empty())
        return body_error{"missing_body", "a JSON object is required"};
    out = nlohmann::json::parse(body, nullptr, false);
    if (out.is_discarded())
        return body_error{"malformed_json", "the body is not valid JSON"};
    if (!out.is_object())
        return body_error{"not_an_object", "the body must be a JSON object"};
    for (auto& [k, v] : out.items()) {
        bool known = false;
        for (auto a : allowed)
            known = known || a == k;
        if (!known)
            return body_error{"unknown_field", k};
    }
    return std::nullopt;
}

inline std::string rfc3339(std::int64_t ms) {
    std::string s;
    pier::log::append_rfc3339(s, ms);
    return s;
}

/// Ids in the API: 16 lowercase hex digits.
inline std::string id_hex(std::uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return std::string(buf, 16);
}

inline std::optional<std::uint64_t> parse_id_hex(std::string_view t) {
    if (t.size() != 16)
        return std::nullopt;
    for (char c : t)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return std::nullopt;
    std::uint64_t v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v, 16);
    return v;
}

/// A message type the admin broadcast may name: 1–64 of [A-Za-z0-9_.:-].
inline bool valid_type_name(std::string_view t) noexcept {
    if (t.empty() || t.size() > 64)
        return false;
    for (char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    return true;
}

/// What every cluster-wide answer of the admin API says about who answered: "missing" (known
/// nodes that did not answer by the deadline), "complete" (every known node answered) and,
/// when the cluster could not be asked at all, "error" (cluster_answer::error: say
/// backplane_unavailable while Redis is unreachable, rather than a listing that reads as the
/// whole cluster's).
inline void add_cluster_status(nlohmann::json& j, const cluster_answer& a) {
    j["missing"] = a.missing;
    j["complete"] = a.error.empty() && a.missing.empty();
    if (!a.error.empty())
        j["error"] = a.error;
}

} // namespace pier::pool::detail

namespace pier::pool {

template <class H, class P>
bool pool_engine<H, P>::on_http(session_type& s, const http::request_view& req,
                                std::string_view body) {
    if (!detail::admin_path(req.path())) {
        if constexpr (requires(H & h) {
                          { h.on_http(s, req, body) } -> std::convertible_to<bool>;
                      })
            return handler_.on_http(s, req, body);
        else if constexpr (requires(H & h) {
                               { h.on_http(s, req) } -> std::convertible_to<bool>;
                           })
            return handler_.on_http(s, req);
        else
            return false;
    }
    auto o = http::reply_options::for_request(req);
    std::string out;
    const auto m = routes_.match(req.method(), req.path());
    if (m.status != http::route_status::found) {
        http::append_route_failure(out, m, o);
        s.send_http(out);
        return true;
    }
    o.head = o.head || m.head;
    const auto route = *m.target;
    const auto remote = s.remote_endpoint().address().to_string();
    if (route == detail::admin_route::healthz) {
        if constexpr (has_backplane) {
            // Still 200 when Redis is unreachable: this instance serves its own clients (and
            // numbers nothing meanwhile), so a load balancer should keep it; "degraded" and
            // the backplane's state say what is missing.
            const auto st = node_.state();
            const nlohmann::json j{{"status", st.connected ? "ok" : "degraded"},
                                   {"backplane", to_json(st)}};
            http::append_json_reply(out, 200, j.dump(), o);
        } else {
            http::append_json_reply(out, 200, R"({"status":"ok"})", o);
        }
        s.send_http(out);
        return true;
    }
    if (route == detail::admin_route::dashboard) {
        if (!opts_.dashboard) {
            http::append_json_error(out, 404, "not_found", "the dashboard is off", o);
        } else {
            const http::header csp[] = {
                {"Content-Security-Policy", dashboard_content_security_policy}};
            auto d = o;
            d.headers = csp;
            http::append_reply(out, 200, dashboard_content_type, dashboard_html, d);
        }
        s.send_http(out);
        return true;
    }
    // Everything else needs the admin token.
    if (const auto a = admin_.check(req); a != http::auth_result::ok) {
        http::append_unauthorized(out, http::to_string(a), o);
        s.send_http(out);
        pier::log::auth_failure(log_, remote, "admin_" + std::string(http::to_string(a)));
        return true;
    }
    const auto answer = [o](ws::http_responder r, unsigned status, std::string json) {
        std::string res;
        http::append_json_reply(res, status, json, o);
        r.reply(std::move(res));
    };
    const auto bad = [&](std::string_view error, std::string_view detail) {
        http::append_json_error(out, 400, error, detail, o);
        s.send_http(out);
        return true;
    };
    switch (route) {
    case detail::admin_route::metrics: {
        refresh_gauges();
        http::append_reply(out, 200, metrics::content_type, metrics_reg_.text(), o);
        s.send_http(out);
        return true;
    }
    case detail::admin_route::stats: {
        auto r = s.defer_http();
        if constexpr (has_backplane) {
            // This node's figures, then every node's (a survey with a deadline) under
            // "cluster": the admin API of any node answers for the whole cluster.
            admin_stats([this, answer, r](std::string local) mutable {
                node_.cluster_survey(
                    "stats", {}, admin_deadline(),
                    [answer, r, local = std::move(local)](cluster_answer a) mutable {
                        auto j = nlohmann::json::parse(local, nullptr, false);
                        auto nodes = nlohmann::json::array();
                        std::uint64_t active = 0;
                        for (auto& n : a.answered) {
                            if (n.result.is_object())
                                if (auto it = n.result.find("active");
                                    it != n.result.end() && it->is_number_unsigned())
                                    active += it->template get<std::uint64_t>();
                            nodes.push_back({{"node", n.node}, {"stats", std::move(n.result)}});
                        }
                        j["cluster"] = {{"active_connections", active},
                                        {"nodes", std::move(nodes)}};
                        detail::add_cluster_status(j["cluster"], a);
                        answer(r, 200,
                               j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                    });
            });
        } else {
            admin_stats([answer, r](std::string json) mutable { answer(r, 200, std::move(json)); });
        }
        return true;
    }
    case detail::admin_route::connections:
    case detail::admin_route::connection: {
        connection_filter f;
        if (route == detail::admin_route::connection) {
            auto id = detail::parse_id_hex(m.param("id").value_or(""));
            if (!id) {
                http::append_json_error(out, 404, "not_found", "no such connection", o);
                s.send_http(out);
                return true;
            }
            f.id = *id;
        } else if (auto e = parse_filter(req.query(), f)) {
            return bad(e->error, e->detail);
        }
        auto r = s.defer_http();
        if (route == detail::admin_route::connection) {
            // One connection by id, wherever it is: ids are random 64-bit numbers (the WebSocket
            // layer's), so one id names one connection in the whole cluster. This node looks
            // first; with a backplane, the other nodes are asked when it has none, and the
            // answer names the node ("node") that has it.
            admin_connections(f, [this, answer, r, f](nlohmann::json j, std::size_t total) mutable {
                (void)this; // used only with a backplane
                if (total != 0) {
                    auto e = std::move(j["connections"][0]);
                    if constexpr (has_backplane)
                        e["node"] = node_.node_id();
                    return answer(r, 200,
                                  e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                }
                if constexpr (has_backplane) {
                    node_.cluster_survey(
                        "connections", args_of(f), admin_deadline(),
                        [answer, r](cluster_answer a) mutable {
                            for (auto& n : a.answered) {
                                auto it = n.result.is_object() ? n.result.find("connections")
                                                               : n.result.end();
                                if (it == n.result.end() || !it->is_array() || it->empty())
                                    continue;
                                auto e = std::move((*it)[0]);
                                e["node"] = n.node;
                                return answer(r, 200,
                                              e.dump(-1, ' ', false,
                                                     nlohmann::json::error_handler_t::replace));
                            }
                            // Not found: and whether every node could say so.
                            nlohmann::json e{{"error", "not_found"},
                                             {"detail", "no such connection"}};
                            detail::add_cluster_status(e, a);
                            answer(r, 404, e.dump());
                        });
                } else {
                    answer(r, 404, R"({"error":"not_found","detail":"no such connection"})");
                }
            });
            return true;
        }
        if constexpr (has_backplane) {
            admin_connections(f, [this, answer, r, f](nlohmann::json local, std::size_t) mutable {
                admin_cluster_connections(
                    f, std::move(local), [answer, r](nlohmann::json j) mutable {
                        answer(r, 200,
                               j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                    });
            });
        } else {
            admin_connections(f, [answer, r](nlohmann::json j, std::size_t) mutable {
                answer(r, 200, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            });
        }
        return true;
    }
    case detail::admin_route::disconnect: {
        nlohmann::json j;
        if (auto e =
                detail::parse_object(body, j, {"user_id", "connection_ids", "topic", "reason"}))
            return bad(e->error, e->detail);
        const int selectors = int(j.contains("user_id")) + int(j.contains("connection_ids")) +
                              int(j.contains("topic"));
        if (selectors != 1)
            return bad(selectors == 0 ? "missing_selector" : "too_many_selectors",
                       "give exactly one of user_id, connection_ids, topic");
        std::string reason = "disconnected by an administrator";
        if (j.contains("reason")) {
            if (!j["reason"].is_string())
                return bad("bad_field_type", "reason must be a string");
            reason = j["reason"].get<std::string>();
            if (reason.size() > 123)
                return bad("reason_too_long", "a close reason fits in 123 bytes");
        }
        std::function<bool(session_type&)> select;
        std::string target;
        cluster_selector cluster; // the same selection, for every node (with a backplane)
        if (j.contains("user_id")) {
            if (!j["user_id"].is_string())
                return bad("bad_field_type", "user_id must be a string");
            auto user = j["user_id"].get<std::string>();
            target = "user_id=" + user;
            cluster = {.by = cluster_selector::kind::user, .keys = {user}};
            select = [user](session_type& c) { return c.data().user_id == user; };
        } else if (j.contains("topic")) {
            if (!j["topic"].is_string())
                return bad("bad_field_type", "topic must be a string");
            auto topic = j["topic"].get<std::string>();
            target = "topic=" + topic;
            cluster = {.by = cluster_selector::kind::topic, .keys = {topic}};
            select = [topic](session_type& c) { return c.data().subscribed(topic); };
        } else {
            if (!j["connection_ids"].is_array())
                return bad("bad_field_type", "connection_ids must be an array of strings");
            std::vector<std::uint64_t> ids;
            for (auto& v : j["connection_ids"]) {
                if (!v.is_string())
                    return bad("bad_field_type", "connection_ids must be an array of strings");
                auto id = detail::parse_id_hex(v.get<std::string>());
                if (!id)
                    return bad("bad_connection_id", v.get<std::string>());
                ids.push_back(*id);
                cluster.keys.push_back(v.get<std::string>());
            }
            target = "connection_ids=" + std::to_string(ids.size());
            cluster.by = cluster_selector::kind::ids;
            select = [ids](session_type& c) {
                return std::find(ids.begin(), ids.end(), c.id()) != ids.end();
            };
        }
        auto r = s.defer_http();
        if constexpr (has_backplane) {
            // On every node: {"disconnected": total, "nodes": {node: n}, "missing": [nodes that
            // did not answer by the deadline]}.
            (void)select;
            node_.cluster_disconnect(
                std::move(cluster), close_codes::disconnected, reason, admin_deadline(),
                [this, answer, r, target, remote](cluster_answer a) mutable {
                    std::uint64_t total = 0;
                    auto nodes = nlohmann::json::object();
                    for (const auto& n : a.answered) {
                        std::uint64_t k = 0;
                        if (n.result.is_object())
                            if (auto it = n.result.find("disconnected");
                                it != n.result.end() && it->is_number_unsigned())
                                k = it->template get<std::uint64_t>();
                        total += k;
                        nodes[n.node] = k;
                    }
                    pier::log::admin_action(log_, "disconnect", target, total, remote);
                    nlohmann::json j{{"disconnected", total}, {"nodes", std::move(nodes)}};
                    detail::add_cluster_status(j, a);
                    answer(r, 200,
                           j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                });
            return true;
        }
        disconnect(std::move(select), close_codes::disconnected, reason,
                   [this, answer, r, target, remote](std::size_t n) mutable {
                       pier::log::admin_action(log_, "disconnect", target, n, remote);
                       answer(r, 200, R"({"disconnected":)" + std::to_string(n) + "}");
                   });
        return true;
    }
    case detail::admin_route::cleanup: {
        auto r = s.defer_http();
        cleanup([this, answer, r, remote](std::size_t n) mutable {
            pier::log::admin_action(log_, "cleanup", "all", n, remote);
            answer(r, 200, R"({"removed":)" + std::to_string(n) + "}");
        });
        return true;
    }
    case detail::admin_route::broadcast: {
        nlohmann::json j;
        if (auto e = detail::parse_object(body, j, {"topic", "user_id", "message_type", "data"}))
            return bad(e->error, e->detail);
        const int targets = int(j.contains("topic")) + int(j.contains("user_id"));
        if (targets != 1)
            return bad(targets == 0 ? "missing_target" : "too_many_targets",
                       "give exactly one of topic, user_id");
        const char* key = j.contains("topic") ? "topic" : "user_id";
        if (!j[key].is_string() || j[key].get<std::string>().empty())
            return bad("bad_field_type", std::string(key) + " must be a non-empty string");
        std::string type = "data";
        if (j.contains("message_type")) {
            if (!j["message_type"].is_string())
                return bad("bad_field_type", "message_type must be a string");
            type = j["message_type"].get<std::string>();
            if (!detail::valid_type_name(type))
                return bad("bad_message_type", "1 to 64 of A-Z a-z 0-9 _ . : -");
        }
        std::string data;
        if (j.contains("data"))
            data = codec_type::to_data(j["data"]);
        const auto name = j[key].get<std::string>();
        auto r = s.defer_http();
        const outbound env{.type = message_type::data, .type_name = type, .data = data};
        const auto target = std::string(key) + "=" + name;
        auto done = [this, answer, r, target, remote](const send_report& rep) mutable {
            pier::log::admin_action(log_, "broadcast", target, rep.delivered, remote);
            answer(r, 200, R"({"delivered":)" + std::to_string(rep.delivered) + "}");
        };
        if (j.contains("topic"))
            send(target_kind::topic, name, {}, env, {}, std::move(done));
        else
            send(target_kind::user, name, {}, env, {}, std::move(done));
        return true;
    }
    default:
        break;
    }
    http::append_json_error(out, 404, "not_found", "", o);
    s.send_http(out);
    return true;
}

template <class H, class P>
std::optional<detail::body_error> pool_engine<H, P>::parse_filter(std::string_view query,
                                                                  connection_filter& f) {
    for (const auto& p : http::query_params(query)) {
        std::string v;
        if (!http::percent_decode(p.value, v, true, 1024))
            return detail::body_error{"bad_parameter", std::string(p.name)};
        const auto number = [&](std::uint64_t& out) {
            auto r = std::from_chars(v.data(), v.data() + v.size(), out);
            return !v.empty() && r.ec == std::errc{} && r.ptr == v.data() + v.size();
        };
        if (p.name == "user_id") {
            f.user_id = std::move(v);
        } else if (p.name == "topic") {
            f.topic = std::move(v);
        } else if (p.name == "state") {
            if (v != "connecting" && v != "open" && v != "closing" && v != "closed")
                return detail::body_error{"bad_state", "connecting, open, closing or closed"};
            f.state = std::move(v);
        } else if (p.name == "idle_over_ms") {
            std::uint64_t n = 0;
            if (!number(n))
                return detail::body_error{"bad_idle_over_ms", "a non-negative integer"};
            f.idle_over_ms = static_cast<std::int64_t>(n);
        } else if (p.name == "limit") {
            std::uint64_t n = 0;
            if (!number(n) || n == 0 || n > 1000)
                return detail::body_error{"bad_limit", "an integer from 1 to 1000"};
            f.limit = n;
        } else if (p.name == "offset") {
            std::uint64_t n = 0;
            if (!number(n))
                return detail::body_error{"bad_offset", "a non-negative integer"};
            f.offset = n;
        } else {
            return detail::body_error{"unknown_parameter", std::string(p.name)};
        }
    }
    return std::nullopt;
}

template <class H, class P>
nlohmann::json pool_engine<H, P>::describe(session_type& c, std::int64_t now_ms) {
    (void)now_ms;
    const auto& d = c.data();
    nlohmann::json e;
    e["connection_id"] = detail::id_hex(c.id());
    e["user_id"] = d.user_id;
    auto topics = nlohmann::json::array();
    for (auto& mm : d.topics)
        topics.push_back(mm.t->name);
    e["topics"] = std::move(topics);
    e["state"] = to_string(state_of(c));
    const auto ep = c.remote_endpoint();
    e["remote_address"] = ep.address().to_string() + ":" + std::to_string(ep.port());
    e["connected_at"] = detail::rfc3339(d.connected_at_us / 1000);
    e["last_activity"] = detail::rfc3339(d.last_activity_ms);
    e["messages_sent"] = d.messages_out;
    e["messages_received"] = d.messages_in;
    e["errors"] = d.errors;
    auto meta = nlohmann::json::object();
    for (auto& [k, v] : d.metadata)
        meta[k] = nlohmann::json::parse(v, nullptr, false);
    e["metadata"] = std::move(meta);
    return e;
}

template <class H, class P>
void pool_engine<H, P>::admin_connections(connection_filter f,
                                          std::function<void(nlohmann::json, std::size_t)> done) {
    const auto now = detail::system_ms();
    struct row {
        std::int64_t connected;
        std::uint64_t id;
        nlohmann::json entry;
    };
    auto filter = std::make_shared<connection_filter>(std::move(f));
    gather(
        *srv_,
        [this, filter, now](std::size_t i) {
            std::vector<row> rows;
            const auto pick = [&](session_type& c) {
                const auto& d = c.data();
                if (filter->id && c.id() != *filter->id)
                    return;
                if (!filter->user_id.empty() && d.user_id != filter->user_id)
                    return;
                if (!filter->topic.empty() && !d.subscribed(filter->topic))
                    return;
                if (!filter->state.empty() && to_string(state_of(c)) != filter->state)
                    return;
                if (filter->idle_over_ms >= 0 && now - d.last_activity_ms <= filter->idle_over_ms)
                    return;
                rows.push_back({d.connected_at_us, c.id(), describe(c, now)});
            };
            auto& st = local(i);
            if (filter->id) {
                if (auto it = st.ids.find(*filter->id); it != st.ids.end())
                    pick(*it->second);
            } else {
                for (auto& [id, c] : st.ids)
                    pick(*c);
            }
            return rows;
        },
        [filter, done = std::move(done)](std::vector<std::vector<row>> parts) {
            std::vector<row> all;
            for (auto& p : parts)
                for (auto& r : p)
                    all.push_back(std::move(r));
            std::sort(all.begin(), all.end(), [](const row& a, const row& b) {
                // Newest first: what an operator looks for is usually what just happened.
                return a.connected != b.connected ? a.connected > b.connected : a.id < b.id;
            });
            const std::size_t total = all.size();
            auto list = nlohmann::json::array();
            for (std::size_t k = filter->offset; k < all.size() && list.size() < filter->limit; ++k)
                list.push_back(std::move(all[k].entry));
            nlohmann::json j;
            j["connections"] = std::move(list);
            j["total"] = total;
            done(std::move(j), total);
        });
}

template <class H, class P>
auto pool_engine<H, P>::filter_of(const nlohmann::json& args) -> connection_filter {
    connection_filter f;
    f.limit = detail::survey_limit(args);
    f.user_id = detail::survey_string(args, "user_id");
    f.topic = detail::survey_string(args, "topic");
    f.state = detail::survey_string(args, "state");
    if (auto id = detail::survey_string(args, "id"); !id.empty())
        // An id that does not parse matches nothing rather than everything.
        f.id = detail::parse_id_hex(id).value_or(0);
    if (args.is_object()) {
        if (auto it = args.find("idle_over_ms"); it != args.end() && it->is_number_unsigned())
            f.idle_over_ms = static_cast<std::int64_t>(
                std::min<std::uint64_t>(it->get<std::uint64_t>(), INT64_MAX));
        if (auto it = args.find("offset"); it != args.end() && it->is_number_unsigned())
            f.offset = static_cast<std::size_t>(it->get<std::uint64_t>());
    }
    return f;
}

template <class H, class P> nlohmann::json pool_engine<H, P>::args_of(const connection_filter& f) {
    nlohmann::json j{{"limit", f.limit}, {"offset", f.offset}};
    if (f.id)
        j["id"] = detail::id_hex(*f.id);
    if (!f.user_id.empty())
        j["user_id"] = f.user_id;
    if (!f.topic.empty())
        j["topic"] = f.topic;
    if (!f.state.empty())
        j["state"] = f.state;
    if (f.idle_over_ms >= 0)
        j["idle_over_ms"] = f.idle_over_ms;
    return j;
}

template <class H, class P>
void pool_engine<H, P>::admin_cluster_connections(connection_filter f, nlohmann::json local,
                                                  std::function<void(nlohmann::json)> done) {
    // A page of the merged listing needs each node's newest offset + limit entries; past the
    // window the page is cut and says so ("truncated").
    const std::size_t want = f.offset + f.limit;
    const std::size_t depth = std::min(want, detail::cluster_listing_window);
    auto ask = f;
    ask.offset = 0;
    ask.limit = depth;
    node_.cluster_survey(
        "connections", args_of(ask), admin_deadline(),
        [f, depth, want, local = std::move(local),
         done = std::move(done)](cluster_answer a) mutable {
            std::vector<nlohmann::json> all;
            std::uint64_t total = 0;
            auto nodes = nlohmann::json::array();
            for (auto& n : a.answered) {
                nodes.push_back(n.node);
                auto& res = n.result;
                if (!res.is_object())
                    continue;
                if (auto t = res.find("total"); t != res.end() && t->is_number_unsigned())
                    total += t->template get<std::uint64_t>();
                auto list = res.find("connections");
                if (list == res.end() || !list->is_array())
                    continue;
                for (auto& e : *list) {
                    if (!e.is_object())
                        continue;
                    e["node"] = n.node;
                    all.push_back(std::move(e));
                }
            }
            // Newest first, as each node's listing; stable, so a node's own order stays.
            const auto at = [](const nlohmann::json& e) {
                auto it = e.find("connected_at");
                return it != e.end() && it->is_string() ? it->template get<std::string>()
                                                        : std::string();
            };
            std::stable_sort(
                all.begin(), all.end(),
                [&](const nlohmann::json& x, const nlohmann::json& y) { return at(x) > at(y); });
            auto page = nlohmann::json::array();
            for (std::size_t k = f.offset; k < all.size() && k < depth && page.size() < f.limit;
                 ++k)
                page.push_back(std::move(all[k]));
            nlohmann::json c{
                {"connections", std::move(page)}, {"total", total}, {"nodes", std::move(nodes)}};
            if (want > depth)
                c["truncated"] = true;
            detail::add_cluster_status(c, a);
            local["cluster"] = std::move(c);
            done(std::move(local));
        });
}

template <class H, class P> void pool_engine<H, P>::register_backplane_metrics() {
    if constexpr (has_backplane) {
        const std::string node(node_.node_id());
        const auto series = [&](bool counter, std::string_view name, std::string_view help,
                                auto field) {
            auto fn = [this, field]() { return static_cast<double>(field(node_.state())); };
            if (counter)
                metrics_reg_.add_counter_family(name, help, {"node"}).add_callback({node}, fn);
            else
                metrics_reg_.add_gauge_family(name, help, {"node"}).add_callback({node}, fn);
        };
        using st = const backplane_state&;
        series(false, "pier_backplane_connected",
               "1 when Redis is reachable and the last end-to-end probe came back",
               [](st s) { return s.connected ? 1 : 0; });
        series(false, "pier_backplane_probe_rtt_seconds",
               "Round trip of the last probe through this node's own subscription (lag)",
               [](st s) { return static_cast<double>(s.probe_rtt_us) / 1e6; });
        series(true, "pier_backplane_probe_failures_total",
               "Probes published but not received in time", [](st s) { return s.probe_failures; });
        series(true, "pier_backplane_resets_total", "Redis clients replaced after probe failures",
               [](st s) { return s.resets; });
        series(true, "pier_backplane_publishes_total", "Messages published to Redis",
               [](st s) { return s.publishes; });
        series(true, "pier_backplane_publish_errors_total",
               "Publishes that failed (Redis down, queue full, error reply)",
               [](st s) { return s.publish_errors; });
        series(true, "pier_backplane_messages_received_total", "Messages received from Redis",
               [](st s) { return s.messages_in; });
        series(true, "pier_backplane_bad_messages_total",
               "Messages from Redis that were malformed and dropped",
               [](st s) { return s.bad_messages; });
        series(false, "pier_backplane_channels",
               "Channels subscribed (topics and users with local members, control)",
               [](st s) { return s.channels; });
        series(true, "pier_backplane_disconnects_total", "Connections to Redis that went down",
               [](st s) { return s.disconnects; });
        series(true, "pier_backplane_resubscribes_total",
               "Channels confirmed again after a reconnect or a slot move",
               [](st s) { return s.resubscribes; });
        series(true, "pier_backplane_resyncs_total",
               "Topic resynchronisations from the history (after resubscribes and gaps)",
               [](st s) { return s.resyncs; });
        series(true, "pier_backplane_recoveries_total", "Subscribes with `since`",
               [](st s) { return s.recoveries; });
        series(true, "pier_backplane_recovery_failures_total",
               "Recoveries answered with an error (epoch_changed, history_trimmed, "
               "recovery_unavailable)",
               [](st s) { return s.recovery_failures; });
        series(false, "pier_backplane_outgoing_bytes",
               "Bytes of publishes waiting for the node's Redis thread",
               [](st s) { return s.outgoing_bytes; });
    }
}

template <class H, class P>
void pool_engine<H, P>::admin_stats(std::function<void(std::string)> done) {
    struct counts {
        std::array<std::uint64_t, 4> states{};
    };
    gather(
        *srv_,
        [this](std::size_t i) {
            counts c;
            srv_->for_each_session(
                i, [&](auto& s) { ++c.states[static_cast<std::size_t>(state_of(s))]; });
            return c;
        },
        [this, done = std::move(done)](std::vector<counts> parts) {
            const auto f = figures();
            nlohmann::json j;
            j["active_connections"] = f.active;
            j["total_connections"] = f.total;
            j["users"] = f.users;
            j["messages_sent"] = f.messages_sent;
            j["messages_failed"] = f.messages_failed;
            j["messages_received"] = f.messages_received;
            auto topics = nlohmann::json::object();
            for (auto& [t, n] : topic_counts())
                topics[t] = n;
            j["topics"] = std::move(topics);
            std::array<std::uint64_t, 4> st{};
            for (auto& p : parts)
                for (std::size_t k = 0; k < st.size(); ++k)
                    st[k] += p.states[k];
            auto states = nlohmann::json::object();
            for (std::size_t k = 0; k < st.size(); ++k)
                states[std::string(to_string(static_cast<connection_state_name>(k)))] = st[k];
            j["states"] = std::move(states);
            j["cleanup"] = {{"runs", f.cleanup_runs}, {"removed", f.cleanup_removed}};
            const auto& l = opts_.limits;
            const std::pair<std::string_view, std::uint64_t> limits[] = {
                {"max_connections", l.max_connections},
                {"max_per_user", l.max_per_user},
                {"max_per_ip", l.max_per_ip},
                {"connect_rate_per_ip", l.connect_rate_per_ip},
                {"max_per_topic", l.max_per_topic},
                {"max_topics_per_connection", l.max_topics_per_connection},
                {"message_rate", l.message_rate},
                {"max_message_size", l.max_message_size},
                {"max_errors", l.max_errors},
            };
            auto lj = nlohmann::json::object();
            for (auto [name, value] : limits) {
                const auto it = f.refused.find(name);
                lj[std::string(name)] = {{"limit", value},
                                         {"refused", it == f.refused.end() ? 0 : it->second}};
            }
            j["limits"] = std::move(lj);
            if constexpr (has_backplane)
                j["backplane"] = to_json(node_.state());
            done(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        });
}

} // namespace pier::pool
