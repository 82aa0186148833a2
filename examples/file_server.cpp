// file_server: an HTTP/1.1 static file server. File bodies go out with sendfile(2): the bytes
// go from the page cache to the socket without entering the process.
//
//   file_server --root DIR [--index NAME] [--files sendfile|splice|copy]
//               [--cert FILE --key FILE [--kernel-tls on]]
//               [--send-buffer BYTES] [--tcp-info on] [common options]
//
// - GET and HEAD; keep-alive (HTTP/1.1, and HTTP/1.0 with Connection: keep-alive); pipelining.
// - Range: one range per request (RFC 9110 §14) answered 206, 416 with Content-Range
//   `bytes */size` when outside the file; several ranges get the whole file (RFC 9110 §14.2
//   allows it). If-Range with a date other than the file's Last-Modified gets the whole file.
// - If-Modified-Since (304), Last-Modified, Date, Content-Type by extension, Accept-Ranges.
// - Directories: `DIR/` serves DIR/index.html (--index, "" for none), else 403; `DIR` without
//   the slash is redirected (301) to `DIR/`.
// - Traversal: the path is percent-decoded and any ".." refused (403); files are opened with
//   openat2(RESOLVE_BENEATH) below --root, so symbolic links that lead out of it are refused
//   too (403); missing files are 404. Nothing outside --root is ever served.
// - --files splice|copy: the other ways pier can send a file, for comparison (bench/run.py).
//   Over TLS without kernel TLS (--kernel-tls on, where the kernel has it) files are read
//   and encrypted in user space.
// - --send-buffer: SO_SNDBUF for every connection (0 = the kernel's autotuning, the default;
//   see the README's guide before setting it). --tcp-info on: after each file, one line of
//   the connection's TCP_INFO (`pier: tcp_info …`), which bench/run.py's buffer benchmark reads.
// - On exit it prints how the bytes went (`pier: transfers: sendfile=… splice=… copied=…`).
//
// Try it:
//   file_server --root /usr/share/doc --port 8080 &
//   curl -v http://127.0.0.1:8080/bash/README
//   curl -r 0-99 http://127.0.0.1:8080/bash/README
#include "common/cli.hpp"

#include <pier/http/date.hpp>
#include <pier/http/path.hpp>
#include <pier/http/range.hpp>
#include <pier/pier.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct config {
    std::shared_ptr<const pier::file> root;
    std::string index = "index.html";
    bool tcp_info = false;
};

struct totals {
    std::atomic<std::uint64_t> sendfile{0}, ktls{0}, splice{0}, copied{0}, files{0}, fallbacks{0};
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch; };
        if (lower(a[i]) != lower(b[i]))
            return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Content-Type by extension: the types a static site serves. Everything else is
// application/octet-stream, which browsers download rather than interpret.
std::string_view content_type(std::string_view path) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 26> types{{
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mp3", "audio/mpeg"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tar", "application/x-tar"},
    }};
    const auto slash = path.rfind('/');
    const auto dot = path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
        return "application/octet-stream";
    const std::string_view ext = path.substr(dot + 1);
    for (const auto& [e, t] : types)
        if (iequals(ext, e))
            return t;
    return "application/octet-stream";
}

// Date: one formatting per second per thread.
std::string_view now_date() {
    thread_local std::chrono::sys_seconds cached{};
    thread_local pier::http::http_date text{};
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    if (now != cached) {
        cached = now;
        text = pier::http::format_http_date(now);
    }
    return text.view();
}

// Headers are built outside the coroutines: g++ 12 cannot hold an initializer list's array in a
// coroutine frame ("array used as initializer").
std::vector<pier::http::header> one_header(std::string_view name, std::string_view value) {
    return {{name, value}};
}

std::vector<pier::http::header> file_headers(std::string_view last_modified,
                                             std::string_view type) {
    return {
        {"Server", "pier"},     {"Date", now_date()},       {"Last-Modified", last_modified},
        {"Content-Type", type}, {"Accept-Ranges", "bytes"},
    };
}

