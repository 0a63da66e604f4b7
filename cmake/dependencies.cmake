# Every third-party library comes from Debian 12 packages (scripts/bootstrap installs them).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# libcrypto: the Kafka client names why a broker certificate was rejected (X509 reasons).
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# concord::malloc: jemalloc for the service binaries. glibc's malloc/free were ~35% of the
# engine's time and its bins hold ~0.5 KiB more per tracked customer (bench/README.md, Stage 1).
# Left empty under sanitizers and the fuzz build: ASan must own malloc.
add_library(concord_malloc INTERFACE)
add_library(concord::malloc ALIAS concord_malloc)
if(NOT CONCORD_SANITIZE AND NOT CONCORD_FUZZ)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
  target_link_libraries(concord_malloc INTERFACE PkgConfig::JEMALLOC)
  target_sources(concord_malloc INTERFACE ${PROJECT_SOURCE_DIR}/common/malloc/jemalloc_conf.cc)
endif()
if(CONCORD_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
find_package(benchmark CONFIG)

find_program(CONCORD_PROTOC protoc REQUIRED)
find_program(CONCORD_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
