#pragma once
// What integration tests need to find the local infrastructure scripts/infra runs
// (CONCORD_KAFKA_BROKERS, CONCORD_REDIS_PORT, as scripts/test exports them) and to keep their
// topics, groups and keys apart from every other test's.

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/redis/redis.h"

namespace concord::testenv {

inline std::string Brokers() {
  const char* b = std::getenv("CONCORD_KAFKA_BROKERS");
  return b && *b ? b : "127.0.0.1:9092";
}

inline int RedisPort() {
  const char* p = std::getenv("CONCORD_REDIS_PORT");
  return p && *p ? std::atoi(p) : 6379;
}

inline redis::Options RedisOptions() {
  redis::Options o;
  o.port = RedisPort();
  return o;
}

// Where scripts/infra keeps what a client needs for the broker's secure listeners:
// $CONCORD_INFRA_DIR/kafka/secure, default <source>/.infra/kafka/secure.
inline std::string KafkaSecureDir() {
  const char* dir = std::getenv("CONCORD_INFRA_DIR");
  if (dir && *dir) return std::string(dir) + "/kafka/secure";
  const char* src = std::getenv("CONCORD_SOURCE_DIR");
  return std::string(src && *src ? src : ".") + "/.infra/kafka/secure";
}

// A librdkafka property file that scripts/infra wrote there ("client.properties" for the
// SASL_SSL listener, "expired.properties" for the one with an expired certificate), as
// key/value pairs; empty when the file is missing (the test then says so and fails).
inline std::vector<std::pair<std::string, std::string>> KafkaSecureProperties(const std::string& file) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(KafkaSecureDir() + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

// prefix + "-" + 64 random bits: a topic, group or key prefix no other test run uses.
inline std::string Unique(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return prefix + "-" + std::to_string(rng());
}

}  // namespace concord::testenv
