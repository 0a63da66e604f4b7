#pragma once
// Versioned playbooks in Redis, optimistic concurrency:
//   <prefix>:playbook          hash {current: N}
//   <prefix>:playbook:v:<N>    serialized concord.alignment.v1.Playbook (the last 20 kept)
//   <prefix>:playbook:req:<r>  UpdatePlaybook request record (idempotency, 24 h)

#include <cstdint>
#include <optional>
#include <string>

#include <absl/status/statusor.h>

#include "common/redis/redis.h"
#include "concord/alignment/v1/alignment.pb.h"
#include "services/alignment/engine/playbook.h"
#include "services/alignment/engine/util.h"

namespace concord::alignment::api {

inline constexpr uint64_t kPlaybookVersionsKept = 20;

// A playbook's sha256 is engine::Sha256Hex of its YAML (the engine's one implementation).
using engine::Sha256Hex;
v1::PlaybookProblem ToProto(const engine::PlaybookProblem& p);

class PlaybookStore {
 public:
  explicit PlaybookStore(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string MetaKey() const { return prefix_ + ":playbook"; }
  std::string VersionKey(uint64_t v) const { return prefix_ + ":playbook:v:" + std::to_string(v); }
  std::string RequestKey(const std::string& rid) const { return prefix_ + ":playbook:req:" + rid; }

  // 0 when none is installed.
  absl::StatusOr<uint64_t> Current(redis::Connection& conn) const;
  // version 0 = current. nullopt when unknown (or trimmed).
  absl::StatusOr<std::optional<v1::Playbook>> Get(redis::Connection& conn, uint64_t version) const;

  struct InstallResult {
    bool applied = false;
    uint64_t current = 0;  // the version in force after the call
    v1::Playbook playbook;  // when applied
  };
  // Installs `pb` (its version is set here) if the version in force is still `observed`.
  // request_id/record: idempotency record written in the same transaction (may be empty).
  absl::StatusOr<InstallResult> Install(redis::Connection& conn, v1::Playbook pb, uint64_t observed,
                                        const std::string& request_id, const std::string& request_record) const;

 private:
  std::string prefix_;
};

}  // namespace concord::alignment::api
