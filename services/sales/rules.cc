#include "services/sales/rules.h"

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "common/writes/strings.h"

namespace concord::sales {

using events::v1::HandoffStatus;
using events::v1::OpportunityStage;
using events::v1::QuoteStatus;
using google::protobuf::util::TimeUtil;

absl::Status CheckCanAcceptHandoff(const events::v1::Handoff* h) {
  if (h == nullptr || h->status() == events::v1::HANDOFF_STATUS_PENDING) return absl::OkStatus();
  if (h->status() == events::v1::HANDOFF_STATUS_REJECTED) {
    return absl::FailedPreconditionError(absl::StrCat("hand-off ", h->id(),
                                                      " was rejected; a rejected hand-off cannot be accepted "
                                                      "(marketing can recycle the lead and hand it off again)"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("hand-off ", h->id(), " is already accepted; use AssignOwner to change its owner"));
}

absl::Status CheckCanRejectHandoff(const events::v1::Handoff* h) {
  if (h == nullptr || h->status() == events::v1::HANDOFF_STATUS_PENDING) return absl::OkStatus();
  if (h->status() == events::v1::HANDOFF_STATUS_ACCEPTED) {
    return absl::FailedPreconditionError(absl::StrCat("hand-off ", h->id(), " was accepted; it cannot be rejected"));
  }
  return absl::FailedPreconditionError(absl::StrCat("hand-off ", h->id(), " is already rejected"));
}

absl::Status CheckCanAssignHandoff(const events::v1::Handoff& h) {
  if (h.status() == events::v1::HANDOFF_STATUS_REJECTED) {
    return absl::FailedPreconditionError(absl::StrCat("hand-off ", h.id(), " was rejected; it has no owner to assign"));
  }
  return absl::OkStatus();
}

QuoteStatus EffectiveQuoteStatus(const events::v1::Quote& q, const google::protobuf::Timestamp& now) {
  if (q.status() == events::v1::QUOTE_STATUS_ISSUED && q.has_valid_until() && q.valid_until() <= now) {
    return events::v1::QUOTE_STATUS_EXPIRED;
  }
  return q.status();
}

void ApplyEffectiveQuoteStatus(events::v1::Quote* q, const google::protobuf::Timestamp& now) {
  q->set_status(EffectiveQuoteStatus(*q, now));
}

absl::Status CheckCanReviseQuote(const events::v1::Quote& q, const google::protobuf::Timestamp& now) {
  switch (EffectiveQuoteStatus(q, now)) {
    case events::v1::QUOTE_STATUS_ISSUED:
      return absl::OkStatus();
    case events::v1::QUOTE_STATUS_WITHDRAWN:
      return absl::FailedPreconditionError(absl::StrCat("quote ", q.id(), " is withdrawn; issue a new quote instead"));
    case events::v1::QUOTE_STATUS_EXPIRED:
      return absl::FailedPreconditionError(absl::StrCat("quote ", q.id(), " expired at ",
                                                        TimeUtil::ToString(q.valid_until()),
                                                        "; issue a new quote instead"));
    default:
      return absl::FailedPreconditionError(absl::StrCat("quote ", q.id(), " is not issued"));
  }
}

absl::Status CheckCanWithdrawQuote(const events::v1::Quote& q, const google::protobuf::Timestamp& now) {
  switch (EffectiveQuoteStatus(q, now)) {
    case events::v1::QUOTE_STATUS_ISSUED:
      return absl::OkStatus();
    case events::v1::QUOTE_STATUS_WITHDRAWN:
      return absl::FailedPreconditionError(absl::StrCat("quote ", q.id(), " is already withdrawn"));
    case events::v1::QUOTE_STATUS_EXPIRED:
      return absl::FailedPreconditionError(
          absl::StrCat("quote ", q.id(), " expired at ", TimeUtil::ToString(q.valid_until()), "; nothing to withdraw"));
    default:
      return absl::FailedPreconditionError(absl::StrCat("quote ", q.id(), " is not issued"));
  }
}

bool IsClosedStage(OpportunityStage stage) {
  return stage == events::v1::OPPORTUNITY_STAGE_CLOSED_WON || stage == events::v1::OPPORTUNITY_STAGE_CLOSED_LOST;
}

absl::Status CheckCanChangeOpportunity(const events::v1::Opportunity& o) {
  if (IsClosedStage(o.stage())) {
    return absl::FailedPreconditionError(absl::StrCat("opportunity ", o.id(), " is closed (",
                                                      events::v1::OpportunityStage_Name(o.stage()),
                                                      "); a closed opportunity cannot change"));
  }
  return absl::OkStatus();
}

absl::Status CheckAccountActive(const events::v1::Account& a, std::string_view field) {
  if (a.status() == events::v1::RECORD_STATUS_MERGED) {
    return absl::FailedPreconditionError(
        writes::Cat(field, ": account ", a.id(), " was merged into ", a.merged_into_id(), " and is read-only"));
  }
  return absl::OkStatus();
}

absl::Status CheckContactActive(const events::v1::Contact& c, std::string_view field) {
  if (c.status() == events::v1::RECORD_STATUS_MERGED) {
    return absl::FailedPreconditionError(
        writes::Cat(field, ": contact ", c.id(), " was merged into ", c.merged_into_id(), " and is read-only"));
  }
  return absl::OkStatus();
}

}  // namespace concord::sales
