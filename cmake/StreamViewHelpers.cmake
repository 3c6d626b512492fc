# sv_library(NAME SRCS a.cc b.cc DEPS x y): one static library per src/ folder with explicit
# dependencies, so an include that points the wrong way is a link error, not a surprise.
function(sv_library name)
  cmake_parse_arguments(SV "" "" "SRCS;DEPS" ${ARGN})
  add_library(sv_${name} STATIC ${SV_SRCS})
  target_include_directories(sv_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
  target_link_libraries(sv_${name} PUBLIC ${SV_DEPS})
endfunction()

# sv_test(NAME LABEL SRCS ... DEPS ...): a GoogleTest binary registered with ctest under LABEL.
function(sv_test name label)
  cmake_parse_arguments(SV "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${SV_SRCS})
  target_link_libraries(${name} PRIVATE ${SV_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${label})
endfunction()
