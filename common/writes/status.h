#pragma once
// Status conventions of the marketing and sales APIs, and the mapping from the absl::Status
// the libraries return to the grpc::Status a handler finishes with.
//
//   bad or missing field           INVALID_ARGUMENT  "field.path: why; ..."   (validation.h)
//   request_id reused              INVALID_ARGUMENT  "request_id: 'r-1' was already used for a different request"
//   unknown id                     NOT_FOUND         "lead 'lead-...' not found"
//   state forbids the call         FAILED_PRECONDITION "campaign 'c-1' is ENDED: cannot launch"
//   stale expected_version         ABORTED           "expected_version 3 but the current version is 4"
//   concurrent change, not pinned  ABORTED           after a few internal retries
//   Redis unreachable / pool busy  UNAVAILABLE       (retry with the same request_id)
//   Redis too slow / deadline      DEADLINE_EXCEEDED (retry with the same request_id)
//   anything else from storage     INTERNAL

#include <cstdint>
#include <string_view>

#include <absl/status/status.h>
#include <grpcpp/support/status.h>

namespace concord::writes {

absl::Status NotFound(std::string_view type, std::string_view id);
absl::Status WrongState(std::string_view type, std::string_view id, std::string_view state, std::string_view why);
absl::Status VersionMismatch(uint64_t expected, uint64_t current);
absl::Status RequestIdReused(std::string_view request_id);

// A status from the store, Redis or Kafka (infrastructure, not the caller's fault) mapped to
// what the client should see: UNAVAILABLE (Redis down, pool exhausted: retryable),
// DEADLINE_EXCEEDED, CANCELLED; everything else INTERNAL ("storage: ...").
absl::Status StorageError(const absl::Status& s);

// Same code (absl and gRPC share the canonical codes) and message. OK -> OK.
grpc::Status ToGrpc(const absl::Status& s);

}  // namespace concord::writes
