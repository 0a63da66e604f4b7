#pragma once
// Moves outbox records from Redis to Kafka. One relay per service is active at a time (a
// Redis lease), so records leave in the order they were committed and each key's events stay
// in order; other instances stand by and take over when the lease expires. A record is
// deleted from the outbox only after Kafka acknowledged it (acks=all, idempotent producer), so
// a crash at any point loses nothing. The one window for a duplicate on the topic is a crash
// between the broker's acknowledgement and the delete; consumers dedupe by event id.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/redis/redis.h"

namespace concord::outbox {

struct RelayOptions {
  std::string prefix;    // the Store's prefix
  std::string instance;  // lease owner name
  std::chrono::milliseconds lease{5000};
  int batch = 500;
  std::chrono::milliseconds block{100};  // XREAD BLOCK when idle
  // After a read shorter than `batch`, wait this long before the next one, so a steady trickle
  // of commits is relayed in groups rather than one XREAD per commit: fewer Redis round trips
  // and wake-ups per record, and above all fewer, larger produce requests (librdkafka sends one
  // per partition; the broker's CPU goes per request). Bounds the delay it adds to an event.
  std::chrono::milliseconds gather{20};
  // How often the concord_outbox_pending gauge is refreshed (XLEN).
  std::chrono::milliseconds pending_interval{1000};
  bool enabled = true;                   // false: never relay (tests simulate a crash before relaying)
};

class Relay {
 public:
  Relay(redis::Options redis, kafka::Producer& producer, RelayOptions options);
  ~Relay();

  void Start();
  // Stops reading, waits up to `drain` for in-flight records, releases the lease.
  void Stop(std::chrono::milliseconds drain);

  uint64_t relayed() const { return relayed_.load(); }
  bool leader() const { return leader_.load(); }

 private:
  void Run();
  bool HoldLease();
  void ReleaseLease();
  void Reap();    // deletes acknowledged records, then Rewind()
  bool Rewind();  // after failures, once nothing is in flight: reads again from the first failed (true)
  bool HasFailures();
  std::vector<std::string> TakeAcked();
  std::vector<std::string> DeleteCommand(const std::vector<std::string>& acked) const;
  // Puts `acked` back when their XDEL failed (`r`), to be deleted later.
  void Deleted(std::vector<std::string> acked, const absl::StatusOr<redis::Reply>& r);

  redis::Connection conn_;
  kafka::Producer& producer_;
  RelayOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> relayed_{0};
  std::atomic<int> in_flight_{0};
  std::chrono::steady_clock::time_point lease_renewed_{};
  std::chrono::steady_clock::time_point pending_updated_{};

  std::mutex mu_;
  std::vector<std::string> acked_;   // stream ids delivered, to delete
  std::vector<std::string> failed_;  // stream ids to produce again
  std::string last_id_ = "0-0";      // last stream id handed to the producer

  metrics::Counter* relayed_metric_;
  metrics::Counter* failed_metric_;
  metrics::Gauge* pending_metric_;
};

}  // namespace concord::outbox
