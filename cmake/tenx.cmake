# Helpers that keep every module's CMakeLists three lines long.
#
# tenx_boost: the one place Boost's configuration macros are set. Every target that touches
# Asio or Beast links it, so all translation units agree (Asio and Beast are compiled once,
# in core/asio_impl.cpp, with separate compilation).
add_library(tenx_boost INTERFACE)
target_compile_definitions(tenx_boost INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_ARRAY
  BOOST_ASIO_DISABLE_BOOST_BIND
  BOOST_ASIO_DISABLE_BOOST_DATE_TIME
  BOOST_ASIO_DISABLE_BOOST_REGEX
  # Asio recycles coroutine frames and handler memory per thread, but only 2 blocks per
  # purpose by default; a proxied request has more frames alive at once, and the rest went to
  # malloc/free on every request (perf: ~2 % of CPU). 16 keeps them all.
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
target_link_libraries(tenx_boost INTERFACE Boost::boost Threads::Threads)

# tenx_module(NAME SOURCES ... DEPS ...): a static library `tenx_NAME` for src/NAME.
function(tenx_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(tenx_${name} STATIC ${M_SOURCES})
  target_include_directories(tenx_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(tenx_${name} PUBLIC ${M_DEPS})
endfunction()

# tenx_test(NAME SOURCES ... DEPS ...): one GoogleTest binary, each case registered with CTest.
function(tenx_test name)
  if(NOT TENX_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}" TIMEOUT 120)
endfunction()

# tenx_bench(NAME SOURCES ... DEPS ...): a Google Benchmark micro-benchmark beside hot code.
function(tenx_bench name)
  if(NOT TENX_BENCH)
    return()
  endif()
  cmake_parse_arguments(B "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${B_SOURCES})
  target_link_libraries(${name} PRIVATE ${B_DEPS} benchmark::benchmark benchmark::benchmark_main)
endfunction()
