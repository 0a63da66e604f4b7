#include "services/alignment/engine/playbook.h"

#include <gtest/gtest.h>

#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine {
namespace {

TEST(PlaybookTest, ExampleLoads) {
  auto pb = testing::ExamplePlaybook();
  EXPECT_EQ(pb.version, 7u);
  EXPECT_EQ(pb.declared_version, "2026.1");
  ASSERT_NE(pb.Price("concord-pro"), nullptr);
  EXPECT_EQ(pb.Price("concord-pro")->list_price_micros, 49'000'000);
  EXPECT_EQ(pb.Price("concord-pro")->max_discount_percent, 20);
  EXPECT_EQ(pb.Feature("offline-mode")->availability, Availability::kRoadmap);
  EXPECT_EQ(pb.duplicate_outreach_window, 72 * kHour);
  EXPECT_EQ(pb.sla_handoff_accept, 24 * kHour);
  EXPECT_EQ(pb.OwnerOf(concord::events::v1::LIFECYCLE_STAGE_OPPORTUNITY), concord::events::v1::TEAM_SALES);
  EXPECT_EQ(pb.SeverityOf(concord::alignment::v1::FINDING_TYPE_DUPLICATE_RECORD), concord::alignment::v1::SEVERITY_LOW);
}

TEST(PlaybookTest, ErrorNamesLineAndPath) {
  const char* yaml =
      "version: x\n"
      "catalog:\n"
      "  products:\n"
      "    pro: {name: Pro}\n"
      "price_book:\n"
      "  pro:\n"
      "    currency: USD\n"
      "    list_price: 49\n"
      "    max_discount_percent: 140\n";
  auto r = LoadPlaybook(yaml);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.ErrorText(), "line 9: price_book.pro.max_discount_percent: must be 0..100, got 140");
}

TEST(PlaybookTest, SeveralErrorsOrderedByLine) {
  const char* yaml =
      "version: 2\n"
      "windows:\n"
      "  duplicate_outreach: soon\n"
      "ownership:\n"
      "  stages:\n"
      "    opportunity: finance\n"
      "severities:\n"
      "  conflicting_claim: urgent\n";
  auto r = LoadPlaybook(yaml);
  ASSERT_FALSE(r.ok());
  std::string t = r.ErrorText();
  EXPECT_NE(t.find("line 3: windows.duplicate_outreach: must be a positive duration"), std::string::npos) << t;
  EXPECT_NE(t.find("line 6: ownership.stages.opportunity: must be marketing, sales or shared, got 'finance'"), std::string::npos) << t;
  EXPECT_NE(t.find("line 8: severities.conflicting_claim: must be info, low, medium, high or critical"), std::string::npos) << t;
  EXPECT_LT(t.find("line 3"), t.find("line 6"));
}

TEST(PlaybookTest, SyntaxErrorHasLine) {
  auto r = LoadPlaybook("version: 1\nprice_book: [\n  a: b\n");
  ASSERT_FALSE(r.ok());
  EXPECT_GT(r.problems.at(0).line, 0u);
  EXPECT_NE(r.ErrorText().find("YAML syntax"), std::string::npos);
}

TEST(PlaybookTest, UnknownProductAndFloorAboveList) {
  const char* yaml =
      "version: 1\n"
      "catalog: {products: {pro: {name: Pro}}}\n"
      "price_book:\n"
      "  ent: {currency: USD, list_price: 10}\n"
      "  pro: {currency: usd, list_price: 10, floor_price: 12}\n"
      "approved_offers:\n"
      "  - {code: A, product: pro, discount_percent: 5}\n"
      "  - {code: A, product: nope}\n";
  auto r = LoadPlaybook(yaml);
  ASSERT_FALSE(r.ok());
  std::string t = r.ErrorText();
  EXPECT_NE(t.find("price_book.ent: product 'ent' is not in catalog.products"), std::string::npos) << t;
  EXPECT_NE(t.find("price_book.pro.currency: must be an ISO 4217 code"), std::string::npos) << t;
  EXPECT_NE(t.find("price_book.pro.floor_price: must not exceed list_price"), std::string::npos) << t;
  EXPECT_NE(t.find("duplicate offer code 'A'"), std::string::npos) << t;
  EXPECT_NE(t.find("unknown product 'nope'"), std::string::npos) << t;
}

// Found by the fuzz smoke: a feature key given twice, the second naming an unknown product,
// gave a problem without a line (the check looked the node up again by id and found the first).
TEST(PlaybookTest, UnknownProductOfARepeatedFeatureHasItsLine) {
  const char* yaml =
      "version: 1\n"
      "catalog:\n"
      "  products: {pro: {name: Pro}}\n"
      "  features:\n"
      "    sso: {name: SSO, availability: available, products: [pro]}\n"
      "    sso: {name: SSO, availability: available, products: [enterprise]}\n";
  auto r = LoadPlaybook(yaml);
  ASSERT_FALSE(r.ok());
  bool found = false;
  for (const auto& p : r.problems) {
    EXPECT_GT(p.line, 0u) << p.path << ": " << p.message;
    if (p.message == "unknown product 'enterprise'") {
      found = true;
      EXPECT_EQ(p.line, 6u);
    }
  }
  EXPECT_TRUE(found) << r.ErrorText();
}

TEST(PlaybookTest, UnknownKeyIsAWarningOnly) {
  auto r = LoadPlaybook("version: 1\nwindowz: {}\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_FALSE(r.problems[0].error);
  EXPECT_EQ(r.problems[0].line, 2u);
}

TEST(PlaybookTest, Durations) {
  EXPECT_EQ(ParseDuration("72h"), 72 * kHour);
  EXPECT_EQ(ParseDuration("1h30m"), 90 * kMinute);
  EXPECT_EQ(ParseDuration("30d"), 30 * kDay);
  EXPECT_FALSE(ParseDuration("h"));
  EXPECT_FALSE(ParseDuration("10"));
  EXPECT_FALSE(ParseDuration("10w"));
}

}  // namespace
}  // namespace concord::alignment::engine
