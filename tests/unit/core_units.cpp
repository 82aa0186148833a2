// Socket-free tests of pier's core building blocks: the write queue, the read buffers, policy
// selection by category, and the adaptive worker pool on its own.
//
// pier-test: threads
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::string concat(const std::vector<asio::const_buffer>& v) {
    std::string s;
    for (auto& b : v)
        s.append(static_cast<const char*>(b.data()), b.size());
    return s;
}

using pier_test::eventually;

// A one-shot event with bounded waits, so that a failing test cannot leave a worker blocked
// forever (the pool's destructor would then hang joining it).
class gate {
public:
    void open() {
        {
            std::lock_guard lock(m_);
            open_ = true;
        }
        cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, limit, [&] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

struct fn_task final : pier::pool_task {
    std::function<void()> fn;
    std::function<void(std::error_code)> on_refuse;
    explicit fn_task(std::function<void()> f, std::function<void(std::error_code)> r = {})
        : fn(std::move(f)), on_refuse(std::move(r)) {}
    void run() override { fn(); }
    void refuse(std::error_code why) override {
        if (on_refuse)
            on_refuse(why);
    }
};

bool submit(pier::worker_pool& pool, std::function<void()> f,
            std::function<void(std::error_code)> r = {}) {
    return pool.submit(std::make_unique<fn_task>(std::move(f), std::move(r)));
}

} // namespace

BOOST_AUTO_TEST_SUITE(core_units)

// --- write_queue ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(write_queue_coalesces_small_copies) {
    pier::detail::write_queue q;
    BOOST_TEST(q.empty());
    for (int i = 0; i < 100; ++i)
        q.append_copy("abc");
    BOOST_TEST(q.bytes() == 300u);
    std::vector<asio::const_buffer> iov;
    // One contiguous range: 100 sends leave in one buffer of one gather write.
    BOOST_TEST(q.gather(iov, 64) == 1u);
    BOOST_TEST(iov[0].size() == 300u);
    BOOST_TEST(concat(iov).substr(0, 6) == "abcabc");
}

BOOST_AUTO_TEST_CASE(write_queue_large_copy_and_chunk_rollover) {
    pier::detail::write_queue q;
    const std::string big(pier::detail::write_queue::chunk_size * 2 + 5, 'x');
    q.append_copy("head");
    q.append_copy(big); // does not fit the first chunk: a chunk of its own
    q.append_copy("tail");
    std::vector<asio::const_buffer> iov;
    q.gather(iov, 64);
    BOOST_TEST(concat(iov) == "head" + big + "tail");
    BOOST_TEST(q.bytes() == big.size() + 8);
    BOOST_TEST(iov.size() >= 2u);
}

BOOST_AUTO_TEST_CASE(write_queue_shares_payloads_without_copying) {
    pier::detail::write_queue q;
    pier::shared_buffer payload(std::string(1000, 'p'));
    const auto before = payload.owner().use_count();
    q.append_copy("a");
    q.append_shared(payload);
    q.append_copy("b");
    q.append_shared(payload);
    std::vector<asio::const_buffer> iov;
    BOOST_TEST(q.gather(iov, 64) == 4u);
    // The queued range is the payload's own memory, kept alive by the queue.
    BOOST_TEST(iov[1].data() == static_cast<const void*>(payload.data()));
    BOOST_TEST(iov[3].data() == static_cast<const void*>(payload.data()));
    BOOST_TEST(payload.owner().use_count() == before + 2);
    BOOST_TEST(concat(iov) == "a" + std::string(1000, 'p') + "b" + std::string(1000, 'p'));
    // A copy after a shared payload is not merged into the range before the payload.
    BOOST_TEST(iov[0].size() == 1u);
    BOOST_TEST(iov[2].size() == 1u);
    q.consume(q.bytes());
    BOOST_TEST(q.empty());
    BOOST_TEST(payload.owner().use_count() == before);
}

