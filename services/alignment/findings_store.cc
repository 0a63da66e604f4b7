#include "services/alignment/findings_store.h"

#include <google/protobuf/util/time_util.h>

namespace concord::alignment {

absl::StatusOr<std::vector<bool>> FindingsStore::Exists(redis::Connection& conn, const std::vector<std::string>& ids) const {
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(ids.size());
  for (const auto& id : ids) cmds.push_back({"EXISTS", FindingKey(id)});
  auto replies = conn.Pipeline(cmds);
  if (!replies.ok()) return replies.status();
  std::vector<bool> out;
  out.reserve(ids.size());
  for (const auto& r : *replies) {
    if (r.is_error()) return absl::InternalError("redis EXISTS: " + r.str);
    out.push_back(r.integer == 1);
  }
  return out;
}

std::vector<std::vector<std::string>> FindingsStore::SaveCommands(const v1::Finding& f) const {
  std::string bytes;
  f.SerializeToString(&bytes);
  auto ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(f.detected_at());
  return {
      {"SET", FindingKey(f.id()), bytes},
      {"ZADD", AllIndexKey(), std::to_string(ms), f.id()},
      {"ZADD", CustomerIndexKey(f.customer_key()), std::to_string(ms), f.id()},
      {"XADD", FeedKey(), "MAXLEN", "~", "1000000", "*", "kind", "raised", "id", f.id()},
  };
}

absl::StatusOr<std::optional<v1::Finding>> FindingsStore::Get(redis::Connection& conn, const std::string& id) const {
  auto r = conn.CommandOk({"GET", FindingKey(id)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::optional<v1::Finding>();
  v1::Finding f;
  if (!f.ParseFromString(r->str)) return absl::DataLossError("finding " + id + " in Redis does not parse");
  return std::optional<v1::Finding>(std::move(f));
}

}  // namespace concord::alignment
