// Unit tests for pier/metrics/registry.hpp and pool.hpp: the text exposition format 0.0.4
// byte for byte, escaping, histogram bucket semantics, and every registration refusal.
#include <pier/metrics/pool.hpp>
#include <pier/metrics/registry.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace metrics = pier::metrics;

namespace {

// The errc a registration throws, or nullopt-like sentinel when it does not throw.
template <class F> std::string refusal(F&& f) {
    try {
        f();
    } catch (const metrics::registration_error& e) {
        return std::string(metrics::to_string(e.code()));
    }
    return "accepted";
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics_registry)

BOOST_AUTO_TEST_CASE(small_registry_exact_text) {
    metrics::registry reg;
    // Registered out of name order: the output is sorted by family name.
    auto& temp = reg.add_gauge("room_temperature_celsius", "Temperature.");
    auto& req = reg.add_counter_family("http_requests_total", "Requests.", {"method", "code"});
    req.add({"GET", "200"}).inc(3);
    req.add({"POST", "500"}).inc();
    temp.set(21.5);
    auto& h = reg.add_histogram("request_duration_seconds", "Latency.", {0.25, 0.5, 1});
    for (double v : {0.125, 0.25, 0.375, 2.0})
        h.observe(v);
    const std::string expected = "# HELP http_requests_total Requests.\n"
                                 "# TYPE http_requests_total counter\n"
                                 "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
                                 "http_requests_total{method=\"POST\",code=\"500\"} 1\n"
                                 "# HELP request_duration_seconds Latency.\n"
                                 "# TYPE request_duration_seconds histogram\n"
                                 "request_duration_seconds_bucket{le=\"0.25\"} 2\n"
                                 "request_duration_seconds_bucket{le=\"0.5\"} 3\n"
                                 "request_duration_seconds_bucket{le=\"1\"} 3\n"
                                 "request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                                 "request_duration_seconds_sum 2.75\n"
                                 "request_duration_seconds_count 4\n"
                                 "# HELP room_temperature_celsius Temperature.\n"
                                 "# TYPE room_temperature_celsius gauge\n"
                                 "room_temperature_celsius 21.5\n";
    BOOST_TEST(reg.text() == expected);
    // write() appends.
    std::string out = "x";
    reg.write(out);
    BOOST_TEST(out == "x" + expected);
}

BOOST_AUTO_TEST_CASE(escaping_of_help_and_label_values) {
    metrics::registry reg;
    auto& f = reg.add_counter_family("odd_total", "Back\\slash, \"quotes\" and a\nnewline.", {"v"});
    f.add({"a\\b"}).inc();
    f.add({"say \"hi\""}).inc(2);
    f.add({"two\nlines"}).inc(3);
    f.add({"caf\xc3\xa9"}).inc(4);
    BOOST_TEST(reg.text() == "# HELP odd_total Back\\\\slash, \"quotes\" and a\\nnewline.\n"
                             "# TYPE odd_total counter\n"
                             "odd_total{v=\"a\\\\b\"} 1\n"
                             "odd_total{v=\"say \\\"hi\\\"\"} 2\n"
                             "odd_total{v=\"two\\nlines\"} 3\n"
                             "odd_total{v=\"caf\xc3\xa9\"} 4\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_le_inclusive) {
    metrics::registry reg;
    auto& h = reg.add_histogram("h_seconds", "h", {1, 2, 4});
    auto count = [&](std::size_t i) { return h.collect().cumulative.at(i); };
    h.observe(1); // exactly on a bound: that bucket (le = "less or equal")
    BOOST_TEST(count(0) == 1u);
    h.observe(1.5);
    BOOST_TEST(count(0) == 1u);
    BOOST_TEST(count(1) == 2u);
    h.observe(-3); // below everything: the first bucket
    BOOST_TEST(count(0) == 2u);
    h.observe(100); // above every bound: +Inf only
    BOOST_TEST(count(2) == 3u);
    BOOST_TEST(count(3) == 4u);
    h.observe(std::numeric_limits<double>::quiet_NaN()); // ignored
    h.observe(std::numeric_limits<double>::infinity());  // +Inf bucket
    const auto s = h.collect();
    BOOST_TEST(s.count == 5u);
    BOOST_TEST(s.cumulative.back() == s.count);
    BOOST_TEST(std::isinf(s.sum));
    for (std::size_t i = 1; i < s.cumulative.size(); ++i)
        BOOST_TEST(s.cumulative[i] >= s.cumulative[i - 1]);
}

BOOST_AUTO_TEST_CASE(values_written_as_go_would) {
    metrics::registry reg;
    auto& g = reg.add_gauge_family("g", "g", {"k"});
    g.add({"a"}).set(1e6);
    g.add({"b"}).set(0.0001);
    g.add({"c"}).set(1e-05);
    g.add({"d"}).set(std::numeric_limits<double>::quiet_NaN());
    g.add({"e"}).set(std::numeric_limits<double>::infinity());
    g.add({"f"}).set(-std::numeric_limits<double>::infinity());
    g.add({"g"}).set(-2.5);
    g.add({"h"}).set(123456);
    BOOST_TEST(reg.text() == "# HELP g g\n# TYPE g gauge\n"
                             "g{k=\"a\"} 1e+06\n"
                             "g{k=\"b\"} 0.0001\n"
                             "g{k=\"c\"} 1e-05\n"
                             "g{k=\"d\"} NaN\n"
                             "g{k=\"e\"} +Inf\n"
                             "g{k=\"f\"} -Inf\n"
                             "g{k=\"g\"} -2.5\n"
                             "g{k=\"h\"} 123456\n");
    auto& h = reg.add_histogram("small_seconds", "s", {0.00001, 0.0001, 2.5, 1e6});
    const std::string text = reg.text();
    BOOST_TEST(text.find("small_seconds_bucket{le=\"1e-05\"} 0\n") != std::string::npos);
    BOOST_TEST(text.find("small_seconds_bucket{le=\"0.0001\"} 0\n") != std::string::npos);
    BOOST_TEST(text.find("small_seconds_bucket{le=\"2.5\"} 0\n") != std::string::npos);
    BOOST_TEST(text.find("small_seconds_bucket{le=\"1e+06\"} 0\n") != std::string::npos);
    (void)h;
}

BOOST_AUTO_TEST_CASE(const_labels_come_first_and_histograms_add_le_last) {
    metrics::registry reg({.stripes = 2, .const_labels = {{"pool", "chat"}}});
    BOOST_TEST(reg.stripes() == 2u);
    reg.add_counter("a_total", "a").inc();
    reg.add_counter_family("b_total", "b", {"reason"}).add({"timeout"}).inc(2);
    reg.add_histogram_family("c_seconds", "c", {1}, {"op"}).add({"x"}).observe(0.5);
    BOOST_TEST(reg.text() == "# HELP a_total a\n# TYPE a_total counter\n"
                             "a_total{pool=\"chat\"} 1\n"
                             "# HELP b_total b\n# TYPE b_total counter\n"
                             "b_total{pool=\"chat\",reason=\"timeout\"} 2\n"
                             "# HELP c_seconds c\n# TYPE c_seconds histogram\n"
                             "c_seconds_bucket{pool=\"chat\",op=\"x\",le=\"1\"} 1\n"
                             "c_seconds_bucket{pool=\"chat\",op=\"x\",le=\"+Inf\"} 1\n"
                             "c_seconds_sum{pool=\"chat\",op=\"x\"} 0.5\n"
                             "c_seconds_count{pool=\"chat\",op=\"x\"} 1\n");
    BOOST_TEST(refusal([&] { reg.add_counter_family("d_total", "d", {"pool"}); }) ==
               "duplicate_label_name");
}

BOOST_AUTO_TEST_CASE(callbacks_are_read_at_each_scrape) {
    metrics::registry reg;
    double topics = 3;
    reg.add_gauge_family("topics", "Topics.", {}).add_callback({}, [&] { return topics; });
    BOOST_TEST(reg.text() == "# HELP topics Topics.\n# TYPE topics gauge\ntopics 3\n");
    topics = 4;
    BOOST_TEST(reg.text() == "# HELP topics Topics.\n# TYPE topics gauge\ntopics 4\n");
    // A series is either a callback or a value, not both.
    BOOST_TEST(refusal([&] { reg.add_gauge_family("topics", "Topics.", {}).add({}); }) ==
               "name_taken");
}

BOOST_AUTO_TEST_CASE(families_without_series_are_not_written) {
    metrics::registry reg;
    reg.add_counter_family("empty_total", "nothing yet", {"reason"});
    BOOST_TEST(reg.text().empty());
}

BOOST_AUTO_TEST_CASE(series_are_get_or_create_and_registration_is_idempotent) {
    metrics::registry reg;
    auto& f = reg.add_counter_family("x_total", "x", {"k"});
    auto& a = f.add({"v"});
    BOOST_TEST(&a == &f.add({"v"}));
    BOOST_TEST(&f == &reg.add_counter_family("x_total", "x", {"k"}));
    a.inc(5);
    BOOST_TEST(reg.add_counter_family("x_total", "x", {"k"}).add({"v"}).value() == 5u);
    auto& h = reg.add_histogram("h_seconds", "h", {1, 2});
    BOOST_TEST(&h == &reg.add_histogram("h_seconds", "h", {1, 2, HUGE_VAL}));
}

BOOST_AUTO_TEST_CASE(names_are_validated) {
    BOOST_TEST(metrics::valid_metric_name("pier_ws_connections"));
    BOOST_TEST(metrics::valid_metric_name("a:b_c1"));
    BOOST_TEST(metrics::valid_metric_name("_x"));
    BOOST_TEST(!metrics::valid_metric_name(""));
    BOOST_TEST(!metrics::valid_metric_name("1abc"));
    BOOST_TEST(!metrics::valid_metric_name("a-b"));
    BOOST_TEST(!metrics::valid_metric_name("a b"));
    BOOST_TEST(!metrics::valid_metric_name("caf\xc3\xa9"));
    BOOST_TEST(metrics::valid_label_name("reason"));
    BOOST_TEST(!metrics::valid_label_name("a:b"));
    BOOST_TEST(!metrics::valid_label_name("9"));
    BOOST_TEST(!metrics::valid_label_name(""));

    metrics::registry reg;
    BOOST_TEST(refusal([&] { reg.add_counter("bad-name", "x"); }) == "invalid_metric_name");
    BOOST_TEST(refusal([&] { reg.add_counter_family("a_total", "x", {"bad-label"}); }) ==
               "invalid_label_name");
    BOOST_TEST(refusal([&] { reg.add_counter_family("a_total", "x", {"__name__"}); }) ==
               "reserved_label_name");
    BOOST_TEST(refusal([&] { reg.add_histogram_family("h", "x", {1}, {"le"}); }) ==
               "reserved_label_name");
    BOOST_TEST(refusal([&] {
                   reg.add_counter_family("a_total", "x", {"k", "k"});
               }) == "duplicate_label_name");
    BOOST_TEST(refusal([&] { reg.add_counter("a_total", "bad \xff help"); }) == "invalid_text");
    BOOST_TEST(refusal([&] {
                   metrics::registry r({.const_labels = {{"__x", "y"}}});
               }) == "reserved_label_name");
    BOOST_TEST(refusal([&] {
                   metrics::registry r({.const_labels = {{"x", "\xc0\xaf"}}});
               }) == "invalid_text");
    // "le" is an ordinary label name outside histograms.
    BOOST_TEST(refusal([&] { reg.add_counter_family("le_total", "x", {"le"}); }) == "accepted");
}

BOOST_AUTO_TEST_CASE(label_values_are_checked) {
    metrics::registry reg;
    auto& f = reg.add_counter_family("a_total", "x", {"k", "l"});
    BOOST_TEST(refusal([&] { f.add({"only one"}); }) == "label_count_mismatch");
    BOOST_TEST(refusal([&] { f.add({"a", "b", "c"}); }) == "label_count_mismatch");
    BOOST_TEST(refusal([&] { f.add({"a", "\xed\xa0\x80"}); }) == "invalid_text"); // surrogate
    BOOST_TEST(refusal([&] { f.add({"", ""}); }) == "accepted");
}

BOOST_AUTO_TEST_CASE(names_cannot_be_taken_twice) {
    metrics::registry reg;
    reg.add_counter("x_total", "x");
    BOOST_TEST(refusal([&] { reg.add_gauge("x_total", "x"); }) == "name_taken");
    BOOST_TEST(refusal([&] { reg.add_counter("x_total", "other help"); }) == "name_taken");
    BOOST_TEST(refusal([&] { reg.add_counter_family("x_total", "x", {"k"}); }) == "name_taken");
    reg.add_histogram("lat", "l", {1});
    BOOST_TEST(refusal([&] { reg.add_histogram("lat", "l", {2}); }) == "name_taken");
    // A histogram's sample names collide both ways.
    BOOST_TEST(refusal([&] { reg.add_counter("lat_count", "c"); }) == "name_taken");
    BOOST_TEST(refusal([&] { reg.add_gauge("lat_bucket", "c"); }) == "name_taken");
    reg.add_gauge("q_sum", "q");
    BOOST_TEST(refusal([&] { reg.add_histogram("q", "q", {1}); }) == "name_taken");
}

BOOST_AUTO_TEST_CASE(buckets_are_validated) {
    metrics::registry reg;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {HUGE_VAL}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {1, 1}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {2, 1}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {nan}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {-HUGE_VAL, 1}); }) == "invalid_buckets");
    BOOST_TEST(refusal([&] { reg.add_histogram("a", "a", {-1, 0, 1}); }) == "accepted");
}

