#include "services/alignment/event_codec.h"

#include "common/kafka/cloudevents.h"

namespace concord::alignment {

absl::StatusOr<events::v1::Event> DecodeEvent(std::string_view key, std::string_view value,
                                              const kafka::Headers& headers, const DecodeLimits& limits) {
  return DecodeEvent(key, value, kafka::Views(headers), limits);
}

absl::StatusOr<events::v1::Event> DecodeEvent(std::string_view key, std::string_view value,
                                              const kafka::HeaderViews& headers, const DecodeLimits& limits) {
  events::v1::Event event;
  if (auto s = DecodeEventInto(key, value, headers, limits, event); !s.ok()) return s;
  return event;
}

absl::Status DecodeEventInto(std::string_view key, std::string_view value, const kafka::HeaderViews& headers,
                             const DecodeLimits& limits, events::v1::Event& event) {
  if (value.size() > limits.max_record_bytes) {
    return absl::InvalidArgumentError("record of " + std::to_string(value.size()) + " bytes exceeds the limit of " +
                                      std::to_string(limits.max_record_bytes));
  }
  auto ce = kafka::FromHeaderViews(headers);
  if (!ce.ok()) return ce.status();
  if (!ce->content_type.empty() && ce->content_type != "application/protobuf") {
    return absl::InvalidArgumentError("content-type " + std::string(ce->content_type) + " is not application/protobuf");
  }
  if (!ce->dataschema.empty() && ce->dataschema != "concord.events.v1.Event") {
    return absl::InvalidArgumentError("ce_dataschema " + std::string(ce->dataschema) + " is not concord.events.v1.Event");
  }
  if (!event.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::InvalidArgumentError("value is not a valid concord.events.v1.Event (protobuf parse failed)");
  }
  if (event.payload_case() == events::v1::Event::PAYLOAD_NOT_SET) {
    return absl::InvalidArgumentError("event " + event.id() + " has no payload this service knows (newer schema?)");
  }
  if (event.id().empty()) return absl::InvalidArgumentError("event id is empty");
  if (event.id() != ce->id) return absl::InvalidArgumentError("event id " + event.id() + " differs from ce_id " + std::string(ce->id));
  // Campaign events concern no single customer: their key is "campaign:<id>" and customer is empty.
  if (event.customer().customer_key().empty() && key.empty()) return absl::InvalidArgumentError("event has no customer key");
  if (!event.customer().customer_key().empty() && event.customer().customer_key() != key) {
    return absl::InvalidArgumentError("record key differs from the event's customer key " + event.customer().customer_key());
  }
  if (!event.has_occurred_at()) return absl::InvalidArgumentError("event has no occurred_at");
  return absl::OkStatus();
}

}  // namespace concord::alignment