BOOST_AUTO_TEST_CASE(write_queue_partial_consume) {
    pier::detail::write_queue q;
    pier::shared_buffer s("0123456789");
    q.append_copy("abcdef");
    q.append_shared(s);
    q.append_copy("XYZ");
    std::vector<asio::const_buffer> iov;
    q.gather(iov, 64);
    const void* first = iov[0].data();

    q.consume(4); // inside the first range
    BOOST_TEST(q.bytes() == 15u);
    q.gather(iov, 64);
    BOOST_TEST(concat(iov) == "ef0123456789XYZ");
    BOOST_TEST(iov[0].data() == static_cast<const char*>(first) + 4);

    q.consume(5); // across a range boundary
    q.gather(iov, 64);
    BOOST_TEST(concat(iov) == "3456789XYZ");
    BOOST_TEST(q.bytes() == 10u);

    // Appending while the front is "being written" must not move queued bytes.
    q.gather(iov, 64);
    const void* front = iov[0].data();
    q.append_copy("more");
    q.gather(iov, 64);
    BOOST_TEST(iov[0].data() == front);
    BOOST_TEST(concat(iov) == "3456789XYZmore");

    q.consume(100); // more than queued: clamps
    BOOST_TEST(q.empty());
    BOOST_TEST(q.bytes() == 0u);
    BOOST_TEST(q.gather(iov, 64) == 0u);
}

BOOST_AUTO_TEST_CASE(write_queue_gather_limit_and_many_segments) {
    pier::detail::write_queue q;
    std::vector<pier::shared_buffer> bufs;
    std::string expected;
    for (int i = 0; i < 200; ++i) {
        bufs.emplace_back(std::to_string(i) + ",");
        expected += std::to_string(i) + ",";
        q.append_shared(bufs.back());
    }
    std::vector<asio::const_buffer> iov;
    BOOST_TEST(q.gather(iov, 16) == 16u);
    std::string got;
    // Drain in gather-sized steps, as the connection does, through compactions.
    while (!q.empty()) {
        q.gather(iov, 16);
        auto part = concat(iov);
        const std::size_t n = std::min<std::size_t>(part.size(), 7); // odd steps: partial writes
        got += part.substr(0, n);
        q.consume(n);
    }
    BOOST_TEST(got == expected);
}

BOOST_AUTO_TEST_CASE(write_queue_clear) {
    pier::detail::write_queue q;
    q.append_copy("abc");
    q.append_shared(pier::shared_buffer("def"));
    q.clear();
    BOOST_TEST(q.empty());
    BOOST_TEST(q.bytes() == 0u);
    q.append_copy("x");
    std::vector<asio::const_buffer> iov;
    q.gather(iov, 64);
    BOOST_TEST(concat(iov) == "x");
}

// --- read buffers -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fixed_buffer_keeps_its_storage) {
    using B = pier::buffer::fixed<128>;
    static_assert(B::capacity == 128 && B::holds_storage_when_idle);
    B::read_buffer b;
    BOOST_TEST(!b.holds_storage());
    BOOST_TEST(b.data().empty());
    auto room = b.prepare();
    BOOST_TEST(room.size() == 128u);
    std::memcpy(room.data(), "hello world", 11);
    b.commit(11);
    BOOST_TEST(b.data() == "hello world");
    b.consume(6);
    BOOST_TEST(b.data() == "world");
    b.consume(5);
    BOOST_TEST(b.data().empty());
    b.release_if_empty();
    BOOST_TEST(b.holds_storage()); // fixed: never given back while the connection lives
    BOOST_TEST(b.prepare().size() == 128u);
}

BOOST_AUTO_TEST_CASE(read_buffer_compacts_and_reports_full) {
    using B = pier::buffer::fixed<64>;
    B::read_buffer b;
    auto room = b.prepare();
    std::string fill(64, 'a');
    fill[60] = 'X';
    std::memcpy(room.data(), fill.data(), 64);
    b.commit(64);
    BOOST_TEST(b.prepare().size() == 0u); // full, nothing consumed: the caller's buffer_full
    b.consume(60);
    // The unconsumed tail moves to the front only now that room is asked for.
    room = b.prepare();
    BOOST_TEST(room.size() == 60u);
    BOOST_TEST(b.data() == "Xaaa");
    b.consume(100); // clamps
    BOOST_TEST(b.data().empty());
}

BOOST_AUTO_TEST_CASE(pooled_buffer_releases_when_empty) {
    using B = pier::buffer::pooled<256, 4>;
    static_assert(!B::holds_storage_when_idle);
    B::read_buffer b;
    const std::size_t spare = B::pool::retained();
    b.prepare();
    BOOST_TEST(b.holds_storage());
    std::memcpy(b.prepare().data(), "abc", 3);
    b.commit(3);
    b.release_if_empty(); // input pending: kept
    BOOST_TEST(b.holds_storage());
    BOOST_TEST(b.data() == "abc");
    b.consume(3);
    b.release_if_empty();
    BOOST_TEST(!b.holds_storage());
    BOOST_TEST(b.data().empty());
    // The block went back to this thread's free list, and is reused by the next borrow.
    BOOST_TEST(B::pool::retained() == std::max<std::size_t>(spare, 1));
    b.prepare();
    BOOST_TEST(B::pool::retained() == std::max<std::size_t>(spare, 1) - 1);
}

