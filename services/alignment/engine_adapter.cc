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

std::vector<std::string> EngineAdapter::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out(dirty_.begin(), dirty_.end());
  dirty_.clear();
  return out;
}

std::optional<std::string> EngineAdapter::Serialize(const std::string& customer_key) {
  std::lock_guard lock(mu_);
  auto bytes = engine_.SerializeCustomer(customer_key);
  if (bytes.empty()) return std::nullopt;
  return bytes;
}

absl::Status EngineAdapter::Restore(const std::string& customer_key, std::string_view bytes) {
  std::lock_guard lock(mu_);
  if (!engine_.RestoreCustomer(customer_key, bytes)) {
    return absl::DataLossError("checkpointed state of " + customer_key + " does not decode");
  }
  return absl::OkStatus();
}

void EngineAdapter::Drop(const std::string& customer_key) {
  std::lock_guard lock(mu_);
  engine_.EraseCustomer(customer_key);
  dirty_.erase(customer_key);
}

size_t EngineAdapter::customers() const {
  std::lock_guard lock(mu_);
  return engine_.customers();
}

size_t EngineAdapter::cold_customers() const {
  std::lock_guard lock(mu_);
  return engine_.cold_customers();
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
