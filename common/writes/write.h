#pragma once
// The idempotent, versioned write every mutating RPC of marketing and sales goes through.
//
//   auto r = writes::VersionedWrite<Lead, ScoreLeadResponse>(store_,
//       {.request_id = req.request_id(), .fingerprint = writes::RequestFingerprint(req),
//        .entity_type = "lead", .entity_id = req.lead_id(),
//        .expected_version = req.expected_version(), .deadline = deadline},
//       [&](Lead& lead, uint64_t previous_version, writes::Changes<ScoreLeadResponse>& out) -> absl::Status {
//         if (lead.status() == ...) return writes::WrongState(...);   // refuse: nothing is written
//         lead.set_score(req.score());                               // lead.version() is already +1
//         auto ev = events_.Build(...);                              // the event(s)
//         out.events.push_back(events_.ToOutbox(ev));
//         *out.response.mutable_lead() = lead;
//         out.response.set_event_id(ev.id());
//         return absl::OkStatus();
//       });
//
// Steps:
//   1. Store::LookupRequest(request_id, fingerprint): a replay returns the stored response
//      (nothing is checked or written again); a reused id is INVALID_ARGUMENT. An update reads
//      the entity in the same round trip (Store::LookupRequestAndGet).
//   2. Read the entity (update) -> NOT_FOUND when missing; or start from an empty one (create,
//      the entity must not exist). The entity's `version` (if it has one) is set to the next
//      version.
//   3. expected_version != 0 and != current version -> ABORTED naming the current version.
//   4. `mutate` changes the entity and fills the events, index entries, other entity writes
//      and the response; a non-OK status is returned as is and nothing is written.
//   5. Store::Commit: entity + request record (with the response) + index + outbox events in
//      one atomic step. An entity changed by someone else since step 2 is a conflict: when the
//      client pinned expected_version that is ABORTED, else steps 2-5 run again (at most
//      max_attempts times, then ABORTED). A concurrent twin of the same request that committed
//      first makes this one a replay.
// Storage failures are mapped by StorageError (UNAVAILABLE / DEADLINE_EXCEEDED / INTERNAL); a
// past deadline is DEADLINE_EXCEEDED before any step starts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include "common/writes/strings.h"

#include "common/outbox/store.h"
#include "common/writes/proto_bytes.h"
#include "common/writes/status.h"

