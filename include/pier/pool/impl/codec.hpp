// pier/pool/impl/codec.hpp: out-of-line definitions for <pier/pool/codec.hpp>.
#pragma once

#include <pier/pool/codec.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace pier::pool::detail {

// JSON string escaping (RFC 8259 §7). nlohmann/json's own escaper is internal
// (nlohmann::detail::serializer); reaching it through the public API means building a json
// value per string, an allocation per field on the path every broadcast takes.
inline void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        out.push_back('\\');
        switch (c) {
        case '"':
            out.push_back('"');
            break;
        case '\\':
            out.push_back('\\');
            break;
        case '\b':
            out.push_back('b');
            break;
        case '\f':
            out.push_back('f');
            break;
        case '\n':
            out.push_back('n');
            break;
        case '\r':
            out.push_back('r');
            break;
        case '\t':
            out.push_back('t');
            break;
        default:
            out.append("u00", 3);
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

template <class Int> void append_integer(std::string& out, Int v) {
    std::array<char, 24> buf;
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
}

// Writes SAX events back out as compact JSON text. Whether a value needs a comma before it
// follows from the last byte written ('{', '[' or ':' say no), so no per-level state exists
// and any depth costs nothing here: the callers bound depth.
class json_writer {
public:
    explicit json_writer(std::string& out, std::size_t start) noexcept : out_(out), start_(start) {}

    void open(char c) {
        separate();
        out_.push_back(c);
    }
    void close(char c) { out_.push_back(c); }
    void key(std::string_view k) {
        separate();
        append_json_string(out_, k);
        out_.push_back(':');
    }
    void null() { literal("null"); }
    void boolean(bool v) { literal(v ? "true" : "false"); }
    template <class Int> void integer(Int v) {
        separate();
        append_integer(out_, v);
    }
    // The lexeme as the client wrote it (already validated as a JSON number by the lexer),
    // so the value reaches recipients with every digit. nlohmann's lexer stores the decimal
    // point as the C locale's LC_NUMERIC one, which a program that called setlocale may
    // have made ','; JSON only ever has '.'.
    void number(std::string_view lexeme) {
        separate();
        for (char c : lexeme)
            out_.push_back(
                (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E' ? c : '.');
    }
    void string(std::string_view s) {
        separate();
        append_json_string(out_, s);
    }

private:
    void literal(std::string_view s) {
        separate();
        out_.append(s);
    }
    void separate() {
        if (out_.size() > start_) {
            const char last = out_.back();
            if (last != '{' && last != '[' && last != ':')
                out_.push_back(',');
        }
    }
    std::string& out_;
    std::size_t start_;
};

using sax_json = nlohmann::json;

// SAX handler for json_codec::normalize: one value of any kind, depth-bounded.
class normalize_handler {
public:
    normalize_handler(std::string& out, std::size_t max_depth)
        : w_(out, 0), max_depth_(max_depth) {}

    bool null() { return w_.null(), true; }
    bool boolean(bool v) { return w_.boolean(v), true; }
    bool number_integer(sax_json::number_integer_t v) { return w_.integer(v), true; }
    bool number_unsigned(sax_json::number_unsigned_t v) { return w_.integer(v), true; }
    bool number_float(sax_json::number_float_t, const sax_json::string_t& s) {
        return w_.number(s), true;
    }
    bool string(sax_json::string_t& s) { return w_.string(s), true; }
    bool binary(sax_json::binary_t&) { return false; }
    bool start_object(std::size_t) { return open('{'); }
    bool key(sax_json::string_t& k) { return w_.key(k), true; }
    bool end_object() { return close('}'); }
    bool start_array(std::size_t) { return open('['); }
    bool end_array() { return close(']'); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
        return false;
    }

    decode_error error = decode_error::none;

private:
    bool open(char c) {
        if (++depth_ > max_depth_) {
            error = decode_error::too_deep;
            return false;
        }
        w_.open(c);
        return true;
    }
    bool close(char c) {
        --depth_;
        w_.close(c);
        return true;
    }
    json_writer w_;
    std::size_t depth_ = 0;
    std::size_t max_depth_;
};

// SAX handler for json_codec::decode. The envelope is level 1; its fields are read at level 1
// and `since`'s at level 2, while a `data` value is streamed through a json_writer into
// inbound::data. Returning false stops the parse at once with `error` set.
class decode_handler {
public:
    decode_handler(inbound& in, const codec_options& o) : in_(in), o_(o), w_(in.data, 0) {}

    bool null() {
        if (writing())
            return w_.null(), true;
        return scalar(kind::null_v, {});
    }
    bool boolean(bool v) {
        if (writing())
            return w_.boolean(v), true;
        return scalar(kind::other_v, {});
    }
    bool number_integer(sax_json::number_integer_t v) {
        if (writing())
            return w_.integer(v), true;
        return scalar(kind::other_v, {});
    }
    bool number_unsigned(sax_json::number_unsigned_t v) {
        if (writing())
            return w_.integer(v), true;
        return scalar(kind::unsigned_v, {}, v);
    }
    bool number_float(sax_json::number_float_t, const sax_json::string_t& s) {
        if (writing())
            return w_.number(s), true;
        return scalar(kind::other_v, {});
    }
    bool string(sax_json::string_t& s) {
        if (writing())
            return w_.string(s), true;
        return scalar(kind::string_v, s);
    }
    bool binary(sax_json::binary_t&) { return fail(decode_error::malformed_json); }

    bool start_object(std::size_t) {
        if (!deeper())
            return false;
        if (depth_ == 1)
            return true;
        if (capturing() || begin_capture())
            return w_.open('{'), true;
        if (depth_ == 2 && field_ == field::since) {
            in_.since.emplace();
            since_seen_ = 0;
            return true;
        }
        return composite_value();
    }
    bool end_object() {
        if (capturing()) {
            w_.close('}');
            end_capture();
        } else if (depth_ == 2 && field_ == field::since && since_seen_ != 3) {
            return fail(decode_error::bad_since);
        }
        --depth_;
        return true;
    }
    bool start_array(std::size_t) {
        if (!deeper())
            return false;
        if (depth_ == 1)
            return fail(decode_error::not_an_object);
        if (capturing() || begin_capture())
            return w_.open('['), true;
        return composite_value();
    }
    bool end_array() {
        if (capturing()) {
            w_.close(']');
            end_capture();
        }
        --depth_;
        return true;
    }

    bool key(sax_json::string_t& k) {
        if (capturing())
            return w_.key(k), true;
        if (depth_ == 1) {
            field_ = field_named(k);
            return first_time(seen_, field_);
        }
        if (depth_ == 2 && field_ == field::since) {
            if (k == "offset")
                since_field_ = since_field::offset;
            else if (k == "epoch")
                since_field_ = since_field::epoch;
            else
                return fail(decode_error::bad_since);
            const unsigned bit = 1u << static_cast<unsigned>(since_field_);
            if (since_seen_ & bit)
                return fail(decode_error::duplicate_field);
            since_seen_ |= bit;
        }
        return true;
    }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
        if (error == decode_error::none)
            error = decode_error::malformed_json;
        return false;
    }

    // After a successful parse: the rules that depend on the type.
    decode_error finish() const noexcept {
        if (!(seen_ & bit(field::type)))
            return decode_error::missing_type;
        switch (in_.type) {
        case message_type::subscribe:
        case message_type::unsubscribe:
            if (!(seen_ & bit(field::topic)))
                return decode_error::missing_topic;
            break;
        case message_type::data:
            if (!(seen_ & bit(field::data)))
                return decode_error::missing_data;
            break;
        case message_type::error:
            // An empty name names nothing (and encode leaves an empty error out).
            if (in_.error.empty())
                return decode_error::missing_error;
            break;
        default:
            break;
        }
        return decode_error::none;
    }

    decode_error error = decode_error::none;

private:
    enum class field : unsigned { type, topic, data, error, offset, epoch, since, unknown };
    enum class since_field : unsigned { offset, epoch };
    enum class kind { null_v, string_v, unsigned_v, other_v };

    static constexpr unsigned bit(field f) noexcept { return 1u << static_cast<unsigned>(f); }

    static field field_named(std::string_view k) noexcept {
        static constexpr std::array<std::string_view, 7> names = {
            "type", "topic", "data", "error", "offset", "epoch", "since"};
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == k)
                return static_cast<field>(i);
        return field::unknown;
    }

    bool first_time(unsigned& seen, field f) {
        if (f == field::unknown)
            return true;
        if (seen & bit(f))
            return fail(decode_error::duplicate_field);
        seen |= bit(f);
        return true;
    }

    bool fail(decode_error e) {
        error = e;
        return false;
    }

    bool deeper() {
        if (++depth_ > o_.max_depth)
            return fail(decode_error::too_deep);
        return true;
    }

    bool capturing() const noexcept { return capture_depth_ != 0; }
    // Whether a value event belongs to `data`: anything inside a composite payload, or a
    // scalar payload directly in the envelope.
    bool writing() const noexcept { return capturing() || (depth_ == 1 && field_ == field::data); }
    // A composite `data` value starts: stream it until its level closes again.
    bool begin_capture() {
        if (depth_ != 2 || field_ != field::data)
            return false;
        capture_depth_ = depth_;
        return true;
    }
    void end_capture() {
        if (depth_ == capture_depth_)
            capture_depth_ = 0;
    }

    // An object or array where a known field needs a scalar; inside unknown fields (and
    // below them) anything goes and is only depth-checked.
    bool composite_value() {
        if (depth_ == 2)
            return known_scalar_field_mismatch();
        if (depth_ == 3 && field_ == field::since)
            return fail(decode_error::bad_since);
        return true;
    }
    bool known_scalar_field_mismatch() {
        switch (field_) {
        case field::unknown:
            return true;
        case field::offset:
            return fail(decode_error::bad_offset);
        case field::since:
            return fail(decode_error::bad_since);
        default:
            return fail(decode_error::bad_field_type);
        }
    }

    bool scalar(kind k, std::string_view s, std::uint64_t u = 0) {
        if (depth_ == 0)
            return fail(decode_error::not_an_object);
        if (depth_ == 2 && field_ == field::since)
            return since_scalar(k, s, u);
        if (depth_ != 1)
            return true; // inside an unknown field
        switch (field_) {
        case field::type:
            return type(k, s);
        case field::topic:
            if (k != kind::string_v)
                return fail(decode_error::bad_field_type);
            if (!name(s, in_.topic))
                return false;
            if (s.empty() || has_control(s))
                return fail(decode_error::bad_topic);
            return true;
        case field::data: // written by the callers (see writing())
            return true;
        case field::error:
            if (k != kind::string_v)
                return fail(decode_error::bad_field_type);
            return name(s, in_.error);
        case field::offset:
            if (k != kind::unsigned_v)
                return fail(decode_error::bad_offset);
            position().offset = u;
            return true;
        case field::epoch:
            if (k != kind::string_v)
                return fail(decode_error::bad_field_type);
            return name(s, position().epoch);
        case field::since:
            return fail(decode_error::bad_since);
        case field::unknown:
            return true;
        }
        return true;
    }

    bool since_scalar(kind k, std::string_view s, std::uint64_t u) {
        if (since_field_ == since_field::offset) {
            if (k != kind::unsigned_v)
                return fail(decode_error::bad_since);
            in_.since->offset = u;
            return true;
        }
        if (k != kind::string_v)
            return fail(decode_error::bad_since);
        if (s.size() > o_.max_name_size)
            return fail(decode_error::field_too_large);
        in_.since->epoch.assign(s);
        return true;
    }

    bool type(kind k, std::string_view s) {
        if (k != kind::string_v)
            return fail(decode_error::bad_field_type);
        const auto t = message_type_from(s);
        if (!t)
            return fail(decode_error::unknown_type);
        if (!o_.server_types && !client_may_send(*t))
            return fail(decode_error::unexpected_type);
        in_.type = *t;
        return true;
    }

    bool name(std::string_view s, std::string& to) {
        if (s.size() > o_.max_name_size)
            return fail(decode_error::field_too_large);
        to.assign(s);
        return true;
    }

    static bool has_control(std::string_view s) noexcept {
        for (char c : s)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return true;
        return false;
    }

    stream_position& position() {
        if (!in_.position)
            in_.position.emplace();
        return *in_.position;
    }

    inbound& in_;
    const codec_options& o_;
    json_writer w_;
    std::size_t depth_ = 0;
    std::size_t capture_depth_ = 0;
    field field_ = field::unknown;
    since_field since_field_ = since_field::offset;
    unsigned seen_ = 0;
    unsigned since_seen_ = 0;
};

} // namespace pier::pool::detail

