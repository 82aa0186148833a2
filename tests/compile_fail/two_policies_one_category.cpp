// expect: pier: policies<\.\.\.> names more than one buffer policy
// Two policies of one category: which one is meant is ambiguous, so it is an error.
#include <pier/pier.hpp>

using twice =
    pier::policies<pier::buffer::fixed<4096>, pier::accept::single, pier::buffer::pooled<>>;
twice::buffer* use = nullptr;

int main() {}