BOOST_AUTO_TEST_CASE(series_per_family_are_bounded) {
    metrics::registry reg({.max_series_per_family = 2});
    auto& f = reg.add_counter_family("a_total", "a", {"k"});
    f.add({"1"});
    f.add({"2"});
    f.add({"2"}); // existing: no new series
    BOOST_TEST(refusal([&] { f.add({"3"}); }) == "too_many_series");
}

BOOST_AUTO_TEST_CASE(stripes_resolve_to_a_power_of_two) {
    BOOST_TEST(metrics::registry({.stripes = 3}).stripes() == 4u);
    BOOST_TEST(metrics::registry({.stripes = 1}).stripes() == 1u);
    const auto automatic = metrics::registry().stripes();
    BOOST_TEST(automatic >= 1u);
    BOOST_TEST(automatic <= 64u);
    BOOST_TEST((automatic & (automatic - 1)) == 0u);
    // Any number of cells sums to the same value.
    metrics::registry one({.stripes = 1}), many({.stripes = 16});
    one.add_counter("c_total", "c").inc(7);
    many.add_counter("c_total", "c").inc(7);
    BOOST_TEST(one.text() == many.text());
}

BOOST_AUTO_TEST_CASE(pool_metrics_register_every_series_up_front) {
    metrics::registry reg;
    metrics::pool_metrics m(reg);
    m.closed(metrics::close_reason::slow_consumer).inc();
    m.refused(metrics::refusal_limit::max_connections_per_user).inc(2);
    m.connections.inc();
    m.heartbeat_rtt.observe(0.003);
    const std::string text = reg.text();
    for (std::size_t i = 0; i < metrics::close_reason_count; ++i) {
        const auto r = std::string(metrics::to_string(static_cast<metrics::close_reason>(i)));
        BOOST_TEST(text.find("pier_ws_connections_closed_total{reason=\"" + r + "\"} ") !=
                   std::string::npos);
    }
    for (std::size_t i = 0; i < metrics::refusal_limit_count; ++i) {
        const auto l = std::string(metrics::to_string(static_cast<metrics::refusal_limit>(i)));
        BOOST_TEST(text.find("pier_ws_connections_refused_total{limit=\"" + l + "\"} ") !=
                   std::string::npos);
    }
    BOOST_TEST(text.find("pier_ws_connections_closed_total{reason=\"slow_consumer\"} 1\n") !=
               std::string::npos);
    BOOST_TEST(text.find("pier_ws_connections_refused_total{limit=\"max_connections_per_user\"} "
                         "2\n") != std::string::npos);
    BOOST_TEST(text.find("pier_ws_connections 1\n") != std::string::npos);
    BOOST_TEST(text.find("pier_ws_heartbeat_rtt_seconds_bucket{le=\"0.0025\"} 0\n") !=
               std::string::npos);
    BOOST_TEST(text.find("pier_ws_heartbeat_rtt_seconds_bucket{le=\"0.005\"} 1\n") !=
               std::string::npos);
    // A second pool on the same registry gets the same series (idempotent registration).
    metrics::pool_metrics again(reg);
    BOOST_TEST(&again.connections == &m.connections);
    BOOST_TEST(metrics::content_type == "text/plain; version=0.0.4; charset=utf-8");
}

BOOST_AUTO_TEST_SUITE_END()
