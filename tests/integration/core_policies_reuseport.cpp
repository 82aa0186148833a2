// Every scheduler × buffer policy with the `pier::accept::reuseport` accept policy serves real
// loopback clients with both handler styles (core_policies.hpp).
//
// Not in the ASan tree: this accept policy accepts on every event loop and keeps each
// connection on the loop that accepted it, so what ASan and UBSan look at (buffers,
// schedulers, handlers, teardown) is the code core_policies_single.cpp runs there, whose
// accept::single also hands connections over between loops. This source runs unsanitized in
// the default tree and under TSan, where its accept loops' threads matter.
//
// pier-test: threads
// pier-test: no-asan
#include "core_policies.hpp"

using core_policies_reuseport_combinations =
    core_policies_test::with_scheds<pier::accept::reuseport>;
static_assert(std::tuple_size_v<core_policies_reuseport_combinations> == 6);

BOOST_FIXTURE_TEST_SUITE(core_policies_reuseport, pier_test::watchdog)

BOOST_AUTO_TEST_CASE_TEMPLATE(serves_real_clients, Policies, core_policies_reuseport_combinations) {
    core_policies_test::serve_real_clients<core_policies_test::stream_echo, Policies>();
    core_policies_test::serve_real_clients<core_policies_test::data_lines, Policies>();
}

BOOST_AUTO_TEST_SUITE_END()
