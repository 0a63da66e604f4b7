#pragma once
// Turns a consumed record into a concord.events.v1.Event, or says precisely why it cannot
// (the reason goes to the dead-letter topic with the record).

#include <absl/status/statusor.h>

#include "common/kafka/consumer.h"
#include "concord/events/v1/events.pb.h"

namespace concord::alignment {

struct DecodeLimits {
  size_t max_record_bytes = 1024 * 1024;
};

absl::StatusOr<events::v1::Event> DecodeEvent(std::string_view key, std::string_view value,
                                              const kafka::HeaderViews& headers, const DecodeLimits& limits = {});
absl::StatusOr<events::v1::Event> DecodeEvent(std::string_view key, std::string_view value,
                                              const kafka::Headers& headers, const DecodeLimits& limits = {});
// The same, parsed into `event`: a message decoded into again keeps its allocations.
absl::Status DecodeEventInto(std::string_view key, std::string_view value, const kafka::HeaderViews& headers,
                             const DecodeLimits& limits, events::v1::Event& event);

}  // namespace concord::alignment
