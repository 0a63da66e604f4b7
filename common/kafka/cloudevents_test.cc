#include "common/kafka/cloudevents.h"

#include <gtest/gtest.h>

namespace concord::kafka {
namespace {

TEST(CloudEventsTest, RoundTripThroughHeaders) {
  CloudEvent ce{"0b9e-1", "/concord/sales/sales-0", "io.concord.sales.quote-issued.v1", "2026-11-26T10:00:00.000Z",
                "acme.com", "concord.events.v1.Event"};
  auto headers = ToHeaders(ce);
  EXPECT_EQ(headers[0], (Header{"ce_specversion", "1.0"}));
  auto back = FromHeaders(headers);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, ce);
}

TEST(CloudEventsTest, MissingRequiredHeaderIsNamed) {
  Headers h = {{"ce_specversion", "1.0"}, {"ce_source", "/x"}, {"ce_type", "t"}};
  auto r = FromHeaders(h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ce_id"), std::string::npos);
  EXPECT_FALSE(FromHeaders({}).ok());
  EXPECT_FALSE(FromHeaders({{"ce_specversion", "0.3"}, {"ce_id", "1"}, {"ce_source", "/x"}, {"ce_type", "t"}}).ok());
}

TEST(CloudEventsTest, Rfc3339IsUtcWithMilliseconds) {
  std::chrono::system_clock::time_point t{std::chrono::milliseconds(1764151269123)};
  EXPECT_EQ(Rfc3339(t), "2025-11-26T10:01:09.123Z");
}

}  // namespace
}  // namespace concord::kafka