std::vector<pier::http::header> error_headers() {
    return {{"Server", "pier"}, {"Date", now_date()}};
}

struct file_server {
    const config* cfg;
    totals* sums;

    template <class Connection> void on_close(Connection& c, std::error_code) {
        const auto t = c.transfer_stats();
        sums->sendfile += t.sendfile_bytes;
        sums->ktls += t.ktls_sendfile_bytes;
        sums->splice += t.splice_bytes;
        sums->copied += t.copied_bytes;
        sums->files += t.files_sent;
        sums->fallbacks += t.fallbacks;
    }

    template <class Connection> asio::awaitable<void> operator()(Connection& c) {
        pier::http::request_head req;
        pier::http::limits lim;
        lim.max_head_size = 8192; // below the 16 KiB read buffer: an oversized head gets a 431
        for (;;) {
            const auto res = pier::http::parse_request(c.input(), req, lim);
            if (res.st == pier::http::parse_result::incomplete) {
                const auto ec = co_await c.read();
                if (ec)
                    co_return;
                continue;
            }
            if (res.st == pier::http::parse_result::error) {
                co_await reply_error(c, pier::http::status_for(res.err), 1, false);
                co_return;
            }
            const bool keep = co_await answer(c, req);
            c.consume(res.head_size);
            if (!keep || !c.is_open())
                co_return;
        }
    }

    // Answers one request; false when the connection must close.
    template <class Connection>
    asio::awaitable<bool> answer(Connection& c, const pier::http::request_head& req) {
        const unsigned minor = req.version_minor();
        bool keep = req.keep_alive();
        const bool head = req.method() == "HEAD";
        if (!head && req.method() != "GET") {
            co_await reply_error(c, 405, minor, keep, one_header("Allow", "GET, HEAD"));
            co_return keep;
        }
        // Neither GET nor HEAD has a body; one announced anyway is refused rather than read.
        if (req.has_body()) {
            co_await reply_error(c, 413, minor, false);
            co_return false;
        }
        std::string rel;
        const auto p = pier::http::to_relative_path(req.path(), rel);
        if (p.err != pier::http::path_error::none) {
            co_await reply_error(c, pier::http::status_for(p.err), minor, keep);
            co_return keep;
        }
        std::error_code ec;
        auto f = pier::file::open_beneath(cfg->root->native_handle(), rel, ec);
        if (f && f->is_directory()) {
            if (!p.directory) {
                // Relative links inside DIR/index.html need the slash.
                const std::string location = std::string(req.path()) + "/";
                co_await reply_error(c, 301, minor, keep, one_header("Location", location));
                co_return keep;
            }
            if (cfg->index.empty()) {
                co_await reply_error(c, 403, minor, keep);
                co_return keep;
            }
            f = pier::file::open_beneath(f->native_handle(), cfg->index, ec);
            rel += "/" + cfg->index;
            if (!f || f->is_directory()) {
                // No index: the directory's content is not listed (403, not 404: it exists).
                co_await reply_error(c, 403, minor, keep);
                co_return keep;
            }
        }
        if (!f) {
            const unsigned status = ec == std::errc::no_such_file_or_directory ||
                                            ec == std::errc::not_a_directory ||
                                            ec == std::errc::filename_too_long
                                        ? 404
                                    : ec == std::errc::too_many_files_open ||
                                            ec == std::errc::too_many_files_open_in_system
                                        ? 503
                                        : 403; // EXDEV (leaves the root), ELOOP, EACCES, …
            co_await reply_error(c, status, minor, keep);
            co_return keep;
        }

        const auto size = f->size();
        const auto mtime = std::chrono::floor<std::chrono::seconds>(f->last_modified());
        const auto last_modified = pier::http::format_http_date(mtime);
        auto headers = file_headers(last_modified.view(), content_type(rel));

        // Conditionals (RFC 9110 §13.2.2 order). No ETags: If-None-Match can only match "*".
        if (auto inm = req.find("if-none-match")) {
            if (trim(*inm) == "*") {
                co_await reply_head(c, 304, minor, keep, headers, std::nullopt);
                co_return keep;
            }
        } else if (auto ims = req.find("if-modified-since")) {
            if (auto since = pier::http::parse_http_date(*ims); since && mtime <= *since) {
                co_await reply_head(c, 304, minor, keep, headers, std::nullopt);
                co_return keep;
            }
        }

        pier::http::range_result range{};
        if (!head) {
            if (auto r = req.find("range")) {
                auto if_range = req.find("if-range");
                if (!if_range || trim(*if_range) == last_modified.view())
                    range = pier::http::evaluate_range(*r, size);
            }
        }
        // (A std::array, not a C array: g++ 12 cannot keep C arrays in a coroutine frame.)
        std::array<char, pier::http::max_content_range> content_range{};
        if (range.status == pier::http::range_status::unsatisfiable) {
            const auto n = pier::http::format_content_range(range, size, content_range.data(),
                                                            content_range.size());
            headers.push_back(
                pier::http::header{"Content-Range", std::string_view(content_range.data(), n)});
            co_await reply_error(c, 416, minor, keep, std::vector<pier::http::header>(), &headers);
            co_return keep;
        }
        std::uint64_t offset = 0, length = size;
        unsigned status = 200;
        if (range.status == pier::http::range_status::satisfiable) {
            status = 206;
            offset = range.range.first;
            length = range.range.length();
            const auto n = pier::http::format_content_range(range, size, content_range.data(),
                                                            content_range.size());
            headers.push_back(
                pier::http::header{"Content-Range", std::string_view(content_range.data(), n)});
        }
        if (head || length == 0) {
            co_await reply_head(c, status, minor, keep, headers, length);
            co_return keep;
        }
        // The head leaves with the file's first bytes: MSG_MORE before sendfile(2), or in the
        // same TLS record when copying.
        if (!send_head(c, status, minor, keep, headers, length, pier::flush::more))
            co_return false;
        const auto sent = co_await c.send_file(std::move(f), offset, length);
        if (cfg->tcp_info)
            log_tcp_info(c, length);
        co_return !sent && keep;
    }

