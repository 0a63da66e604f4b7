#pragma once
// Field validation of every sales write request: everything that can be checked without
// reading storage. Each function adds "field: why" violations to the Validator (see
// common/writes/validation.h); the handler turns them into one INVALID_ARGUMENT. Checks that
// need stored state (a record exists, belongs to the account, a revision's currency matches
// the quote's) are in the handlers.

#include <google/protobuf/timestamp.pb.h>

#include "common/writes/validation.h"
#include "concord/sales/v1/sales.pb.h"

namespace concord::sales {

// Sales-specific limits (the shared ones are in writes::limits).
namespace limits {
inline constexpr int kMergeMax = 10;                    // merged ids per Merge call
inline constexpr int64_t kQuantityMax = 1'000'000;      // per quote line
inline constexpr uint32_t kContractTermMonthsMax = 120;
inline constexpr int64_t kActivityFutureSeconds = 24 * 3600;  // occurred_at at most 1 day ahead
inline constexpr int64_t kActivityMaxDurationSeconds = 24 * 3600;
inline constexpr int64_t kClockSkewSeconds = 300;       // "not in the future" tolerates 5 minutes
}  // namespace limits

void Validate(const v1::CreateAccountRequest& r, writes::Validator& v);
void Validate(const v1::UpdateAccountRequest& r, writes::Validator& v);
void Validate(const v1::MergeAccountsRequest& r, writes::Validator& v);
void Validate(const v1::CreateContactRequest& r, writes::Validator& v);
void Validate(const v1::UpdateContactRequest& r, writes::Validator& v);
void Validate(const v1::MergeContactsRequest& r, writes::Validator& v);
void Validate(const v1::AcceptHandoffRequest& r, writes::Validator& v);
void Validate(const v1::RejectHandoffRequest& r, writes::Validator& v);
void Validate(const v1::AssignOwnerRequest& r, writes::Validator& v);
void Validate(const v1::LogActivityRequest& r, const google::protobuf::Timestamp& now, writes::Validator& v);
void Validate(const v1::IssueQuoteRequest& r, const google::protobuf::Timestamp& now, writes::Validator& v);
void Validate(const v1::ReviseQuoteRequest& r, const google::protobuf::Timestamp& now, writes::Validator& v);
void Validate(const v1::WithdrawQuoteRequest& r, writes::Validator& v);
void Validate(const v1::MakeCommitmentRequest& r, const google::protobuf::Timestamp& now, writes::Validator& v);
void Validate(const v1::CreateOpportunityRequest& r, writes::Validator& v);
void Validate(const v1::UpdateOpportunityStageRequest& r, writes::Validator& v);
void Validate(const v1::SendMessageRequest& r, writes::Validator& v);

// Quote content shared by Issue and Revise: 1..100 lines, each in `currency` (when known),
// quantity 1..1e6, prices >= 0 and |units| <= 10^12; terms; validity (valid_until required,
// after valid_from and after now).
void ValidateQuoteContent(const google::protobuf::RepeatedPtrField<events::v1::QuoteLineItem>& lines,
                          const std::string& currency, bool has_terms, const events::v1::QuoteTerms& terms,
                          const google::protobuf::Timestamp* valid_from, const google::protobuf::Timestamp* valid_until,
                          const google::protobuf::Timestamp& now, writes::Validator& v);

// A customer identity given with a request (hand-offs, activities, commitments, messages):
// ids within limits, person fields valid. customer_key is server-derived and ignored.
void ValidateCustomerRef(std::string_view field, const events::v1::CustomerRef& c, writes::Validator& v);

}  // namespace concord::sales
