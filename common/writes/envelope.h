#pragma once
// Building the event envelope (concord.events.v1.Event) and its outbox record.
//
//   writes::EventFactory events({.team = TEAM_MARKETING, .service = "marketing",
//                                .instance = cfg.instance_id, .source = rt.source(),
//                                .topic = "concord.marketing.events.v1"});
//   auto ev = events.Build({.actor = req.actor(), .customer = ref,
//                           .aggregate_type = AGGREGATE_TYPE_LEAD, .aggregate_id = lead.id(),
//                           .aggregate_version = lead.version(), .request_id = req.request_id()},
//                          [&](Event& e) { *e.mutable_lead_captured()->mutable_lead() = lead; });
//   outbox::OutboxEvent rec = events.ToOutbox(ev);   // key = customer key, CloudEvents headers
//
// Headers (events.proto): ce_specversion 1.0, ce_id = Event.id, ce_source = EventSource.source,
// ce_type = io.concord.<team>.<payload field in kebab case>.v1, ce_time = occurred_at (RFC 3339,
// ms, UTC), ce_subject = the Kafka key, content-type application/protobuf,
// ce_dataschema concord.events.v1.Event.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <google/protobuf/timestamp.pb.h>

#include "common/outbox/store.h"
#include "concord/events/v1/events.pb.h"

namespace concord::writes {

inline constexpr std::string_view kEventDataSchema = "concord.events.v1.Event";

// Lower-case hyphenated RFC 4122 version 4 UUID (random).
std::string NewUuid();
// A server-assigned id: "<prefix>-<uuid v4>" (<= 64 bytes for prefixes up to 27 bytes).
std::string NewId(std::string_view prefix);

google::protobuf::Timestamp ToTimestamp(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point FromTimestamp(const google::protobuf::Timestamp& t);
// The current time truncated to milliseconds (the precision of ce_time), so occurred_at and
// ce_time are the same instant.
std::chrono::system_clock::time_point NowMillis();

// "lead_captured" -> "lead-captured".
std::string KebabCase(std::string_view snake);
// io.concord.<team>.<payload>.v1; "" when the payload is not set.
std::string CeType(const events::v1::Event& e);
// "marketing" / "sales" / "alignment".
std::string_view TeamName(events::v1::Team team);

// The Kafka key of an event about a campaign (no single customer): "campaign:<id>".
std::string CampaignKey(std::string_view campaign_id);

struct EventSource {
  events::v1::Team team = events::v1::TEAM_UNSPECIFIED;
  std::string service;   // "marketing"
  std::string instance;  // Producer.instance
  std::string version;   // Producer.version (build version)
  std::string source;    // ce_source, e.g. runtime::Runtime::source()
  std::string topic;     // e.g. "concord.marketing.events.v1"
};

struct EventSpec {
  events::v1::Actor actor;        // team filled with the source's team when unset
  events::v1::CustomerRef customer;
  events::v1::AggregateType aggregate_type = events::v1::AGGREGATE_TYPE_UNSPECIFIED;
  std::string aggregate_id;
  uint64_t aggregate_version = 0;
  std::string request_id;
  // Kafka key / ce_subject; empty = customer.customer_key.
  std::string key;
  // occurred_at; default = NowMillis().
  std::chrono::system_clock::time_point occurred_at{};
};

class EventFactory {
 public:
  explicit EventFactory(EventSource source) : source_(std::move(source)) {}

  // A new event with a fresh UUID, occurred_at, producer, actor, customer, schema_version 1,
  // request id and aggregate; `payload` sets the oneof.
  events::v1::Event Build(const EventSpec& spec, const std::function<void(events::v1::Event&)>& payload) const;

  // The outbox record of an event: topic, key (`key` or Event.customer.customer_key),
  // deterministic serialization, CloudEvents headers.
  outbox::OutboxEvent ToOutbox(const events::v1::Event& e, std::string_view key = {}) const;

  const EventSource& source() const { return source_; }

 private:
  EventSource source_;
};

}  // namespace concord::writes
