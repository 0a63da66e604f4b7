#include "common/writes/envelope.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/kafka/cloudevents.h"
#include "common/writes/diff.h"
#include "common/writes/proto_bytes.h"
#include <google/protobuf/util/message_differencer.h>
#include "concord/marketing/v1/marketing.pb.h"

namespace concord::writes {
namespace {

namespace ev = concord::events::v1;

EventFactory Factory() {
  return EventFactory({.team = ev::TEAM_MARKETING,
                       .service = "marketing",
                       .instance = "mkt-0",
                       .version = "0.1.0",
                       .source = "/concord/marketing/mkt-0",
                       .topic = "concord.marketing.events.v1"});
}

TEST(UuidTest, Version4LowerCaseHyphenatedAndUnique) {
  std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto u = NewUuid();
    ASSERT_TRUE(std::regex_match(u, re)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  auto id = NewId("lead");
  EXPECT_EQ(id.rfind("lead-", 0), 0u);
  EXPECT_LE(id.size(), 64u);
}

TEST(EnvelopeTest, KebabCaseAndCeType) {
  EXPECT_EQ(KebabCase("lead_captured"), "lead-captured");
  EXPECT_EQ(KebabCase("message_sent"), "message-sent");
  ev::Event e;
  EXPECT_EQ(CeType(e), "");
  e.mutable_producer()->set_team(ev::TEAM_MARKETING);
  e.mutable_lead_handed_off();
  EXPECT_EQ(CeType(e), "io.concord.marketing.lead-handed-off.v1");
  e.mutable_producer()->set_team(ev::TEAM_SALES);
  e.mutable_quote_issued();
  EXPECT_EQ(CeType(e), "io.concord.sales.quote-issued.v1");
}

TEST(EnvelopeTest, BuildFillsTheEnvelope) {
  auto f = Factory();
  EventSpec spec;
  spec.actor.set_id("mkt-007");
  spec.customer.set_customer_key("domain:acme.com");
  spec.customer.set_lead_id("lead-1");
  spec.aggregate_type = ev::AGGREGATE_TYPE_LEAD;
  spec.aggregate_id = "lead-1";
  spec.aggregate_version = 3;
  spec.request_id = "r-1";
  auto e = f.Build(spec, [](ev::Event& e) { e.mutable_lead_captured()->mutable_lead()->set_id("lead-1"); });
  EXPECT_EQ(e.id().size(), 36u);
  EXPECT_GT(e.occurred_at().seconds(), 1700000000);
  EXPECT_EQ(e.occurred_at().nanos() % 1000000, 0) << "millisecond precision, like ce_time";
  EXPECT_EQ(e.producer().team(), ev::TEAM_MARKETING);
  EXPECT_EQ(e.producer().service(), "marketing");
  EXPECT_EQ(e.producer().instance(), "mkt-0");
  EXPECT_EQ(e.actor().id(), "mkt-007");
  EXPECT_EQ(e.actor().team(), ev::TEAM_MARKETING) << "actor team defaults to the producer's";
  EXPECT_EQ(e.customer().customer_key(), "domain:acme.com");
  EXPECT_EQ(e.schema_version(), 1u);
  EXPECT_EQ(e.request_id(), "r-1");
  EXPECT_EQ(e.aggregate_type(), ev::AGGREGATE_TYPE_LEAD);
  EXPECT_EQ(e.aggregate_id(), "lead-1");
  EXPECT_EQ(e.aggregate_version(), 3u);
  EXPECT_EQ(e.payload_case(), ev::Event::kLeadCaptured);
  EXPECT_NE(f.Build(spec, nullptr).id(), e.id());
}

TEST(EnvelopeTest, OutboxRecordHasKeyValueAndCloudEventsHeaders) {
  auto f = Factory();
  EventSpec spec;
  spec.actor.set_id("mkt-007");
  spec.customer.set_customer_key("domain:acme.com");
  spec.aggregate_type = ev::AGGREGATE_TYPE_MESSAGE;
  spec.aggregate_id = "msg-1";
  spec.aggregate_version = 1;
  spec.occurred_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764196869123));
  auto e = f.Build(spec, [](ev::Event& e) { e.mutable_message_sent()->set_delivery_id("d-1"); });
  auto rec = f.ToOutbox(e);
  EXPECT_EQ(rec.topic, "concord.marketing.events.v1");
  EXPECT_EQ(rec.key, "domain:acme.com");
  EXPECT_EQ(rec.event_id, e.id());
  ev::Event back;
  ASSERT_TRUE(back.ParseFromString(rec.value));
  EXPECT_EQ(back.id(), e.id());
  EXPECT_EQ(back.message_sent().delivery_id(), "d-1");

