// expect: pier: the scheduler policy does not model pier::scheduler_policy
// A scheduler that cannot say where a connection runs (no make_executor) is not a scheduler.
#include <pier/pier.hpp>

struct my_scheduler {
    using category = pier::category::scheduler;
    using executor_type = asio::io_context::executor_type;
    static constexpr bool offloads = false;
    my_scheduler(std::size_t, const pier::worker_options&) {}
    my_scheduler(asio::io_context& c, const pier::worker_options&) : ctx_(&c) {}
    std::size_t size() const { return 1; }
    asio::io_context& context(std::size_t) { return *ctx_; }
    // executor_type make_executor(std::size_t);  <- missing
    void start() {}
    void stop() {}
    void join() {}
    asio::io_context* ctx_ = nullptr;
};

using broken = pier::policies<my_scheduler>;
broken::scheduler* use = nullptr;

int main() {}