namespace concord::writes {

struct WriteTarget {
  std::string request_id;   // validated by the caller (Validator::RequestId)
  std::string fingerprint;  // RequestFingerprint(request)
  std::string entity_type;  // e.g. "lead": Store::EntityKey(entity_type, entity_id), and error messages
  std::string entity_id;
  bool create = false;            // true: a new entity (must not exist), version 1
  uint64_t expected_version = 0;  // the client's expected_version; 0 = don't check
  int max_attempts = 4;           // commits tried on conflicts when expected_version == 0
  std::optional<std::chrono::system_clock::time_point> deadline;
  std::chrono::seconds idempotency_ttl{std::chrono::hours(24)};
};

template <typename Response>
struct Changes {
  std::vector<outbox::OutboxEvent> events;
  std::vector<outbox::IndexAdd> index;
  // Other entities written in the same commit (their expected_version is the version read).
  std::vector<outbox::EntityWrite> more_entities;
  Response response;
};

template <typename Response>
struct WriteResult {
  Response response;
  bool replayed = false;  // answered from the idempotency record
  int attempts = 0;       // commits tried (0 for a replay found before any work)
};

template <typename Entity, typename Response>
using Mutation = std::function<absl::Status(Entity& entity, uint64_t previous_version, Changes<Response>& out)>;

inline absl::Status CheckDeadline(const std::optional<std::chrono::system_clock::time_point>& deadline) {
  if (deadline && std::chrono::system_clock::now() >= *deadline) {
    return absl::DeadlineExceededError("deadline exceeded before the write completed");
  }
  return absl::OkStatus();
}

template <typename Response>
absl::StatusOr<WriteResult<Response>> ParseReplay(const std::string& bytes, int attempts) {
  WriteResult<Response> r;
  r.replayed = true;
  r.attempts = attempts;
  if (!r.response.ParseFromString(bytes)) return absl::InternalError("stored response of the request is corrupt");
  return r;
}

// The commit of one attempt: the entity at current + 1, what the mutation changed besides, and
// its events and index entries (moved out of `changes`; the response stays for the caller).
template <typename Entity, typename Response>
outbox::CommitRequest CommitOf(const WriteTarget& t, const std::string& key, uint64_t current, const Entity& entity,
                               Changes<Response>& changes) {
  outbox::CommitRequest req;
  req.request_id = t.request_id;
  req.fingerprint = t.fingerprint;
  req.response = SerializeDeterministic(changes.response);
  req.entities.push_back({key, current, SerializeDeterministic(entity)});
  for (auto& e : changes.more_entities) req.entities.push_back(std::move(e));
  req.events = std::move(changes.events);
  req.index = std::move(changes.index);
  req.idempotency_ttl = t.idempotency_ttl;
  return req;
}

template <typename Entity, typename Response>
absl::StatusOr<WriteResult<Response>> VersionedWrite(outbox::Store& store, const WriteTarget& t,
                                                     const Mutation<Entity, Response>& mutate) {
  using Outcome = outbox::CommitResult::Outcome;
  if (auto s = CheckDeadline(t.deadline); !s.ok()) return s;

  const std::string key = store.EntityKey(t.entity_type, t.entity_id);
  // An update reads the request record and the entity in one round trip; the entity read is
  // used by the first attempt only when the request is not a replay.
  std::optional<std::optional<outbox::Versioned>> first_read;
  std::optional<outbox::CommitResult> prior;
  if (t.create) {
    auto looked = store.LookupRequest(t.request_id, t.fingerprint);
    if (!looked.ok()) return StorageError(looked.status());
    prior = std::move(*looked);
  } else {
    auto both = store.LookupRequestAndGet(t.request_id, t.fingerprint, key);
    if (!both.ok()) return StorageError(both.status());
    prior = std::move(both->request);
    first_read = std::move(both->entity);
  }
  if (prior) {
    if (prior->outcome == Outcome::kRequestIdReused) return RequestIdReused(t.request_id);
    return ParseReplay<Response>(prior->response, 0);
  }

  uint64_t last_conflict_version = 0;
  for (int attempt = 1; attempt <= std::max(1, t.max_attempts); ++attempt) {
    if (auto s = CheckDeadline(t.deadline); !s.ok()) return s;
    Entity entity;
    uint64_t current = 0;
    if (!t.create) {
      std::optional<outbox::Versioned> got;
      if (first_read) {
        got = std::move(*first_read);
        first_read.reset();
      } else {
        auto read = store.Get(key);
        if (!read.ok()) return StorageError(read.status());
        got = std::move(*read);
      }
      if (!got) return NotFound(t.entity_type, t.entity_id);
      current = got->version;
      if (!entity.ParseFromString(got->data)) {
        return absl::InternalError(Cat("stored ", t.entity_type, " '", t.entity_id, "' is corrupt"));
      }
      if (t.expected_version != 0 && t.expected_version != current) {
        return VersionMismatch(t.expected_version, current);
      }
    }
    SetVersion(entity, current + 1);

    Changes<Response> changes;
    if (auto s = mutate(entity, current, changes); !s.ok()) return s;

    auto req = CommitOf(t, key, current, entity, changes);
    auto committed = store.Commit(req);
    if (!committed.ok()) return StorageError(committed.status());
    switch (committed->outcome) {
      case Outcome::kCommitted: {
        WriteResult<Response> r;
        r.response = std::move(changes.response);
        r.attempts = attempt;
        return r;
      }
      case Outcome::kReplayed:
        return ParseReplay<Response>(committed->response, attempt);
      case Outcome::kRequestIdReused:
        return RequestIdReused(t.request_id);
      case Outcome::kConflict:
        last_conflict_version = committed->current_version;
        if (t.create && committed->conflict_key == key) {
          return absl::AlreadyExistsError(Cat(t.entity_type, " '", t.entity_id, "' already exists"));
        }
        if (t.expected_version != 0 && committed->conflict_key == key) {
          return VersionMismatch(t.expected_version, committed->current_version);
        }
        continue;  // someone else changed it in between: read again and re-apply
    }
  }
  return absl::AbortedError(Cat(t.entity_type, " '", t.entity_id,
                                         "' is being changed concurrently (current version ", last_conflict_version,
                                         "); retry with the same request_id"));
}

}  // namespace concord::writes
