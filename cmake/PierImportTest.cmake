# PierImportTest.cmake: the meta.cmake_import.<mode> tests (cmake -P).
#
#   cmake -DMODE=find_package|add_subdirectory|single_header -DSOURCE_DIR=<repo>
#         -DWORK_DIR=<scratch> [-DGENERATOR=Ninja] [-DMAKE_PROGRAM=...] [-DCXX_COMPILER=...]
#         -P cmake/PierImportTest.cmake
#
# Configures, builds and runs the consumer project tests/cmake_import/<mode>/ in a fresh
# WORK_DIR, the way a user would:
#   find_package     build + install pier into WORK_DIR/prefix, then find_package(pier CONFIG)
#   add_subdirectory the consumer adds SOURCE_DIR as a subdirectory
#   single_header    the consumer adds SOURCE_DIR/single_include and finds Asio, OpenSSL, zlib
#                    and Threads itself
# Unoptimised and without debug info: these builds prove packaging, fast.

foreach(var MODE SOURCE_DIR WORK_DIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "PierImportTest.cmake: -D${var}=... is required")
    endif()
endforeach()

set(consumer_source "${SOURCE_DIR}/tests/cmake_import/${MODE}")
if(NOT EXISTS "${consumer_source}/CMakeLists.txt")
    message(FATAL_ERROR "no consumer project at ${consumer_source}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(common_args -DCMAKE_BUILD_TYPE= -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
    list(APPEND common_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
    list(APPEND common_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
    list(APPEND common_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

function(step what)
    message(STATUS "[${MODE}] ${what}: ${ARGN}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "[${MODE}] ${what} failed (${rc})")
    endif()
endfunction()

set(consumer_args "")
if(MODE STREQUAL "find_package")
    set(prefix "${WORK_DIR}/prefix")
    step("configure pier" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/pier-build"
        ${common_args} "-DCMAKE_INSTALL_PREFIX=${prefix}"
        -DPIER_BUILD_TESTS=OFF -DPIER_BUILD_EXAMPLES=OFF -DPIER_BUILD_BENCH=OFF)
    step("build pier" "${CMAKE_COMMAND}" --build "${WORK_DIR}/pier-build")
    step("install pier" "${CMAKE_COMMAND}" --install "${WORK_DIR}/pier-build")
    foreach(installed
            include/pier/pier.hpp
            share/cmake/pier/pierConfig.cmake
            share/cmake/pier/pierConfigVersion.cmake
            share/cmake/pier/pierTargets.cmake
            share/cmake/pier/Findasio.cmake)
        if(NOT EXISTS "${prefix}/${installed}")
            message(FATAL_ERROR "[${MODE}] install did not produce ${installed}")
        endif()
    endforeach()
    list(APPEND consumer_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(MODE STREQUAL "add_subdirectory")
    list(APPEND consumer_args "-DPIER_SOURCE_DIR=${SOURCE_DIR}")
elseif(MODE STREQUAL "single_header")
    if(NOT EXISTS "${SOURCE_DIR}/single_include/pier/pier.hpp")
        message(FATAL_ERROR "[${MODE}] single_include/pier/pier.hpp is missing: "
            "run tools/amalgamate.py")
    endif()
    list(APPEND consumer_args "-DPIER_SINGLE_INCLUDE_DIR=${SOURCE_DIR}/single_include")
else()
    message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

step("configure consumer" "${CMAKE_COMMAND}" -S "${consumer_source}"
    -B "${WORK_DIR}/consumer-build" ${common_args} ${consumer_args})
step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/consumer-build")
step("run consumer" "${WORK_DIR}/consumer-build/pier_consumer")
if(EXISTS "${WORK_DIR}/consumer-build/pier_redis_consumer")
    step("run redis consumer" "${WORK_DIR}/consumer-build/pier_redis_consumer")
endif()
message(STATUS "[${MODE}] ok")
