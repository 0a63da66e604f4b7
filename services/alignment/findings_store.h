#pragma once
// Findings in Redis: the record the API serves and the memory that keeps a finding from being
// published twice across restarts and replays.
//   concord:alignment:f:<id>         serialized Finding
//   concord:alignment:fx:all         sorted set of ids by detection time (ms)
//   concord:alignment:fx:c:<key>     the same per customer
//   concord:alignment:feed           stream of {kind: raised|status, id}: the order in which
//                                    findings and status changes happened; its ids are the
//                                    cursors of WatchFindings (capped at about 1M entries)

#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "common/redis/redis.h"
#include "concord/alignment/v1/alignment.pb.h"

namespace concord::alignment {

class FindingsStore {
 public:
  explicit FindingsStore(std::string prefix = "concord:alignment") : prefix_(std::move(prefix)) {}

  std::string FindingKey(const std::string& id) const { return prefix_ + ":f:" + id; }
  std::string AllIndexKey() const { return prefix_ + ":fx:all"; }
  std::string CustomerIndexKey(const std::string& customer) const { return prefix_ + ":fx:c:" + customer; }
  std::string FeedKey() const { return prefix_ + ":feed"; }
  const std::string& prefix() const { return prefix_; }

  // Which of these ids are already stored.
  absl::StatusOr<std::vector<bool>> Exists(redis::Connection& conn, const std::vector<std::string>& ids) const;
  // The commands that store a finding (for a MULTI/EXEC batch).
  std::vector<std::vector<std::string>> SaveCommands(const v1::Finding& f) const;
  absl::StatusOr<std::optional<v1::Finding>> Get(redis::Connection& conn, const std::string& id) const;

 private:
  std::string prefix_;
};

}  // namespace concord::alignment
