// The entry point of pier_unit_tests and pier_integration_tests (the latter reuses this file
// unless tests/integration/main.cpp exists).
//
// A hand-written main() instead of BOOST_TEST_MODULE: the macro only works if it is defined
// before the first include of <boost/test/unit_test.hpp>, and the precompiled header the test
// executables share has already included it. The master suite is named after the executable,
// so reports say which of the two ran.
#include <boost/test/unit_test.hpp>

#include <string>

namespace {

char const* program_name = "pier_tests";

bool init_pier_tests() {
    std::string name = program_name;
    if (auto slash = name.find_last_of('/'); slash != std::string::npos) {
        name.erase(0, slash + 1);
    }
    boost::unit_test::framework::master_test_suite().p_name.value = name;
    return true;
}

} // namespace

int main(int argc, char* argv[]) {
    if (argc > 0 && argv[0] != nullptr) {
        program_name = argv[0];
    }
    return boost::unit_test::unit_test_main(&init_pier_tests, argc, argv);
}
