#pragma once
// A consumer-group member with the cooperative-sticky assignor. Offsets are stored only when
// the application says a record is processed (enable.auto.offset.store=false); stored offsets
// are committed periodically, on Commit(), on revocation and on Close().

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/handle.h"
#include "common/kafka/security.h"

namespace concord::kafka {

// One consumed record (or a consumer error, see error()).
class Message {
 public:
  explicit Message(MessagePtr m) : m_(std::move(m)) {}

  rd_kafka_resp_err_t error() const { return m_->err; }
  std::string error_text() const;
  std::string topic() const { return std::string(topic_view()); }
  std::string_view topic_view() const { return m_->rkt ? rd_kafka_topic_name(m_->rkt) : ""; }
  int32_t partition() const { return m_->partition; }
  int64_t offset() const { return m_->offset; }
  std::string_view key() const { return {static_cast<const char*>(m_->key), m_->key_len}; }
  std::string_view value() const { return {static_cast<const char*>(m_->payload), m_->len}; }
  // Producer or log-append time, milliseconds since the epoch (-1 when unknown).
  int64_t timestamp_ms() const;
  Headers headers() const;
  HeaderViews header_views() const;  // valid while this message lives
  std::optional<std::string> header(std::string_view key) const;

 private:
  MessagePtr m_;
};

// Called on the polling thread during a rebalance. OnRevoked runs before the partitions are
// given up, so the application can finish in-flight work and store offsets.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Runs before the partitions are taken up: set an entry's offset to start reading there
  // (e.g. from a checkpoint); leave it RD_KAFKA_OFFSET_INVALID for the committed offset.
  virtual void OnAssigned(std::vector<TopicPartition>& partitions) {}
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) {}
  // Partitions lost without a clean hand-over (session timeout): do not commit for them.
  virtual void OnLost(const std::vector<TopicPartition>& partitions) { OnRevoked(partitions); }
};

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::string client_id = "concord";
  std::vector<std::string> topics;
  Properties properties;  // overrides the defaults
  std::string auto_offset_reset = "earliest";
  bool auto_commit = true;  // commit stored offsets every auto_commit_interval_ms
  int auto_commit_interval_ms = 1000;
  RebalanceListener* listener = nullptr;  // not owned
};

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Waits up to timeout for the next record. nullopt on timeout. A Message whose error() is
  // set reports a consumer-level problem (e.g. broker down); it carries no record.
  std::optional<Message> Poll(std::chrono::milliseconds timeout);

  // Marks the record processed: its offset + 1 becomes committable.
  absl::Status Store(const Message& m);
  absl::Status Store(const TopicPartition& next_offset);
  // Commits the stored offsets now and waits for the answer.
  absl::Status Commit();
  // Leaves the group (revocation callbacks run, stored offsets are committed).
  absl::Status Close();

  std::vector<TopicPartition> Assignment() const;
  // Committed offsets for the given partitions (the next offset to read, or -1001 if none).
  absl::StatusOr<std::vector<TopicPartition>> Committed(const std::vector<TopicPartition>& partitions,
                                                        std::chrono::milliseconds timeout);
  // Moves the position of an assigned partition.
  absl::Status Seek(const TopicPartition& tp, std::chrono::milliseconds timeout);
  // Stops fetching the partitions (what was fetched and not yet polled is dropped); Resume
  // fetches again from the record after the last one polled. A pause outlives a rebalance:
  // resume what is re-assigned.
  absl::Status Pause(const std::vector<TopicPartition>& partitions);
  absl::Status Resume(const std::vector<TopicPartition>& partitions);
  // High watermark minus position, summed over the assignment (from the cached statistics).
  int64_t Lag() const;
  // The partition's high watermark as of the last fetch answer (nullopt before the first).
  std::optional<int64_t> HighWatermark(const std::string& topic, int32_t partition) const {
    return HighWatermark(topic.c_str(), partition);
  }
  std::optional<int64_t> HighWatermark(const char* topic, int32_t partition) const;
  // Asks the broker for a partition's low and high watermarks.
  absl::StatusOr<std::pair<int64_t, int64_t>> QueryWatermarks(const std::string& topic, int32_t partition,
                                                              std::chrono::milliseconds timeout);

  absl::Status Ping(std::chrono::milliseconds timeout) { return PingCluster(rk_.get(), timeout); }
  rd_kafka_t* handle() { return rk_.get(); }

 private:
  Consumer() = default;
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque);

  std::unique_ptr<ConnectionMonitor> monitor_;  // declared before rk_: outlives the handle
  KafkaPtr rk_;
  RebalanceListener* listener_ = nullptr;
  bool closed_ = false;
};

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list);
PartitionListPtr ToList(const std::vector<TopicPartition>& tps);

}  // namespace concord::kafka
