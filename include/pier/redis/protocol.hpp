// pier/redis/protocol.hpp: RESP2, the Redis protocol, through hiredis: the owned `reply`
// value, `reply_parser` (bytes in, replies out) and `format_command` (arguments in, bytes out).
//
// Why hiredis's reader and formatter but not its async API (`redisAsyncContext`): Debian's
// hiredis 0.14 async layer cannot carry a backplane. It aborts on replies it does not expect
// in subscribed mode (SSUBSCRIBE's `ssubscribe`/`smessage`/`sunsubscribe` pushes, which it
// predates), has no per-command or connect timeouts, frees its context from inside callbacks
// on error (so the owner's pointer dangles), and has no TLS. The reader and the formatter are
// the maintained, CVE-patched part (CVE-2020-7105, CVE-2021-32765 in Debian's 0.14.1-3) and
// need no I/O, so pier drives them from its own Asio connection (pier/redis/connection.hpp).
//
// Thread safety: a `reply_parser` is a plain object (distinct objects safe, a shared one
// unsafe); `format_command` is reentrant.
#pragma once

#include <pier/redis/error.hpp>

#include <hiredis/hiredis.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pier::redis {

/// What a RESP2 reply is. hiredis 0.14 has no RESP3, so neither has pier (no HELLO 3).
enum class reply_kind : std::uint8_t {
    nil,     ///< `$-1` or `*-1`: a missing value
    string,  ///< a bulk string: `str`
    status,  ///< a simple string such as OK or PONG: `str`
    error,   ///< an error reply: `str` holds the server's text (`ERR …`, `MOVED …`)
    integer, ///< `integer`
    array,   ///< `elements`, which may nest (hiredis allows 7 levels)
};

/// One reply, owned: it outlives the read buffer it came from.
struct reply {
    reply_kind kind = reply_kind::nil;
    std::string str;
    long long integer = 0;
    std::vector<reply> elements;

    bool is_error() const noexcept { return kind == reply_kind::error; }
    bool is_nil() const noexcept { return kind == reply_kind::nil; }
    /// A string, status or error reply's text (empty for the other kinds).
    std::string_view text() const noexcept { return str; }

    friend bool operator==(const reply&, const reply&) = default;
};

/// Bounds on what one reply may cost, whatever a (broken or hostile) server sends.
struct protocol_limits {
    /// Most bytes buffered for one incomplete reply. Default 64 MiB: far above what a
    /// backplane sends (messages and script results of kilobytes), well below Redis's own
    /// 512 MiB bulk limit, so that one runaway value cannot take a process's memory.
    std::size_t max_reply_bytes = 64 * 1024 * 1024;
    /// Most array elements in one reply, nested ones included. Default 1,048,576. hiredis
    /// allocates an array's element table when it reads the header, before the elements
    /// arrive, so without this bound 12 bytes (`*2000000000\r\n`) would ask for 16 GB. A
    /// million small elements cost about 130 MB (hiredis's objects plus `reply`s).
    std::size_t max_reply_elements = 1024 * 1024;
};

/// RESP2 bytes in, `reply`s out: hiredis's `redisReader` with pier's bounds, converted into
/// owned `reply` values. Errors are sticky: after one, the stream cannot be resynchronised.
class reply_parser {
public:
    explicit reply_parser(protocol_limits limits = {});
    ~reply_parser();
    reply_parser(const reply_parser&) = delete;
    reply_parser& operator=(const reply_parser&) = delete;

    /// Adds bytes read from the server. Fails only after an earlier error or when out of
    /// memory (protocol_error).
    std::error_code feed(std::string_view bytes);
    /// The next complete reply: true and `out` filled, or false when more bytes are needed
    /// (`ec` clear) or the input is bad (`ec` = protocol_error or reply_too_large).
    bool next(reply& out, std::error_code& ec);
    /// Bytes held for a reply that is not complete yet.
    std::size_t buffered() const noexcept;
    /// hiredis's description of the last error (empty if none).
    std::string_view error_text() const noexcept;

private:
    // hiredis calls the object functions with the task's privdata, which is this state; the
    // array hook charges elements against the bound and delegates the rest to hiredis's own
    // functions, so the objects stay hiredis's and freeReplyObject frees them.
    struct hooks {
        redisReplyObjectFunctions fns{};
        redisReplyObjectFunctions* base = nullptr;
        std::size_t elements = 0;
        std::size_t max_elements = 0;
        bool over = false;
    };
    static void* create_array(const redisReadTask* task, int elements);

