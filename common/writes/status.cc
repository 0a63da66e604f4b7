#include "common/writes/status.h"

#include "common/writes/strings.h"

namespace concord::writes {

absl::Status NotFound(std::string_view type, std::string_view id) {
  return absl::NotFoundError(Cat(type, " '", id, "' not found"));
}

absl::Status WrongState(std::string_view type, std::string_view id, std::string_view state, std::string_view why) {
  return absl::FailedPreconditionError(Cat(type, " '", id, "' is ", state, ": ", why));
}

absl::Status VersionMismatch(uint64_t expected, uint64_t current) {
  return absl::AbortedError(
      Cat("expected_version ", expected, " but the current version is ", current, "; read it again and retry"));
}

absl::Status RequestIdReused(std::string_view request_id) {
  return absl::InvalidArgumentError(
      Cat("request_id: '", request_id, "' was already used for a different request"));
}

absl::Status StorageError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return s;
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(Cat("storage unavailable: ", s.message()));
    case absl::StatusCode::kResourceExhausted:  // no free Redis connection in time
      return absl::UnavailableError(Cat("storage busy: ", s.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(Cat("storage timeout: ", s.message()));
    case absl::StatusCode::kCancelled:
      return s;
    default:
      return absl::InternalError(Cat("storage: ", s.message()));
  }
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())), std::string(s.message()));
}

}  // namespace concord::writes
