// Scaffolding shared by the unit and integration tests: a watchdog that turns a hang into a
// named failure, and a bounded wait for conditions another thread makes true (a server's
// counters and hooks after the client saw the effect, a worker pool's threads). Every wait in
// the tests is bounded by these.
#pragma once

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace pier_test {

using namespace std::chrono_literals;

/// The bound for anything that should happen "promptly". Generous: sanitizers are slow.
inline constexpr std::chrono::milliseconds patience = 10s;

/// Fails (exits) the process if the current test case runs longer than `limit`, naming it,
/// instead of letting a hang block the suite until CTest's timeout. Used as a suite fixture
/// (BOOST_FIXTURE_TEST_SUITE(name, pier_test::watchdog)) or as a local guard.
class watchdog {
public:
    explicit watchdog(std::chrono::seconds limit = 120s)
        : name_(boost::unit_test::framework::current_test_case().full_name()) {
        thread_ = std::thread([this, limit] {
            std::unique_lock lock(m_);
            if (!cv_.wait_for(lock, limit, [&] { return done_; })) {
                std::fprintf(stderr, "watchdog: %s hung for %lld s\n", name_.c_str(),
                             static_cast<long long>(limit.count()));
                std::_Exit(124);
            }
        });
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() {
        {
            std::lock_guard lock(m_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    std::string name_;
    std::mutex m_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

/// Waits until `pred()` holds, at most `limit`; returns its last answer.
template <class Pred> bool eventually(Pred pred, std::chrono::milliseconds limit = patience) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until)
            return pred();
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

} // namespace pier_test
