// Unit tests for ref_cache (pier/ws/detail/out_queue.hpp): within a scope, references to a
// shared frame come from spares and go back to them; when the outermost scope closes the
// count is exact again, and a frame whose last holder let go inside the scope is freed then
// (ASan reports a leak or a use after free otherwise); references handed out inside a scope
// may be dropped on another thread; and a broadcast's write queues, filled and drained inside
// one scope, leave the count where it was.
//
// pier-test: threads
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ws = pier::ws;
using ws::detail::frame_buf;
using ws::detail::frame_ref;
using ws::detail::out_queue;
using ws::detail::ref_cache;

namespace {

frame_ref shared(std::string_view s) {
    frame_ref f(frame_buf::make(s.size()));
    std::memcpy(f.get()->data(), s.data(), s.size());
    return f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_ref_cache)

BOOST_AUTO_TEST_CASE(the_count_is_exact_once_the_outermost_scope_closes) {
    auto f = shared("frame");
    {
        const ref_cache::scope outer;
        std::vector<frame_ref> copies(10, f);
        {
            const ref_cache::scope inner; // nested: the outer one settles
            copies.resize(3);
        }
        BOOST_TEST(f.get()->use_count() >= 4u); // spares count too, while the scope is open
        copies.clear();
    }
    BOOST_TEST(f.get()->use_count() == 1u);
    // Outside a scope, each reference is counted as it is taken.
    frame_ref c = f;
    BOOST_TEST(f.get()->use_count() == 2u);
}

BOOST_AUTO_TEST_CASE(a_frame_released_by_its_last_holder_inside_a_scope_is_freed_at_its_end) {
    const ref_cache::scope scope;
    auto f = shared("last");
    frame_ref c = f; // from the spares
    f = frame_ref();
    c = frame_ref(); // the last holder: its reference joins the spares; freed at scope end
}

BOOST_AUTO_TEST_CASE(references_taken_in_a_scope_may_be_dropped_on_another_thread) {
    auto f = shared("across");
    std::vector<frame_ref> handed;
    {
        const ref_cache::scope scope;
        for (int i = 0; i < 300; ++i) // more than one batch of spares
            handed.push_back(f);
    }
    std::thread t([moved = std::move(handed)]() mutable { moved.clear(); });
    t.join();
    BOOST_TEST(f.get()->use_count() == 1u);
    // And the other way: references taken outside, dropped inside a scope on another thread.
    std::vector<frame_ref> more(50, f);
    std::thread u([&] {
        const ref_cache::scope scope;
        more.clear();
        BOOST_TEST(f.get()->use_count() >= 1u);
    });
    u.join();
    BOOST_TEST(f.get()->use_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_broadcast_pass_leaves_the_count_where_it_was) {
    // What a shard's pass does: one frame queued on many sessions, their queues drained by
    // the flush, more frames than the cache has slots for.
    std::vector<frame_ref> frames;
    for (int i = 0; i < 100; ++i)
        frames.push_back(shared("broadcast:" + std::to_string(i)));
    std::size_t first_half = 0;
    for (int i = 0; i < 50; ++i)
        first_half += frames[i].get()->size();
    std::vector<out_queue> queues(200);
    {
        const ref_cache::scope scope;
        for (auto& f : frames)
            for (auto& q : queues)
                q.push_shared(f);
        for (auto& q : queues)
            q.consume(first_half); // the first 50 are written, the rest stay queued
    }
    for (int i = 0; i < 100; ++i)
        BOOST_TEST(frames[i].get()->use_count() == (i < 50 ? 1u : 201u));
    queues.clear(); // dropped outside any scope
    for (auto& f : frames)
        BOOST_TEST(f.get()->use_count() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
