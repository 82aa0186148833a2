// pier/http/query.hpp: the query of a request target (RFC 3986 §3.4) as name=value pairs,
// with percent-decoding (RFC 3986 §2.1) and the `+`-as-space rule of HTML form encoding
// (application/x-www-form-urlencoded, WHATWG URL §5.1), which browsers use for query strings.
//
//     for (auto [name, value] : pier::http::query_params(req.query())) { … }   // raw views
//     std::string user;
//     if (auto v = pier::http::query_param(req.query(), "user_id"))
//         if (pier::http::percent_decode(*v, user)) …                           // decoded
//
// Pure functions on views: nothing is allocated but the decoded output the caller asks for.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace pier::http {

/// One `name=value` pair of a query, both still encoded. A pair without `=` has an empty
/// value (`?flag` → {"flag", ""}).
struct query_param_view {
    std::string_view name;
    std::string_view value;
};

/// The pairs of a query string (without its `?`), in order, as encoded views. Empty pairs
/// (`a=1&&b=2`) are skipped. Iterating never allocates.
class query_params {
public:
    explicit query_params(std::string_view query) noexcept : query_(query) {}

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = query_param_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const query_param_view*;
        using reference = const query_param_view&;

        iterator() = default;
        reference operator*() const noexcept { return cur_; }
        pointer operator->() const noexcept { return &cur_; }
        iterator& operator++() noexcept {
            advance();
            return *this;
        }
        iterator operator++(int) noexcept {
            auto old = *this;
            advance();
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.done_ == b.done_ && (a.done_ || a.rest_.data() == b.rest_.data());
        }

    private:
        friend class query_params;
        explicit iterator(std::string_view q) noexcept : rest_(q), done_(false) { advance(); }
        void advance() noexcept {
            while (!rest_.empty()) {
                const auto amp = rest_.find('&');
                const auto pair = rest_.substr(0, amp);
                rest_ = amp == std::string_view::npos ? std::string_view() : rest_.substr(amp + 1);
                if (pair.empty())
                    continue;
                const auto eq = pair.find('=');
                cur_ = eq == std::string_view::npos
                           ? query_param_view{pair, {}}
                           : query_param_view{pair.substr(0, eq), pair.substr(eq + 1)};
                // A `rest_` that ended this step still needs a distinct position for ==.
                if (amp == std::string_view::npos)
                    rest_ = std::string_view(pair.data() + pair.size(), 0);
                return;
            }
            done_ = true;
        }
        std::string_view rest_{};
        query_param_view cur_{};
        bool done_ = true;
    };

    iterator begin() const noexcept { return iterator(query_); }
    iterator end() const noexcept { return iterator(); }

private:
    std::string_view query_;
};

/// Appends the percent-decoding of `in` to `out`; `+` becomes a space when `plus_is_space`
/// (form encoding, the default for queries). False, with `out` unspecified, on a malformed
/// escape (`%` not followed by two hex digits) or when the output would pass `max_size`.
inline bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = true,
                           std::size_t max_size = 64 * 1024) {
    auto hex = [](char c) noexcept -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size())
                return false;
            const int h = hex(in[i + 1]), l = hex(in[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = static_cast<char>(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (out.size() >= max_size)
            return false;
        out.push_back(c);
    }
    return true;
}

/// The encoded value of the first pair named `name` (compared after decoding neither side:
/// parameter names are plain ASCII in every API pier serves), or nullopt.
inline std::optional<std::string_view> query_param(std::string_view query,
                                                   std::string_view name) noexcept {
    for (const auto& p : query_params(query))
        if (p.name == name)
            return p.value;
    return std::nullopt;
}

/// The decoded value of the first pair named `name`; nullopt when absent or malformed.
inline std::optional<std::string> decoded_query_param(std::string_view query, std::string_view name,
                                                      std::size_t max_size = 64 * 1024) {
    auto v = query_param(query, name);
    if (!v)
        return std::nullopt;
    std::string out;
    if (!percent_decode(*v, out, true, max_size))
        return std::nullopt;
    return out;
}

} // namespace pier::http
