#include "common/writes/envelope.h"

#include <absl/random/random.h>
#include <absl/strings/ascii.h>
#include "common/writes/strings.h"

#include "common/kafka/cloudevents.h"
#include "common/writes/proto_bytes.h"

namespace concord::writes {

namespace ev = concord::events::v1;

std::string NewUuid() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10xx
  // 8-4-4-4-12 lower-case hex digits (by hand: snprintf is a measurable part of a write).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) out[pos + i] = kHex[v & 0xf], v >>= 4;
    pos += digits + 1;
  };
  put(hi >> 32, 8);
  put((hi >> 16) & 0xffff, 4);
  put(hi & 0xffff, 4);
  put(lo >> 48, 4);
  put(lo & 0xffffffffffffULL, 12);
  return out;
}

std::string NewId(std::string_view prefix) { return Cat(prefix, "-", NewUuid()); }

google::protobuf::Timestamp ToTimestamp(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  int64_t secs = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    secs -= 1;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

std::chrono::system_clock::time_point FromTimestamp(const google::protobuf::Timestamp& t) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

std::chrono::system_clock::time_point NowMillis() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::string KebabCase(std::string_view snake) {
  std::string out(snake);
  for (auto& c : out) c = c == '_' ? '-' : absl::ascii_tolower(c);
  return out;
}

std::string_view TeamName(ev::Team team) {
  switch (team) {
    case ev::TEAM_MARKETING: return "marketing";
    case ev::TEAM_SALES: return "sales";
    case ev::TEAM_ALIGNMENT: return "alignment";
    default: return "unspecified";
  }
}

std::string CeType(const ev::Event& e) {
  if (e.payload_case() == ev::Event::PAYLOAD_NOT_SET) return "";
  const auto* field = ev::Event::descriptor()->FindFieldByNumber(e.payload_case());
  if (field == nullptr) return "";
  return Cat("io.concord.", TeamName(e.producer().team()), ".", KebabCase(field->name()), ".v1");
}

std::string CampaignKey(std::string_view campaign_id) { return Cat("campaign:", campaign_id); }

ev::Event EventFactory::Build(const EventSpec& spec, const std::function<void(ev::Event&)>& payload) const {
  ev::Event e;
  e.set_id(NewUuid());
  auto at = spec.occurred_at == std::chrono::system_clock::time_point{} ? NowMillis() : spec.occurred_at;
  *e.mutable_occurred_at() = ToTimestamp(at);
  auto* p = e.mutable_producer();
  p->set_team(source_.team);
  p->set_service(source_.service);
  p->set_instance(source_.instance);
  p->set_version(source_.version);
  *e.mutable_actor() = spec.actor;
  if (e.actor().team() == ev::TEAM_UNSPECIFIED) e.mutable_actor()->set_team(source_.team);
  *e.mutable_customer() = spec.customer;
  e.set_schema_version(1);
  e.set_request_id(spec.request_id);
  e.set_aggregate_type(spec.aggregate_type);
  e.set_aggregate_id(spec.aggregate_id);
  e.set_aggregate_version(spec.aggregate_version);
  if (payload) payload(e);
  return e;
}

outbox::OutboxEvent EventFactory::ToOutbox(const ev::Event& e, std::string_view key) const {
  outbox::OutboxEvent out;
  out.topic = source_.topic;
  out.key = key.empty() ? e.customer().customer_key() : std::string(key);
  out.value = SerializeDeterministic(e);
  out.event_id = e.id();
  kafka::CloudEvent ce;
  ce.id = e.id();
  ce.source = source_.source;
  ce.type = CeType(e);
  ce.time = kafka::Rfc3339(FromTimestamp(e.occurred_at()));
  ce.subject = out.key;
  ce.dataschema = std::string(kEventDataSchema);
  out.headers = kafka::ToHeaders(ce);
  return out;
}

}  // namespace concord::writes