BOOST_AUTO_TEST_CASE(pooled_buffer_spares_give_their_pages_back_after_a_quiet_period) {
    // A distinct instantiation; 5 pages, so every block has whole pages inside it.
    using pool = pier::buffer::block_pool<5 * 4096, 8>;
    std::vector<char*> held;
    for (int i = 0; i < 6; ++i) {
        held.push_back(pool::acquire());
        std::memset(held.back(), 0xab, 5 * 4096);
    }
    for (char* p : held)
        pool::release(p);
    BOOST_TEST_REQUIRE(pool::retained() == 6u);
    BOOST_TEST(pool::trim() == 0u); // starts the period: these six were just used
    // One block taken and given back in the period: it stays warm, the other five go.
    char* warm = pool::acquire();
    pool::release(warm);
    BOOST_TEST(pool::trim() == 5u);
    BOOST_TEST(pool::trim() == 1u); // quiet since: the last one goes too
    BOOST_TEST(pool::trim() == 0u); // nothing is given back twice
    BOOST_TEST(pool::retained() == 6u);
    // A block that gave its pages back reads as zero inside them, and works as before.
    char* p = pool::acquire();
    const auto page = reinterpret_cast<std::uintptr_t>(p + 4095) & ~std::uintptr_t{4095};
    const char* inside = reinterpret_cast<const char*>(page);
    BOOST_TEST(std::count(inside, inside + 3 * 4096, 0) == 3 * 4096);
    std::memset(p, 0x5a, 5 * 4096);
    BOOST_TEST(p[4 * 4096] == 0x5a);
    pool::release(p);
    BOOST_TEST(pool::trim() == 0u); // just used: warm again
    BOOST_TEST(pool::trim() == 1u);
}

BOOST_AUTO_TEST_CASE(small_block_spares_are_freed_after_a_quiet_period) {
    // shrink(): what the WebSocket write queues' pools (blocks smaller than a page) do at
    // each sweep. A distinct instantiation, so other tests' blocks do not count.
    using pool = pier::buffer::block_pool<200, 100>;
    std::vector<char*> held;
    for (int i = 0; i < 5; ++i)
        held.push_back(pool::acquire());
    for (char* p : held)
        pool::release(p);
    BOOST_TEST_REQUIRE(pool::retained() == 5u);
    BOOST_TEST(pool::shrink() == 0u); // starts the period: these five were just used
    char* warm = pool::acquire();     // one is taken and given back in the period
    pool::release(warm);
    BOOST_TEST(pool::shrink() == 4u); // the four no one took go back to the allocator
    BOOST_TEST(pool::retained() == 1u);
    BOOST_TEST(pool::shrink() == 1u); // quiet since: the last one goes too
    BOOST_TEST(pool::retained() == 0u);
    BOOST_TEST(pool::shrink() == 0u);
    char* again = pool::acquire(); // and the pool works as before
    pool::release(again);
    BOOST_TEST(pool::retained() == 1u);
}

BOOST_AUTO_TEST_CASE(pooled_buffer_retention_is_bounded_per_thread) {
    // A distinct instantiation, so other tests' blocks do not count.
    using B = pier::buffer::pooled<512, 3>;
    {
        std::vector<std::unique_ptr<B::read_buffer>> many;
        for (int i = 0; i < 10; ++i) {
            many.push_back(std::make_unique<B::read_buffer>());
            many.back()->prepare();
        }
        BOOST_TEST(B::pool::retained() == 0u);
    } // ten blocks returned: three kept, seven freed
    BOOST_TEST(B::pool::retained() == 3u);

    // Another thread has its own list; a block freed there joins that thread's list.
    std::size_t other_before = 99, other_after = 99;
    auto buffer = std::make_unique<B::read_buffer>();
    buffer->prepare(); // borrowed here
    BOOST_TEST(B::pool::retained() == 2u);
    std::thread t([&] {
        other_before = B::pool::retained();
        buffer.reset(); // returned there
        other_after = B::pool::retained();
    });
    t.join();
    BOOST_TEST(other_before == 0u);
    BOOST_TEST(other_after == 1u);
    BOOST_TEST(B::pool::retained() == 2u);
}