    // What the kernel says about the connection once the file has been handed to it.
    template <class Connection> static void log_tcp_info(Connection& c, std::uint64_t bytes) {
        const auto i = c.tcp_info();
        if (!i)
            return;
        const auto b = c.socket_buffers();
        std::printf("pier: tcp_info bytes=%llu rtt_us=%lld rttvar_us=%lld cwnd=%u mss=%u "
                    "retransmits=%u delivery_rate=%llu busy_us=%lld rwnd_limited_us=%lld "
                    "sndbuf_limited_us=%lld sndbuf=%d rcvbuf=%d\n",
                    static_cast<unsigned long long>(bytes), static_cast<long long>(i->rtt.count()),
                    static_cast<long long>(i->rttvar.count()), i->cwnd, i->mss,
                    i->total_retransmits, static_cast<unsigned long long>(i->delivery_rate),
                    static_cast<long long>(i->busy_time.count()),
                    static_cast<long long>(i->rwnd_limited.count()),
                    static_cast<long long>(i->sndbuf_limited.count()), b.send, b.receive);
        std::fflush(stdout);
    }

    template <class Connection>
    static bool send_head(Connection& c, unsigned status, unsigned minor, bool keep,
                          const std::vector<pier::http::header>& headers,
                          std::optional<std::uint64_t> length, pier::flush when) {
        pier::http::response_head h;
        h.status = status;
        h.version_minor = minor;
        h.headers = headers;
        h.content_length = length;
        h.connection =
            keep ? pier::http::connection_mode::keep_alive : pier::http::connection_mode::close;
        std::string out;
        if (pier::http::append_response_head(h, out) != pier::http::format_error::none)
            return false;
        return c.try_send(out, when) != pier::send_result::closed;
    }

    template <class Connection>
    static asio::awaitable<void> reply_head(Connection& c, unsigned status, unsigned minor,
                                            bool keep,
                                            const std::vector<pier::http::header>& headers,
                                            std::optional<std::uint64_t> length) {
        if (send_head(c, status, minor, keep, headers, length, pier::flush::now) && !keep)
            c.close();
        co_return;
    }

