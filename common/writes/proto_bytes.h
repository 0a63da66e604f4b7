#pragma once
// Deterministic protobuf bytes (map order fixed) and the request fingerprint used for
// idempotency.

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>

#include "common/outbox/store.h"
#include "common/protobuf/deterministic.h"

namespace concord::writes {

using protoutil::SerializeDeterministic;

// Sets `version` on entities that have one (OutboundMessage has none: it is never updated).
template <typename Entity>
void SetVersion(Entity& e, uint64_t version) {
  if constexpr (requires { e.set_version(version); }) e.set_version(version);
}

// outbox::Fingerprint of "<full message name>\0<deterministic bytes with request_id cleared>":
// the same request sent again has the same fingerprint; the same request_id on another RPC or
// with other content does not.
template <typename Request>
std::string RequestFingerprint(const Request& request) {
  Request copy = request;
  copy.clear_request_id();
  std::string bytes(Request::descriptor()->full_name());
  bytes.push_back('\0');
  bytes += SerializeDeterministic(copy);
  return outbox::Fingerprint(bytes);
}

}  // namespace concord::writes
