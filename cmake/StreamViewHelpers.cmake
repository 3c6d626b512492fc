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

# sv_precompile_headers(): with SV_PCH, every C++ target below the top directory reuses one
# precompiled header (cmake/sv_pch.h; the GoogleTest binaries cmake/sv_test_pch.h), made by two
# tiny targets, so the standard library, Abseil and simdjson are parsed twice per build rather
# than once per file. Call it once, after every target is defined.
function(sv_precompile_headers)
  if(NOT SV_PCH)
    return()
  endif()
  file(WRITE ${PROJECT_BINARY_DIR}/sv_pch_anchor.cc "")
  add_library(sv_pch STATIC ${PROJECT_BINARY_DIR}/sv_pch_anchor.cc)
  target_link_libraries(sv_pch PRIVATE absl::status)
  target_precompile_headers(sv_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/sv_pch.h)
  add_library(sv_test_pch STATIC ${PROJECT_BINARY_DIR}/sv_pch_anchor.cc)
  target_link_libraries(sv_test_pch PRIVATE absl::status GTest::gtest GTest::gmock)
  target_precompile_headers(sv_test_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/sv_test_pch.h)
  sv_collect_targets(targets ${PROJECT_SOURCE_DIR})
  foreach(target ${targets})
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|EXECUTABLE)$" OR target MATCHES "^sv_(test_)?pch$")
      continue()
    endif()
    get_target_property(libs ${target} LINK_LIBRARIES)
    # Standalone tools (kafka_tool, bare_sqlite_writer) link neither Abseil nor simdjson, whose
    # inline functions an unoptimized build would emit from the header.
    set(sv_libs ${libs})
    list(FILTER sv_libs INCLUDE REGEX "^sv_")
    if(NOT target MATCHES "^sv_" AND NOT sv_libs)
      continue()
    endif()
    if("GTest::gtest" IN_LIST libs)
      target_precompile_headers(${target} REUSE_FROM sv_test_pch)
    else()
      target_precompile_headers(${target} REUSE_FROM sv_pch)
    endif()
  endforeach()
endfunction()

# sv_collect_targets(OUT DIR): the targets defined in DIR and every directory below it.
function(sv_collect_targets out dir)
  get_property(found DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    sv_collect_targets(below ${sub})
    list(APPEND found ${below})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
