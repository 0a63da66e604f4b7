#include "services/alignment/engine_adapter.h"

namespace concord::alignment {
namespace {
engine::Micros ToMicros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
}  // namespace

void EngineAdapter::Process(const events::v1::Event& event, const v1::SourcePosition& position,
                            std::vector<engine::EncodedFinding>* out) {
  engine::SourcePosition pos{position.topic(), position.partition(), position.offset()};
  std::lock_guard lock(mu_);
  engine_.ProcessEncoded(event, pos, ToMicros(std::chrono::system_clock::now()), out);
  // Usually dirty already within an epoch: the key is copied only the first time.
  if (const auto& key = event.customer().customer_key(); !key.empty() && !dirty_.contains(key)) {
    dirty_.insert(key);
  }
}

void EngineAdapter::AdvanceTime(std::chrono::system_clock::time_point now, std::vector<engine::EncodedFinding>* out) {
  std::lock_guard lock(mu_);
  size_t before = out->size();
  engine_.AdvanceTimeEncoded(ToMicros(now), out);
  for (size_t i = before; i < out->size(); ++i) dirty_.insert((*out)[i].customer_key);  // the timer is now spent
}

std::vector<EnginePort::Checkpoint> EngineAdapter::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<Checkpoint> out;
  out.reserve(dirty_.size());
  for (const auto& key : dirty_) {
    const int32_t partition = engine_.CustomerPartition(key);
    if (partition < 0) continue;
    auto bytes = engine_.SerializeCustomer(key);
    out.push_back({key, partition, bytes.empty() ? std::nullopt : std::optional<std::string>(std::move(bytes))});
  }
  dirty_.clear();
  return out;
}

absl::Status EngineAdapter::Restore(const std::string& customer_key, std::string_view bytes, int32_t partition) {
  std::lock_guard lock(mu_);
  if (!engine_.RestoreCustomer(customer_key, bytes, partition)) {
    return absl::DataLossError("checkpointed state of " + customer_key + " does not decode");
  }
  return absl::OkStatus();
}

void EngineAdapter::DropPartitions(const std::set<int32_t>& partitions) {
  std::lock_guard lock(mu_);
  engine_.EraseCustomersOf([&](int32_t p) { return partitions.contains(p); });
  // Their keys left in dirty_ have no partition now: TakeDirty leaves them out.
}

size_t EngineAdapter::customers() const {
  std::lock_guard lock(mu_);
  return engine_.customers();
}

size_t EngineAdapter::cold_customers() const {
  std::lock_guard lock(mu_);
  return engine_.cold_customers();
}

size_t EngineAdapter::cold_bytes() const {
  std::lock_guard lock(mu_);
  return engine_.cold_bytes();
}

bool EngineAdapter::ChooseIdleCustomers() {
  std::lock_guard lock(mu_);
  return engine_.ChooseIdleCustomers();
}

bool EngineAdapter::ParkChosen(size_t n) {
  std::lock_guard lock(mu_);
  return engine_.ParkChosen(n);
}

void EngineAdapter::SetMaxHotCustomers(size_t n) {
  std::lock_guard lock(mu_);
  engine_.SetMaxHotCustomers(n);
}

void EngineAdapter::ReplacePlaybook(engine::Playbook playbook) {
  std::lock_guard lock(mu_);
  engine_.ReplacePlaybook(std::move(playbook));
}

uint64_t EngineAdapter::playbook_version() const {
  std::lock_guard lock(mu_);
  return engine_.playbook().version;
}

std::string EngineAdapter::SerializeCounters() const {
  std::lock_guard lock(mu_);
  return engine_.SerializeActivity();
}

absl::Status EngineAdapter::RestoreCounters(std::string_view bytes) {
  std::lock_guard lock(mu_);
  if (!engine_.RestoreActivity(bytes)) return absl::DataLossError("checkpointed scorecard counters do not decode");
  return absl::OkStatus();
}

void EngineAdapter::WithEngine(const std::function<void(const engine::Engine&)>& f) const {
  std::lock_guard lock(mu_);
  f(engine_);
}

}  // namespace concord::alignment
