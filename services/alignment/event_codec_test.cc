#include "services/alignment/event_codec.h"

#include <gtest/gtest.h>

#include "common/kafka/cloudevents.h"

namespace concord::alignment {
namespace {

events::v1::Event ValidEvent() {
  events::v1::Event e;
  e.set_id("ev-1");
  e.mutable_occurred_at()->set_seconds(1764151269);
  e.mutable_customer()->set_customer_key("domain:acme.com");
  e.mutable_message_sent();
  return e;
}

kafka::Headers Headers(const std::string& id = "ev-1") {
  return kafka::ToHeaders({id, "/concord/sales/x", "io.concord.sales.message-sent.v1", "", "domain:acme.com",
                           "concord.events.v1.Event"});
}

TEST(EventCodecTest, DecodesAValidRecord) {
  auto e = DecodeEvent("domain:acme.com", ValidEvent().SerializeAsString(), Headers());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->id(), "ev-1");
}

// The processor decodes every record into one reused message: nothing of the record before
// may be left in it, whether the next one decodes or not.
TEST(EventCodecTest, DecodingIntoAReusedMessageKeepsNothingOfTheLastRecord) {
  auto first = ValidEvent();
  first.mutable_actor()->set_id("rep-042");
  first.mutable_message_sent()->mutable_message()->set_subject("Spring offer");
  auto second = ValidEvent();
  second.set_id("ev-2");
  second.clear_payload();
  second.mutable_activity_logged();

  events::v1::Event reused;
  ASSERT_TRUE(DecodeEventInto("domain:acme.com", first.SerializeAsString(), kafka::Views(Headers()), {}, reused).ok());
  EXPECT_EQ(reused.message_sent().message().subject(), "Spring offer");
  ASSERT_TRUE(DecodeEventInto("domain:acme.com", second.SerializeAsString(), kafka::Views(Headers("ev-2")), {}, reused).ok());
  EXPECT_EQ(reused.SerializeAsString(), second.SerializeAsString());
  EXPECT_FALSE(reused.has_actor());

  auto bad = DecodeEventInto("domain:acme.com", "\xff\xff garbage", kafka::Views(Headers()), {}, reused);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("protobuf parse failed"), std::string::npos);
}

TEST(EventCodecTest, EachKindOfBadRecordHasItsReason) {
  auto reason = [](std::string_view key, std::string_view value, const kafka::Headers& h, DecodeLimits l = {}) {
    auto e = DecodeEvent(key, value, h, l);
    EXPECT_FALSE(e.ok());
    return std::string(e.status().message());
  };
  std::string valid = ValidEvent().SerializeAsString();
  EXPECT_NE(reason("domain:acme.com", "\xff\xff garbage", Headers()).find("protobuf parse failed"), std::string::npos);
  EXPECT_NE(reason("domain:acme.com", valid, {}).find("ce_specversion"), std::string::npos);
  EXPECT_NE(reason("domain:acme.com", valid, Headers(), {.max_record_bytes = 10}).find("exceeds the limit"), std::string::npos);
  EXPECT_NE(reason("domain:other.com", valid, Headers()).find("record key differs"), std::string::npos);
  EXPECT_NE(reason("domain:acme.com", valid, Headers("ev-2")).find("differs from ce_id"), std::string::npos);

  // A valid envelope whose payload is a field this version does not know (a newer schema).
  auto unknown = ValidEvent();
  unknown.clear_payload();
  std::string bytes = unknown.SerializeAsString();
  bytes += std::string("\xba\x3e\x02\x08\x01", 5);  // field 999, length-delimited, 2 bytes
  EXPECT_NE(reason("domain:acme.com", bytes, Headers()).find("no payload this service knows"), std::string::npos);
}

}  // namespace
}  // namespace concord::alignment