// --- policies<> -------------------------------------------------------------------------------

namespace sel {
using all_defaults = pier::policies<>;
static_assert(std::is_same_v<all_defaults::accept, pier::default_accept>);
static_assert(std::is_same_v<all_defaults::scheduler, pier::default_scheduler>);
static_assert(std::is_same_v<all_defaults::buffer, pier::default_buffer>);
static_assert(std::is_same_v<all_defaults::backpressure, pier::default_backpressure>);
static_assert(std::is_same_v<all_defaults::transport, pier::default_transport>);
static_assert(std::is_same_v<pier::default_accept, pier::accept::single>);
static_assert(std::is_same_v<pier::default_scheduler, pier::sched::per_thread>);
static_assert(std::is_same_v<pier::default_buffer, pier::buffer::pooled<16384, 256>>);
static_assert(std::is_same_v<pier::default_backpressure, pier::backpressure::suspend>);
static_assert(std::is_same_v<pier::default_transport, pier::transport::tcp>);

// One named category: only that one changes.
using one = pier::policies<pier::buffer::fixed<4096>>;
static_assert(std::is_same_v<one::buffer, pier::buffer::fixed<4096>>);
static_assert(std::is_same_v<one::accept, pier::default_accept>);
static_assert(std::is_same_v<one::scheduler, pier::default_scheduler>);
static_assert(std::is_same_v<one::backpressure, pier::default_backpressure>);

// Order does not matter.
using ab = pier::policies<pier::accept::reuseport, pier::sched::shared_pool,
                          pier::backpressure::drop, pier::buffer::fixed<1024>>;
using ba = pier::policies<pier::buffer::fixed<1024>, pier::backpressure::drop,
                          pier::sched::shared_pool, pier::accept::reuseport>;
static_assert(std::is_same_v<ab::accept, ba::accept>);
static_assert(std::is_same_v<ab::scheduler, ba::scheduler>);
static_assert(std::is_same_v<ab::buffer, ba::buffer>);
static_assert(std::is_same_v<ab::backpressure, ba::backpressure>);
static_assert(std::is_same_v<ab::transport, ba::transport>);
static_assert(std::is_same_v<ab::accept, pier::accept::reuseport>);
static_assert(std::is_same_v<ab::scheduler, pier::sched::shared_pool>);
static_assert(std::is_same_v<ab::backpressure, pier::backpressure::drop>);

using w = pier::policies<pier::sched::workers<pier::sched::shared_pool>, pier::accept::multi<3>>;
static_assert(std::is_same_v<w::scheduler, pier::sched::workers<pier::sched::shared_pool>>);
static_assert(w::scheduler::offloads && !pier::sched::per_thread::offloads);
static_assert(w::accept::loops_per_listener(8) == 3);
static_assert(pier::accept::multi<>::loops_per_listener(8) == 8);
static_assert(pier::accept::reuseport::listeners(6) == 6 && pier::accept::reuseport::reuse_port);
static_assert(pier::accept::single::listeners(6) == 1 && !pier::accept::single::local_placement);

// Every shipped policy models its concept.
static_assert(pier::accept_policy<pier::accept::single>);
static_assert(pier::accept_policy<pier::accept::multi<>>);
static_assert(pier::accept_policy<pier::accept::reuseport>);
static_assert(pier::scheduler_policy<pier::sched::per_thread>);
static_assert(pier::scheduler_policy<pier::sched::shared_pool>);
static_assert(pier::scheduler_policy<pier::sched::workers<>>);
static_assert(pier::scheduler_policy<pier::sched::workers<pier::sched::shared_pool>>);
static_assert(pier::buffer_policy<pier::buffer::fixed<64>>);
static_assert(pier::buffer_policy<pier::buffer::pooled<>>);
static_assert(pier::backpressure_policy<pier::backpressure::suspend>);
static_assert(pier::backpressure_policy<pier::backpressure::drop>);
static_assert(pier::backpressure_policy<pier::backpressure::close>);
static_assert(pier::transport_policy<pier::transport::tcp>);
// ... and not another category's.
static_assert(!pier::accept_policy<pier::sched::per_thread>);
static_assert(!pier::buffer_policy<pier::accept::single>);
static_assert(!pier::backpressure_policy<pier::buffer::fixed<64>>);
} // namespace sel

