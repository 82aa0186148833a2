// Micro-benchmarks: pier's HTTP/1.1 request-head parser (pier/http/request.hpp), on the request
// wrk sends in bench/run.py's HTTP scenarios and on a browser-sized one.
#include <pier/pier.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace {

const std::string wrk_request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

const std::string browser_request =
    "GET /static/app/main.3f9c2a.js?v=1700000000 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Accept: "
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/products/list?page=3&sort=price\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=8d4f0a1b2c3d4e5f60718293a4b5c6d7; theme=dark; consent=yes; "
    "_ga=GA1.2.1234567890.1700000000\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Cache-Control: no-cache\r\n"
    "Pragma: no-cache\r\n"
    "\r\n";

void parse(benchmark::State& state, const std::string& request) {
    pier::http::request_head head;
    for (auto _ : state) {
        auto result = pier::http::parse_request(request, head);
        benchmark::DoNotOptimize(result);
        benchmark::DoNotOptimize(head);
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(request.size()));
}

void http_head_wrk(benchmark::State& state) {
    parse(state, wrk_request);
}
void http_head_browser(benchmark::State& state) {
    parse(state, browser_request);
}

// The head arriving in two reads: the parser runs on the first half (incomplete), then again
// from the start on the whole head, as a connection does.
void http_head_browser_split(benchmark::State& state) {
    pier::http::request_head head;
    std::string_view whole = browser_request;
    std::string_view half = whole.substr(0, whole.size() / 2);
    for (auto _ : state) {
        auto first = pier::http::parse_request(half, head);
        benchmark::DoNotOptimize(first);
        auto second = pier::http::parse_request(whole, head);
        benchmark::DoNotOptimize(second);
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(whole.size()));
}

} // namespace

BENCHMARK(http_head_wrk);
BENCHMARK(http_head_browser);
BENCHMARK(http_head_browser_split);
