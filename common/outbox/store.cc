#include "common/outbox/store.h"

#include <cmath>
#include <condition_variable>
#include <cstdio>

#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <nlohmann/json.hpp>

namespace concord::outbox {
namespace {

// KEYS: [1] request key ("" = none), [2] outbox stream, then the entity keys, then the index keys.
// ARGV: fingerprint, response, ttl, n_entities, n_events, n_index,
//       per entity: expected_version, data
//       per event: EncodeRecord(event)
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
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[a])
  a = a + 1
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

constexpr char kRecordFormat = 1;

void PutVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutString(std::string_view s, std::string& out) {
  PutVarint(s.size(), out);
  out.append(s);
}

bool GetVarint(std::string_view& in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

bool GetString(std::string_view& in, std::string* out) {
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in.size()) return false;
  out->assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

// The JSON header list of the records older versions wrote: [[key, value], ...].
kafka::Headers DecodeJsonHeaders(const std::string& s) {
  kafka::Headers out;
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& pair : j) {
    if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string()) {
      out.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
    }
  }
  return out;
}

// Page tokens: "<score>:<id>" of the last item returned, so the next page starts after it even
// when new items arrive in between.
std::string EncodeToken(double score, const std::string& id) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f:", score);
  return std::string(buf) + id;
}

}  // namespace

std::string EncodeRecord(const OutboxEvent& e) {
  std::string out;
  size_t size = 16 + e.topic.size() + e.key.size() + e.value.size() + e.event_id.size();
  for (const auto& h : e.headers) size += 4 + h.key.size() + h.value.size();
  out.reserve(size);
  out.push_back(kRecordFormat);
  PutString(e.topic, out);
  PutString(e.key, out);
  PutString(e.value, out);
  PutString(e.event_id, out);
  PutVarint(e.headers.size(), out);
  for (const auto& h : e.headers) {
    PutString(h.key, out);
    PutString(h.value, out);
  }
  return out;
}

bool DecodeRecord(const std::vector<redis::Reply>& fields, OutboxEvent* out) {
  const std::string* record = nullptr;
  const std::string* json_headers = nullptr;
  bool legacy = false;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    const auto& name = fields[i].str;
    const auto& value = fields[i + 1].str;
    if (name == "r") record = &value;
    else if (name == "t") out->topic = value, legacy = true;
    else if (name == "k") out->key = value;
    else if (name == "v") out->value = value;
    else if (name == "h") json_headers = &value;
    else if (name == "id") out->event_id = value;
  }
  if (record) {
    std::string_view in = *record;
    uint64_t n = 0;
    if (in.empty() || in.front() != kRecordFormat) return false;
    in.remove_prefix(1);
    if (!GetString(in, &out->topic) || !GetString(in, &out->key) || !GetString(in, &out->value) ||
        !GetString(in, &out->event_id) || !GetVarint(in, &n) || n > in.size()) {
      return false;
    }
    out->headers.resize(n);
    for (auto& h : out->headers) {
      if (!GetString(in, &h.key) || !GetString(in, &h.value)) return false;
    }
    return true;
  }
  if (!legacy) return false;
  out->headers = json_headers ? DecodeJsonHeaders(*json_headers) : kafka::Headers{};
  return true;
}

std::string Fingerprint(std::string_view bytes) {
  // FNV-1a 64 twice with different offsets: cheap and stable across builds and platforms.
  uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL ^ 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : bytes) {
    a = (a ^ c) * 1099511628211ULL;
    b = (b ^ c) * 0x100000001b3ULL + 0x7f4a7c15;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');  // a, b: 16 hex digits each
  for (int i = 15; i >= 0; --i, a >>= 4, b >>= 4) {
    out[i] = kHex[a & 0xf];
    out[16 + i] = kHex[b & 0xf];
  }
  return out;
}

Store::Store(redis::Pool& pool, std::string prefix) : prefix_(std::move(prefix)), client_(pool.options()) {}

void Store::ExportMetrics(metrics::Registry& registry) {
  auto& calls = registry.AddCounter("concord_store_redis_calls_total",
                                    "Redis round trips the record store asked for (a group of commands each)")
                    .With({});
  auto& writes = registry.AddCounter("concord_store_redis_writes_total",
                                     "Writes on the record store's Redis connection, each carrying the calls "
                                     "gathered while the previous one was unanswered")
                     .With({});
  // The client's stats outlive the Store; hooks run one at a time (under the registry's lock).
  registry.AddCollectHook([stats = client_.stats(), &calls, &writes, counted_calls = uint64_t{0},
                           counted_writes = uint64_t{0}]() mutable {
    const uint64_t c = stats->groups_written, w = stats->writes;
    calls.Inc(static_cast<double>(c - counted_calls));
    writes.Inc(static_cast<double>(w - counted_writes));
    counted_calls = c;
    counted_writes = w;
  });
}

std::string Store::EntityKey(std::string_view type, std::string_view id) const {
  return prefix_ + ":e:" + std::string(type) + ":" + std::string(id);
}
std::string Store::IndexKey(std::string_view name) const { return prefix_ + ":ix:" + std::string(name); }
std::string Store::RequestKey(std::string_view request_id) const { return prefix_ + ":req:" + std::string(request_id); }
std::string Store::OutboxKey() const { return prefix_ + ":outbox"; }

