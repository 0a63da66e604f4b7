#include "services/sales/validate.h"

#include <set>

#include <absl/strings/ascii.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "common/writes/strings.h"
#include "services/sales/quote_math.h"
#include "services/sales/rules.h"

namespace concord::sales {
namespace {

namespace ev = concord::events::v1;
namespace wl = concord::writes::limits;
using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;
using writes::Validator;

constexpr auto kSales = ev::TEAM_SALES;

bool Blank(std::string_view s) { return absl::StripAsciiWhitespace(writes::AbslView(s)).empty(); }

void Common(std::string_view request_id, const ev::Actor& actor, bool has_actor, Validator& v) {
  v.RequestId(request_id);
  v.Actor("actor", actor, has_actor, kSales);
}

void Owner(std::string_view field, const ev::Actor& owner, bool present, Validator& v) {
  v.OptionalActor(field, owner, present, {kSales});
}

// |units| <= 10^12 for money a client gives us (keeps quote arithmetic exact in 128 bits).
bool Bounded(std::string_view field, const ev::Money& m, Validator& v) {
  if (m.units() > kMaxInputUnits || m.units() < -kMaxInputUnits) {
    v.Add(field, absl::StrCat("at most ", kMaxInputUnits, " units, got ", m.units()));
    return false;
  }
  return true;
}

// Merge: 1..10 distinct ids, none the survivor.
void MergeIds(std::string_view survivor_field, const std::string& survivor, std::string_view field,
              const google::protobuf::RepeatedPtrField<std::string>& ids, Validator& v) {
  v.RequiredId(survivor_field, survivor);
  if (ids.empty()) {
    v.Add(field, absl::StrCat("at least one id is required (1..", limits::kMergeMax, ")"));
    return;
  }
  if (!v.MaxCount(field, ids.size(), limits::kMergeMax)) return;
  std::set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    std::string f = Validator::Index(field, i);
    if (!v.RequiredId(f, ids[i])) continue;
    if (ids[i] == survivor) v.Add(f, writes::Cat("is the survivor (", survivor_field, ")"));
    if (!seen.insert(ids[i]).second) v.Add(f, absl::StrCat("duplicate id '", ids[i], "'"));
  }
}

void TimestampNotAfter(std::string_view field, const Timestamp& t, const Timestamp& limit, std::string_view what,
                       Validator& v) {
  if (!v.Timestamp(field, t)) return;
  if (t > limit) v.Add(field, what);
}

void Duration(std::string_view field, const google::protobuf::Duration& d, int64_t max_seconds, Validator& v) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999'999'999 ||
      d.seconds() > max_seconds || (d.seconds() == max_seconds && d.nanos() > 0)) {
    v.Add(field, absl::StrCat("must be between 0 and ", max_seconds, "s"));
  }
}

}  // namespace

void ValidateCustomerRef(std::string_view field, const ev::CustomerRef& c, Validator& v) {
  v.OptionalId(Validator::Path(field, "account_id"), c.account_id());
  v.OptionalId(Validator::Path(field, "lead_id"), c.lead_id());
  v.OptionalId(Validator::Path(field, "contact_id"), c.contact_id());
  v.Person(Validator::Path(field, "person"), c.person(), /*require_contact=*/false);
}

// ---- accounts ---------------------------------------------------------------------------

void Validate(const v1::CreateAccountRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.Required("name", r.name(), wl::kName);
  v.Website("website", r.website());
  v.MaxBytes("industry", r.industry(), wl::kName);
  v.MaxBytes("region", r.region(), wl::kName);
  v.CountryCode("country", r.country());
  v.Enum("lifecycle_stage", r.lifecycle_stage(), ev::LifecycleStage_IsValid, false);
  Owner("owner", r.owner(), r.has_owner(), v);
}

void Validate(const v1::UpdateAccountRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("account_id", r.account_id());
  if (r.has_name()) v.Required("name", r.name(), wl::kName);
  if (r.has_website()) v.Website("website", r.website());
  if (r.has_industry()) v.MaxBytes("industry", r.industry(), wl::kName);
  if (r.has_region()) v.MaxBytes("region", r.region(), wl::kName);
  if (r.has_country()) v.CountryCode("country", r.country());
  v.Enum("lifecycle_stage", r.lifecycle_stage(), ev::LifecycleStage_IsValid, false);
}

