#pragma once
// Deterministic protobuf bytes: map entries in key order, so equal messages give equal bytes
// (idempotency fingerprints, stored responses, the engine's encoded findings).

#include <string>

#include <google/protobuf/message_lite.h>

namespace concord::protoutil {

std::string SerializeDeterministic(const google::protobuf::MessageLite& m);

}  // namespace concord::protoutil
