#include "common/outbox/store.h"

#include <cstdio>

#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <nlohmann/json.hpp>

namespace concord::outbox {
namespace {

// KEYS: [1] request key ("" = none), [2] outbox stream, then the entity keys, then the index keys.
// ARGV: fingerprint, response, ttl, n_entities, n_events, n_index,
//       per entity: expected_version, data
//       per event: topic, key, value, headers, event_id
//       per index: score, member
// Returns {"ok"} | {"replay", response} | {"reused"} | {"conflict", key, current_version}.
constexpr const char* kCommitScript = R"lua(
local req = KEYS[1]
if req ~= '' then
  local fp = redis.call('HGET', req, 'fp')
  if fp then
    if fp ~= ARGV[1] then return {'reused'} end
    return {'replay', redis.call('HGET', req, 'resp')}
  end
end
local ne, nv, nx = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local a = 7
for e = 1, ne do
  local key = KEYS[2 + e]
  local cur = tonumber(redis.call('HGET', key, 'v') or '0')
  if cur ~= tonumber(ARGV[a]) then return {'conflict', key, tostring(cur)} end
  a = a + 2
end
a = 7
for e = 1, ne do
  redis.call('HSET', KEYS[2 + e], 'v', tonumber(ARGV[a]) + 1, 'd', ARGV[a + 1])
  a = a + 2
end
for e = 1, nv do
  redis.call('XADD', KEYS[2], '*', 't', ARGV[a], 'k', ARGV[a + 1], 'v', ARGV[a + 2], 'h', ARGV[a + 3], 'id', ARGV[a + 4])
  a = a + 5
end
for e = 1, nx do
  redis.call('ZADD', KEYS[2 + ne + e], ARGV[a], ARGV[a + 1])
  a = a + 2
end
if req ~= '' then
  redis.call('HSET', req, 'fp', ARGV[1], 'resp', ARGV[2])
  redis.call('EXPIRE', req, ARGV[3])
end
return {'ok'}
)lua";

std::string EncodeHeaders(const kafka::Headers& headers) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& h : headers) j.push_back({h.key, h.value});
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Page tokens: "<score>:<id>" of the last item returned, so the next page starts after it even
// when new items arrive in between.
std::string EncodeToken(double score, const std::string& id) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f:", score);
  return std::string(buf) + id;
}

}  // namespace

std::string Fingerprint(std::string_view bytes) {
  // FNV-1a 64 twice with different offsets: cheap and stable across builds and platforms.
  uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL ^ 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : bytes) {
    a = (a ^ c) * 1099511628211ULL;
    b = (b ^ c) * 0x100000001b3ULL + 0x7f4a7c15;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  return buf;
}

Store::Store(redis::Pool& pool, std::string prefix, std::chrono::milliseconds acquire_timeout)
    : pool_(pool), prefix_(std::move(prefix)), acquire_timeout_(acquire_timeout) {}

std::string Store::EntityKey(std::string_view type, std::string_view id) const {
  return prefix_ + ":e:" + std::string(type) + ":" + std::string(id);
}
std::string Store::IndexKey(std::string_view name) const { return prefix_ + ":ix:" + std::string(name); }
std::string Store::RequestKey(std::string_view request_id) const { return prefix_ + ":req:" + std::string(request_id); }
std::string Store::OutboxKey() const { return prefix_ + ":outbox"; }

absl::StatusOr<redis::Pool::Lease> Store::Acquire() { return pool_.Acquire(acquire_timeout_); }