    protocol_limits limits_;
    hooks hooks_;
    redisReader* reader_ = nullptr;
    std::error_code error_;
};

/// A reply that hiredis built, as an owned `reply` (also for tests that talk to a server with
/// hiredis's blocking API).
inline reply from_hiredis(const redisReply* r);

/// Appends the RESP encoding of the command `args` (an array of bulk strings) to `out`, using
/// hiredis's `redisFormatCommandArgv`. Fails with invalid_argument for no arguments or more
/// than 2^30 bytes, protocol_error when hiredis runs out of memory; `out` is unchanged then.
template <class Args> std::error_code format_command(const Args& args, std::string& out);
inline std::error_code format_command(std::initializer_list<std::string_view> args,
                                      std::string& out) {
    return format_command(std::span<const std::string_view>(args.begin(), args.size()), out);
}

// ---------------------------------------------------------------------------------------------

inline reply_parser::reply_parser(protocol_limits limits) : limits_(limits) {
    reader_ = redisReaderCreate();
    if (!reader_)
        throw std::bad_alloc();
    hooks_.base = reader_->fn;
    hooks_.fns = *reader_->fn;
    hooks_.fns.createArray = &reply_parser::create_array;
    hooks_.max_elements = limits_.max_reply_elements;
    reader_->fn = &hooks_.fns;
    reader_->privdata = &hooks_;
}

inline reply_parser::~reply_parser() {
    redisReaderFree(reader_);
}

inline void* reply_parser::create_array(const redisReadTask* task, int elements) {
    auto* h = static_cast<hooks*>(task->privdata);
    const auto n = elements > 0 ? static_cast<std::size_t>(elements) : 0;
    if (n > h->max_elements - h->elements) {
        h->over = true;
        return nullptr; // hiredis turns this into its out-of-memory error
    }
    h->elements += n;
    return h->base->createArray(task, elements);
}

inline std::error_code reply_parser::feed(std::string_view bytes) {
    if (error_)
        return error_;
    if (bytes.empty())
        return {};
    if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK)
        error_ = make_error_code(error::protocol_error);
    return error_;
}

inline bool reply_parser::next(reply& out, std::error_code& ec) {
    ec = error_;
    if (ec)
        return false;
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
        ec = error_ = make_error_code(hooks_.over ? error::reply_too_large : error::protocol_error);
        return false;
    }
    if (!raw) {
        if (buffered() > limits_.max_reply_bytes)
            ec = error_ = make_error_code(error::reply_too_large);
        return false;
    }
    hooks_.elements = 0;
    out = from_hiredis(static_cast<const redisReply*>(raw));
    freeReplyObject(raw);
    return true;
}

inline std::size_t reply_parser::buffered() const noexcept {
    return reader_->len >= reader_->pos ? reader_->len - reader_->pos : 0;
}

inline std::string_view reply_parser::error_text() const noexcept {
    return reader_->err ? std::string_view(reader_->errstr) : std::string_view();
}

// hiredis nests at most 7 levels, so the recursion is bounded.
inline reply from_hiredis(const redisReply* r) {
    reply out;
    switch (r->type) {
    case REDIS_REPLY_STRING:
        out.kind = reply_kind::string;
        out.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_STATUS:
        out.kind = reply_kind::status;
        out.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        out.kind = reply_kind::error;
        out.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        out.kind = reply_kind::integer;
        out.integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        out.kind = reply_kind::array;
        out.elements.reserve(r->elements);
        for (std::size_t i = 0; i < r->elements; ++i)
            out.elements.push_back(from_hiredis(r->element[i]));
        break;
    default:
        out.kind = reply_kind::nil;
        break;
    }
    return out;
}

template <class Args> std::error_code format_command(const Args& args, std::string& out) {
    constexpr std::size_t max_command_bytes = std::size_t(1) << 30;
    std::vector<const char*> argv;
    std::vector<std::size_t> argvlen;
    std::size_t total = 0;
    for (const auto& a : args) {
        const std::string_view v(a);
        argv.push_back(v.empty() ? "" : v.data());
        argvlen.push_back(v.size());
        total += v.size() + 32; // the "$<len>\r\n…\r\n" framing
        if (total > max_command_bytes)
            return make_error_code(error::invalid_argument);
    }
    if (argv.empty())
        return make_error_code(error::invalid_argument);
    char* cmd = nullptr;
    const int len =
        redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), argvlen.data());
    if (len < 0 || !cmd)
        return make_error_code(error::protocol_error);
    out.append(cmd, static_cast<std::size_t>(len));
    redisFreeCommand(cmd);
    return {};
}

} // namespace pier::redis
