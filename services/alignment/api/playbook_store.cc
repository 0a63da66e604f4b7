#include "services/alignment/api/playbook_store.h"

namespace concord::alignment::api {

namespace {
constexpr const char* kInstallScript = R"lua(
local cur = tonumber(redis.call('HGET', KEYS[1], 'current') or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local nv = cur + 1
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'current', nv)
if KEYS[3] ~= '' then redis.call('DEL', KEYS[3]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3], 'EX', 86400) end
return {1, nv}
)lua";
}  // namespace

v1::PlaybookProblem ToProto(const engine::PlaybookProblem& p) {
  v1::PlaybookProblem out;
  out.set_level(p.error ? v1::PlaybookProblem::LEVEL_ERROR : v1::PlaybookProblem::LEVEL_WARNING);
  out.set_line(p.line);
  out.set_column(p.column);
  out.set_path(p.path);
  out.set_message(p.message);
  return out;
}

absl::StatusOr<uint64_t> PlaybookStore::Current(redis::Connection& conn) const {
  auto r = conn.CommandOk({"HGET", MetaKey(), "current"});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return uint64_t{0};
  try {
    return static_cast<uint64_t>(std::stoull(r->str));
  } catch (...) {
    return absl::DataLossError("playbook version in Redis is not a number: " + r->str);
  }
}

absl::StatusOr<std::optional<v1::Playbook>> PlaybookStore::Get(redis::Connection& conn, uint64_t version) const {
  if (version == 0) {
    auto cur = Current(conn);
    if (!cur.ok()) return cur.status();
    if (*cur == 0) return std::optional<v1::Playbook>();
    version = *cur;
  }
  auto r = conn.CommandOk({"GET", VersionKey(version)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::optional<v1::Playbook>();
  v1::Playbook pb;
  if (!pb.ParseFromString(r->str)) return absl::DataLossError("playbook version " + std::to_string(version) + " does not parse");
  return std::optional<v1::Playbook>(std::move(pb));
}

absl::StatusOr<PlaybookStore::InstallResult> PlaybookStore::Install(redis::Connection& conn, v1::Playbook pb,
                                                                    uint64_t observed, const std::string& request_id,
                                                                    const std::string& request_record) const {
  uint64_t nv = observed + 1;
  pb.set_version(nv);
  std::string drop = nv > kPlaybookVersionsKept ? VersionKey(nv - kPlaybookVersionsKept) : std::string();
  auto r = conn.CommandOk({"EVAL", kInstallScript, "4", MetaKey(), VersionKey(nv), drop,
                           request_id.empty() ? RequestKey("-") : RequestKey(request_id), std::to_string(observed),
                           pb.SerializeAsString(), request_id.empty() ? std::string() : request_record});
  if (!r.ok()) return r.status();
  if (r->elements.size() != 2) return absl::InternalError("playbook install: unexpected reply");
  InstallResult out;
  out.applied = r->elements[0].integer == 1;
  out.current = static_cast<uint64_t>(r->elements[1].integer);
  if (out.applied) out.playbook = std::move(pb);
  return out;
}

}  // namespace concord::alignment::api
