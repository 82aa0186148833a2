// pier/http/path.hpp: a request path turned into a relative file-system path below a root,
// for static file servers, refusing every form of traversal.
//
//     std::string rel;
//     auto r = pier::http::to_relative_path(req.path(), rel);
//     if (r.err != pier::http::path_error::none) … 400 / 403
//     auto f = pier::file::open_beneath(root_fd, rel, ec);   // the kernel enforces the root too
//
// Pure function; the only allocation is the output string.
#pragma once

#include <pier/http/query.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pier::http {

/// Why a request path cannot name a file below the root.
enum class path_error : std::uint8_t {
    none,
    not_origin_form, ///< does not start with '/' (RFC 9112 §3.2.1 origin-form)
    bad_escape,      ///< '%' not followed by two hex digits (RFC 3986 §2.1)
    forbidden_byte,  ///< NUL or another control byte, decoded or not
    dot_dot,         ///< a ".." segment, written out or percent-encoded (traversal)
    too_long,        ///< the decoded path exceeds the limit
    too_deep,        ///< more segments than the limit
};

/// The HTTP status to answer with: 400 for a malformed path, 403 for traversal, 414 for too
/// long or deep.
constexpr unsigned status_for(path_error e) noexcept;

struct path_result {
    path_error err = path_error::none;
    /// The path ended with '/' (or was "/"): the client asked for a directory.
    bool directory = false;
};

/// Limits for `to_relative_path`. Defaults: 4096 bytes (PATH_MAX) and 64 segments.
struct path_limits {
    std::size_t max_size = 4096;
    std::size_t max_segments = 64;
};

/// Percent-decodes `path` (the path of an origin-form request target, without the query) and
/// writes it to `out` as a relative path ("docs/a.html"; "" for the root): "." and empty
/// segments are dropped, and decoded '/' (from %2F) separates segments like a literal one.
/// Refused: ".." in any spelling (".." after decoding, so "%2e%2e" and "..%2f" too), NUL and
/// control bytes, malformed escapes. ".." is refused rather than resolved: a client that
/// follows RFC 3986 §5.2.4 removes dot-segments before sending, so only probes send them,
/// and refusing needs no reasoning about where a resolved path ends up. `+` is not a space in
/// a path (RFC 3986; only form-encoded queries use it).
inline path_result to_relative_path(std::string_view path, std::string& out,
                                    const path_limits& lim = {});

constexpr unsigned status_for(path_error e) noexcept {
    switch (e) {
    case path_error::none:
        return 200;
    case path_error::dot_dot:
        return 403;
    case path_error::too_long:
    case path_error::too_deep:
        return 414;
    default:
        return 400;
    }
}

inline path_result to_relative_path(std::string_view path, std::string& out,
                                    const path_limits& lim) {
    out.clear();
    path_result r;
    if (path.empty() || path.front() != '/') {
        r.err = path_error::not_origin_form;
        return r;
    }
    // Decode first, then split: an encoded '/' or '.' is then judged exactly like a literal
    // one, so no spelling of ".." slips through. Decoding never lengthens its input, so with
    // the input's length as the bound only a malformed escape can fail it.
    std::string decoded;
    if (!percent_decode(path, decoded, false, path.size())) {
        r.err = path_error::bad_escape;
        return r;
    }
    if (decoded.size() > lim.max_size) {
        r.err = path_error::too_long;
        return r;
    }
    for (char c : decoded) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            r.err = path_error::forbidden_byte;
            return r;
        }
    }
    r.directory = decoded.back() == '/';
    std::size_t segments = 0;
    std::string_view rest(decoded);
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string_view seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (seg.empty() || seg == ".")
            continue;
        if (seg == "..") {
            out.clear();
            r.err = path_error::dot_dot;
            return r;
        }
        if (++segments > lim.max_segments) {
            out.clear();
            r.err = path_error::too_deep;
            return r;
        }
        if (!out.empty())
            out.push_back('/');
        out.append(seg);
    }
    if (out.empty())
        r.directory = true;
    return r;
}

} // namespace pier::http
