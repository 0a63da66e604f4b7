#pragma once
// The alignment engine: a pure, deterministic library. Events in, findings out.
// No Kafka, no Redis, no threads, no clock: event time drives event detectors, and
// AdvanceTime(now) drives the timer detectors (handoff-sla-breach, stalled opportunity).
// Not thread-safe: one Engine per partition (or guard it with a mutex).
//
// Wiring contract (see services/alignment/README.md):
//   * Process() every decoded event of both team topics, in partition order, with its position.
//   * Publish the returned findings before committing the offset.
//   * Checkpoint: for each customer touched since the last checkpoint, SerializeCustomer(key)
//     together with the offsets; on restore, RestoreCustomer(key, bytes) then replay the tail.
//   * Call AdvanceTime(now) periodically (e.g. every second) once the tail is replayed.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "concord/alignment/v1/alignment.pb.h"
#include "concord/events/v1/events.pb.h"
#include "services/alignment/engine/playbook.h"
#include "services/alignment/engine/util.h"

namespace concord::alignment::engine {

using Finding = concord::alignment::v1::Finding;
using Event = concord::events::v1::Event;

// Kafka position of the consumed record (copied into evidence).
struct SourcePosition {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

Micros ToMicros(const google::protobuf::Timestamp& t);
void SetTimestamp(Micros m, google::protobuf::Timestamp* t);

struct EngineStats {
  uint64_t events = 0;
  uint64_t duplicates = 0;   // same event id seen again
  uint64_t ignored = 0;      // no customer key
  uint64_t claims = 0;
  uint64_t findings = 0;
  uint64_t findings_by_type[8] = {};
};

class Engine {
 public:
  explicit Engine(Playbook playbook);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies one event. Detection time = the event's occurred_at (deterministic).
  std::vector<Finding> Process(const Event& event, const SourcePosition& pos);
  // Same, with an explicit detection time (e.g. the wall clock, for detection latency).
  std::vector<Finding> Process(const Event& event, const SourcePosition& pos, Micros now);
  std::vector<Finding> Process(const Event& event, const concord::alignment::v1::SourcePosition& pos);

  // Fires every timer due at or before `now` (SLA breaches, stalled opportunities), once each.
  std::vector<Finding> AdvanceTime(Micros now);
  // Earliest pending timer, or 0 when none (lets the wiring sleep until then).
  Micros NextTimer() const;

  // Per-customer checkpoint (compact binary, versioned). Empty string if unknown.
  std::string SerializeCustomer(std::string_view customer_key) const;
  // Replaces the customer's state; false if the bytes do not decode (state left unchanged).
  bool RestoreCustomer(std::string_view customer_key, std::string_view bytes);
  // Drops a customer (partition revoked).
  void EraseCustomer(std::string_view customer_key);
  // Every tracked customer key (e.g. to checkpoint a whole partition).
  std::vector<std::string> CustomerKeys() const;

  size_t customers() const;
  // Approximate heap bytes of all customer state, and per tracked customer on average.
  size_t ApproxMemoryBytes() const;

  // Swaps the playbook; later events and timers are judged against it.
  void ReplacePlaybook(Playbook playbook);
  const Playbook& playbook() const;

  const EngineStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Deterministic finding id: "f-" + the first 32 hex digits of
// SHA-256(type + "|" + rule + "|" + sorted evidence keys joined by ","), where an evidence
// key is the claim id (event id + "#" + index) for claims and the event id otherwise.
std::string FindingId(concord::alignment::v1::FindingType type, std::string_view rule,
                      std::vector<std::string> evidence_keys);

}  // namespace concord::alignment::engine