BOOST_AUTO_TEST_CASE(policies_select_by_category) {
    // The checks are the static_asserts above; this case makes them show up in the report.
    BOOST_TEST((std::is_same_v<sel::ab::buffer, pier::buffer::fixed<1024>>));
}

BOOST_AUTO_TEST_CASE(error_codes_have_messages) {
    std::error_code ec = pier::error::slow_consumer;
    BOOST_TEST(std::string(ec.category().name()) == "pier");
    BOOST_TEST(ec.message() == "write queue limit exceeded (slow consumer)");
    BOOST_TEST((ec == pier::error::slow_consumer));
    BOOST_TEST((ec != pier::error::closed));
    for (int e = 1; e <= static_cast<int>(pier::error::overloaded); ++e)
        BOOST_TEST(pier::make_error_code(static_cast<pier::error>(e)).message() !=
                   "unknown pier error");
}

BOOST_AUTO_TEST_CASE(descriptor_exhaustion_is_recognised_in_asios_category) {
    // Asio reports accept(2) errors in its own "asio.system" category, which std::errc
    // comparisons do not match; the server's EMFILE handling depends on this.
    using pier::detail::is_resource_exhaustion;
    BOOST_TEST(is_resource_exhaustion(asio::error::no_descriptors));
    BOOST_TEST(is_resource_exhaustion(std::error_code(EMFILE, asio::error::get_system_category())));
    BOOST_TEST(is_resource_exhaustion(std::error_code(ENFILE, asio::error::get_system_category())));
    BOOST_TEST(is_resource_exhaustion(std::error_code(ENOBUFS, std::system_category())));
    BOOST_TEST(is_resource_exhaustion(std::make_error_code(std::errc::not_enough_memory)));
    BOOST_TEST(!is_resource_exhaustion(asio::error::connection_aborted));
    BOOST_TEST(!is_resource_exhaustion(asio::error::eof)); // misc category, value 2 != EMFILE
    BOOST_TEST(!is_resource_exhaustion(pier::error::overloaded));
}

// --- worker_pool ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(worker_pool_runs_tasks) {
    std::atomic<int> ran{0};
    pier::worker_pool pool({.min_workers = 0, .max_workers = 4});
    for (int i = 0; i < 100; ++i)
        BOOST_TEST(submit(pool, [&] { ran.fetch_add(1); }));
    BOOST_TEST(eventually([&] { return ran.load() == 100; }));
    BOOST_TEST(pool.workers() <= 4u);
}

BOOST_AUTO_TEST_CASE(worker_pool_grows_under_blocking_work) {
    // The gate outlives the pool, whose destructor joins the workers still leaving wait().
    gate release;
    std::atomic<int> running{0};
    pier::worker_pool pool({.min_workers = 0, .max_workers = 8, .idle_timeout = 10s});
    for (int i = 0; i < 6; ++i)
        submit(pool, [&] {
            running.fetch_add(1);
            release.wait();
        });
    // Six blocking tasks run at once: the pool started a thread for each.
    BOOST_TEST(eventually([&] { return running.load() == 6; }));
    BOOST_TEST(pool.workers() == 6u);
    BOOST_TEST(pool.queued() == 0u);
    release.open();
}

BOOST_AUTO_TEST_CASE(worker_pool_caps_threads_and_queues) {
    gate release;
    std::atomic<int> running{0}, done{0};
    pier::worker_pool pool({.min_workers = 0, .max_workers = 2, .idle_timeout = 10s});
    for (int i = 0; i < 5; ++i)
        submit(pool, [&] {
            running.fetch_add(1);
            release.wait();
            done.fetch_add(1);
        });
    BOOST_TEST(eventually([&] { return running.load() == 2; }));
    // No wait needed to see that no third thread started: the pool grows only in submit(),
    // and all five submits returned before the workers count is read.
    BOOST_TEST(running.load() == 2); // no third thread
    BOOST_TEST(pool.workers() == 2u);
    BOOST_TEST(pool.queued() == 3u);
    release.open();
    BOOST_TEST(eventually([&] { return done.load() == 5; }));
}

