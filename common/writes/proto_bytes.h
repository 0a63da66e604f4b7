#pragma once
// Deterministic protobuf bytes (map order fixed) and the request fingerprint used for
// idempotency.

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include "common/outbox/store.h"

namespace concord::writes {

inline std::string SerializeDeterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

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
