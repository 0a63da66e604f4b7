# Small helpers in the spirit of redpanda's v_cc_library: one target per library,
# a namespaced alias, explicit sources, only target_* commands.

if(CONCORD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# The fuzz build (fuzz/, scripts/fuzz): every library is instrumented for coverage and built
# with ASan + UBSan; the fuzz targets themselves add -fsanitize=fuzzer (libFuzzer's main).
if(CONCORD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CONCORD_FUZZ needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++-14)")
  endif()
  add_compile_options(-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Designated initializers that leave fields at their defaults are the style here.
set(CONCORD_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

# concord_cc_library(NAME <name> SRCS <files...> DEPS <targets...> [PUBLIC_DEPS ...])
# defines target concord_<name> with alias concord::<name>.
function(concord_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  set(target concord_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(concord::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE ${CONCORD_WARNINGS})
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} ${ARG_DEPS})
endfunction()

# concord_cc_test(NAME <name> SRCS <files...> DEPS <targets...> LABELS <unit|integration...>)
function(concord_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_compile_options(${ARG_NAME} PRIVATE ${CONCORD_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} concord::testing_env GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${ARG_NAME}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
               ENVIRONMENT "CONCORD_SOURCE_DIR=${PROJECT_SOURCE_DIR};CONCORD_BINARY_DIR=${PROJECT_BINARY_DIR}")
  # `ninja concord_<label>_tests` builds the tests of one label (CI builds only the unit tests
  # on the sanitizer build; the tests themselves are discovered only once built).
  foreach(label ${ARG_LABELS})
    if(NOT TARGET concord_${label}_tests)
      add_custom_target(concord_${label}_tests)
    endif()
    add_dependencies(concord_${label}_tests ${ARG_NAME})
  endforeach()
endfunction()

# concord_proto_library(NAME <name> PROTOS <files relative to proto/> DEPS <proto libs> [GRPC])
# Generated code goes to the build tree only.
function(concord_proto_library)
  cmake_parse_arguments(ARG "GRPC" "NAME" "PROTOS;DEPS" ${ARGN})
  set(gen_dir ${PROJECT_BINARY_DIR}/gen)
  set(srcs)
  foreach(proto ${ARG_PROTOS})
    get_filename_component(dir ${proto} DIRECTORY)
    get_filename_component(stem ${proto} NAME_WE)
    set(outs ${gen_dir}/${dir}/${stem}.pb.cc ${gen_dir}/${dir}/${stem}.pb.h)
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outs ${gen_dir}/${dir}/${stem}.grpc.pb.cc ${gen_dir}/${dir}/${stem}.grpc.pb.h)
      set(plugin_args --grpc_out=${gen_dir} --plugin=protoc-gen-grpc=${CONCORD_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${gen_dir}
      COMMAND ${CONCORD_PROTOC} -I ${PROJECT_SOURCE_DIR}/proto --cpp_out=${gen_dir} ${plugin_args}
              ${PROJECT_SOURCE_DIR}/proto/${proto}
      DEPENDS ${PROJECT_SOURCE_DIR}/proto/${proto} ${CONCORD_PROTOC}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND srcs ${outs})
  endforeach()
  set(target concord_${ARG_NAME})
  add_library(${target} STATIC ${srcs})
  add_library(concord::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${gen_dir})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} protobuf::libprotobuf gRPC::grpc++)
endfunction()
