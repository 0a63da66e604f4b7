#pragma once
// The processor's EnginePort over the pure engine: adds the dirty-customer tracking the
// checkpoints need, the wall clock for detection time, and a mutex so the gRPC API can read
// state (customer view, playbook) while the consumer thread writes it.

#include <functional>
#include <mutex>

#include <absl/container/flat_hash_set.h>

#include "services/alignment/engine/engine.h"
#include "services/alignment/engine_port.h"

namespace concord::alignment {

class EngineAdapter : public EnginePort {
 public:
  explicit EngineAdapter(engine::Playbook playbook) : engine_(std::move(playbook)) {}

  void Process(const events::v1::Event& event, const v1::SourcePosition& position,
               std::vector<engine::EncodedFinding>* out) override;
  void AdvanceTime(std::chrono::system_clock::time_point now, std::vector<engine::EncodedFinding>* out) override;
  std::vector<Checkpoint> TakeDirty() override;
  absl::Status Restore(const std::string& customer_key, std::string_view bytes, int32_t partition) override;
  void DropPartitions(const std::set<int32_t>& partitions) override;
  size_t customers() const override;
  size_t cold_customers() const override;
  size_t cold_bytes() const override;
  bool ChooseIdleCustomers() override;
  bool ParkChosen(size_t n) override;
  // Engine::SetMaxHotCustomers: beyond n decoded customers the least recently used go cold.
  void SetMaxHotCustomers(size_t n);

  void ReplacePlaybook(engine::Playbook playbook);
  uint64_t playbook_version() const;
  // Runs f with the engine locked (read-only use from API threads).
  void WithEngine(const std::function<void(const engine::Engine&)>& f) const;

  // The engine's scorecard counters (per UTC day; engine::Engine::SerializeActivity). They
  // cover the events this instance processed. To survive restarts they must be stored in the
  // same Redis transaction as the customer states and offsets of a checkpoint (and restored
  // before the tail is replayed); the processor does not do this yet.
  std::string SerializeCounters() const;
  absl::Status RestoreCounters(std::string_view bytes);

 private:
  mutable std::mutex mu_;
  engine::Engine engine_;
  absl::flat_hash_set<std::string> dirty_;
};

}  // namespace concord::alignment
