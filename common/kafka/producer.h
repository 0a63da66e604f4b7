#pragma once
// An idempotent producer (acks=all, enable.idempotence) whose delivery reports come back as
// typed results. A background thread serves the delivery callbacks; the destructor flushes.

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/kafka/handle.h"
#include "common/kafka/security.h"

namespace concord::kafka {

struct DeliveryResult {
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string error_text;
  // Whether producing the same record again may succeed (broker down, timeouts); false for
  // errors that will not go away (record too large, unknown topic, fatal producer error).
  bool retryable = false;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;

  bool ok() const { return error == RD_KAFKA_RESP_ERR_NO_ERROR; }
  absl::Status status() const;
};

struct ProducerOptions {
  std::string brokers;
  std::string client_id = "concord";
  // Extra librdkafka properties (security, tuning); they override the defaults below.
  Properties properties;
  int linger_ms = 5;
  // How long librdkafka keeps retrying one record before reporting it failed.
  int delivery_timeout_ms = 30000;
};

class Producer {
 public:
  using Callback = std::function<void(const DeliveryResult&)>;

  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues a record. The callback runs on the producer's thread once the record is
  // acknowledged by all in-sync replicas or has failed for good. An error here means the
  // record was not enqueued (and the callback will not run).
  absl::Status Produce(std::string_view topic, std::string_view key, std::string_view value, const Headers& headers,
                       Callback callback, int32_t partition = RD_KAFKA_PARTITION_UA);

  // Produces and waits for the delivery report.
  DeliveryResult ProduceSync(std::string_view topic, std::string_view key, std::string_view value,
                             const Headers& headers, std::chrono::milliseconds timeout);

  // Waits until every enqueued record has its delivery report.
  absl::Status Flush(std::chrono::milliseconds timeout);

  // Whether a broker answers a metadata request within the timeout.
  absl::Status Ping(std::chrono::milliseconds timeout);

  // Looks the topic up now, so that its first record does not wait for the metadata (about a
  // second on a fresh producer); NotFound when the broker does not know the topic.
  absl::Status Prepare(const std::string& topic, std::chrono::milliseconds timeout);

  // Records enqueued and not yet reported.
  int InFlight() const;

  // True once librdkafka raised a fatal error (e.g. idempotence broken): the producer must
  // be recreated.
  bool fatal() const { return fatal_.load(); }

  rd_kafka_t* handle() { return rk_.get(); }

 private:
  Producer() = default;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  void OnError(rd_kafka_t* rk, rd_kafka_resp_err_t err);

  std::unique_ptr<ConnectionMonitor> monitor_;  // declared before rk_: outlives the handle
  KafkaPtr rk_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> fatal_{false};
  std::thread poller_;
};

}  // namespace concord::kafka
