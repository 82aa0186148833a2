# PierDevelopment.cmake: the internal targets pier's tests, examples, benches and fuzzers use.
# Nothing here is installed or exported; consumers only ever see pier::pier.
#
#   pier_build_flags  INTERFACE  warnings and PIER_SANITIZE flags (compile and link)
#   pier_asio         STATIC     Asio + Asio.SSL compiled once (PIER_ASIO_SEPARATE_COMPILATION)
#   pier_deps         INTERFACE  C++20 + Asio + OpenSSL + zlib + nlohmann/json + Threads + the
#                                two above
#   pier_deps_header_only        the same, with Asio header-only (as users have it)
#   pier_under_test   INTERFACE  pier_deps + include/ (or single_include/ if PIER_SINGLE_HEADER)
#   pier_pch          OBJECT     owns a precompiled <pier/pier.hpp>; reuse it with
#                                  target_precompile_headers(<tgt> REUSE_FROM pier_pch)
#
# Everything that links pier_under_test gets identical compile flags, which is what lets
# executables share one precompiled header.

# -std=c++20 rather than gnu++20: pier must not lean on GNU extensions, and the compile-fail
# runner passes the same flag by hand.
if(NOT DEFINED CMAKE_CXX_EXTENSIONS)
    set(CMAKE_CXX_EXTENSIONS OFF)
endif()

