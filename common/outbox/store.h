#pragma once
// The write path of the marketing and sales services: entities, idempotency records,
// list indexes and outbox events are committed in ONE atomic Redis step (a Lua script, which
// Redis runs without interleaving, like MULTI/EXEC but with the checks inside), so a write
// acknowledged to the caller always has its events in the outbox stream; the Relay moves
// them to Kafka.
//
// Redis keys, under a per-service prefix P (e.g. "concord:sales"):
//   P:e:<type>:<id>   hash {v: version, d: serialized entity}
//   P:req:<id>        hash {fp: request fingerprint, resp: serialized response}, expires
//   P:ix:<name>       sorted set of ids (score = creation time in ms) for listing
//   P:outbox          stream of events waiting for Kafka: {r: EncodeRecord(event)}
//                     (records of older versions: {t: topic, k: key, v: value, h: JSON headers, id})

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "common/kafka/handle.h"
#include "common/metrics/metrics.h"
#include "common/redis/async_client.h"
#include "common/redis/redis.h"

namespace concord::outbox {

struct EntityWrite {
  std::string key;           // Store::EntityKey(type, id)
  uint64_t expected_version;  // the version read before the change; 0 = must not exist yet
  std::string data;          // the new state; its version is expected_version + 1
};

struct OutboxEvent {
  std::string topic;
  std::string key;    // Kafka key (canonical customer key)
  std::string value;  // serialized event
  kafka::Headers headers;
  std::string event_id;  // for logs and dedupe
};

struct IndexAdd {
  std::string key;  // Store::IndexKey(name)
  double score;
  std::string member;
};

struct CommitRequest {
  std::string request_id;   // client idempotency key; empty = not idempotent
  std::string fingerprint;  // stable hash of the request: same id + other request = refused
  std::string response;     // serialized response, returned again to retries
  std::vector<EntityWrite> entities;
  std::vector<OutboxEvent> events;
  std::vector<IndexAdd> index;
  std::chrono::seconds idempotency_ttl{std::chrono::hours(24)};
};

struct CommitResult {
  enum class Outcome {
    kCommitted,       // applied now
    kReplayed,        // the same request was applied before: `response` is its answer
    kConflict,        // an entity changed since it was read: `conflict_key`, `current_version`
    kRequestIdReused  // the request id was used for a different request
  };
  Outcome outcome = Outcome::kCommitted;
  std::string response;
  std::string conflict_key;
  uint64_t current_version = 0;
};

struct Versioned {
  uint64_t version = 0;
  std::string data;
};

// What the first read of an update needs: the request's record (if any) and the entity.
struct RequestAndEntity {
  std::optional<CommitResult> request;  // as LookupRequest
  std::optional<Versioned> entity;      // as Get
};

struct Page {
  std::vector<std::string> ids;
  std::string next_token;  // "" when there is no next page
};

// Every Store call goes through one pipelining connection (redis::AsyncClient, its own I/O
// thread, opened with the pool's options): the calls of all threads in flight share its
// round trips (group commit), instead of each blocking a pooled connection. The *Async forms
// call `done` on that I/O thread (never block in it); the plain forms wait for them.
template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

class Store {
 public:
  // `pool` gives the connection options only.
  explicit Store(redis::Pool& pool, std::string prefix);
  // concord_store_redis_calls_total and concord_store_redis_writes_total: Redis round trips
  // asked for and the writes that carried them, each every call gathered while the previous
  // one was unanswered (redis::AsyncClient's flights; a write the socket does not take whole
  // finishes in more than one write()). Their ratio is how many calls shared a write. Read at
  // each scrape.
  void ExportMetrics(metrics::Registry& registry);

  std::string EntityKey(std::string_view type, std::string_view id) const;
  std::string IndexKey(std::string_view name) const;
  std::string RequestKey(std::string_view request_id) const;
  std::string OutboxKey() const;
  const std::string& prefix() const { return prefix_; }

  absl::StatusOr<CommitResult> Commit(const CommitRequest& request);
  void CommitAsync(const CommitRequest& request, Done<CommitResult> done);

  // The answer recorded for a request id, if any: lets a retry skip the work entirely.
  // kRequestIdReused when the fingerprint differs.
  absl::StatusOr<std::optional<CommitResult>> LookupRequest(const std::string& request_id,
                                                            const std::string& fingerprint);
  void LookupRequestAsync(const std::string& request_id, const std::string& fingerprint,
                          Done<std::optional<CommitResult>> done);

  // LookupRequest and Get in one round trip (both read before anything is decided).
  absl::StatusOr<RequestAndEntity> LookupRequestAndGet(const std::string& request_id, const std::string& fingerprint,
                                                       const std::string& entity_key);
  void LookupRequestAndGetAsync(const std::string& request_id, const std::string& fingerprint,
                                const std::string& entity_key, Done<RequestAndEntity> done);

  absl::StatusOr<std::optional<Versioned>> Get(const std::string& entity_key);
  absl::StatusOr<std::vector<std::optional<Versioned>>> GetMany(const std::vector<std::string>& entity_keys);
  void GetManyAsync(const std::vector<std::string>& entity_keys, Done<std::vector<std::optional<Versioned>>> done);

  // Newest first. The page token is opaque to clients (it encodes the last score and id).
  absl::StatusOr<Page> List(const std::string& index_key, const std::string& page_token, int page_size);

  // Outbox records not yet relayed.
  absl::StatusOr<int64_t> OutboxLength();

  // True on the client's I/O thread, where the blocking forms must not be used: there they
  // fail (INTERNAL) and count as a refusal, which lets an async write see that its mutation
  // wants to block and hand it to a worker. Per thread.
  bool OnIoThread() const { return client_.OnIoThread(); }
  static void ResetBlockingRefusals();
  static bool BlockingRefused();
  absl::Status RefuseOnIoThread() const;  // OK off the I/O thread

 private:
  // Runs the commit script by its SHA1 (EVALSHA), loading it first when this Store has not.
  void RunCommitScript(std::shared_ptr<std::vector<std::string>> args, Done<redis::Reply> done);
  void SendCommitScript(std::shared_ptr<std::vector<std::string>> args, const std::string& sha,
                        Done<redis::Reply> done);

  std::string prefix_;
  std::mutex script_mu_;
  std::string script_sha_;  // of kCommitScript once loaded (SCRIPT LOAD); guarded by script_mu_
  redis::AsyncClient client_;  // last: its I/O thread stops first
};

// Stable fingerprint of a request's bytes (for CommitRequest::fingerprint).
std::string Fingerprint(std::string_view bytes);

// An outbox record as one stream field value: a format byte, then topic, key, value, event id
// and the headers as varint-length-prefixed strings. One field instead of five and no JSON:
// less work for Redis (XADD, XREAD) and for both ends.
std::string EncodeRecord(const OutboxEvent& event);
// The record of a stream entry's fields (field, value, field, value...): the "r" field, or the
// five fields an older version wrote. False when neither is there or the bytes are corrupt.
bool DecodeRecord(const std::vector<redis::Reply>& fields, OutboxEvent* out);

}  // namespace concord::outbox
