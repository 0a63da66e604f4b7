// Per-detector tests through the Engine: positives, near-misses, window edges.
#include "services/alignment/engine/detectors.h"

#include <gtest/gtest.h>

#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine {
namespace {

using namespace testing;  // NOLINT
namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

class DetectorsTest : public ::testing::Test {
 protected:
  DetectorsTest() : engine(ExamplePlaybook()) {}
  std::vector<Finding> P(const ev::Event& e) { return engine.Process(e, kPos); }
  Engine engine;
  Events E;
};

// ---------------------------------------------------------------- conflicting-claim
TEST_F(DetectorsTest, ConflictingDiscountAcrossTeams) {
  auto f1 = P(E.Message(kT0, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Get 20% off Concord Pro this month."));
  EXPECT_EQ(Count(f1, av::FINDING_TYPE_CONFLICTING_CLAIM), 0);
  auto f2 = P(E.Quote(kT0 + kDay, "rep-1", "Q-1", "concord-pro", 49, 10.0));
  ASSERT_EQ(Count(f2, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);
  const Finding* f = nullptr;
  for (const auto& x : f2)
    if (x.type() == av::FINDING_TYPE_CONFLICTING_CLAIM) f = &x;
  EXPECT_EQ(f->severity(), av::SEVERITY_HIGH);
  EXPECT_EQ(f->playbook_version(), 7u);
  ASSERT_EQ(f->evidence_size(), 2);
  EXPECT_EQ(f->evidence(0).team(), ev::TEAM_MARKETING);
  EXPECT_EQ(f->evidence(0).span().text(), "20% off");
  EXPECT_EQ(f->evidence(0).span().field(), "message_sent.message.body");
  EXPECT_EQ(f->evidence(0).value().display(), "20 %");
  EXPECT_EQ(f->evidence(1).team(), ev::TEAM_SALES);
  EXPECT_EQ(f->evidence(1).value().display(), "10 %");
  EXPECT_EQ(f->evidence(1).event_type(), "io.concord.sales.quote-issued.v1");
  EXPECT_EQ(f->evidence(1).source().topic(), "concord.sales.events.v1");
  EXPECT_EQ(f->id().substr(0, 2), "f-");
  EXPECT_FALSE(f->recommended_action().empty());
}

TEST_F(DetectorsTest, ConflictWithinToleranceDoesNotFire) {
  P(E.Quote(kT0, "rep-1", "Q-1", "concord-pro", 49, 10.0));
  auto f = P(E.Message(kT0 + kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Enjoy 10.5% off Concord Pro."));
  EXPECT_EQ(Count(f, av::FINDING_TYPE_CONFLICTING_CLAIM), 0);  // 0.5 points = tolerance
  auto g = P(E.Message(kT0 + 2 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Enjoy 11% off Concord Pro."));
  EXPECT_EQ(Count(g, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);
}

TEST_F(DetectorsTest, SamePersonRestatingIsNotAConflict) {
  P(E.Call(kT0, "rep-1", "Offered 10% off Concord Pro."));
  auto f = P(E.Call(kT0 + kHour, "rep-1", "Customer pushed back, offered 15% off Concord Pro."));
  EXPECT_EQ(Count(f, av::FINDING_TYPE_CONFLICTING_CLAIM), 0);
  auto g = P(E.Call(kT0 + 2 * kHour, "rep-2", "I told them 12% off Concord Pro."));
  EXPECT_EQ(Count(g, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);  // two people: one finding with both earlier claims
}

TEST_F(DetectorsTest, ConflictValidityWindowEdge) {
  P(E.Call(kT0, "rep-1", "We can do 10% off Concord Pro."));
  // claim validity 30d: still valid exactly at the edge
  auto at_edge = P(E.Call(kT0 + 30 * kDay, "rep-2", "We can do 20% off Concord Pro."));
  EXPECT_EQ(Count(at_edge, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);
  Events E2("domain:other.com");
  P(E2.Call(kT0, "rep-1", "We can do 10% off Concord Pro."));
  auto after = P(E2.Call(kT0 + 30 * kDay + 1, "rep-2", "We can do 20% off Concord Pro."));
  EXPECT_EQ(Count(after, av::FINDING_TYPE_CONFLICTING_CLAIM), 0);
}

TEST_F(DetectorsTest, ThirdConflictingClaimIsANewFinding) {
  P(E.Call(kT0, "rep-1", "Concord Pro is $49/month."));
  auto f2 = P(E.Message(kT0 + kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Concord Pro is $39/month."));
  ASSERT_EQ(Count(f2, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);
  auto f3 = P(E.Call(kT0 + 2 * kHour, "rep-2", "Concord Pro is $45/month."));
  ASSERT_EQ(Count(f3, av::FINDING_TYPE_CONFLICTING_CLAIM), 1);
  std::string id2, id3;
  for (auto& f : f2) if (f.type() == av::FINDING_TYPE_CONFLICTING_CLAIM) id2 = f.id();
  for (auto& f : f3) if (f.type() == av::FINDING_TYPE_CONFLICTING_CLAIM) { id3 = f.id(); EXPECT_EQ(f.evidence_size(), 3); }
  EXPECT_NE(id2, id3);
}

TEST_F(DetectorsTest, RevisedQuoteReplacesItsClaims) {
  P(E.Quote(kT0, "rep-1", "Q-1", "concord-pro", 49, 10.0));
  auto e = E.Quote(kT0 + kHour, "rep-1", "Q-1", "concord-pro", 49, 20.0);
  auto q = e.quote_issued().quote();
  e.mutable_quote_revised()->mutable_quote()->CopyFrom(q);
  auto f = P(e);
  EXPECT_EQ(Count(f, av::FINDING_TYPE_CONFLICTING_CLAIM), 0);
}

// ---------------------------------------------------------------- off-book-claim
TEST_F(DetectorsTest, OffBookDiscountAboveMaximum) {
  auto f = P(E.Call(kT0, "rep-1", "Offered 30% off Concord Pro."));
  ASSERT_EQ(Count(f, av::FINDING_TYPE_OFF_BOOK_CLAIM), 1);
  EXPECT_EQ(f[0].playbook_rule(), "price_book.concord-pro.max_discount_percent");
  EXPECT_NE(f[0].summary().find("exceeds the maximum 20 %"), std::string::npos) << f[0].summary();
}

TEST_F(DetectorsTest, OffBookEdgeAtMaximumIsFine) {
  EXPECT_EQ(Count(P(E.Call(kT0, "rep-1", "Offered 20% off Concord Pro.")), av::FINDING_TYPE_OFF_BOOK_CLAIM), 0);
  EXPECT_EQ(Count(P(E.Call(kT0, "rep-1", "Offered 20.5% off Concord Pro.")), av::FINDING_TYPE_OFF_BOOK_CLAIM), 0);
  EXPECT_EQ(Count(P(E.Call(kT0, "rep-1", "Offered 21% off Concord Pro.")), av::FINDING_TYPE_OFF_BOOK_CLAIM), 1);
}

TEST_F(DetectorsTest, OffBookPriceBelowFloorAndRoadmapFeature) {
  auto f = P(E.Quote(kT0, "rep-1", "Q-1", "concord-pro", 35, std::nullopt));
  EXPECT_EQ(Count(f, av::FINDING_TYPE_OFF_BOOK_CLAIM), 1);
  EXPECT_EQ(Count(P(E.Quote(kT0, "rep-1", "Q-2", "concord-pro", 39, std::nullopt)), av::FINDING_TYPE_OFF_BOOK_CLAIM), 0);
  auto g = P(E.Call(kT0, "rep-1", "Told them offline mode is available in Concord Pro."));
  ASSERT_EQ(Count(g, av::FINDING_TYPE_OFF_BOOK_CLAIM), 1);
  EXPECT_EQ(g[0].playbook_rule(), "catalog.features.offline-mode.availability");
  auto h = P(E.Call(kT0, "rep-1", "Offline mode is coming in Q3."));
  EXPECT_EQ(Count(h, av::FINDING_TYPE_OFF_BOOK_CLAIM), 0);
  auto c = P(E.Commitment(kT0, "rep-1", "concord-pro", "Offline mode"));
  EXPECT_EQ(Count(c, av::FINDING_TYPE_OFF_BOOK_CLAIM), 1);
}

// ---------------------------------------------------------------- duplicate-outreach
TEST_F(DetectorsTest, DuplicateOutreachBothTeamsWindowEdge) {
  P(E.Message(kT0, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NURTURE, "Hi!"));
  auto f = P(E.Call(kT0 + 72 * kHour, "rep-1"));  // exactly at the window: inside
  ASSERT_EQ(Count(f, av::FINDING_TYPE_DUPLICATE_OUTREACH), 1);
  Events E2("domain:b.com");
  P(E2.Message(kT0, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NURTURE, "Hi!"));
  EXPECT_EQ(Count(P(E2.Call(kT0 + 72 * kHour + 1, "rep-1")), av::FINDING_TYPE_DUPLICATE_OUTREACH), 0);
}

TEST_F(DetectorsTest, DuplicateOutreachTwoRepsAndRepeatsSuppressed) {
  P(E.Call(kT0, "rep-1"));
  EXPECT_EQ(Count(P(E.Call(kT0 + kHour, "rep-1")), av::FINDING_TYPE_DUPLICATE_OUTREACH), 0);  // same rep
  EXPECT_EQ(Count(P(E.Call(kT0 + 2 * kHour, "rep-2")), av::FINDING_TYPE_DUPLICATE_OUTREACH), 1);
  EXPECT_EQ(Count(P(E.Call(kT0 + 3 * kHour, "rep-2")), av::FINDING_TYPE_DUPLICATE_OUTREACH), 0);  // suppressed pair
}

TEST_F(DetectorsTest, InboundAndNewsletterAreNotOutreach) {
  P(E.Message(kT0, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NEWSLETTER, "News"));
  EXPECT_EQ(Count(P(E.Call(kT0 + kHour, "rep-1", "", ev::ACTIVITY_DIRECTION_INBOUND)), av::FINDING_TYPE_DUPLICATE_OUTREACH), 0);
  EXPECT_EQ(Count(P(E.Call(kT0 + 2 * kHour, "rep-1")), av::FINDING_TYPE_DUPLICATE_OUTREACH), 0);
}

// ---------------------------------------------------------------- ownership-violation
TEST_F(DetectorsTest, MarketingNurtureDuringOpportunity) {
  P(E.Opportunity(kT0, "opp-1", ev::OPPORTUNITY_STAGE_NEGOTIATION));
  auto f = P(E.Message(kT0 + kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NURTURE, "Read our blog"));
  ASSERT_EQ(Count(f, av::FINDING_TYPE_OWNERSHIP_VIOLATION), 1);
  EXPECT_EQ(Count(P(E.Message(kT0 + 2 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_EVENT_INVITE, "Join us")),
                  av::FINDING_TYPE_OWNERSHIP_VIOLATION), 0);  // allowed purpose
}

TEST_F(DetectorsTest, SalesColdCallingALeadVsAfterHandoff) {
  P(E.Lead(kT0, "lead-1", "Jane", "Doe", "jane@acme.com"));
  auto f = P(E.Call(kT0 + kHour, "rep-1"));
  EXPECT_EQ(Count(f, av::FINDING_TYPE_OWNERSHIP_VIOLATION), 1);
  Events E2("domain:b.com");
  P(E2.Lead(kT0, "lead-2", "Jim", "Beam", "jim@b.com"));
  P(E2.HandOff(kT0 + kHour, "h-2"));
  EXPECT_EQ(Count(P(E2.Call(kT0 + 2 * kHour, "rep-1")), av::FINDING_TYPE_OWNERSHIP_VIOLATION), 0);
}

// ---------------------------------------------------------------- duplicate-record
TEST_F(DetectorsTest, DuplicateRecordByNicknameAndPhone) {
  P(E.Lead(kT0, "lead-1", "Bob", "Smith", "bob@acme.com", "+1 415 555 0100"));
  auto f = P(E.Contact(kT0 + kHour, "c-1", "Robert", "Smith", "rsmith@acme.com", "(415) 555-0100"));
  ASSERT_EQ(Count(f, av::FINDING_TYPE_DUPLICATE_RECORD), 1);
  EXPECT_NE(f.back().details().at("match_reasons").find("phone"), std::string::npos);
}

TEST_F(DetectorsTest, ContactConvertedFromLeadIsNotADuplicate) {
  P(E.Lead(kT0, "lead-1", "Bob", "Smith", "bob@acme.com"));
  EXPECT_EQ(Count(P(E.Contact(kT0 + kHour, "c-1", "Bob", "Smith", "bob@acme.com", "", "lead-1")), av::FINDING_TYPE_DUPLICATE_RECORD), 0);
  EXPECT_EQ(Count(P(E.Contact(kT0 + kHour, "c-2", "Alice", "Jones", "alice@acme.com")), av::FINDING_TYPE_DUPLICATE_RECORD), 0);
}

// ---------------------------------------------------------------- handoff-sla-breach
TEST_F(DetectorsTest, HandoffSlaFiresOnTimeExactlyOnce) {
  P(E.HandOff(kT0, "h-1"));
  EXPECT_EQ(engine.NextTimer(), kT0 + 24 * kHour);
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 24 * kHour - 1).empty());
  auto f = engine.AdvanceTime(kT0 + 24 * kHour);
  ASSERT_EQ(Count(f, av::FINDING_TYPE_HANDOFF_SLA_BREACH), 1);
  EXPECT_EQ(f[0].playbook_rule(), "sla.handoff_accept");
  EXPECT_EQ(f[0].detection_latency().seconds(), 0);
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 25 * kHour).empty());
  auto g = engine.AdvanceTime(kT0 + 48 * kHour);  // first-touch SLA too
  EXPECT_EQ(Count(g, av::FINDING_TYPE_HANDOFF_SLA_BREACH), 1);
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 100 * kHour).empty());
}

TEST_F(DetectorsTest, HandoffAcceptedJustInTime) {
  P(E.HandOff(kT0, "h-1"));
  P(E.Accept(kT0 + 24 * kHour - 1, "h-1"));
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 24 * kHour).empty());
  P(E.Call(kT0 + 30 * kHour, "rep-1"));
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 100 * kHour).empty());
}

TEST_F(DetectorsTest, LateAcceptanceFiresFromTheEventItself) {
  P(E.HandOff(kT0, "h-1"));
  auto f = P(E.Accept(kT0 + 24 * kHour, "h-1"));  // at the deadline: breached
  EXPECT_EQ(Count(f, av::FINDING_TYPE_HANDOFF_SLA_BREACH), 1);
}

// ---------------------------------------------------------------- contradictory-journey
TEST_F(DetectorsTest, WinBackDuringNegotiation) {
  P(E.Opportunity(kT0, "opp-1", ev::OPPORTUNITY_STAGE_NEGOTIATION));
  auto f = P(E.Message(kT0 + kHour, ev::TEAM_SALES, "rep-1", ev::MESSAGE_PURPOSE_WIN_BACK, "We miss you"));
  ASSERT_EQ(Count(f, av::FINDING_TYPE_CONTRADICTORY_JOURNEY), 1);
  EXPECT_EQ(Count(P(E.Message(kT0 + 2 * kHour, ev::TEAM_SALES, "rep-1", ev::MESSAGE_PURPOSE_FOLLOW_UP, "Next steps")),
                  av::FINDING_TYPE_CONTRADICTORY_JOURNEY), 0);
}

TEST_F(DetectorsTest, NewCustomerOfferToExistingCustomer) {
  P(E.Opportunity(kT0, "opp-1", ev::OPPORTUNITY_STAGE_NEGOTIATION));
  P(E.Opportunity(kT0 + kHour, "opp-1", ev::OPPORTUNITY_STAGE_CLOSED_WON, false));
  auto f = P(E.Message(kT0 + kDay, ev::TEAM_SALES, "rep-1", ev::MESSAGE_PURPOSE_NEW_CUSTOMER_OFFER, "First order?"));
  EXPECT_EQ(Count(f, av::FINDING_TYPE_CONTRADICTORY_JOURNEY), 1);
  Events E2("domain:b.com");
  EXPECT_EQ(Count(P(E2.Message(kT0, ev::TEAM_MARKETING, "mkt", ev::MESSAGE_PURPOSE_NEW_CUSTOMER_OFFER, "Hi")),
                  av::FINDING_TYPE_CONTRADICTORY_JOURNEY), 0);
}

TEST_F(DetectorsTest, StalledOpportunityWindowEdge) {
  P(E.Opportunity(kT0, "opp-1", ev::OPPORTUNITY_STAGE_PROPOSAL));
  P(E.Call(kT0 + kDay, "rep-1"));
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 15 * kDay - 1).empty());
  auto f = engine.AdvanceTime(kT0 + 15 * kDay);
  ASSERT_EQ(Count(f, av::FINDING_TYPE_CONTRADICTORY_JOURNEY), 1);
  EXPECT_EQ(f[0].playbook_rule(), "journey.stalled_opportunity_days");
  EXPECT_EQ(f[0].evidence_size(), 2);
  EXPECT_TRUE(engine.AdvanceTime(kT0 + 40 * kDay).empty());
}

// ---------------------------------------------------------------- pure rules
TEST(DetectorRulesTest, MonthlyNormalization) {
  EXPECT_EQ(MonthlyMicros(12'000'000, concord::events::v1::BILLING_PERIOD_YEARLY), 1'000'000);
  StoredClaim a, b;
  a.attr = b.attr = Attr::kPrice;
  std::memcpy(a.v.currency, "USD", 4);
  std::memcpy(b.v.currency, "USD", 4);
  a.v.micros = 588'000'000;
  a.v.period = concord::events::v1::BILLING_PERIOD_YEARLY;
  b.v.micros = 49'000'000;
  b.v.period = concord::events::v1::BILLING_PERIOD_MONTHLY;
  std::string why;
  EXPECT_FALSE(Disagree(a, b, DefaultPlaybook(), &why));
  std::memcpy(b.v.currency, "EUR", 4);
  b.v.micros = 10'000'000;
  EXPECT_FALSE(Disagree(a, b, DefaultPlaybook(), &why));  // different currencies are not compared
}

}  // namespace
}  // namespace concord::alignment::engine
