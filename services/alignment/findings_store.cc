#include "services/alignment/findings_store.h"

#include <charconv>

#include <absl/container/flat_hash_map.h>

#include <google/protobuf/util/time_util.h>

namespace concord::alignment {

namespace {

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// XREAD / XRANGE entry: [id, [field, value, ...]].
std::optional<FeedEntry> ToEntry(const redis::Reply& r) {
  if (r.elements.size() < 2) return std::nullopt;
  FeedEntry e;
  e.cursor = r.elements[0].str;
  const auto& fv = r.elements[1].elements;
  for (size_t i = 0; i + 1 < fv.size(); i += 2) {
    const auto& k = fv[i].str;
    const auto& v = fv[i + 1].str;
    if (k == "kind") e.kind = v;
    else if (k == "id") e.finding_id = v;
    else if (k == "version") ParseU64(v, &e.version);
  }
  if (e.finding_id.empty()) return std::nullopt;
  return e;
}

constexpr const char* kCasScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[2])
local fid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'kind', 'status', 'id', ARGV[3], 'version', ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', 86400) end
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[8], ARGV[6])
return fid
)lua";

}  // namespace

std::optional<FeedId> FeedId::Parse(const std::string& s) {
  auto dash = s.find('-');
  FeedId id;
  if (dash == std::string::npos) {
    if (!ParseU64(s, &id.ms)) return std::nullopt;
    return id;
  }
  if (!ParseU64(std::string_view(s).substr(0, dash), &id.ms) ||
      !ParseU64(std::string_view(s).substr(dash + 1), &id.seq)) {
    return std::nullopt;
  }
  return id;
}

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
  std::vector<ToSave> one;
  one.push_back({f.id(), f.customer_key(), google::protobuf::util::TimeUtil::TimestampToMilliseconds(f.detected_at()),
                 f.SerializeAsString()});
  return SaveCommands(std::move(one));
}

std::vector<std::vector<std::string>> FindingsStore::SaveCommands(std::vector<ToSave> findings) const {
  std::vector<std::vector<std::string>> out;
  if (findings.empty()) return out;
  std::vector<std::string> mset = {"MSET"}, all = {"ZADD", AllIndexKey()};
  mset.reserve(1 + 2 * findings.size());
  all.reserve(2 + 2 * findings.size());
  // One ZADD per customer, in the order of their first finding (the same batch, the same commands).
  std::vector<std::vector<std::string>> per_customer;
  absl::flat_hash_map<std::string_view, size_t> customer_cmd;
  for (auto& f : findings) {
    std::string ms = std::to_string(f.detected_ms);
    mset.push_back(FindingKey(f.id));
    mset.push_back(std::move(f.bytes));  // the finding's bytes, not copied
    all.push_back(ms);
    all.emplace_back(f.id);
    auto [it, added] = customer_cmd.try_emplace(f.customer_key, per_customer.size());
    if (added) per_customer.push_back({"ZADD", CustomerIndexKey(f.customer_key)});
    per_customer[it->second].push_back(std::move(ms));
    per_customer[it->second].emplace_back(f.id);
  }
  out.reserve(2 + per_customer.size() + findings.size());
  out.push_back(std::move(mset));
  out.push_back(std::move(all));
  for (auto& c : per_customer) out.push_back(std::move(c));
  for (const auto& f : findings) {
    out.push_back(redis::Cmd("XADD", FeedKey(), "MAXLEN", "~", "1000000", "*", "kind", "raised", "id", std::string(f.id)));
  }
  return out;
}

