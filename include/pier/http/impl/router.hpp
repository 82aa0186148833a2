// pier/http/impl/router.hpp: out-of-line definitions for <pier/http/router.hpp>.
#pragma once

#include <pier/http/detail/chars.hpp>
#include <pier/http/query.hpp>
#include <pier/http/router.hpp>

#include <algorithm>

namespace pier::http {

constexpr std::string_view to_string(route_error e) noexcept {
    switch (e) {
    case route_error::none:
        return "none";
    case route_error::bad_method:
        return "bad_method";
    case route_error::bad_pattern:
        return "bad_pattern";
    case route_error::bad_param_name:
        return "bad_param_name";
    case route_error::duplicate_param:
        return "duplicate_param";
    case route_error::too_many_params:
        return "too_many_params";
    case route_error::duplicate_route:
        return "duplicate_route";
    }
    return "unknown";
}

namespace detail {

constexpr bool is_param_name(std::string_view s) noexcept {
    if (s.empty())
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/// Calls f(segment) for each '/'-separated segment after the leading '/'; stops (returning
/// false) once more than `max` segments were seen.
template <class F> bool for_each_segment(std::string_view path, std::size_t max, F&& f) {
    path.remove_prefix(1);
    std::size_t n = 0;
    while (true) {
        if (++n > max)
            return false;
        const std::size_t slash = path.find('/');
        f(path.substr(0, slash));
        if (slash == std::string_view::npos)
            return true;
        path.remove_prefix(slash + 1);
    }
}

} // namespace detail

template <class T> bool router<T>::more_specific(const route& a, const route& b) noexcept {
    const std::size_t n = std::min(a.segments.size(), b.segments.size());
    for (std::size_t i = 0; i < n; ++i)
        if (a.segments[i].param != b.segments[i].param)
            return !a.segments[i].param;
    return false;
}

template <class T>
route_error router<T>::add(std::string_view method, std::string_view pattern, T target) {
    if (method.empty() ||
        !std::all_of(method.begin(), method.end(), [](char c) { return detail::is_tchar(c); }))
        return route_error::bad_method;
    if (pattern.empty() || pattern[0] != '/')
        return route_error::bad_pattern;
    route r{std::string(method), {}, std::move(target)};
    route_error err = route_error::none;
    std::size_t params = 0;
    detail::for_each_segment(pattern, static_cast<std::size_t>(-1), [&](std::string_view s) {
        if (err != route_error::none)
            return;
        if (!s.empty() && s.front() == '{' && s.back() == '}') {
            const std::string_view name = s.substr(1, s.size() - 2);
            if (!detail::is_param_name(name))
                err = route_error::bad_param_name;
            else if (++params > router_limits::max_params)
                err = route_error::too_many_params;
            else if (std::any_of(r.segments.begin(), r.segments.end(),
                                 [&](const segment& o) { return o.param && o.text == name; }))
                err = route_error::duplicate_param;
            r.segments.push_back({std::string(name), true});
            return;
        }
        if (s.find_first_of("{}%?#") != std::string_view::npos)
            err = route_error::bad_pattern;
        r.segments.push_back({std::string(s), false});
    });
    if (err != route_error::none)
        return err;
    for (const route& o : routes_) {
        if (o.method != r.method || o.segments.size() != r.segments.size())
            continue;
        bool same = true;
        for (std::size_t i = 0; i < o.segments.size() && same; ++i)
            same = o.segments[i].param == r.segments[i].param &&
                   (o.segments[i].param || o.segments[i].text == r.segments[i].text);
        if (same)
            return route_error::duplicate_route;
    }
    // Insert after every route at least as specific, so that equal ones keep their order.
    auto at = std::find_if(routes_.begin(), routes_.end(),
                           [&](const route& o) { return more_specific(r, o); });
    routes_.insert(at, std::move(r));
    return route_error::none;
}

template <class T>
route_match<T> router<T>::match(std::string_view method, std::string_view path) const {
    route_match<T> m;
    if (path.empty() || path[0] != '/') {
        m.status = route_status::bad_request;
        m.error = "invalid_path";
        return m;
    }
    // Decoded segments; most admin paths have 4–6, so the vector's one allocation is all.
    std::vector<std::string> segs;
    bool ok = true;
    const bool within =
        detail::for_each_segment(path, limits_.max_segments, [&](std::string_view s) {
            if (!ok)
                return;
            std::string d;
            if (!percent_decode(s, d, false, limits_.max_segments * limits_.max_param_bytes) ||
                d.find('\0') != std::string::npos)
                ok = false;
            segs.push_back(std::move(d));
        });
    if (!within)
        return m; // longer than any pattern may be: not_found
    if (!ok) {
        m.status = route_status::bad_request;
        m.error = "invalid_escape";
        return m;
    }

    const route* get_route = nullptr;
    std::vector<std::string_view> allowed;
    const auto fits = [&](const route& r) {
        if (r.segments.size() != segs.size())
            return false;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const segment& s = r.segments[i];
            if (s.param ? segs[i].empty() : s.text != segs[i])
                return false;
        }
        return true;
    };
    const route* found = nullptr;
    for (const route& r : routes_) {
        if (!fits(r))
            continue;
        if (r.method == method) {
            found = &r;
            break;
        }
        if (r.method == "GET" && get_route == nullptr)
            get_route = &r;
        allowed.push_back(r.method);
    }
    if (found == nullptr && method == "HEAD" && get_route != nullptr) {
        found = get_route;
        m.head = true;
    }
    if (found == nullptr) {
        if (allowed.empty())
            return m; // not_found
        if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end())
            allowed.push_back("HEAD");
        std::sort(allowed.begin(), allowed.end());
        allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
        for (auto a : allowed) {
            if (!m.allow.empty())
                m.allow += ", ";
            m.allow += a;
        }
        m.status = route_status::method_not_allowed;
        return m;
    }
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const segment& s = found->segments[i];
        if (!s.param)
            continue;
        if (segs[i].size() > limits_.max_param_bytes) {
            m = route_match<T>{};
            m.status = route_status::bad_request;
            m.error = "param_too_long";
            return m;
        }
        m.params[m.param_count++] = {s.text, std::move(segs[i])};
    }
    m.status = route_status::found;
    m.target = &found->target;
    return m;
}

} // namespace pier::http
