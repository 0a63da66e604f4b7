#pragma once
// What integration tests need to find the local infrastructure scripts/infra runs
// (CONCORD_KAFKA_BROKERS, CONCORD_REDIS_PORT, as scripts/test exports them) and to keep their
// topics, groups and keys apart from every other test's.

#include <cstdlib>
#include <random>
#include <string>

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

// prefix + "-" + 64 random bits: a topic, group or key prefix no other test run uses.
inline std::string Unique(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return prefix + "-" + std::to_string(rng());
}

}  // namespace concord::testenv