namespace pier::pool {

inline decode_error json_codec::decode(std::string_view text, inbound& out) const {
    out.clear();
    if (text.size() > options_.max_message_size)
        return decode_error::too_large;
    detail::decode_handler h(out, options_);
    if (!nlohmann::json::sax_parse(text, &h))
        return h.error != decode_error::none ? h.error : decode_error::malformed_json;
    return h.finish();
}

inline decode_error json_codec::normalize(std::string_view json_text, std::string& out) const {
    out.clear();
    if (json_text.size() > options_.max_message_size)
        return decode_error::too_large;
    detail::normalize_handler h(out, options_.max_depth);
    if (!nlohmann::json::sax_parse(json_text, &h)) {
        out.clear();
        return h.error != decode_error::none ? h.error : decode_error::malformed_json;
    }
    return decode_error::none;
}

inline std::string json_codec::encode(const outbound& e) const {
    std::array<char, timestamp_size> ts;
    format_timestamp(e.time == timestamp{} ? now() : e.time, ts);
    const std::string_view type = e.type_name.empty() ? to_string(e.type) : e.type_name;

    // Fixed text plus the fields; strings that need escapes may grow past the estimate, which
    // costs one reallocation on a rare path.
    std::string out;
    out.reserve(96 + type.size() + e.topic.size() + e.error.size() + e.data.size() +
                (e.position ? e.position->epoch.size() : 0) +
                (e.since ? e.since->epoch.size() : 0));
    out.append(R"({"type":)");
    detail::append_json_string(out, type);
    if (!e.topic.empty()) {
        out.append(R"(,"topic":)");
        detail::append_json_string(out, e.topic);
    }
    if (e.position) {
        out.append(R"(,"offset":)");
        detail::append_integer(out, e.position->offset);
        if (!e.position->epoch.empty()) {
            out.append(R"(,"epoch":)");
            detail::append_json_string(out, e.position->epoch);
        }
    }
    if (e.since) {
        out.append(R"(,"since":{"offset":)");
        detail::append_integer(out, e.since->offset);
        out.append(R"(,"epoch":)");
        detail::append_json_string(out, e.since->epoch);
        out.push_back('}');
    }
    if (!e.error.empty()) {
        out.append(R"(,"error":)");
        detail::append_json_string(out, e.error);
    }
    out.append(R"(,"timestamp":")");
    out.append(ts.data(), ts.size());
    out.push_back('"');
    if (!e.data.empty()) {
        out.append(R"(,"data":)");
        out.append(e.data);
    }
    out.push_back('}');
    return out;
}

inline std::string json_codec::to_data(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace pier::pool
