// Every scheduler × buffer policy with the `pier::accept::single` accept policy serves real
// loopback clients with both handler styles (core_policies.hpp).
//
// pier-test: threads
#include "core_policies.hpp"

using core_policies_single_combinations = core_policies_test::with_scheds<pier::accept::single>;
static_assert(std::tuple_size_v<core_policies_single_combinations> == 6);

BOOST_FIXTURE_TEST_SUITE(core_policies_single, pier_test::watchdog)

BOOST_AUTO_TEST_CASE_TEMPLATE(serves_real_clients, Policies, core_policies_single_combinations) {
    core_policies_test::serve_real_clients<core_policies_test::stream_echo, Policies>();
    core_policies_test::serve_real_clients<core_policies_test::data_lines, Policies>();
}

BOOST_AUTO_TEST_SUITE_END()
