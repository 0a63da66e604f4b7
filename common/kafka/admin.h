#pragma once
// Topic administration, for tests, tools and start-up checks.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/kafka/handle.h"
#include "common/kafka/security.h"

namespace concord::kafka {

class Admin {
 public:
  static absl::StatusOr<std::unique_ptr<Admin>> Create(const std::string& brokers, const Properties& properties = {});

  // Creates a topic; an existing topic with that name is not an error.
  absl::Status CreateTopic(const std::string& name, int partitions, int replication_factor = 1,
                           std::chrono::milliseconds timeout = std::chrono::seconds(15));
  absl::Status DeleteTopic(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Partition count of a topic, NOT_FOUND when it does not exist.
  absl::StatusOr<int> PartitionCount(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  std::unique_ptr<ConnectionMonitor> monitor_;  // declared before rk_: outlives the handle
  KafkaPtr rk_;
};

}  // namespace concord::kafka
