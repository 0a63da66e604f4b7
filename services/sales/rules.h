#pragma once
// The sales state machines. Each Check* returns OK or FAILED_PRECONDITION with a message
// that says what the state is and what the call would need.
//
// Hand-off (id = marketing's hand-off id; "new" = sales has no record yet):
//   new | PENDING --AcceptHandoff--> ACCEPTED      ACCEPTED --AcceptHandoff--> refused
//   new | PENDING --RejectHandoff--> REJECTED      REJECTED --AcceptHandoff--> refused
//   AssignOwner: new -> NOT_FOUND; PENDING | ACCEPTED ok; REJECTED refused
//
// Quote (EXPIRED is computed on read: status ISSUED and valid_until <= now):
//   IssueQuote --> ISSUED(revision 1)
//   ISSUED --ReviseQuote--> ISSUED(revision + 1)     WITHDRAWN | EXPIRED --Revise--> refused
//   ISSUED --WithdrawQuote--> WITHDRAWN              WITHDRAWN | EXPIRED --Withdraw--> refused
//
// Opportunity:
//   CreateOpportunity --> DISCOVERY (default) | PROPOSAL | NEGOTIATION   (closed: INVALID_ARGUMENT)
//   DISCOVERY | PROPOSAL | NEGOTIATION --UpdateOpportunityStage--> any stage (forward, back,
//   same stage to change only amount / close date, CLOSED_WON, CLOSED_LOST)
//   CLOSED_WON | CLOSED_LOST --> refused (terminal); AssignOwner on a closed one refused
//
// Accounts and contacts: ACTIVE accepts writes; MERGED is a read-only tombstone.

#include <absl/status/status.h>
#include <google/protobuf/timestamp.pb.h>

#include "concord/events/v1/events.pb.h"

namespace concord::sales {

absl::Status CheckCanAcceptHandoff(const events::v1::Handoff* current);  // null = new
absl::Status CheckCanRejectHandoff(const events::v1::Handoff* current);
absl::Status CheckCanAssignHandoff(const events::v1::Handoff& current);

// ISSUED with valid_until in the past reads as EXPIRED.
events::v1::QuoteStatus EffectiveQuoteStatus(const events::v1::Quote& q, const google::protobuf::Timestamp& now);
// Sets q->status() to the effective status (for answers and lists).
void ApplyEffectiveQuoteStatus(events::v1::Quote* q, const google::protobuf::Timestamp& now);
absl::Status CheckCanReviseQuote(const events::v1::Quote& q, const google::protobuf::Timestamp& now);
absl::Status CheckCanWithdrawQuote(const events::v1::Quote& q, const google::protobuf::Timestamp& now);

bool IsClosedStage(events::v1::OpportunityStage stage);
absl::Status CheckCanChangeOpportunity(const events::v1::Opportunity& o);

absl::Status CheckAccountActive(const events::v1::Account& a, std::string_view field);
absl::Status CheckContactActive(const events::v1::Contact& c, std::string_view field);

}  // namespace concord::sales