absl::Status FindingsStore::Parse(redis::Connection& conn, std::string_view id, std::string_view stored,
                                  v1::Finding* out) const {
  thread_local std::string buf;
  if (IsCompressedValue(stored)) {
    if (auto s = dictionaries_->Decompress(conn, stored, &buf); !s.ok()) {
      if (s.code() != absl::StatusCode::kDataLoss) return s;
      return absl::DataLossError("finding " + std::string(id) + ": " + std::string(s.message()));
    }
    stored = buf;
  }
  if (!out->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("finding " + std::string(id) + " in Redis does not parse");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Finding>> FindingsStore::Get(redis::Connection& conn, const std::string& id) const {
  auto r = conn.CommandOk({"GET", FindingKey(id)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::optional<v1::Finding>();
  v1::Finding f;
  if (auto s = Parse(conn, id, r->str, &f); !s.ok()) return s;
  return std::optional<v1::Finding>(std::move(f));
}

absl::StatusOr<std::vector<std::optional<v1::Finding>>> FindingsStore::GetMany(redis::Connection& conn,
                                                                              const std::vector<std::string>& ids) const {
  std::vector<std::optional<v1::Finding>> out;
  if (ids.empty()) return out;
  std::vector<std::string> cmd = {"MGET"};
  for (const auto& id : ids) cmd.push_back(FindingKey(id));
  auto r = conn.CommandOk(cmd);
  if (!r.ok()) return r.status();
  out.resize(ids.size());
  for (size_t i = 0; i < ids.size() && i < r->elements.size(); ++i) {
    if (r->elements[i].is_nil()) continue;
    v1::Finding f;
    auto s = Parse(conn, ids[i], r->elements[i].str, &f);
    if (s.ok()) out[i] = std::move(f);
    else if (s.code() != absl::StatusCode::kDataLoss) return s;  // Redis, loading a dictionary
  }
  return out;
}

absl::StatusOr<IndexScan> FindingsStore::ScanIndex(redis::Connection& conn, const std::string& index_key, int64_t min_ms,
                                                   int64_t max_ms, const std::optional<IndexPosition>& after,
                                                   int count) const {
  IndexScan out;
  int64_t max = after ? std::min(after->ms, max_ms) : max_ms;
  if (max < min_ms || count <= 0) {
    out.exhausted = max < min_ms;
    return out;
  }
  const int chunk = count + 16;
  long long offset = 0;
  while (true) {
    auto r = conn.CommandOk({"ZREVRANGEBYSCORE", index_key, std::to_string(max), std::to_string(min_ms), "WITHSCORES",
                             "LIMIT", std::to_string(offset), std::to_string(chunk)});
    if (!r.ok()) return r.status();
    const auto& el = r->elements;
    for (size_t i = 0; i + 1 < el.size(); i += 2) {
      int64_t ms = 0;
      try {
        ms = static_cast<int64_t>(std::stod(el[i + 1].str));
      } catch (...) {
        continue;
      }
      const auto& id = el[i].str;
      // Ties on the time are ordered by id descending: skip what the previous page returned.
      if (after && ms == after->ms && id >= after->id) continue;
      out.items.emplace_back(ms, id);
    }
    size_t got = el.size() / 2;
    if (got < static_cast<size_t>(chunk)) {
      out.exhausted = true;
      break;
    }
    if (out.items.size() >= static_cast<size_t>(count)) break;
    offset += chunk;
  }
  if (out.items.size() > static_cast<size_t>(count)) {
    out.items.resize(count);
    out.exhausted = false;
  }
  return out;
}

absl::StatusOr<std::string> FindingsStore::FeedLastId(redis::Connection& conn) const {
  auto r = conn.CommandOk({"XREVRANGE", FeedKey(), "+", "-", "COUNT", "1"});
  if (!r.ok()) return r.status();
  if (r->elements.empty() || r->elements[0].elements.empty()) return std::string("0-0");
  return r->elements[0].elements[0].str;
}

absl::StatusOr<bool> FindingsStore::FeedCursorExpired(redis::Connection& conn, const FeedId& cursor) const {
  auto r = conn.Command({"XINFO", "STREAM", FeedKey()});
  if (!r.ok()) return r.status();
  if (r->is_error()) return false;  // no feed yet: nothing was trimmed
  const auto& el = r->elements;
  std::optional<FeedId> max_deleted, first;
  long long length = 0, added = -1;
  for (size_t i = 0; i + 1 < el.size(); i += 2) {
    const auto& k = el[i].str;
    if (k == "max-deleted-entry-id") max_deleted = FeedId::Parse(el[i + 1].str);
    else if (k == "length") length = el[i + 1].integer;
    else if (k == "entries-added") added = el[i + 1].integer;
    else if (k == "first-entry" && !el[i + 1].elements.empty()) first = FeedId::Parse(el[i + 1].elements[0].str);
  }
  // XDEL moves max-deleted-entry-id; trimming (XADD MAXLEN, XTRIM) does not in Redis 7.0, so:
  // when entries were removed (entries-added > length), a cursor before the first retained
  // entry may have missed some.
  if (max_deleted && cursor < *max_deleted) return true;
  bool removed = added < 0 ? true : added > length;
  if (removed && first) return cursor < *first;
  return false;
}

absl::StatusOr<std::vector<FeedEntry>> FindingsStore::ReadFeed(redis::Connection& conn, const std::string& cursor,
                                                               int count, int block_ms) const {
  std::vector<std::string> cmd = {"XREAD", "COUNT", std::to_string(count)};
  if (block_ms > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(block_ms));
  }
  cmd.push_back("STREAMS");
  cmd.push_back(FeedKey());
  cmd.push_back(cursor);
  auto r = conn.CommandOk(cmd);
  if (!r.ok()) return r.status();
  std::vector<FeedEntry> out;
  if (r->is_nil()) return out;
  for (const auto& stream : r->elements) {
    if (stream.elements.size() < 2) continue;
    for (const auto& e : stream.elements[1].elements) {
      if (auto entry = ToEntry(e)) out.push_back(std::move(*entry));
      else if (!e.elements.empty()) out.push_back({e.elements[0].str, "", "", 0});  // unknown: cursor only
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> FindingsStore::CompareAndSetStatus(
    redis::Connection& conn, const std::string& old_bytes, const v1::Finding& updated, const std::string& request_id,
    const std::string& request_record, const std::string& event_id, const std::string& event_bytes,
    int64_t relay_due_ms) const {
  auto stored = dictionaries_->CompressLike(conn, updated.SerializeAsString(), old_bytes);
  if (!stored.ok()) return stored.status();
  auto r = conn.CommandOk({"EVAL", kCasScript, "5", FindingKey(updated.id()), FeedKey(),
                           RequestKey(request_id.empty() ? "-" : request_id), OutboxKey(), OutboxDueKey(), old_bytes,
                           std::move(*stored), updated.id(), std::to_string(updated.version()),
                           request_id.empty() ? std::string() : request_record, event_id, event_bytes,
                           std::to_string(relay_due_ms)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::optional<std::string>();
  return std::optional<std::string>(r->str);
}

std::optional<v1::Finding> FindingsStore::AtVersion(const v1::Finding& current, uint64_t version) {
  uint64_t cur = current.version() == 0 ? 1 : current.version();
  if (version < 1 || version > cur) return std::nullopt;
  if (version == cur) return current;
  v1::Finding f = current;
  f.clear_status_history();
  const v1::StatusChange* last = nullptr;
  for (const auto& c : current.status_history()) {
    if (c.version() > version) break;
    *f.add_status_history() = c;
    last = &c;
  }
  f.set_version(version);
  if (last) {
    f.set_status(last->status());
    *f.mutable_updated_at() = last->changed_at();
  } else {
    f.set_status(v1::FINDING_STATUS_OPEN);
    if (current.has_detected_at()) *f.mutable_updated_at() = current.detected_at();
    else f.clear_updated_at();
  }
  return f;
}

}  // namespace concord::alignment
