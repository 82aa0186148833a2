# Findasio.cmake: standalone Asio (https://think-async.com), which ships no CMake package.
#
# Result: the imported INTERFACE target asio::asio carrying Asio's include directory and the
# definitions pier relies on:
#   ASIO_STANDALONE     use std:: rather than Boost (pier never includes Boost.Asio);
#   ASIO_NO_DEPRECATED  keep the removed-in-1.x names out, so pier cannot start depending on them.
# Threads::Threads is linked because every Asio program needs it.
#
# Variables set: asio_FOUND, asio_INCLUDE_DIR (cache), asio_VERSION ("1.22.1").
# Hint: set asio_ROOT or CMAKE_PREFIX_PATH to a prefix with include/asio.hpp.
#
# This file is installed next to pierConfig.cmake, so consumers of an installed pier find Asio
# the same way pier's own build did.

find_path(asio_INCLUDE_DIR
    NAMES asio.hpp
    PATH_SUFFIXES include
    DOC "Directory containing standalone Asio's asio.hpp")

if(asio_INCLUDE_DIR AND EXISTS "${asio_INCLUDE_DIR}/asio/version.hpp")
    file(STRINGS "${asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
        REGEX "^#define ASIO_VERSION [0-9]+")
    string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*$" "\\1" _asio_version_num
        "${_asio_version_line}")
    # ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
    math(EXPR _asio_major "${_asio_version_num} / 100000")
    math(EXPR _asio_minor "${_asio_version_num} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_num} % 100")
    set(asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    unset(_asio_version_line)
    unset(_asio_version_num)
    unset(_asio_major)
    unset(_asio_minor)
    unset(_asio_patch)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(asio
    REQUIRED_VARS asio_INCLUDE_DIR
    VERSION_VAR asio_VERSION)
mark_as_advanced(asio_INCLUDE_DIR)

if(asio_FOUND AND NOT TARGET asio::asio)
    if(NOT TARGET Threads::Threads)
        set(THREADS_PREFER_PTHREAD_FLAG ON)
        find_package(Threads REQUIRED)
    endif()
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${asio_INCLUDE_DIR}"
        INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED"
        INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
