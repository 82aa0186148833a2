// pier/ws/detail/out_queue.hpp: a WebSocket session's write queue, which knows where each
// message starts (for the slow-consumer policies) and takes no memory while it is empty.
//
// Internal: used on the session's shard only. Not thread-safe, except `frame_buf`'s counts.
#pragma once

#include <pier/buffer/pooled.hpp>
#include <pier/config.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>

namespace pier::ws::detail {

/// Immutable bytes with an atomic reference count in the same allocation: a frame prepared
/// once and queued on many sessions, on any shard. One pointer per reference (shared_ptr
/// takes two and a separate control block).
class frame_buf {
public:
    frame_buf(const frame_buf&) = delete;
    frame_buf& operator=(const frame_buf&) = delete;

    /// A new buffer of `size` bytes with one reference (the caller's).
    static frame_buf* make(std::size_t size) {
        void* p = ::operator new(sizeof(frame_buf) + size);
        return ::new (p) frame_buf(static_cast<std::uint32_t>(size));
    }
    char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
    const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
    std::size_t size() const noexcept { return size_; }
    std::string_view view() const noexcept { return {data(), size_}; }

    /// One more reference (from a pass's spares when a ref_cache::scope is open).
    void add_ref() noexcept;
    /// One reference less; the last frees the buffer.
    void release() noexcept;
    /// References, spares that a ref_cache holds included.
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

private:
    friend class ref_cache;
    explicit frame_buf(std::uint32_t n) noexcept : size_(n) {}
    void take(std::uint32_t n) noexcept { refs_.fetch_add(n, std::memory_order_relaxed); }
    void drop(std::uint32_t n) noexcept {
        if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) {
            this->~frame_buf();
            ::operator delete(this);
        }
    }
    std::atomic<std::uint32_t> refs_{1};
    std::uint32_t size_;
};

/// References to shared frames taken and dropped on one thread during a pass of its loop,
/// without an atomic operation each. A broadcast to N sessions of a shard takes N references
/// to one frame (one per write queue) and drops them at the pass's flush: an atomic
/// increment and decrement each, 6.5% of the CPU of a 64-byte broadcast to 1,000 subscribers.
///
/// While a scope is open on a thread, that thread's references to a frame come from a batch
/// of spares taken with one atomic add; a reference dropped there goes back to the spares;
/// and when the outermost scope closes (the end of the shard's pass, after its flush), the
/// spares left go back with one atomic subtraction, which frees the frame if no one else holds
/// it. Spares are real references, so a frame is never freed while a cache holds some, and
/// any thread may drop a reference the cache handed out. 64 frames per thread (a frame
/// whose 4 slots are taken takes one of them, returning the other frame's spares). Outside a
/// scope, each reference is an atomic operation, as before.
///
/// Why hand-written: it is the idea of deferred and biased reference counting (Choi et al.,
/// "Biased Reference Counting", PACT 2018) cut down to what a pass needs: no library offers
/// it for an intrusive count.
class ref_cache {
public:
    /// Opens the thread's cache until the outermost scope closes.
    class scope {
    public:
        scope() noexcept { ++tls().depth; }
        ~scope() {
            if (--tls().depth == 0)
                flush();
        }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
    };