void Validate(const v1::MergeAccountsRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  MergeIds("survivor_account_id", r.survivor_account_id(), "merged_account_ids", r.merged_account_ids(), v);
  v.MaxBytes("reason", r.reason(), wl::kReason);
}

// ---- contacts ---------------------------------------------------------------------------

void Validate(const v1::CreateContactRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  if (!r.has_person()) {
    v.Add("person", "required (email or phone)");
  } else {
    v.Person("person", r.person(), /*require_contact=*/true);
  }
  v.OptionalId("account_id", r.account_id());
  v.Enum("lifecycle_stage", r.lifecycle_stage(), ev::LifecycleStage_IsValid, false);
  Owner("owner", r.owner(), r.has_owner(), v);
  v.OptionalId("source_lead_id", r.source_lead_id());
}

void Validate(const v1::UpdateContactRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("contact_id", r.contact_id());
  if (r.has_first_name()) v.MaxBytes("first_name", r.first_name(), wl::kName);
  if (r.has_last_name()) v.MaxBytes("last_name", r.last_name(), wl::kName);
  if (r.has_full_name()) v.MaxBytes("full_name", r.full_name(), wl::kName);
  if (r.has_email()) v.Email("email", r.email());
  if (r.has_phone()) v.Phone("phone", r.phone());
  if (r.has_company()) v.MaxBytes("company", r.company(), wl::kName);
  if (r.has_website()) v.Website("website", r.website());
  if (r.has_title()) v.MaxBytes("title", r.title(), wl::kName);
  if (r.has_account_id()) v.OptionalId("account_id", r.account_id());
  v.Enum("lifecycle_stage", r.lifecycle_stage(), ev::LifecycleStage_IsValid, false);
}

void Validate(const v1::MergeContactsRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  MergeIds("survivor_contact_id", r.survivor_contact_id(), "merged_contact_ids", r.merged_contact_ids(), v);
  v.MaxBytes("reason", r.reason(), wl::kReason);
}

// ---- hand-offs and ownership ------------------------------------------------------------

void Validate(const v1::AcceptHandoffRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("handoff_id", r.handoff_id());
  v.RequiredId("lead_id", r.lead_id());
  if (r.has_customer()) ValidateCustomerRef("customer", r.customer(), v);
  Owner("owner", r.owner(), r.has_owner(), v);
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("contact_id", r.contact_id());
  v.MaxBytes("note", r.note(), wl::kReason);
}

void Validate(const v1::RejectHandoffRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("handoff_id", r.handoff_id());
  v.RequiredId("lead_id", r.lead_id());
  if (r.has_customer()) ValidateCustomerRef("customer", r.customer(), v);
  v.Enum("reason", r.reason(), ev::HandoffRejectReason_IsValid, true);
  v.MaxBytes("note", r.note(), wl::kReason);
  if (r.reason() == ev::HANDOFF_REJECT_REASON_OTHER && Blank(r.note())) {
    v.Add("note", "required when reason is HANDOFF_REJECT_REASON_OTHER");
  }
}

void Validate(const v1::AssignOwnerRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  switch (r.target_case()) {
    case v1::AssignOwnerRequest::TARGET_NOT_SET:
      v.Add("target", "exactly one of account_id, contact_id, opportunity_id or handoff_id is required");
      break;
    case v1::AssignOwnerRequest::kAccountId:
      v.RequiredId("account_id", r.account_id());
      break;
    case v1::AssignOwnerRequest::kContactId:
      v.RequiredId("contact_id", r.contact_id());
      break;
    case v1::AssignOwnerRequest::kOpportunityId:
      v.RequiredId("opportunity_id", r.opportunity_id());
      break;
    case v1::AssignOwnerRequest::kHandoffId:
      v.RequiredId("handoff_id", r.handoff_id());
      break;
  }
  if (!r.has_owner()) {
    v.Add("owner", "required (owner.id of the sales rep)");
  } else {
    Owner("owner", r.owner(), true, v);
  }
  v.MaxBytes("note", r.note(), wl::kReason);
}

// ---- activities ---------------------------------------------------------------------------

