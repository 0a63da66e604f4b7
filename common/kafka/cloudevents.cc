#include "common/kafka/cloudevents.h"

#include <ctime>

#include <absl/strings/str_cat.h>

#include "common/logging/log.h"

namespace concord::kafka {

Headers ToHeaders(const CloudEvent& ce) {
  Headers h = {
      {"ce_specversion", "1.0"}, {"ce_id", ce.id}, {"ce_source", ce.source}, {"ce_type", ce.type},
      {"content-type", ce.content_type},
  };
  if (!ce.time.empty()) h.push_back({"ce_time", ce.time});
  if (!ce.subject.empty()) h.push_back({"ce_subject", ce.subject});
  if (!ce.dataschema.empty()) h.push_back({"ce_dataschema", ce.dataschema});
  return h;
}

absl::StatusOr<CloudEvent> FromHeaders(const Headers& headers) {
  auto v = FromHeaderViews(Views(headers));
  if (!v.ok()) return v.status();
  return CloudEvent{.id = std::string(v->id),
                    .source = std::string(v->source),
                    .type = std::string(v->type),
                    .time = std::string(v->time),
                    .subject = std::string(v->subject),
                    .dataschema = std::string(v->dataschema),
                    .content_type = std::string(v->content_type)};
}

absl::StatusOr<CloudEventView> FromHeaderViews(const HeaderViews& headers) {
  CloudEventView ce;
  std::string_view spec;
  for (const auto& [k, v] : headers) {
    if (k == "ce_specversion") spec = v;
    else if (k == "ce_id") ce.id = v;
    else if (k == "ce_source") ce.source = v;
    else if (k == "ce_type") ce.type = v;
    else if (k == "ce_time") ce.time = v;
    else if (k == "ce_subject") ce.subject = v;
    else if (k == "ce_dataschema") ce.dataschema = v;
    else if (k == "content-type") ce.content_type = v;
  }
  if (spec.empty()) return absl::InvalidArgumentError("cloudevents: header ce_specversion is missing");
  if (spec != "1.0") return absl::InvalidArgumentError("cloudevents: unsupported ce_specversion " + std::string(spec));
  if (ce.id.empty()) return absl::InvalidArgumentError("cloudevents: header ce_id is missing");
  if (ce.source.empty()) return absl::InvalidArgumentError("cloudevents: header ce_source is missing");
  if (ce.type.empty()) return absl::InvalidArgumentError("cloudevents: header ce_type is missing");
  return ce;
}

std::string Rfc3339(std::chrono::system_clock::time_point t) { return log::Rfc3339(t); }

}  // namespace concord::kafka