    /// Takes one reference to `f` from the spares; false outside a scope.
    static bool add_ref(frame_buf* f) noexcept {
        auto& t = tls();
        if (t.depth == 0)
            return false;
        slot& sl = t.take_slot(f);
        if (sl.spare == 0) {
            f->take(batch);
            sl.spare = batch;
        }
        --sl.spare;
        return true;
    }
    /// Puts one reference to `f` among the spares (a frame of an earlier pass, whose
    /// subscribers' writes finish now, takes a slot too); false outside a scope.
    static bool release(frame_buf* f) noexcept {
        auto& t = tls();
        if (t.depth == 0)
            return false;
        ++t.take_slot(f).spare;
        return true;
    }

private:
    static constexpr std::uint32_t batch = 256;
    struct slot {
        frame_buf* frame = nullptr;
        std::uint32_t spare = 0;
    };
    struct state {
        slot slots[64];
        std::uint64_t used = 0; // a bit per slot that holds a frame
        unsigned depth = 0;
        ~state() { flush_slots(*this); }
        // The slot of `f`: one of 4 from its hash on (a broadcast's subscribers release the
        // frames of several publishes in turn, and two that shared one slot evicted each
        // other on every release), else an empty one of them, else the first, whose frame's
        // spares go back.
        slot& take_slot(frame_buf* f) noexcept {
            const std::size_t h = index(f);
            std::size_t empty = probes;
            for (std::size_t k = 0; k < probes; ++k) {
                slot& sl = slots[(h + k) & 63];
                if (sl.frame == f)
                    return sl;
                if (sl.frame == nullptr && empty == probes)
                    empty = k;
            }
            const std::size_t i = (h + (empty == probes ? 0 : empty)) & 63;
            slot& sl = slots[i];
            if (sl.frame)
                sl.frame->drop(std::exchange(sl.spare, 0));
            sl.frame = f;
            used |= std::uint64_t{1} << i;
            return sl;
        }
        static constexpr std::size_t probes = 4;
    };
    static state& tls() noexcept {
        thread_local state t;
        return t;
    }
    // Fibonacci hashing: frames allocated one after another (a few dozen bytes apart) spread
    // over the slots.
    static std::size_t index(const frame_buf* f) noexcept {
        const auto h = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(f) >> 4) *
                       0x9e3779b97f4a7c15ull;
        return static_cast<std::size_t>(h >> 58);
    }
    static void flush_slots(state& t) noexcept {
        for (; t.used != 0; t.used &= t.used - 1) {
            slot& sl = t.slots[std::countr_zero(t.used)];
            if (sl.spare)
                sl.frame->drop(sl.spare);
            sl = {};
        }
    }
    static void flush() noexcept { flush_slots(tls()); }
};

inline void frame_buf::add_ref() noexcept {
    if (!ref_cache::add_ref(this))
        take(1);
}
inline void frame_buf::release() noexcept {
    if (!ref_cache::release(this))
        drop(1);
}

