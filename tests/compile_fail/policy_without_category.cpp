// expect: pier: every argument of pier::policies<\.\.\.> must be a policy type with a nested
// A type that does not say which category it belongs to is not a policy.
#include <pier/pier.hpp>

struct my_buffer { // forgot `using category = pier::category::buffer;`
    static constexpr std::size_t capacity = 4096;
};

using broken = pier::policies<my_buffer>;
broken::buffer* use = nullptr;

int main() {}
