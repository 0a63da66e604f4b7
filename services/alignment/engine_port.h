#pragma once
// What the streaming processor needs from the detection engine. The engine itself is pure
// (no Kafka, no Redis, no threads, clock passed in); engine_adapter.cc implements this port
// over it, so the processor can be tested with a fake and the engine without Kafka.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>

#include "concord/alignment/v1/alignment.pb.h"
#include "concord/events/v1/events.pb.h"
#include "services/alignment/engine/engine.h"

namespace concord::alignment {

class EnginePort {
 public:
  virtual ~EnginePort() = default;
  // Findings whose evidence this event completes, appended to *out. An event id seen before
  // yields nothing. Findings come as wire bytes: the service only publishes and stores them.
  virtual void Process(const events::v1::Event& event, const v1::SourcePosition& position,
                       std::vector<engine::EncodedFinding>* out) = 0;
  // Findings that fire on time alone (SLA timers, stalled opportunities), appended to *out.
  virtual void AdvanceTime(std::chrono::system_clock::time_point now, std::vector<engine::EncodedFinding>* out) = 0;
  // A customer whose state changed, as a checkpoint: its bytes (nullopt: the engine keeps no
  // state for it any more) and the input partition it is checkpointed under (that of its latest
  // event, or the one it was restored from).
  struct Checkpoint {
    std::string key;
    int32_t partition = -1;
    std::optional<std::string> bytes;
  };
  // The customers whose state changed since the last call (those of no known partition are
  // left out: dropped with their partition since).
  virtual std::vector<Checkpoint> TakeDirty() = 0;
  // `partition`: the one whose checkpoint the bytes came from.
  virtual absl::Status Restore(const std::string& customer_key, std::string_view bytes, int32_t partition) = 0;
  // Forgets the customers of these partitions (revoked or lost).
  virtual void DropPartitions(const std::set<int32_t>& partitions) = 0;
  virtual size_t customers() const = 0;
  // Of customers(), how many are cold: kept as their checkpoint bytes until next used.
  virtual size_t cold_customers() const { return 0; }
  // The bytes those take.
  virtual size_t cold_bytes() const { return 0; }
  // Memory that follows activity (Engine::ChooseIdleCustomers): called once per idle period,
  // chooses the decoded customers unused since the previous call to go cold.
  // True when ParkChosen has work.
  virtual bool ChooseIdleCustomers() { return false; }
  // Parks up to n of the customers chosen to go cold; false once none are left.
  virtual bool ParkChosen(size_t /*n*/) { return false; }
};

}  // namespace concord::alignment