/// An owning reference to a frame_buf.
class frame_ref {
public:
    frame_ref() = default;
    /// Adopts `p`'s reference.
    explicit frame_ref(frame_buf* p) noexcept : p_(p) {}
    frame_ref(const frame_ref& o) noexcept : p_(o.p_) {
        if (p_)
            p_->add_ref();
    }
    frame_ref(frame_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    frame_ref& operator=(frame_ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~frame_ref() {
        if (p_)
            p_->release();
    }
    frame_buf* get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    std::string_view view() const noexcept { return p_ ? p_->view() : std::string_view(); }

private:
    frame_buf* p_ = nullptr;
};

/// What the queue does when a message would take it past its limit (see ws/options.hpp,
/// `slow_consumer`, for the user-facing description).
enum class overflow : std::uint8_t {
    refuse,      ///< refuse the new message (drop newest)
    drop_oldest, ///< evict whole unsent messages from the front to make room
    latest,      ///< replace the unsent message with the same key, then as drop_oldest
};

/// The write queue: a ring of message entries over copied bytes (in chunks) or shared frames.
/// All memory (ring, chunks) is allocated when the first byte is queued and freed when the
/// queue drains, so an idle session's queue is one null pointer. A message's first byte that
/// went to the kernel pins it: it is never dropped, only the messages behind it.
class out_queue {
public:
    /// Bytes each queued message costs beyond its own (its ring entry, rounded up), counted
    /// against the limits so that a flood of tiny messages is bounded too.
    static constexpr std::size_t per_message_overhead = 32;
    /// Copied messages share chunks of this size (a larger message gets a chunk of its own).
    static constexpr std::size_t chunk_size = 4096;

    out_queue() = default;
    out_queue(const out_queue&) = delete;
    out_queue& operator=(const out_queue&) = delete;
    ~out_queue() { clear(); }

    bool empty() const noexcept { return s_ == nullptr; }
    /// Queued bytes, per-message overhead included: what the limits compare.
    std::size_t cost() const noexcept {
        return s_ ? s_->bytes + std::size_t{s_->live} * per_message_overhead : 0;
    }
    /// Queued payload bytes not yet written.
    std::size_t bytes() const noexcept { return s_ ? s_->bytes : 0; }
    std::size_t messages() const noexcept { return s_ ? s_->live : 0; }
    /// Ring entries: fewer than messages() when copies coalesced (push_copy).
    std::size_t entries() const noexcept { return s_ ? s_->count : 0; }

    /// Whether a message of `size` bytes fits under `limit` (after eviction, when `policy`
    /// allows; nothing is changed here).
    static std::size_t cost_of(std::size_t size) noexcept { return size + per_message_overhead; }

    /// Makes room for a message costing `need` under `limit` by evicting unsent messages
    /// (and, for `latest`, first the unsent one with `key`). Returns how many it dropped;
    /// `fits` says whether the room is there now.
    std::size_t make_room(std::size_t need, std::size_t limit, overflow policy, std::uint32_t key,
                          bool& fits) noexcept {
        std::size_t dropped = 0;
        if (policy == overflow::latest && key != 0 && s_)
            dropped += drop_key(key);
        if (policy != overflow::refuse) {
            while (s_ && cost() + need > limit) {
                if (const auto n = drop_front_unsent())
                    dropped += n;
                else
                    break;
            }
        }
        fits = cost() + need <= limit;
        return dropped;
    }

    /// Queues the concatenation of `parts` as one message (copied).
    ///
    /// With `coalesce`, a message without a key that lands right behind the previous one in
    /// the same chunk joins that message's entry, unless the entry is pinned or partly written:
    /// a queue that never drops single messages (every slow-consumer policy but drop_oldest
    /// and latest) needs no boundary between them. An echo's or a chat's burst of small
    /// messages then takes one ring entry per chunk instead of one per message, and is
    /// popped as one (a ring entry appended and popped per message was 2.4% of a 64-byte
    /// echo's CPU). The count of messages, and so the cost the limits see, is the same. What
    /// changes: `drop_unsent()` keeps an entry that started to go whole, so a Close after a
    /// failure may follow up to a chunk (4 KiB) of complete messages it would have dropped.
    void push_copy(std::span<const std::string_view> parts, std::uint32_t key = 0,
                   bool coalesce = false) {
        std::size_t n = 0;
        for (auto p : parts)
            n += p.size();
        if (n == 0)
            return;
        char* const start = tail_room(n);
        char* dst = start;
        for (auto p : parts) {
            if (!p.empty())
                std::memcpy(dst, p.data(), p.size());
            dst += p.size();
        }
        commit_copy(start, n, key, coalesce);
    }
    /// Queues one frame, copied: the first `hn` bytes of the header `h`, then `payload`. The
    /// same as push_copy with the two as parts, without its loops over them, and with the
    /// header copied as a whole array (a few moves instead of a call to memcpy: copy_frame).
    template <std::size_t N>
    void push_frame(const std::array<std::uint8_t, N>& h, std::size_t hn, std::string_view payload,
                    std::uint32_t key = 0, bool coalesce = false) {
        char* const start = tail_room(N + payload.size());
        commit_copy(start, copy_frame(start, h, hn, payload), key, coalesce);
    }
    /// The common case of push_frame(h, hn, payload, 0, true), inline: the frame joins the
    /// open entry (the copy that push_copy or push_frame coalesced last, at the end of the
    /// tail chunk) when that chunk has the room. Returns false, having changed nothing, when
    /// there is no open entry or no room; push_frame then does the rest. The second and later
    /// messages of a pass's burst take about a third of push_frame's instructions this way.
    template <std::size_t N>
    [[gnu::always_inline]] bool join_frame(const std::array<std::uint8_t, N>& h, std::size_t hn,
                                           std::string_view payload) noexcept {
        state* const st = s_;
        if (!st || !st->open)
            return false;
        char* const p = room_in(st->tail, N + payload.size());
        if (!p)
            return false;
        const std::size_t n = copy_frame(p, h, hn, payload);
        st->tail->used += static_cast<std::uint32_t>(n);
        st->open->size += static_cast<std::uint32_t>(n);
        ++st->open->messages;
        ++st->live;
        st->bytes += n;
        return true;
    }
    /// Whether a message may join the open entry (join_frame may still find no room).
    bool has_open() const noexcept { return s_ && s_->open; }
    /// Queues a shared frame (a reference, not a copy).
    void push_shared(const frame_ref& f, std::uint32_t key = 0) {
        if (!f || f.get()->size() == 0)
            return;
        ensure();
        f.get()->add_ref();
        append(f.get()->data(), static_cast<std::uint32_t>(f.get()->size()), key, f.get(), true);
    }

    /// Fills `out` with up to out.size() ranges from the front; returns how many. Messages
    /// copied one after another into a chunk lie back to back, and go as one range: the
    /// kernel's copy into its socket buffer costs per range, and a 64-byte echo spent a
    /// third of its send in that per-range walk when every frame was a range of its own.
    std::size_t gather(std::span<asio::const_buffer> out) const noexcept {
        if (!s_)
            return 0;
        std::size_t n = 0;
        for (std::uint32_t i = 0; i < s_->count; ++i) {
            const entry& e = at(i);
            if (e.size == 0)
                continue; // dropped (latest-per-key)
            const char* p = e.data;
            std::size_t size = e.size;
            if (i == 0) {
                p += s_->head_written;
                size -= s_->head_written;
            }
            if (n > 0) {
                const auto& last = out[n - 1];
                if (static_cast<const char*>(last.data()) + last.size() == p) {
                    out[n - 1] = asio::const_buffer(last.data(), last.size() + size);
                    continue;
                }
            }
            if (n == out.size())
                break;
            out[n++] = asio::const_buffer(p, size);
        }
        return n;
    }

    /// Drops `n` written bytes from the front; frees everything once empty.
    void consume(std::size_t n) noexcept {
        close_open(); // a partly written entry takes no more
        while (n > 0 && s_) {
            entry& e = at(0);
            const std::size_t left = e.size - s_->head_written;
            if (n < left) {
                s_->head_written += static_cast<std::uint32_t>(n);
                s_->bytes -= n;
                return;
            }
            n -= left;
            s_->bytes -= left;
            s_->head_written = e.size; // all written: pop_front() subtracts the overhead only
            pop_front();
        }
        // Entries dropped in place (latest, or a failure's drop_unsent) behind the written
        // ones go too: a queue left with only those would not be empty, and a closing session
        // would wait for output that never comes.
        trim_front();
    }

    /// Whether the front message is partly written (it must then be finished first).
    bool front_started() const noexcept { return s_ && s_->head_written > 0; }

    /// Pins every message queued now: no policy drops them (the handshake's response).
    void pin_all() noexcept {
        if (s_) {
            s_->pinned = s_->count;
            close_open();
        }
    }
    /// Drops every message that is neither started nor pinned; returns how many.
    std::size_t drop_unsent() noexcept {
        std::size_t n = 0;
        for (std::uint32_t i = 0; s_ && i < s_->count; ++i) {
            entry& e = at(i);
            if (e.size == 0 || i < s_->pinned || (i == 0 && s_->head_written > 0))
                continue;
            n += drop_in_place(e);
        }
        if (s_)
            trim_front();
        return n;
    }

    void clear() noexcept {
        while (s_)
            pop_front();
    }

private:
    struct chunk {
        std::uint32_t refs; // live entries in it, plus one while it is the queue's tail
        std::uint32_t used;
        std::uint32_t cap;
        char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
        static chunk* make(std::size_t cap);
        void unref() noexcept;
    };
    struct entry {
        const char* data;
        std::uint32_t size; // 0 once dropped in place (latest-per-key)
        std::uint32_t key;
        void* owner; // chunk* or frame_buf*
        bool shared;
        std::uint32_t messages; // more than 1 when coalesced (push_copy)
    };
    struct state {
        entry* ring = nullptr;
        std::uint32_t cap = 0, head = 0, count = 0, live = 0;
        std::uint32_t head_written = 0;
        std::uint32_t pinned = 0; // entries at the front no policy may drop
        // Unwritten payload bytes. The cost the limits see is computed from it and `live` (a
        // field of its own, updated beside this one, made the compiler pair the two in one
        // 16-byte load that the state's construction had just stored in halves: a store-
        // forwarding stall on the first message of every pass, 2% of a broadcast's CPU).
        std::size_t bytes = 0;
        chunk* tail = nullptr;
        // The open entry (null when there is none): the last one, a coalesced copy that ends
        // where the tail chunk's free room begins, which the next copy without a key may join
        // (join_frame). Anything that changes the ring or the tail, other than a join, closes
        // it (close_open).
        entry* open = nullptr;
    };

    // A queue that fills and drains on every pass of the loop (an echo, a broadcast's
    // subscribers) takes its state, with room for 8 entries, and its chunks from the thread's
    // block pools (pier/buffer/pooled.hpp) instead of the allocator: malloc and free were 2%
    // of a 64-byte echo's CPU. A broadcast to N subscribers of a shard holds N states at once
    // until the pass's flush, so the pools keep up to 4,096 states (1.2 MiB) and 256 chunks
    // (1 MiB) per thread; what a quiet period left unused goes back to the allocator at the
    // shard's sweep (shrink_pools). With 64 states kept, 94% of a broadcast to 1,000
    // subscribers went through malloc and free: 2.3% of its CPU. An idle session's queue is
    // still one null pointer.
    static constexpr std::uint32_t inline_ring = 8;
    using state_pool = pier::buffer::block_pool<sizeof(state) + inline_ring * sizeof(entry), 4096>;
    using chunk_pool = pier::buffer::block_pool<sizeof(chunk) + chunk_size, 256>;
    // A subscriber that falls a few messages behind (its socket full for a pass or two) needs
    // a ring of 16: pooled too, so that a broadcast does not call the allocator for it.
    static constexpr std::uint32_t pooled_ring = 16;
    using ring_pool = pier::buffer::block_pool<pooled_ring * sizeof(entry), 1024>;
    static_assert(sizeof(state) % alignof(entry) == 0);

public:
    /// Frees the calling thread's spare states, rings and chunks that no queue took since the
    /// last call (the shard's sweep calls it). Returns how many blocks went back.
    static std::size_t shrink_pools() noexcept {
        return state_pool::shrink() + ring_pool::shrink() + chunk_pool::shrink();
    }

private:
    entry& at(std::uint32_t i) const noexcept { return s_->ring[(s_->head + i) & (s_->cap - 1)]; }
    static entry* ring_of(state* st) noexcept { return reinterpret_cast<entry*>(st + 1); }

    // Where `n` more bytes go: at the end of the tail chunk, or of a new one if it has not the
    // room (a message larger than chunk_size gets a chunk of its own).
    // The common case is inline; the rest (a first message, a new chunk) is not, so that the
    // callers need not save the registers it uses.
    char* tail_room(std::size_t n) {
        if (s_)
            if (char* const p = room_in(s_->tail, n))
                return p;
        return new_tail_room(n);
    }
    // Where `n` more bytes go in chunk `c` (null: none, or not the room).
    [[gnu::always_inline]] static char* room_in(chunk* c, std::size_t n) noexcept {
        return c && c->cap - c->used >= n ? c->data() + c->used : nullptr;
    }
    // Writes a frame at `p`: the whole header array (its bytes past `hn` land where the payload
    // then goes, or in the chunk's free room), then the payload; returns the frame's size.
    template <std::size_t N>
    [[gnu::always_inline]] static std::size_t
    copy_frame(char* p, const std::array<std::uint8_t, N>& h, std::size_t hn,
               std::string_view payload) noexcept {
        std::memcpy(p, h.data(), N);
        if (!payload.empty())
            std::memcpy(p + hn, payload.data(), payload.size());
        return hn + payload.size();
    }
    [[gnu::noinline]] char* new_tail_room(std::size_t n) {
        ensure();
        if (char* const p = room_in(s_->tail, n))
            return p;
        chunk* const c = chunk::make(std::max(chunk_size, n));
        if (s_->tail)
            s_->tail->unref(); // the queue's own hold on the old tail
        s_->tail = c;          // the new tail's hold is the one make() gave
        close_open();
        return c->data();
    }
    // Queues the `n` bytes written at `start` (from tail_room) as one message.
    void commit_copy(char* start, std::size_t n, std::uint32_t key, bool coalesce) {
        chunk* const c = s_->tail;
        c->used += static_cast<std::uint32_t>(n);
        if (coalesce && key == 0 && s_->count > s_->pinned &&
            (s_->count > 1 || s_->head_written == 0)) {
            entry& last = at(s_->count - 1);
            if (last.owner == c && last.key == 0 && last.size != 0 &&
                last.data + last.size == start) {
                last.size += static_cast<std::uint32_t>(n);
                ++last.messages;
                ++s_->live;
                s_->bytes += n;
                s_->open = &last;
                return;
            }
        }
        ++c->refs;
        append_copy(start, static_cast<std::uint32_t>(n), key, c);
        // A copy without a key that no policy keeps apart may be joined, unless it is pinned.
        if (coalesce && key == 0 && s_->count > s_->pinned)
            s_->open = &at(s_->count - 1);
    }
    void close_open() noexcept {
        if (s_)
            s_->open = nullptr;
    }
    [[gnu::noinline]] void append_copy(const char* data, std::uint32_t size, std::uint32_t key,
                                       chunk* c) {
        append(data, size, key, c, false);
    }
    void ensure() {
        if (!s_) {
            s_ = ::new (state_pool::acquire()) state;
            s_->cap = inline_ring;
            s_->ring = ring_of(s_);
        }
    }
    // Fills the ring's next entry field by field: an entry built on the caller's stack and
    // copied in was loaded back in 16-byte halves right after its 8- and 4-byte stores, a
    // store-forwarding stall per message.
    void append(const char* data, std::uint32_t size, std::uint32_t key, void* owner, bool shared) {
        close_open();
        if (s_->count == s_->cap)
            grow();
        entry& e = s_->ring[(s_->head + s_->count) & (s_->cap - 1)];
        e.data = data;
        e.size = size;
        e.key = key;
        e.owner = owner;
        e.shared = shared;
        e.messages = 1;
        ++s_->count;
        ++s_->live;
        s_->bytes += size;
    }
    void grow() {
        const std::uint32_t cap = s_->cap * 2;
        auto* ring = static_cast<entry*>(cap == pooled_ring ? ring_pool::acquire()
                                                            : ::operator new(sizeof(entry) * cap));
        for (std::uint32_t i = 0; i < s_->count; ++i)
            ring[i] = at(i);
        free_ring();
        s_->ring = ring;
        s_->cap = cap;
        s_->head = 0;
    }
    void free_ring() noexcept {
        if (s_->ring == ring_of(s_))
            return;
        if (s_->cap == pooled_ring)
            ring_pool::release(reinterpret_cast<char*>(s_->ring));
        else
            ::operator delete(s_->ring);
    }
    static void release(entry& e) noexcept {
        if (e.shared)
            static_cast<frame_buf*>(e.owner)->release();
        else
            static_cast<chunk*>(e.owner)->unref();
    }
    void pop_front() noexcept {
        close_open();
        entry& e = at(0);
        if (e.size != 0) {
            const std::size_t unwritten = e.size - s_->head_written;
            s_->bytes -= unwritten;
            s_->live -= e.messages;
        }
        release(e);
        s_->head = (s_->head + 1) & (s_->cap - 1);
        --s_->count;
        if (s_->pinned > 0)
            --s_->pinned;
        s_->head_written = 0;
        if (s_->count == 0)
            free_all();
    }
    // Drops the oldest entry no byte of which was written yet; returns its messages (0 if
    // there is none).
    std::uint32_t drop_front_unsent() noexcept {
        for (std::uint32_t i = 0; i < s_->count; ++i) {
            entry& e = at(i);
            if (e.size == 0 || i < s_->pinned || (i == 0 && s_->head_written > 0))
                continue;
            const auto n = drop_in_place(e);
            if (i == 0)
                pop_front();
            else
                trim_front();
            return n;
        }
        return 0;
    }
    std::size_t drop_key(std::uint32_t key) noexcept {
        std::size_t n = 0;
        for (std::uint32_t i = 0; s_ && i < s_->count; ++i) {
            entry& e = at(i);
            if (e.key == key && e.size != 0 && i >= s_->pinned &&
                !(i == 0 && s_->head_written > 0)) {
                n += drop_in_place(e);
            }
        }
        if (s_)
            trim_front();
        return n;
    }
    // Returns the messages dropped (more than one for a coalesced entry).
    std::uint32_t drop_in_place(entry& e) noexcept {
        close_open();
        s_->bytes -= e.size;
        s_->live -= e.messages;
        e.size = 0;
        return e.messages;
    }
    // Pops dropped entries at the front.
    void trim_front() noexcept {
        while (s_ && s_->count > 0 && at(0).size == 0 && s_->head_written == 0)
            pop_front();
    }
    void free_all() noexcept {
        if (s_->tail)
            s_->tail->unref();
        free_ring();
        s_->~state();
        state_pool::release(reinterpret_cast<char*>(std::exchange(s_, nullptr)));
    }

    state* s_ = nullptr;
};

inline out_queue::chunk* out_queue::chunk::make(std::size_t cap) {
    void* p = cap == chunk_size ? chunk_pool::acquire() : ::operator new(sizeof(chunk) + cap);
    return ::new (p) chunk{1, 0, static_cast<std::uint32_t>(cap)};
}

inline void out_queue::chunk::unref() noexcept {
    if (--refs != 0)
        return;
    if (cap == chunk_size)
        chunk_pool::release(reinterpret_cast<char*>(this));
    else
        ::operator delete(this);
}

} // namespace pier::ws::detail