absl::StatusOr<redis::Reply> Store::RunCommitScript(redis::Connection& conn, std::vector<std::string>& args) {
  // EVALSHA spares Redis hashing and looking up the script text on every commit (and the
  // bytes on the wire). A Redis that lost its script cache (restart, SCRIPT FLUSH) answers
  // NOSCRIPT: that commit runs with EVAL, which caches the script again. Either way the
  // script runs at most once per commit (NOSCRIPT means it did not run).
  std::string sha;
  {
    std::lock_guard lock(script_mu_);
    sha = script_sha_;
  }
  if (sha.empty()) {
    auto loaded = conn.CommandOk({"SCRIPT", "LOAD", kCommitScript});
    if (!loaded.ok()) return loaded.status();
    sha = loaded->str;
    std::lock_guard lock(script_mu_);
    script_sha_ = sha;
  }
  args[0] = "EVALSHA";
  args[1] = sha;
  auto reply = conn.CommandOk(args);
  if (!reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
    args[0] = "EVAL";
    args[1] = kCommitScript;
    reply = conn.CommandOk(args);
  }
  return reply;
}

absl::StatusOr<CommitResult> Store::Commit(const CommitRequest& r) {
  // args[0..1] are "EVALSHA", <sha>: RunCommitScript fills them (or falls back to EVAL).
  std::vector<std::string> args = {"EVALSHA", "", ""};
  std::vector<std::string> keys = {r.request_id.empty() ? "" : RequestKey(r.request_id), OutboxKey()};
  for (const auto& e : r.entities) keys.push_back(e.key);
  for (const auto& x : r.index) keys.push_back(x.key);
  args[2] = std::to_string(keys.size());
  args.insert(args.end(), keys.begin(), keys.end());
  args.push_back(r.fingerprint);
  args.push_back(r.response);
  args.push_back(std::to_string(r.idempotency_ttl.count()));
  args.push_back(std::to_string(r.entities.size()));
  args.push_back(std::to_string(r.events.size()));
  args.push_back(std::to_string(r.index.size()));
  for (const auto& e : r.entities) {
    args.push_back(std::to_string(e.expected_version));
    args.push_back(e.data);
  }
  for (const auto& ev : r.events) {
    args.push_back(ev.topic);
    args.push_back(ev.key);
    args.push_back(ev.value);
    args.push_back(EncodeHeaders(ev.headers));
    args.push_back(ev.event_id);
  }
  for (const auto& x : r.index) {
    char score[64];
    std::snprintf(score, sizeof score, "%.0f", x.score);
    args.push_back(score);
    args.push_back(x.member);
  }

  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  auto reply = RunCommitScript(**lease, args);
  if (!reply.ok()) return reply.status();
  if (reply->type != redis::Reply::Type::kArray || reply->elements.empty()) {
    return absl::InternalError("outbox commit: unexpected reply from Redis");
  }
  const auto& tag = reply->elements[0].str;
  CommitResult out;
  if (tag == "ok") {
    out.outcome = CommitResult::Outcome::kCommitted;
  } else if (tag == "replay") {
    out.outcome = CommitResult::Outcome::kReplayed;
    if (reply->elements.size() > 1) out.response = reply->elements[1].str;
  } else if (tag == "reused") {
    out.outcome = CommitResult::Outcome::kRequestIdReused;
  } else if (tag == "conflict" && reply->elements.size() == 3) {
    out.outcome = CommitResult::Outcome::kConflict;
    out.conflict_key = reply->elements[1].str;
    absl::SimpleAtoi(reply->elements[2].str, &out.current_version);
  } else {
    return absl::InternalError("outbox commit: unknown outcome " + tag);
  }
  return out;
}

namespace {

std::optional<CommitResult> RequestRecord(const redis::Reply& r, const std::string& fingerprint) {
  if (r.elements.size() != 2 || r.elements[0].is_nil()) return std::nullopt;
  CommitResult out;
  if (r.elements[0].str != fingerprint) {
    out.outcome = CommitResult::Outcome::kRequestIdReused;
  } else {
    out.outcome = CommitResult::Outcome::kReplayed;
    out.response = r.elements[1].str;
  }
  return out;
}

std::optional<Versioned> EntityRecord(const redis::Reply& r) {
  if (r.elements.size() != 2 || r.elements[0].is_nil()) return std::nullopt;
  Versioned v;
  absl::SimpleAtoi(r.elements[0].str, &v.version);
  v.data = r.elements[1].str;
  return v;
}

}  // namespace

