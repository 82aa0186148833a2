// Asio's (and Asio.SSL's) out-of-line implementation, compiled once for pier's tests, examples
// and benches when PIER_ASIO_SEPARATE_COMPILATION is ON. Every TU linking this library is built
// with ASIO_SEPARATE_COMPILATION, so none of them re-instantiates what is compiled here.
// A user who wants the same in their project copies these two lines into one of their TUs.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