namespace {

thread_local bool blocking_refused = false;

// Blocks until an *Async call answers (never on the client's I/O thread: it would wait for itself).
template <typename T, typename Start>
absl::StatusOr<T> Await(const Store& store, Start&& start) {
  if (auto s = store.RefuseOnIoThread(); !s.ok()) return s;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<T>> out;
  start([&](absl::StatusOr<T> r) {
    std::lock_guard lock(mu);
    out = std::move(r);
    cv.notify_one();  // under the lock: cv lives on this stack
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

// As redis::Connection::CommandOk: an error reply is FAILED_PRECONDITION naming the command.
absl::StatusOr<redis::Reply> One(redis::Replies r, const char* command) {
  if (!r.ok()) return r.status();
  redis::Reply& reply = r->front();
  if (reply.is_error()) return absl::FailedPreconditionError(absl::StrCat("redis ", command, ": ", reply.str));
  return std::move(reply);
}

absl::StatusOr<CommitResult> ParseCommitReply(const redis::Reply& reply) {
  if (reply.type != redis::Reply::Type::kArray || reply.elements.empty()) {
    return absl::InternalError("outbox commit: unexpected reply from Redis");
  }
  const auto& tag = reply.elements[0].str;
  CommitResult out;
  if (tag == "ok") {
    out.outcome = CommitResult::Outcome::kCommitted;
  } else if (tag == "replay") {
    out.outcome = CommitResult::Outcome::kReplayed;
    if (reply.elements.size() > 1) out.response = reply.elements[1].str;
  } else if (tag == "reused") {
    out.outcome = CommitResult::Outcome::kRequestIdReused;
  } else if (tag == "conflict" && reply.elements.size() == 3) {
    out.outcome = CommitResult::Outcome::kConflict;
    out.conflict_key = reply.elements[1].str;
    absl::SimpleAtoi(reply.elements[2].str, &out.current_version);
  } else {
    return absl::InternalError("outbox commit: unknown outcome " + tag);
  }
  return out;
}

}  // namespace

void Store::ResetBlockingRefusals() { blocking_refused = false; }
bool Store::BlockingRefused() { return blocking_refused; }

absl::Status Store::RefuseOnIoThread() const {
  if (!OnIoThread()) return absl::OkStatus();
  blocking_refused = true;
  return absl::InternalError("outbox store: blocking call on the Redis I/O thread");
}

void Store::RunCommitScript(std::shared_ptr<std::vector<std::string>> args, Done<redis::Reply> done) {
  // EVALSHA spares Redis hashing and looking up the script text on every commit (and the
  // bytes on the wire). A Redis that lost its script cache (restart, SCRIPT FLUSH) answers
  // NOSCRIPT: that commit runs with EVAL, which caches the script again. Either way the
  // script runs at most once per commit (NOSCRIPT means it did not run).
  std::string sha;
  {
    std::lock_guard lock(script_mu_);
    sha = script_sha_;
  }
  if (!sha.empty()) return SendCommitScript(std::move(args), sha, std::move(done));
  client_.SendCommand({"SCRIPT", "LOAD", kCommitScript},
                      [this, args = std::move(args), done = std::move(done)](redis::Replies r) mutable {
                        auto loaded = One(std::move(r), "SCRIPT");
                        if (!loaded.ok()) return done(loaded.status());
                        {
                          std::lock_guard lock(script_mu_);
                          script_sha_ = loaded->str;
                        }
                        SendCommitScript(std::move(args), loaded->str, std::move(done));
                      });
}

void Store::SendCommitScript(std::shared_ptr<std::vector<std::string>> args, const std::string& sha,
                             Done<redis::Reply> done) {
  (*args)[0] = "EVALSHA";
  (*args)[1] = sha;
  client_.SendCommand(*args, [this, args, done = std::move(done)](redis::Replies r) mutable {
    auto reply = One(std::move(r), "EVALSHA");
    if (reply.ok() || !absl::StrContains(reply.status().message(), "NOSCRIPT")) return done(std::move(reply));
    (*args)[0] = "EVAL";
    (*args)[1] = kCommitScript;
    client_.SendCommand(*args, [done = std::move(done)](redis::Replies r) { done(One(std::move(r), "EVAL")); });
  });
}

absl::StatusOr<CommitResult> Store::Commit(const CommitRequest& r) {
  return Await<CommitResult>(*this, [&](Done<CommitResult> done) { CommitAsync(r, std::move(done)); });
}

void Store::CommitAsync(const CommitRequest& r, Done<CommitResult> done) {
  // args[0..1] are "EVALSHA", <sha>: RunCommitScript fills them (or falls back to EVAL).
  auto args = std::make_shared<std::vector<std::string>>();
  args->reserve(9 + 2 * r.entities.size() + r.events.size() + 3 * r.index.size());
  args->insert(args->end(), {"EVALSHA", "", ""});
  args->push_back(r.request_id.empty() ? "" : RequestKey(r.request_id));
  args->push_back(OutboxKey());
  for (const auto& e : r.entities) args->push_back(e.key);
  for (const auto& x : r.index) args->push_back(x.key);
  (*args)[2] = std::to_string(args->size() - 3);
  args->push_back(r.fingerprint);
  args->push_back(r.response);
  args->push_back(std::to_string(r.idempotency_ttl.count()));
  args->push_back(std::to_string(r.entities.size()));
  args->push_back(std::to_string(r.events.size()));
  args->push_back(std::to_string(r.index.size()));
  for (const auto& e : r.entities) {
    args->push_back(std::to_string(e.expected_version));
    args->push_back(e.data);
  }
  for (const auto& ev : r.events) args->push_back(EncodeRecord(ev));
  for (const auto& x : r.index) {
    args->push_back(absl::StrCat(std::llround(x.score)));  // scores are whole milliseconds
    args->push_back(x.member);
  }
  RunCommitScript(std::move(args), [done = std::move(done)](absl::StatusOr<redis::Reply> reply) {
    if (!reply.ok()) return done(reply.status());
    done(ParseCommitReply(*reply));
  });
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
  return Await<std::optional<CommitResult>>(
      *this, [&](Done<std::optional<CommitResult>> done) { LookupRequestAsync(request_id, fingerprint, std::move(done)); });
}

void Store::LookupRequestAsync(const std::string& request_id, const std::string& fingerprint,
                               Done<std::optional<CommitResult>> done) {
  if (request_id.empty()) return done(std::optional<CommitResult>());
  client_.SendCommand({"HMGET", RequestKey(request_id), "fp", "resp"},
                      [fingerprint, done = std::move(done)](redis::Replies r) {
                        auto reply = One(std::move(r), "HMGET");
                        if (!reply.ok()) return done(reply.status());
                        done(RequestRecord(*reply, fingerprint));
                      });
}

absl::StatusOr<RequestAndEntity> Store::LookupRequestAndGet(const std::string& request_id,
                                                            const std::string& fingerprint,
                                                            const std::string& entity_key) {
  return Await<RequestAndEntity>(*this, [&](Done<RequestAndEntity> done) {
    LookupRequestAndGetAsync(request_id, fingerprint, entity_key, std::move(done));
  });
}

void Store::LookupRequestAndGetAsync(const std::string& request_id, const std::string& fingerprint,
                                     const std::string& entity_key, Done<RequestAndEntity> done) {
  std::vector<redis::Args> cmds;
  if (!request_id.empty()) cmds.push_back({"HMGET", RequestKey(request_id), "fp", "resp"});
  cmds.push_back({"HMGET", entity_key, "v", "d"});
  client_.Send(cmds, [with_request = !request_id.empty(), fingerprint, done = std::move(done)](redis::Replies replies) {
    if (!replies.ok()) return done(replies.status());
    for (const auto& r : *replies) {
      if (r.is_error()) return done(absl::InternalError("redis HMGET: " + r.str));
    }
    RequestAndEntity out;
    if (with_request) out.request = RequestRecord(replies->front(), fingerprint);
    out.entity = EntityRecord(replies->back());
    done(std::move(out));
  });
}

absl::StatusOr<std::optional<Versioned>> Store::Get(const std::string& entity_key) {
  auto many = GetMany({entity_key});
  if (!many.ok()) return many.status();
  return std::move((*many)[0]);
}

absl::StatusOr<std::vector<std::optional<Versioned>>> Store::GetMany(const std::vector<std::string>& keys) {
  return Await<std::vector<std::optional<Versioned>>>(
      *this, [&](Done<std::vector<std::optional<Versioned>>> done) { GetManyAsync(keys, std::move(done)); });
}

void Store::GetManyAsync(const std::vector<std::string>& keys, Done<std::vector<std::optional<Versioned>>> done) {
  std::vector<redis::Args> cmds;
  cmds.reserve(keys.size());
  for (const auto& k : keys) cmds.push_back({"HMGET", k, "v", "d"});
  client_.Send(cmds, [done = std::move(done)](redis::Replies replies) {
    if (!replies.ok()) return done(replies.status());
    std::vector<std::optional<Versioned>> out;
    out.reserve(replies->size());
    for (const auto& r : *replies) {
      if (r.is_error()) return done(absl::InternalError("redis HMGET: " + r.str));
      out.push_back(EntityRecord(r));
    }
    done(std::move(out));
  });
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
  if (auto s = RefuseOnIoThread(); !s.ok()) return s;
  // Items sharing the boundary score are re-read and skipped up to the last id returned.
  auto reply = One(client_.Call({{"ZREVRANGEBYSCORE", index_key, max, "-inf", "WITHSCORES", "LIMIT", "0",
                                    std::to_string(page_size + 1 + (after_id.empty() ? 0 : 64))}}),
                   "ZREVRANGEBYSCORE");
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
  if (auto s = RefuseOnIoThread(); !s.ok()) return s;
  auto reply = One(client_.Call({{"XLEN", OutboxKey()}}), "XLEN");
  if (!reply.ok()) return reply.status();
  return reply->integer;
}

}  // namespace concord::outbox