absl::StatusOr<std::optional<CommitResult>> Store::LookupRequest(const std::string& request_id,
                                                                 const std::string& fingerprint) {
  if (request_id.empty()) return std::optional<CommitResult>();
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  auto reply = (*lease)->CommandOk({"HMGET", RequestKey(request_id), "fp", "resp"});
  if (!reply.ok()) return reply.status();
  return RequestRecord(*reply, fingerprint);
}

absl::StatusOr<RequestAndEntity> Store::LookupRequestAndGet(const std::string& request_id,
                                                            const std::string& fingerprint,
                                                            const std::string& entity_key) {
  std::vector<std::vector<std::string>> cmds;
  if (!request_id.empty()) cmds.push_back({"HMGET", RequestKey(request_id), "fp", "resp"});
  cmds.push_back({"HMGET", entity_key, "v", "d"});
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  auto replies = (*lease)->Pipeline(cmds);
  if (!replies.ok()) return replies.status();
  for (const auto& r : *replies) {
    if (r.is_error()) return absl::InternalError("redis HMGET: " + r.str);
  }
  RequestAndEntity out;
  if (!request_id.empty()) out.request = RequestRecord(replies->front(), fingerprint);
  out.entity = EntityRecord(replies->back());
  return out;
}

absl::StatusOr<std::optional<Versioned>> Store::Get(const std::string& entity_key) {
  auto many = GetMany({entity_key});
  if (!many.ok()) return many.status();
  return std::move((*many)[0]);
}

absl::StatusOr<std::vector<std::optional<Versioned>>> Store::GetMany(const std::vector<std::string>& keys) {
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(keys.size());
  for (const auto& k : keys) cmds.push_back({"HMGET", k, "v", "d"});
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  auto replies = (*lease)->Pipeline(cmds);
  if (!replies.ok()) return replies.status();
  std::vector<std::optional<Versioned>> out;
  out.reserve(keys.size());
  for (const auto& r : *replies) {
    if (r.is_error()) return absl::InternalError("redis HMGET: " + r.str);
    out.push_back(EntityRecord(r));
  }
  return out;
}

absl::StatusOr<Page> Store::List(const std::string& index_key, const std::string& page_token, int page_size) {
  std::string max = "+inf";
  std::string after_id;
  if (!page_token.empty()) {
    auto colon = page_token.find(':');
    double score = 0;
    if (colon == std::string::npos || !absl::SimpleAtod(page_token.substr(0, colon), &score)) {
      return absl::InvalidArgumentError("page_token: not a token this service issued");
    }
    max = page_token.substr(0, colon);
    after_id = page_token.substr(colon + 1);
  }
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  // Items sharing the boundary score are re-read and skipped up to the last id returned.
  auto reply = (*lease)->CommandOk({"ZREVRANGEBYSCORE", index_key, max, "-inf", "WITHSCORES", "LIMIT", "0",
                                    std::to_string(page_size + 1 + (after_id.empty() ? 0 : 64))});
  if (!reply.ok()) return reply.status();
  Page page;
  bool skipping = !after_id.empty();
  double last_score = 0;
  const auto& el = reply->elements;
  for (size_t i = 0; i + 1 < el.size(); i += 2) {
    const std::string& id = el[i].str;
    if (skipping) {
      if (id == after_id) skipping = false;
      continue;
    }
    if (static_cast<int>(page.ids.size()) == page_size) {
      page.next_token = EncodeToken(last_score, page.ids.back());
      break;
    }
    absl::SimpleAtod(el[i + 1].str, &last_score);
    page.ids.push_back(id);
  }
  return page;
}

absl::StatusOr<int64_t> Store::OutboxLength() {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  auto reply = (*lease)->CommandOk({"XLEN", OutboxKey()});
  if (!reply.ok()) return reply.status();
  return reply->integer;
}

}  // namespace concord::outbox
