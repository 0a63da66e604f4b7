#pragma once
// CloudEvents Kafka protocol binding, binary mode: the event's attributes travel as ce_*
// headers and the data is the record value (here a serialized protobuf message).

#include <chrono>
#include <string>

#include <absl/status/statusor.h>

#include "common/kafka/handle.h"

namespace concord::kafka {

struct CloudEvent {
  std::string id;           // ce_id: unique per event; consumers dedupe by it
  std::string source;       // ce_source: e.g. "/concord/sales/sales-0"
  std::string type;         // ce_type: e.g. "io.concord.sales.quote-issued.v1"
  std::string time;         // ce_time: RFC 3339, UTC
  std::string subject;      // ce_subject: the canonical customer key
  std::string dataschema;   // ce_dataschema: full protobuf message name
  std::string content_type = "application/protobuf";
  bool operator==(const CloudEvent&) const = default;
};

// The same attributes viewed in place in a record's headers (valid while the record lives).
struct CloudEventView {
  std::string_view id, source, type, time, subject, dataschema, content_type;
};

Headers ToHeaders(const CloudEvent& ce);
// Fails naming the first missing required header (id, source, type, specversion).
absl::StatusOr<CloudEvent> FromHeaders(const Headers& headers);
absl::StatusOr<CloudEventView> FromHeaderViews(const HeaderViews& headers);

// RFC 3339 with milliseconds, UTC: 2026-11-26T22:41:09.123Z
std::string Rfc3339(std::chrono::system_clock::time_point t);

}  // namespace concord::kafka
