// Unit tests for pier/pool/dashboard.hpp: the page is self-contained (nothing loaded from
// elsewhere), writes data only through textContent, keeps the token out of URLs and
// localStorage, uses only the admin API paths the spec fixes, and has every data-testid the
// browser test (tests/peers/pool_dashboard.js) drives. The page's behaviour is that test's
// job; this one keeps a careless edit from breaking the rules the page lives by.
#include <pier/pool/dashboard.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

namespace pool = pier::pool;

namespace {

bool has(std::string_view needle) {
    return pool::dashboard_html.find(needle) != std::string_view::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_dashboard)

BOOST_AUTO_TEST_CASE(one_complete_document) {
    BOOST_TEST(pool::dashboard_html.starts_with("<!DOCTYPE html>\n"));
    BOOST_TEST(pool::dashboard_html.ends_with("</html>\n"));
    BOOST_TEST(has("<meta charset=\"utf-8\">"));
    BOOST_TEST(pool::dashboard_content_type == "text/html; charset=utf-8");
}

BOOST_AUTO_TEST_CASE(nothing_comes_from_elsewhere) {
    for (std::string_view banned : {"http://", "https://", "//cdn", "<script src", "<link",
                                    "@import", "url(", "<iframe", "<img"})
        BOOST_TEST(!has(banned), "the page contains " << banned);
}

BOOST_AUTO_TEST_CASE(data_goes_through_text_content_only) {
    for (std::string_view banned :
         {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
          "setTimeout(\"", "setInterval(\""})
        BOOST_TEST(!has(banned), "the page uses " << banned);
    BOOST_TEST(has("textContent"));
}

BOOST_AUTO_TEST_CASE(the_token_stays_in_the_tab) {
    BOOST_TEST(!has("localStorage"));
    BOOST_TEST(!has("document.cookie"));
    BOOST_TEST(!has("token="));
    BOOST_TEST(has("sessionStorage"));
    BOOST_TEST(has("\"Authorization\": \"Bearer \" + token"));
    BOOST_TEST(has("credentials: \"omit\""));
}

BOOST_AUTO_TEST_CASE(uses_the_admin_api_paths) {
    BOOST_TEST(has("const API = \"api/admin/websockets/\";"));
    for (std::string_view call :
         {"api(\"GET\", \"stats\")", "api(\"GET\", \"connections?\" + query())",
          "api(\"POST\", \"disconnect\", body)", "api(\"POST\", \"broadcast\", body)",
          "api(\"POST\", \"cleanup\")"})
        BOOST_TEST(has(call), "missing " << call);
    for (std::string_view field : {"active_connections",
                                   "total_connections",
                                   "users",
                                   "messages_sent",
                                   "messages_failed",
                                   "messages_received",
                                   "st.topics",
                                   "st.states",
                                   "st.limits",
                                   "cl.runs",
                                   "cl.removed",
                                   "connection_ids",
                                   "user_id",
                                   "message_type",
                                   "reason",
                                   "c.connection_id",
                                   "c.user_id",
                                   "c.topics",
                                   "c.state",
                                   "c.remote_address",
                                   "c.connected_at",
                                   "c.last_activity",
                                   "c.messages_sent",
                                   "c.messages_received",
                                   "c.errors",
                                   "c.metadata",
                                   "list.total",
                                   "r.disconnected",
                                   "r.delivered",
                                   "r.removed"})
        BOOST_TEST(has(field), "missing " << field);
    for (std::string_view q : {"\"user_id\", \"topic\", \"state\", \"idle_over_ms\"",
                               "p.set(\"limit\"", "p.set(\"offset\""})
        BOOST_TEST(has(q), "missing " << q);
}

BOOST_AUTO_TEST_CASE(every_test_id_is_there) {
    for (std::string_view id : {"token-input",
                                "token-submit",
                                "login-error",
                                "status",
                                "chart-connections",
                                "chart-messages",
                                "topics-table",
                                "topic-row",
                                "states-table",
                                "limits-table",
                                "filter-user_id",
                                "filter-topic",
                                "filter-state",
                                "filter-idle_over_ms",
                                "filter-apply",
                                "connections-table",
                                "connection-row",
                                "disconnect-connection",
                                "disconnect-user",
                                "connections-total",
                                "page-prev",
                                "page-next",
                                "broadcast-topic",
                                "broadcast-user_id",
                                "broadcast-type",
                                "broadcast-data",
                                "broadcast-submit",
                                "broadcast-result",
                                "cleanup-run",
                                "cleanup-result",
                                "logout"})
        BOOST_TEST(has("\"" + std::string(id) + "\""), "missing data-testid " << id);
    // The stat tiles are made from a list of keys, as stat-<key>.
    for (std::string_view key :
         {"active_connections", "total_connections", "users", "messages_sent", "messages_received",
          "messages_failed", "rate_in", "rate_out", "cleanup_runs", "cleanup_removed"})
        BOOST_TEST(has("[\"" + std::string(key) + "\", "), "missing stat tile " << key);
    BOOST_TEST(has("\"data-testid\": \"stat-\" + key"));
    BOOST_TEST(has("data-updates"));
}

BOOST_AUTO_TEST_CASE(safe_to_amalgamate_and_to_send) {
    // tools/amalgamate.py reads lines that start with '#' as preprocessor directives.
    std::string_view page = pool::dashboard_html;
    bool hash_line = false;
    for (std::size_t at = 0; at < page.size();) {
        const std::size_t nl = page.find('\n', at);
        std::string_view line = page.substr(at, nl - at);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            line.remove_prefix(1);
        hash_line = hash_line || line.starts_with("#");
        at = nl == std::string_view::npos ? page.size() : nl + 1;
    }
    BOOST_TEST(!hash_line);
    for (char c : pool::dashboard_content_security_policy)
        BOOST_TEST((c >= 0x20 && c < 0x7f));
    BOOST_TEST(pool::dashboard_content_security_policy.find("connect-src 'self'") !=
               std::string_view::npos);
}

BOOST_AUTO_TEST_SUITE_END()
