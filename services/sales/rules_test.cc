#include "services/sales/rules.h"

#include <gtest/gtest.h>

namespace concord::sales {
namespace {

namespace ev = concord::events::v1;

google::protobuf::Timestamp At(int64_t s) {
  google::protobuf::Timestamp t;
  t.set_seconds(s);
  return t;
}

TEST(Rules, Handoff) {
  EXPECT_TRUE(CheckCanAcceptHandoff(nullptr).ok());
  EXPECT_TRUE(CheckCanRejectHandoff(nullptr).ok());
  ev::Handoff h;
  h.set_status(ev::HANDOFF_STATUS_PENDING);
  EXPECT_TRUE(CheckCanAcceptHandoff(&h).ok());
  EXPECT_TRUE(CheckCanRejectHandoff(&h).ok());
  h.set_status(ev::HANDOFF_STATUS_REJECTED);
  EXPECT_EQ(CheckCanAcceptHandoff(&h).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckCanRejectHandoff(&h).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckCanAssignHandoff(h).code(), absl::StatusCode::kFailedPrecondition);
  h.set_status(ev::HANDOFF_STATUS_ACCEPTED);
  EXPECT_EQ(CheckCanAcceptHandoff(&h).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckCanRejectHandoff(&h).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckCanAssignHandoff(h).ok());
}

TEST(Rules, QuoteExpiresOnRead) {
  ev::Quote q;
  q.set_status(ev::QUOTE_STATUS_ISSUED);
  *q.mutable_valid_until() = At(100);
  EXPECT_EQ(EffectiveQuoteStatus(q, At(99)), ev::QUOTE_STATUS_ISSUED);
  EXPECT_EQ(EffectiveQuoteStatus(q, At(100)), ev::QUOTE_STATUS_EXPIRED);
  EXPECT_TRUE(CheckCanReviseQuote(q, At(99)).ok());
  EXPECT_TRUE(CheckCanWithdrawQuote(q, At(99)).ok());
  EXPECT_EQ(CheckCanReviseQuote(q, At(101)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckCanWithdrawQuote(q, At(101)).code(), absl::StatusCode::kFailedPrecondition);
  q.set_status(ev::QUOTE_STATUS_WITHDRAWN);
  EXPECT_EQ(EffectiveQuoteStatus(q, At(101)), ev::QUOTE_STATUS_WITHDRAWN);
  EXPECT_EQ(CheckCanReviseQuote(q, At(99)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckCanWithdrawQuote(q, At(99)).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Rules, OpportunityClosedIsTerminal) {
  ev::Opportunity o;
  for (auto s : {ev::OPPORTUNITY_STAGE_DISCOVERY, ev::OPPORTUNITY_STAGE_PROPOSAL, ev::OPPORTUNITY_STAGE_NEGOTIATION}) {
    o.set_stage(s);
    EXPECT_TRUE(CheckCanChangeOpportunity(o).ok());
  }
  for (auto s : {ev::OPPORTUNITY_STAGE_CLOSED_WON, ev::OPPORTUNITY_STAGE_CLOSED_LOST}) {
    o.set_stage(s);
    EXPECT_EQ(CheckCanChangeOpportunity(o).code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(Rules, MergedRecordsAreReadOnly) {
  ev::Account a;
  a.set_status(ev::RECORD_STATUS_ACTIVE);
  EXPECT_TRUE(CheckAccountActive(a, "account_id").ok());
  a.set_status(ev::RECORD_STATUS_MERGED);
  EXPECT_EQ(CheckAccountActive(a, "account_id").code(), absl::StatusCode::kFailedPrecondition);
  ev::Contact c;
  c.set_status(ev::RECORD_STATUS_MERGED);
  EXPECT_EQ(CheckContactActive(c, "contact_id").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace concord::sales