    // A short text body saying what went wrong; `extra` headers, or all of `base` ones.
    template <class Connection>
    static asio::awaitable<void>
    reply_error(Connection& c, unsigned status, unsigned minor, bool keep,
                std::vector<pier::http::header> extra = {},
                const std::vector<pier::http::header>* base = nullptr) {
        const std::string body =
            std::to_string(status) + " " + std::string(pier::http::reason_phrase(status)) + "\n";
        std::vector<pier::http::header> headers;
        headers = base ? *base : error_headers();
        headers.push_back(pier::http::header{"Content-Type", "text/plain; charset=utf-8"});
        headers.insert(headers.end(), extra.begin(), extra.end());
        if (send_head(c, status, minor, keep, headers, body.size(), pier::flush::more))
            c.try_send(body);
        if (!keep)
            c.close();
        co_return;
    }
};

} // namespace

int main(int argc, char** argv) {
    auto cli = examples::parse(
        argc, argv,
        {"root", "index", "files", "cert", "key", "kernel-tls", "send-buffer", "tcp-info"},
        " --root DIR [--index NAME] [--files sendfile|splice|copy]\n"
        "          [--cert FILE --key FILE [--kernel-tls on|off]] [--send-buffer BYTES]\n"
        "          [--tcp-info on|off]");
    const std::string root = cli.get("root", "");
    if (root.empty()) {
        std::fprintf(stderr, "%s: --root DIR is required\n", argv[0]);
        return 2;
    }
    config cfg;
    std::error_code ec;
    cfg.root = pier::file::open(root, ec);
    if (!cfg.root || !cfg.root->is_directory()) {
        std::fprintf(stderr, "%s: --root %s: %s\n", argv[0], root.c_str(),
                     ec ? ec.message().c_str() : "not a directory");
        return 2;
    }
    cfg.index = cli.get("index", "index.html");
    cfg.tcp_info = cli.get("tcp-info", "off") == "on";
    cli.options.socket_buffers.send = static_cast<int>(cli.get_int("send-buffer", 0));
    const std::string files = cli.get("files", "sendfile");
    if (files == "splice")
        cli.options.zero_copy.files = pier::file_method::splice;
    else if (files == "copy")
        cli.options.zero_copy.files = pier::file_method::copy;
    else if (files != "sendfile") {
        std::fprintf(stderr, "%s: --files sendfile|splice|copy\n", argv[0]);
        return 2;
    }
    pier::raise_fd_limit();
    totals sums;
    const file_server handler{&cfg, &sums};
    int rc = 0;
    const std::string cert = cli.get("cert", ""), key = cli.get("key", "");
    try {
        if (!cert.empty() || !key.empty()) {
            pier::tls::options tls;
            tls.certificates.push_back({.cert_chain_file = cert, .key_file = key});
            tls.alpn = {"http/1.1", "http/1.0"};
            tls.kernel_tls = cli.get("kernel-tls", "off") == "on";
            rc = examples::with_common_policies<pier::transport::tls>(cli, [&]<class Policies>() {
                pier::server<file_server, Policies> srv(cli.options, tls, handler);
                return examples::serve(srv);
            });
        } else {
            // The common subset of policies: with TLS as well, the whole matrix would compile
            // this handler dozens of times.
            rc = examples::with_common_policies(cli, [&]<class Policies>() {
                pier::server<file_server, Policies> srv(cli.options, handler);
                return examples::serve(srv);
            });
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    std::printf("pier: transfers: sendfile=%llu ktls_sendfile=%llu splice=%llu copied=%llu "
                "files=%llu fallbacks=%llu\n",
                static_cast<unsigned long long>(sums.sendfile.load()),
                static_cast<unsigned long long>(sums.ktls.load()),
                static_cast<unsigned long long>(sums.splice.load()),
                static_cast<unsigned long long>(sums.copied.load()),
                static_cast<unsigned long long>(sums.files.load()),
                static_cast<unsigned long long>(sums.fallbacks.load()));
    return rc;
}