BOOST_AUTO_TEST_CASE(worker_pool_refuses_when_queue_full) {
    gate started, release;
    std::atomic<int> done{0};
    pier::worker_pool pool({.min_workers = 0, .max_workers = 1, .max_queue = 1});
    BOOST_TEST(submit(pool, [&] {
        started.open();
        release.wait();
        done.fetch_add(1);
    }));
    BOOST_TEST(started.wait());
    BOOST_TEST(submit(pool, [&] { done.fetch_add(1); })); // waits in the queue
    std::error_code refused;
    bool ran_refused = false;
    BOOST_TEST(!submit(
        pool, [&] { ran_refused = true; }, [&](std::error_code ec) { refused = ec; }));
    BOOST_TEST((refused == pier::error::overloaded));
    BOOST_TEST(pool.queued() == 1u);
    release.open();
    BOOST_TEST(eventually([&] { return done.load() == 2; }));
    BOOST_TEST(!ran_refused);
    // Room again once the queue drained.
    BOOST_TEST(submit(pool, [&] { done.fetch_add(1); }));
    BOOST_TEST(eventually([&] { return done.load() == 3; }));
}

BOOST_AUTO_TEST_CASE(worker_pool_retires_idle_workers) {
    gate release;
    std::atomic<int> running{0};
    std::atomic<bool> ran{false};
    pier::worker_pool pool({.min_workers = 1, .max_workers = 8, .idle_timeout = 100ms});
    BOOST_TEST(pool.workers() == 1u); // min_workers start at once
    for (int i = 0; i < 5; ++i)
        submit(pool, [&] {
            running.fetch_add(1);
            release.wait();
        });
    BOOST_TEST(eventually([&] { return running.load() == 5; }));
    BOOST_TEST(pool.workers() >= 5u);
    release.open();
    // Idle for idle_timeout: back down to min_workers, not below.
    BOOST_TEST(eventually([&] { return pool.workers() == 1u; }));
    std::this_thread::sleep_for(300ms);
    BOOST_TEST(pool.workers() == 1u);
    // And it still works after retiring.
    submit(pool, [&] { ran = true; });
    BOOST_TEST(eventually([&] { return ran.load(); }));
}

BOOST_AUTO_TEST_CASE(worker_pool_stop_finishes_queued_work_then_refuses) {
    std::atomic<int> done{0};
    pier::worker_pool pool({.min_workers = 0, .max_workers = 1});
    for (int i = 0; i < 20; ++i)
        submit(pool, [&] {
            std::this_thread::sleep_for(1ms);
            done.fetch_add(1);
        });
    pool.stop();
    BOOST_TEST(done.load() == 20);
    BOOST_TEST(pool.workers() == 0u);
    std::error_code refused;
    BOOST_TEST(!submit(
        pool, [] {}, [&](std::error_code ec) { refused = ec; }));
    BOOST_TEST((refused == pier::error::overloaded));
}

BOOST_AUTO_TEST_CASE(async_offload_completes_on_the_callers_executor) {
    // The io_context outlives the pool: a worker may still be inside post() when run returns.
    asio::io_context io;
    pier::worker_pool pool({.min_workers = 0, .max_workers = 2, .max_queue = 1});
    int value = 0;
    std::string error;
    std::thread::id io_thread, work_thread;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            io_thread = std::this_thread::get_id();
            value = co_await pier::async_offload(
                pool,
                [&] {
                    work_thread = std::this_thread::get_id();
                    return 42;
                },
                asio::use_awaitable);
            BOOST_TEST((std::this_thread::get_id() == io_thread));
            try {
                co_await pier::async_offload(
                    pool, []() -> int { throw std::runtime_error("boom"); }, asio::use_awaitable);
            } catch (const std::runtime_error& e) {
                error = e.what();
            }
        },
        asio::detached);
    io.run_for(10s);
    BOOST_TEST(value == 42);
    BOOST_TEST(error == "boom");
    BOOST_TEST((work_thread != io_thread));
}

BOOST_AUTO_TEST_CASE(async_offload_reports_overload) {
    asio::io_context io;
    pier::worker_pool pool({.min_workers = 0, .max_workers = 1, .max_queue = 0});
    std::error_code code;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                co_await pier::async_offload(
                    pool, [] {}, asio::use_awaitable);
            } catch (const std::system_error& e) {
                code = e.code();
            }
        },
        asio::detached);
    io.run_for(10s);
    BOOST_TEST((code == pier::error::overloaded));
}

BOOST_AUTO_TEST_SUITE_END()