void Validate(const v1::LogActivityRequest& r, const Timestamp& now, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.Enum("kind", r.kind(), ev::ActivityKind_IsValid, true);
  v.Enum("direction", r.direction(), ev::ActivityDirection_IsValid, false);
  v.Enum("outcome", r.outcome(), ev::ActivityOutcome_IsValid, false);
  v.OptionalId("account_id", r.account_id());
  if (v.MaxCount("contact_ids", r.contact_ids_size(), wl::kContactIds)) {
    std::set<std::string> seen;
    for (int i = 0; i < r.contact_ids_size(); ++i) {
      std::string f = Validator::Index("contact_ids", i);
      if (!v.RequiredId(f, r.contact_ids(i))) continue;
      if (!seen.insert(r.contact_ids(i)).second) v.Add(f, absl::StrCat("duplicate id '", r.contact_ids(i), "'"));
    }
  }
  v.OptionalId("lead_id", r.lead_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  if (r.has_customer()) ValidateCustomerRef("customer", r.customer(), v);
  bool customer_identity = r.has_customer() && (!Blank(r.customer().person().email()) ||
                                                !Blank(r.customer().person().phone()) ||
                                                !Blank(r.customer().person().website()) ||
                                                !r.customer().account_id().empty());
  if (r.account_id().empty() && r.contact_ids().empty() && r.lead_id().empty() && !r.has_customer()) {
    v.Add("account_id", "who the activity was with is required: account_id, contact_ids, lead_id or customer");
  } else if (r.account_id().empty() && r.contact_ids().empty() && r.opportunity_id().empty() && !customer_identity) {
    v.Add("customer", "an email, phone, website or account_id is required when no account, contact or "
                      "opportunity identifies the customer");
  }
  if (r.has_occurred_at()) {
    Timestamp limit = now + google::protobuf::util::TimeUtil::SecondsToDuration(limits::kActivityFutureSeconds);
    TimestampNotAfter("occurred_at", r.occurred_at(), limit, "at most 1 day in the future", v);
  }
  if (r.has_duration()) Duration("duration", r.duration(), limits::kActivityMaxDurationSeconds, v);
  v.MaxBytes("subject", r.subject(), wl::kSubject);
  v.MaxBytes("notes", r.notes(), wl::kNotes);
}

// ---- quotes ---------------------------------------------------------------------------------

void ValidateQuoteContent(const google::protobuf::RepeatedPtrField<ev::QuoteLineItem>& lines,
                          const std::string& currency, bool has_terms, const ev::QuoteTerms& terms,
                          const Timestamp* valid_from, const Timestamp* valid_until, const Timestamp& now,
                          Validator& v) {
  if (lines.empty()) {
    v.Add("line_items", absl::StrCat("at least one line is required (1..", wl::kLineItems, ")"));
  } else if (v.MaxCount("line_items", lines.size(), wl::kLineItems)) {
    for (int i = 0; i < lines.size(); ++i) {
      const auto& l = lines[i];
      std::string f = Validator::Index("line_items", i);
      v.Required(Validator::Path(f, "product"), l.product(), wl::kId);
      v.MaxBytes(Validator::Path(f, "description"), l.description(), wl::kLineDescription);
      for (auto [name, money, present] : {std::tuple{"list_price", &l.list_price(), l.has_list_price()},
                                          std::tuple{"unit_price", &l.unit_price(), l.has_unit_price()}}) {
        std::string mf = Validator::Path(f, name);
        if (!present) {
          v.Add(mf, "required");
          continue;
        }
        if (!v.Money(mf, *money, /*non_negative=*/true)) continue;
        Bounded(mf, *money, v);
        if (!currency.empty() && money->currency_code() != currency) {
          v.Add(Validator::Path(mf, "currency_code"),
                absl::StrCat("must be the quote's currency ", currency, ", got ", money->currency_code()));
        }
      }
      v.IntRange(Validator::Path(f, "quantity"), l.quantity(), 1, limits::kQuantityMax);
      if (l.has_discount_percent()) v.Percent(Validator::Path(f, "discount_percent"), l.discount_percent());
      v.Enum(Validator::Path(f, "billing_period"), l.billing_period(), ev::BillingPeriod_IsValid, false);
    }
  }
  if (has_terms) {
    v.IntRange("terms.contract_term_months", terms.contract_term_months(), 0, limits::kContractTermMonthsMax);
    v.Enum("terms.payment_terms", terms.payment_terms(), ev::PaymentTerms_IsValid, false);
    v.Enum("terms.billing_frequency", terms.billing_frequency(), ev::BillingPeriod_IsValid, false);
    if (terms.has_delivery_date()) v.Date("terms.delivery_date", terms.delivery_date());
    if (terms.has_trial_days() && terms.trial_days() > wl::kMaxTrialDays) {
      v.Add("terms.trial_days", absl::StrCat("must be in 0..", wl::kMaxTrialDays, ", got ", terms.trial_days()));
    }
    v.MaxBytes("terms.text", terms.text(), wl::kReason);
  }
  bool from_ok = valid_from == nullptr || v.Timestamp("valid_from", *valid_from);
  if (valid_until == nullptr) {
    v.Add("valid_until", "required (until when the quote holds)");
  } else if (v.Timestamp("valid_until", *valid_until)) {
    if (*valid_until <= now) {
      v.Add("valid_until", "must be in the future");
    } else if (from_ok) {
      v.TimeOrder("valid_from", valid_from, "valid_until", valid_until);
    }
  }
}

void Validate(const v1::IssueQuoteRequest& r, const Timestamp& now, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("account_id", r.account_id());
  v.OptionalId("contact_id", r.contact_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  bool currency_ok = v.CurrencyCode("currency_code", r.currency_code());
  ValidateQuoteContent(r.line_items(), currency_ok ? r.currency_code() : "", r.has_terms(), r.terms(),
                       r.has_valid_from() ? &r.valid_from() : nullptr, r.has_valid_until() ? &r.valid_until() : nullptr,
                       now, v);
  v.MaxBytes("notes", r.notes(), wl::kNotes);
  Owner("owner", r.owner(), r.has_owner(), v);
}

void Validate(const v1::ReviseQuoteRequest& r, const Timestamp& now, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("quote_id", r.quote_id());
  // The currency is the stored quote's; the handler checks it after reading the quote.
  ValidateQuoteContent(r.line_items(), "", r.has_terms(), r.terms(), r.has_valid_from() ? &r.valid_from() : nullptr,
                       r.has_valid_until() ? &r.valid_until() : nullptr, now, v);
  v.MaxBytes("notes", r.notes(), wl::kNotes);
  v.MaxBytes("revision_note", r.revision_note(), wl::kReason);
}

void Validate(const v1::WithdrawQuoteRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("quote_id", r.quote_id());
  v.MaxBytes("reason", r.reason(), wl::kReason);
}

// ---- commitments ----------------------------------------------------------------------------

void Validate(const v1::MakeCommitmentRequest& r, const Timestamp& now, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.Enum("kind", r.kind(), ev::CommitmentKind_IsValid, true);
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("contact_id", r.contact_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  if (r.has_customer()) ValidateCustomerRef("customer", r.customer(), v);
  if (r.account_id().empty() && r.contact_id().empty() && r.opportunity_id().empty()) {
    const auto& p = r.customer().person();
    bool identity = r.has_customer() && (!Blank(p.email()) || !Blank(p.phone()) || !Blank(p.website()) ||
                                         !r.customer().account_id().empty());
    if (!identity) {
      v.Add("account_id", "who the promise was made to is required: account_id, contact_id, opportunity_id or "
                          "customer (email, phone, website or account_id)");
    }
  }
  v.MaxBytes("product", r.product(), wl::kId);
  v.MaxBytes("feature", r.feature(), wl::kName);
  if (r.has_due_date()) v.Date("due_date", r.due_date());
  if (r.has_concession()) v.Offer("concession", r.concession());
  v.MaxBytes("text", r.text(), wl::kReason);
  switch (r.kind()) {
    case ev::COMMITMENT_KIND_FEATURE:
      if (Blank(r.feature())) v.Add("feature", "required for COMMITMENT_KIND_FEATURE");
      break;
    case ev::COMMITMENT_KIND_DATE:
      if (!r.has_due_date()) v.Add("due_date", "required for COMMITMENT_KIND_DATE");
      break;
    case ev::COMMITMENT_KIND_CONCESSION:
      if (!r.has_concession()) v.Add("concession", "required for COMMITMENT_KIND_CONCESSION");
      break;
    case ev::COMMITMENT_KIND_OTHER:
      if (Blank(r.text())) v.Add("text", "required for COMMITMENT_KIND_OTHER");
      break;
    default:
      break;
  }
  v.Enum("channel", r.channel(), ev::Channel_IsValid, false);
  v.OptionalId("activity_id", r.activity_id());
  bool made_ok = true;
  if (r.has_made_at()) {
    Timestamp limit = now + google::protobuf::util::TimeUtil::SecondsToDuration(limits::kClockSkewSeconds);
    size_t before = v.violations().size();
    TimestampNotAfter("made_at", r.made_at(), limit, "must not be in the future", v);
    made_ok = v.violations().size() == before;
  }
  if (r.has_valid_until() && v.Timestamp("valid_until", r.valid_until()) && made_ok) {
    const Timestamp& made = r.has_made_at() ? r.made_at() : now;
    if (r.valid_until() <= made) v.Add("valid_until", "must be after made_at");
  }
}

// ---- opportunities --------------------------------------------------------------------------

void Validate(const v1::CreateOpportunityRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("account_id", r.account_id());
  v.Required("name", r.name(), wl::kName);
  v.OptionalId("primary_contact_id", r.primary_contact_id());
  if (v.Enum("stage", r.stage(), ev::OpportunityStage_IsValid, false) && IsClosedStage(r.stage())) {
    v.Add("stage", "a new opportunity cannot be closed (DISCOVERY, PROPOSAL or NEGOTIATION)");
  }
  if (r.has_amount() && v.Money("amount", r.amount(), /*non_negative=*/true)) Bounded("amount", r.amount(), v);
  if (r.has_close_date()) v.Date("close_date", r.close_date());
  Owner("owner", r.owner(), r.has_owner(), v);
  v.OptionalId("handoff_id", r.handoff_id());
  v.OptionalId("source_lead_id", r.source_lead_id());
}

void Validate(const v1::UpdateOpportunityStageRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  v.RequiredId("opportunity_id", r.opportunity_id());
  bool stage_ok = v.Enum("stage", r.stage(), ev::OpportunityStage_IsValid, true);
  if (r.has_amount() && v.Money("amount", r.amount(), /*non_negative=*/true)) Bounded("amount", r.amount(), v);
  if (r.has_close_date()) v.Date("close_date", r.close_date());
  if (v.Enum("close_reason", r.close_reason(), ev::CloseReason_IsValid, false) && stage_ok) {
    if (IsClosedStage(r.stage()) && r.close_reason() == ev::CLOSE_REASON_UNSPECIFIED) {
      v.Add("close_reason", "required when closing (CLOSED_WON or CLOSED_LOST)");
    } else if (!IsClosedStage(r.stage()) && r.close_reason() != ev::CLOSE_REASON_UNSPECIFIED) {
      v.Add("close_reason", "must be unset unless the stage is CLOSED_WON or CLOSED_LOST");
    }
  }
  if (v.MaxBytes("close_note", r.close_note(), wl::kReason) && stage_ok && !IsClosedStage(r.stage()) &&
      !r.close_note().empty()) {
    v.Add("close_note", "must be empty unless the stage is CLOSED_WON or CLOSED_LOST");
  }
  v.MaxBytes("competitor", r.competitor(), wl::kName);
}

// ---- messages ---------------------------------------------------------------------------------

void Validate(const v1::SendMessageRequest& r, Validator& v) {
  Common(r.request_id(), r.actor(), r.has_actor(), v);
  bool channel_ok = v.Enum("channel", r.channel(), ev::Channel_IsValid, true);
  v.Enum("purpose", r.purpose(), ev::MessagePurpose_IsValid, false);
  if (channel_ok && r.channel() == ev::CHANNEL_EMAIL) {
    v.Required("subject", r.subject(), wl::kSubject);
  } else {
    v.MaxBytes("subject", r.subject(), wl::kSubject);
  }
  v.Required("body", r.body(), wl::kBody);
  v.Offers("offers", r.offers());
  v.OptionalId("opportunity_id", r.opportunity_id());
  switch (r.recipient_case()) {
    case v1::SendMessageRequest::RECIPIENT_NOT_SET:
      v.Add("recipient", "exactly one of contact_id or person is required");
      break;
    case v1::SendMessageRequest::kContactId:
      v.RequiredId("contact_id", r.contact_id());
      break;
    case v1::SendMessageRequest::kPerson:
      ValidateCustomerRef("person", r.person(), v);
      if (Blank(r.person().person().email()) && Blank(r.person().person().phone())) {
        v.Add("person.person.email", "email or phone is required");
      }
      break;
  }
}

}  // namespace concord::sales