# --- warnings and sanitizers ---------------------------------------------------------------
add_library(pier_build_flags INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(pier_build_flags INTERFACE -Wall -Wextra)
    if(PIER_WERROR)
        target_compile_options(pier_build_flags INTERFACE -Werror)
    endif()
endif()

set(PIER_SANITIZER_ENVIRONMENT "")
if(PIER_SANITIZE)
    if(NOT PIER_SANITIZE MATCHES "^(address|undefined|address,undefined|undefined,address|thread)$")
        message(FATAL_ERROR
            "PIER_SANITIZE='${PIER_SANITIZE}': use '', 'address,undefined' or 'thread'")
    endif()
    # The optimisation and debug levels come from the build type, so that each tree picks its
    # own (tools/test.sh: -O0, where GCC compiles instrumented code 1.3 (TSan) to 2.2 (ASan)
    # times as fast as at -O1 and the tests are not CPU-bound). Without a build type, -O1 -g:
    # reports keep their frames and lines.
    # -fno-sanitize-recover=all: a UBSan finding must fail the test, not scroll past in a log.
    # Except vptr, which stays fatal through UBSAN_OPTIONS=halt_on_error=1 (set below for every
    # test): its check probes memory through pipe(2) and cannot work in a process that has run
    # out of descriptors on purpose (integration.core_fd_exhaustion's server child, which
    # turns halt_on_error off for itself).
    set(_pier_san_flags -fsanitize=${PIER_SANITIZE} -fno-omit-frame-pointer)
    if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
        list(APPEND _pier_san_flags -O1 -g)
    endif()
    if(PIER_SANITIZE MATCHES "undefined")
        list(APPEND _pier_san_flags -fno-sanitize-recover=all -fsanitize-recover=vptr)
    endif()
    # PIER_UBSAN_SKIP: UBSan's alignment and null checks instrument every member access and
    # pointer dereference. At -O0 they are 29% of an ASan+UBSan integration TU's compile (96 s
    # -> 68 s) and 31% of an example's (15.2 s -> 10.5 s); either one alone costs under 5%,
    # because both guard the same accesses. ASan still reports a null dereference (SEGV, with
    # its stack), and x86 forgives misalignment, so what the two checks add is the typed
    # misread of a byte buffer and the call through a null pointer, both bugs of a parser fed
    # hostile bytes. The fuzz replays, one per parser, keep them: a target whose
    # PIER_UBSAN_FULL property is ON gets the full set (and no shared precompiled header,
    # which is compiled without them).
    if(PIER_SANITIZE MATCHES "undefined" AND PIER_UBSAN_SKIP)
        if(NOT PIER_UBSAN_SKIP MATCHES "^[a-z-]+(,[a-z-]+)*$")
            message(FATAL_ERROR "PIER_UBSAN_SKIP='${PIER_UBSAN_SKIP}': a comma-separated list "
                "of UBSan checks, e.g. alignment,null")
        endif()
        list(APPEND _pier_san_flags
            "$<$<NOT:$<BOOL:$<TARGET_PROPERTY:PIER_UBSAN_FULL>>>:-fno-sanitize=${PIER_UBSAN_SKIP}>")
    endif()
    target_compile_options(pier_build_flags INTERFACE ${_pier_san_flags})
    target_link_options(pier_build_flags INTERFACE -fsanitize=${PIER_SANITIZE})
    if(PIER_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
       AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
        # GCC 12 warns that TSan cannot see std::atomic_thread_fence; Asio uses none on the
        # paths pier takes, and the warning would drown every TU.
        target_compile_options(pier_build_flags INTERFACE -Wno-tsan)
    endif()
    # Applied to every CTest test, so that plain `ctest` in a sanitizer build behaves like
    # tools/test.sh. Sanitizer reports must fail the test: abort/halt on the first one.
    if(PIER_SANITIZE MATCHES "address")
        list(APPEND PIER_SANITIZER_ENVIRONMENT
            "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1")
    endif()
    if(PIER_SANITIZE MATCHES "undefined")
        list(APPEND PIER_SANITIZER_ENVIRONMENT "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
    if(PIER_SANITIZE STREQUAL "thread")
        list(APPEND PIER_SANITIZER_ENVIRONMENT
            "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1")
    endif()
endif()

# --- Asio compiled once --------------------------------------------------------------------
set(_pier_deps
    asio::asio
    OpenSSL::SSL
    OpenSSL::Crypto
    ZLIB::ZLIB
    nlohmann_json::nlohmann_json
    Threads::Threads
    pier_build_flags)

# Header-only Asio, as users get it by default (meta.odr and the consumer tests use this).
add_library(pier_deps_header_only INTERFACE)
target_compile_features(pier_deps_header_only INTERFACE cxx_std_20)
target_link_libraries(pier_deps_header_only INTERFACE ${_pier_deps})

add_library(pier_deps INTERFACE)
target_compile_features(pier_deps INTERFACE cxx_std_20)
if(PIER_ASIO_SEPARATE_COMPILATION)
    add_library(pier_asio STATIC "${CMAKE_CURRENT_LIST_DIR}/pier_asio.cpp")
    target_compile_features(pier_asio PUBLIC cxx_std_20)
    # Every TU that sees Asio must agree on this macro, so it travels with the library.
    target_compile_definitions(pier_asio PUBLIC ASIO_SEPARATE_COMPILATION)
    target_link_libraries(pier_asio PUBLIC ${_pier_deps})
    target_link_libraries(pier_deps INTERFACE pier_asio)
else()
    target_link_libraries(pier_deps INTERFACE ${_pier_deps})
endif()

# --- the library as tests and examples see it ----------------------------------------------
set(PIER_SINGLE_INCLUDE_DIR "${PROJECT_SOURCE_DIR}/single_include")
add_library(pier_under_test INTERFACE)
if(PIER_SINGLE_HEADER)
    if(NOT EXISTS "${PIER_SINGLE_INCLUDE_DIR}/pier/pier.hpp")
        message(FATAL_ERROR "PIER_SINGLE_HEADER=ON but ${PIER_SINGLE_INCLUDE_DIR}/pier/pier.hpp "
            "does not exist: run tools/amalgamate.py")
    endif()
    target_include_directories(pier_under_test INTERFACE "${PIER_SINGLE_INCLUDE_DIR}")
else()
    target_include_directories(pier_under_test INTERFACE "${PROJECT_SOURCE_DIR}/include")
endif()
target_link_libraries(pier_under_test INTERFACE pier_deps)

# --- one precompiled <pier/pier.hpp> for examples, benches and fuzz replays ----------------
set(PIER_HAVE_UMBRELLA OFF)
if(EXISTS "${PROJECT_SOURCE_DIR}/include/pier/pier.hpp")
    set(PIER_HAVE_UMBRELLA ON)
endif()
# EXCLUDE_FROM_ALL: built only for the targets that reuse it (a TSan tree has none).
add_library(pier_pch OBJECT EXCLUDE_FROM_ALL "${CMAKE_CURRENT_LIST_DIR}/pier_pch.cpp")
target_link_libraries(pier_pch PRIVATE pier_under_test)
if(PIER_HAVE_UMBRELLA)
    target_precompile_headers(pier_pch PRIVATE <pier/pier.hpp>)
endif()

# pier_use_pch(<target>): give <target> the shared precompiled <pier/pier.hpp>. <target> must
# link pier_under_test and add no compile flags of its own, or GCC silently ignores the PCH.
function(pier_use_pch target)
    get_target_property(full ${target} PIER_UBSAN_FULL)
    if(PIER_HAVE_UMBRELLA AND NOT (full AND PIER_UBSAN_SKIP))
        target_precompile_headers(${target} REUSE_FROM pier_pch)
    endif()
endfunction()
