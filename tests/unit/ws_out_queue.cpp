// Unit tests for pier/ws/detail/out_queue.hpp: the session's write queue with message
// boundaries: copies coalesce in chunks, shared frames are referenced, partial writes keep
// their place, every slow-consumer policy drops whole unsent messages only, the accounting
// counts each message's overhead, and the memory goes once the queue drains.
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace ws = pier::ws;
using ws::detail::frame_ref;
using ws::detail::out_queue;
using ws::detail::overflow;

namespace {

std::string contents(const out_queue& q) {
    std::array<asio::const_buffer, 64> iov;
    const auto n = q.gather(iov);
    std::string out;
    for (std::size_t i = 0; i < n; ++i)
        out.append(static_cast<const char*>(iov[i].data()), iov[i].size());
    return out;
}

void push(out_queue& q, std::string_view s, std::uint32_t key = 0) {
    const std::string_view parts[] = {s};
    q.push_copy(parts, key);
}

// As a session whose policy never drops single messages queues them.
void push_coalescing(out_queue& q, std::string_view s, std::uint32_t key = 0) {
    const std::string_view parts[] = {s};
    q.push_copy(parts, key, true);
}

frame_ref shared(std::string_view s) {
    frame_ref f(ws::detail::frame_buf::make(s.size()));
    std::memcpy(f.get()->data(), s.data(), s.size());
    return f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_out_queue)

BOOST_AUTO_TEST_CASE(empty_queue_holds_nothing) {
    out_queue q;
    BOOST_TEST(q.empty());
    BOOST_TEST(q.cost() == 0u);
    BOOST_TEST(sizeof(q) == sizeof(void*)); // one null pointer while idle
    push(q, "ab");
    BOOST_TEST(!q.empty());
    q.consume(2);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(copies_and_shared_frames_in_order) {
    out_queue q;
    push(q, "one,");
    const std::string_view parts[] = {"t", "wo,"};
    q.push_copy(parts);
    auto f = shared("three,");
    q.push_shared(f);
    push(q, "four");
    BOOST_TEST(contents(q) == "one,two,three,four");
    BOOST_TEST(q.messages() == 4u);
    BOOST_TEST(q.bytes() == 18u);
    BOOST_TEST(q.cost() == 18u + 4 * out_queue::per_message_overhead);
    BOOST_TEST(f.get()->use_count() == 2u); // the queue holds a reference, not a copy
    q.consume(5);                           // "one," and "t"
    BOOST_TEST(contents(q) == "wo,three,four");
    BOOST_TEST(q.front_started());
    q.consume(13);
    BOOST_TEST(q.empty());
    BOOST_TEST(f.get()->use_count() == 1u);
}

BOOST_AUTO_TEST_CASE(copies_back_to_back_gather_as_one_range) {
    // The kernel's copy costs per range: messages copied one after another into a chunk go
    // as one range; a shared frame between them starts a new one.
    out_queue q;
    push(q, "one,");
    push(q, "two,");
    push(q, "three,");
    std::array<asio::const_buffer, 64> iov;
    BOOST_TEST(q.gather(iov) == 1u);
    BOOST_TEST(iov[0].size() == 14u);
    auto f = shared("four,");
    q.push_shared(f);
    push(q, "five");
    BOOST_TEST(q.gather(iov) == 3u);
    BOOST_TEST(contents(q) == "one,two,three,four,five");
    q.consume(6); // into "two,": the range starts there
    BOOST_TEST(q.gather(iov) == 3u);
    BOOST_TEST(std::string_view(static_cast<const char*>(iov[0].data()), iov[0].size()) ==
               "o,three,");
    // A gather that runs out of room stops at a whole range.
    std::array<asio::const_buffer, 2> two;
    BOOST_TEST(q.gather(two) == 2u);
    BOOST_TEST(two[1].size() == 5u);
    BOOST_TEST(q.messages() == 4u); // the boundaries are kept: four messages, not one
    q.consume(q.bytes());
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(coalesced_copies_share_an_entry_and_keep_their_count) {
    out_queue q;
    push_coalescing(q, "one,");
    push_coalescing(q, "two,");
    push_coalescing(q, "three,");
    BOOST_TEST(q.entries() == 1u);
    BOOST_TEST(q.messages() == 3u); // the limits still count every message's overhead
    BOOST_TEST(q.cost() == 14u + 3 * out_queue::per_message_overhead);
    // A shared frame, and a message with a key, each take an entry of their own, and the
    // copies after them a new one.
    auto f = shared("four,");
    q.push_shared(f);
    push_coalescing(q, "five,");
    push_coalescing(q, "k:six,", 7);
    push_coalescing(q, "seven");
    BOOST_TEST(q.entries() == 5u);
    BOOST_TEST(q.messages() == 7u);
    BOOST_TEST(contents(q) == "one,two,three,four,five,k:six,seven");
    // Written across the boundaries inside the first entry: bytes and count stay exact.
    q.consume(6);
    BOOST_TEST(q.bytes() == 35u - 6u);
    BOOST_TEST(q.messages() == 7u); // the entry is partly written: all three are still queued
    q.consume(8);
    BOOST_TEST(q.messages() == 4u);
    BOOST_TEST(q.entries() == 4u);
    BOOST_TEST(contents(q) == "four,five,k:six,seven");
    q.consume(q.bytes());
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(coalescing_skips_pinned_and_started_entries) {
    out_queue q;
    push_coalescing(q, "HTTP/1.1 101\r\n\r\n");
    q.pin_all(); // the handshake's response
    push_coalescing(q, "hello");
    BOOST_TEST(q.entries() == 2u);
    push_coalescing(q, "world");
    BOOST_TEST(q.entries() == 2u); // behind the pinned entry, the copies coalesce
    q.consume(q.bytes() - 3);      // everything but "rld" written: the entry left is started
    BOOST_TEST(q.entries() == 1u);
    push_coalescing(q, "again");
    BOOST_TEST(q.entries() == 2u); // a started entry takes nothing more
    BOOST_TEST(contents(q) == "rldagain");
    // A failure drops what did not start: the started entry goes whole, the rest is dropped
    // and counted by message.
    push_coalescing(q, "more");
    BOOST_TEST(q.drop_unsent() == 2u);
    BOOST_TEST(contents(q) == "rld");
    BOOST_TEST(q.messages() == 2u); // "hello" and "world", in the started entry
    q.consume(3);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(a_queue_of_dropped_messages_is_empty_once_the_started_one_is_written) {
    // A failure drops what did not start; once the started message is written, nothing is left
    // (before, the dropped entries behind it kept the queue from being empty, and a closing
    // session waited for output that would never come).
    out_queue q;
    push(q, "abc");
    push(q, "def");
    push(q, "ghi");
    q.consume(1);
    BOOST_TEST(q.drop_unsent() == 2u);
    BOOST_TEST(contents(q) == "bc");
    q.consume(2);
    BOOST_TEST(q.empty());
    // The same after drop_oldest made room behind a started message, and the new one still
    // did not fit (a session's flush would have spun on a queue with nothing to write).
    push(q, "abc");
    push(q, "def");
    q.consume(1);
    bool fits = true;
    BOOST_TEST(q.make_room(out_queue::cost_of(100), q.cost(), overflow::drop_oldest, 0, fits) ==
               1u);
    BOOST_TEST(!fits);
    std::array<asio::const_buffer, 4> iov;
    BOOST_TEST(q.gather(iov) == 1u);
    q.consume(2);
    BOOST_TEST(q.empty());
    BOOST_TEST(q.gather(iov) == 0u);
}

// push_frame copies the whole header array and then the payload over the bytes past the
// header's length: what goes out is exactly the frame, whatever the payload's length (shorter
// than the array's spare bytes, empty, or filling a chunk to its last byte), and each frame
// counts as one message.
BOOST_AUTO_TEST_CASE(frames_copy_only_their_header_and_payload) {
    out_queue q;
    std::array<std::uint8_t, 10> h;
    h.fill('#'); // the bytes past the header's length must never go out
    h[0] = 'A';
    h[1] = 'B';
    q.push_frame(h, 2, "xyz", 0, true);
    q.push_frame(h, 2, "", 0, true);
    h[0] = 'C';
    q.push_frame(h, 1, "0123456789abcdef", 0, true);
    BOOST_TEST(contents(q) == "ABxyzABC0123456789abcdef");
    BOOST_TEST(q.messages() == 3u);
    BOOST_TEST(q.entries() == 1u); // coalesced: one range
    BOOST_TEST(q.cost() == 24u + 3 * out_queue::per_message_overhead);
    q.consume(24);
    BOOST_TEST(q.empty());

    // A frame needs room for the whole header array in the tail chunk: with 8 bytes left, a
    // 2-byte frame (which would fit) goes to a new chunk, and the array's 10 bytes never land
    // past the chunk's end.
    const std::string filler(out_queue::chunk_size - 8, 'f');
    push_coalescing(q, filler);
    h[0] = 'D';
    q.push_frame(h, 2, "", 0, true);
    BOOST_TEST(q.entries() == 2u); // not coalesced: another chunk
    BOOST_TEST(contents(q) == filler + "DB");
    q.consume(filler.size() + 2);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(refuse_policy_changes_nothing) {
    out_queue q;
    push(q, std::string(100, 'a'));
    bool fits = true;
    BOOST_TEST(q.make_room(out_queue::cost_of(100), 200, overflow::refuse, 0, fits) == 0u);
    BOOST_TEST(!fits);
    BOOST_TEST(q.messages() == 1u);
}

BOOST_AUTO_TEST_CASE(drop_oldest_never_drops_a_started_message) {
    out_queue q;
    push(q, std::string(100, 'a'));
    push(q, std::string(100, 'b'));
    push(q, std::string(100, 'c'));
    q.consume(10); // 'a' started
    bool fits = false;
    const auto limit = q.cost(); // room for nothing more
    const auto dropped =
        q.make_room(out_queue::cost_of(100), limit, overflow::drop_oldest, 0, fits);
    BOOST_TEST(dropped == 1u); // 'b' only
    BOOST_TEST(fits);
    BOOST_TEST(contents(q) == std::string(90, 'a') + std::string(100, 'c'));
    // Only the started one left: nothing more can go.
    q.make_room(out_queue::cost_of(100), out_queue::cost_of(100), overflow::drop_oldest, 0, fits);
    BOOST_TEST(contents(q) == std::string(90, 'a'));
    BOOST_TEST(!fits);
}

BOOST_AUTO_TEST_CASE(latest_replaces_the_unsent_message_with_its_key) {
    out_queue q;
    push(q, "k1:v1", 1);
    push(q, "k2:v1", 2);
    push(q, "k1:v2", 1);
    bool fits = false;
    // Room for everything: nothing but the older k1 goes.
    const auto n = q.make_room(out_queue::cost_of(5), 1 << 20, overflow::latest, 1, fits);
    BOOST_TEST(n == 2u); // both queued k1 messages are older than the one about to come
    push(q, "k1:v3", 1);
    BOOST_TEST(contents(q) == "k2:v1k1:v3");
    BOOST_TEST(q.messages() == 2u);
    BOOST_TEST(q.cost() == 10u + 2 * out_queue::per_message_overhead);
    // A started message with the key stays.
    q.consume(1);
    q.make_room(out_queue::cost_of(5), 1 << 20, overflow::latest, 2, fits);
    BOOST_TEST(contents(q) == "2:v1k1:v3");
}

BOOST_AUTO_TEST_CASE(overhead_bounds_a_flood_of_tiny_messages) {
    out_queue q;
    std::size_t accepted = 0;
    const std::size_t limit = 4096;
    for (int i = 0; i < 10000; ++i) {
        bool fits = false;
        q.make_room(out_queue::cost_of(1), limit, overflow::refuse, 0, fits);
        if (!fits)
            break;
        push(q, "x");
        ++accepted;
    }
    BOOST_TEST(q.cost() <= limit);
    BOOST_TEST(accepted == limit / out_queue::cost_of(1));
    q.clear();
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(large_copies_get_their_own_chunk) {
    out_queue q;
    const std::string big(3 * out_queue::chunk_size, 'z');
    push(q, "head");
    push(q, big);
    push(q, "tail");
    BOOST_TEST(contents(q) == "head" + big + "tail");
    q.consume(q.bytes());
    BOOST_TEST(q.empty());
}

// join_frame takes a frame only if the tail chunk has room for the whole header array and the
// payload: exactly that room joins, one byte less does not (push_frame then starts a chunk).
BOOST_AUTO_TEST_CASE(join_frame_needs_room_for_the_header_array_and_the_payload) {
    std::array<std::uint8_t, 10> h;
    h.fill('#');
    h[0] = 'H';
    h[1] = 'h';
    for (const std::size_t spare : {0, 1}) {
        out_queue q;
        const std::string first(100, 'f');
        q.push_frame(h, 2, first, 0, true);
        BOOST_TEST(q.has_open());
        // Leave 29 + spare bytes of room in the chunk: the next frame needs 10 + 20.
        const std::string fill(out_queue::chunk_size - 104 - 29 - spare, 'x');
        BOOST_TEST(q.join_frame(h, 2, fill));
        const std::string payload(20, 'p');
        BOOST_TEST(q.join_frame(h, 2, payload) == (spare == 1));
        if (spare == 0)
            q.push_frame(h, 2, payload, 0, true);
        BOOST_TEST(q.entries() == (spare == 1 ? 1u : 2u));
        BOOST_TEST(contents(q) == "Hh" + first + "Hh" + fill + "Hh" + payload);
        BOOST_TEST(q.messages() == 3u);
        q.consume(q.bytes());
        BOOST_TEST(q.empty());
    }
}

// join_frame is push_frame's common case, taken by session::send_data before admit: whenever
// it says yes, the queue must be exactly as push_frame(h, hn, payload, 0, true) leaves it, and
// whenever it says no, untouched. Two queues take the same random operations (frames of every
// size, copies with and without a key, shared frames, partial writes, pins, drops, evictions),
// one trying join_frame first and the other calling push_frame only, and must agree after
// every step.
BOOST_AUTO_TEST_CASE(join_frame_is_push_frame_whenever_it_joins) {
    std::uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto next = [&](std::uint64_t n) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed % n;
    };
    std::size_t joined = 0, declined_with_open = 0;
    for (int round = 0; round < 200; ++round) {
        out_queue a, b; // a: join_frame first; b: push_frame only
        for (int step = 0; step < 300; ++step) {
            const auto op = next(100);
            if (op < 70) {
                std::array<std::uint8_t, 10> h;
                h.fill('#');
                const std::size_t hns[] = {2, 4, 10};
                const std::size_t hn = hns[next(3)];
                for (std::size_t i = 0; i < hn; ++i)
                    h[i] = static_cast<std::uint8_t>('A' + next(26));
                const std::size_t sizes[] = {0, 1, 7, 64, 125, 700, 3000, 5000};
                const std::string payload(sizes[next(8)], static_cast<char>('a' + next(26)));
                const bool open = a.has_open();
                const auto before = contents(a);
                const auto cost = a.cost();
                if (a.join_frame(h, hn, payload))
                    ++joined;
                else {
                    declined_with_open += open;
                    BOOST_TEST_REQUIRE(contents(a) == before); // a refusal changes nothing
                    BOOST_TEST_REQUIRE(a.cost() == cost);
                    a.push_frame(h, hn, payload, 0, true);
                }
                b.push_frame(h, hn, payload, 0, true);
            } else if (op < 76) {
                push_coalescing(a, "key", 5);
                push_coalescing(b, "key", 5);
            } else if (op < 78) {
                push(a, "plain");
                push(b, "plain");
            } else if (op < 80) { // a control frame's or the handshake's copy: it opens an entry
                push_coalescing(a, "ctl");
                push_coalescing(b, "ctl");
            } else if (op < 84) {
                auto f = shared("shared");
                a.push_shared(f);
                b.push_shared(f);
            } else if (op < 94) {
                const std::size_t n = a.bytes() == 0 ? 0 : next(a.bytes() + 1);
                a.consume(n);
                b.consume(n);
            } else if (op < 96) {
                a.pin_all();
                b.pin_all();
            } else if (op < 98) {
                BOOST_TEST(a.drop_unsent() == b.drop_unsent());
            } else {
                const auto policy = next(2) ? overflow::drop_oldest : overflow::latest;
                bool fa = false, fb = false;
                const auto limit = a.cost() / 2;
                BOOST_TEST(a.make_room(64, limit, policy, 5, fa) ==
                           b.make_room(64, limit, policy, 5, fb));
                BOOST_TEST(fa == fb);
            }
            BOOST_TEST_REQUIRE(contents(a) == contents(b), "round " << round << " step " << step);
            BOOST_TEST_REQUIRE(a.messages() == b.messages());
            BOOST_TEST_REQUIRE(a.entries() == b.entries());
            BOOST_TEST_REQUIRE(a.cost() == b.cost());
            BOOST_TEST_REQUIRE(a.empty() == b.empty());
        }
    }
    // Both branches ran: frames joined, and an open entry without room declined.
    BOOST_TEST(joined > 1000u);
    BOOST_TEST(declined_with_open > 10u);
}

namespace {
struct plain_echo {
    template <class Session> void on_message(Session&, ws::message) {}
};
} // namespace

BOOST_AUTO_TEST_CASE(an_idle_session_is_one_256_byte_block) {
    // The idle-memory figure (bench: ws_idle_10k) is mostly this object: an empty queue is one
    // pointer, and the session with its socket, buffer handle, parser and flags is one heap
    // block. 248 bytes is glibc's 256-byte chunk (8 bytes of header); one byte more is 272.
    using impl = ws::detail::session_impl<plain_echo, pier::default_policies>;
    BOOST_TEST(sizeof(out_queue) == sizeof(void*));
    if constexpr (sizeof(void*) == 8)
        BOOST_TEST(sizeof(impl) <= 248u, "session_impl is " << sizeof(impl) << " bytes");
}

BOOST_AUTO_TEST_SUITE_END()