  auto ce = kafka::FromHeaders(rec.headers);
  ASSERT_TRUE(ce.ok()) << ce.status();
  EXPECT_EQ(ce->id, e.id());
  EXPECT_EQ(ce->source, "/concord/marketing/mkt-0");
  EXPECT_EQ(ce->type, "io.concord.marketing.message-sent.v1");
  EXPECT_EQ(ce->time, "2025-11-26T22:41:09.123Z");
  EXPECT_EQ(ce->subject, "domain:acme.com");
  EXPECT_EQ(ce->dataschema, "concord.events.v1.Event");
  EXPECT_EQ(ce->content_type, "application/protobuf");
}

TEST(EnvelopeTest, CampaignEventsUseTheCampaignKey) {
  auto f = Factory();
  EventSpec spec;
  spec.actor.set_id("mkt-007");
  spec.aggregate_type = ev::AGGREGATE_TYPE_CAMPAIGN;
  spec.aggregate_id = "cmp-1";
  auto e = f.Build(spec, [](ev::Event& e) { e.mutable_campaign_created(); });
  auto rec = f.ToOutbox(e, CampaignKey("cmp-1"));
  EXPECT_EQ(rec.key, "campaign:cmp-1");
  auto ce = kafka::FromHeaders(rec.headers);
  ASSERT_TRUE(ce.ok());
  EXPECT_EQ(ce->subject, "campaign:cmp-1");
  EXPECT_EQ(ce->type, "io.concord.marketing.campaign-created.v1");
}

TEST(EnvelopeTest, TimestampRoundTrip) {
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1764196869123456));
  auto ts = ToTimestamp(t);
  EXPECT_EQ(ts.seconds(), 1764196869);
  EXPECT_EQ(ts.nanos(), 123456000);
  EXPECT_EQ(FromTimestamp(ts), t);
}

TEST(FingerprintTest, IgnoresRequestIdAndSeparatesMethodsAndContent) {
  concord::marketing::v1::QualifyLeadRequest a;
  a.set_request_id("r-1");
  a.set_lead_id("lead-1");
  auto b = a;
  b.set_request_id("r-2");
  EXPECT_EQ(RequestFingerprint(a), RequestFingerprint(b));
  b.set_note("different");
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(b));
  concord::marketing::v1::RecycleLeadRequest c;  // same bytes, other request type
  c.set_lead_id("lead-1");
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(c));
}

TEST(FingerprintTest, StableAcrossVersions) {
  // Stored idempotency records hold these: the format must never change.
  EXPECT_EQ(outbox::Fingerprint(""), "14650fb0739d03839e3778b97f4a7da6");
  EXPECT_EQ(outbox::Fingerprint("concord"), "82a00d587d28e38533850cdd0de07e8f");
}

TEST(ChangedFieldsTest, TopLevelAndExpandedNestedFieldsSorted) {
  ev::Lead a;
  a.set_id("lead-1");
  a.set_version(1);
  a.mutable_person()->set_email("a@acme.com");
  a.mutable_person()->set_first_name("Jane");
  ev::Lead b = a;
  b.set_version(2);
  *b.mutable_updated_at() = ToTimestamp(NowMillis());
  EXPECT_TRUE(ChangedFields(a, b).empty());
  b.mutable_person()->set_email("b@acme.com");
  b.set_industry("software");
  b.set_customer_key("domain:acme.com");
  EXPECT_EQ(ChangedFields(a, b, {"version", "updated_at"}, {"person"}),
            (std::vector<std::string>{"customer_key", "industry", "person.email"}));
  EXPECT_EQ(ChangedFields(a, b), (std::vector<std::string>{"customer_key", "industry", "person"}));
  b.add_score_reasons()->set_code("x");
  EXPECT_EQ(ChangedFields(a, b).back(), "score_reasons");
}

// What ChangedFields computed before it compared fields in place: each field copied alone into
// an empty message, the two copies compared whole. The reference for the test below.
std::vector<std::string> ChangedFieldsByCopies(const google::protobuf::Message& before,
                                               const google::protobuf::Message& after) {
  std::vector<std::string> out;
  const auto* d = before.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    auto only = [f](const google::protobuf::Message& m) {
      std::unique_ptr<google::protobuf::Message> copy(m.New()), one(m.New());
      copy->CopyFrom(m);
      copy->GetReflection()->SwapFields(copy.get(), one.get(), {f});
      return one;
    };
    if (!google::protobuf::util::MessageDifferencer::Equals(*only(before), *only(after))) out.push_back(f->name());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ChangedFieldsTest, SameAnswerAsComparingCopiesOfEachField) {
  ev::Lead base;
  base.set_id("lead-1");
  base.set_version(3);
  base.mutable_person()->set_email("a@acme.com");
  base.set_score(40);
  base.add_score_reasons()->set_code("visit");
  std::vector<std::function<void(ev::Lead&)>> changes = {
      [](ev::Lead& l) { l.set_score(41); },
      [](ev::Lead& l) { l.set_score(0); },
      [](ev::Lead& l) { l.clear_person(); },
      [](ev::Lead& l) { l.mutable_owner(); },  // set, but empty: differs from not set
      [](ev::Lead& l) { l.mutable_person()->set_phone("+15550100"); },
      [](ev::Lead& l) { l.add_score_reasons()->set_code("form"); },
      [](ev::Lead& l) { l.mutable_score_reasons(0)->set_code("other"); },
      [](ev::Lead& l) { l.clear_score_reasons(); },
      [](ev::Lead& l) { l.set_status(ev::LEAD_STATUS_NEW); },
      [](ev::Lead& l) { *l.mutable_scored_at() = ToTimestamp(NowMillis()); },
      [](ev::Lead& l) { l.set_industry(""); },
      [](ev::Lead& l) { l.set_id("lead-2"); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    for (size_t j = 0; j < changes.size(); ++j) {
      ev::Lead after = base;
      changes[i](after);
      changes[j](after);
      EXPECT_EQ(ChangedFields(base, after, {}), ChangedFieldsByCopies(base, after)) << i << ", " << j;
      EXPECT_EQ(ChangedFields(after, base, {}), ChangedFieldsByCopies(after, base)) << i << ", " << j;
    }
  }
}

}  // namespace
}  // namespace concord::writes
