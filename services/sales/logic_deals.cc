// Quotes (issue, revise, withdraw, get, list) and opportunities (create, stage, get, list).
#include <ctime>
#include <map>
#include <tuple>

#include <absl/strings/numbers.h>

#include "services/sales/logic_internal.h"
#include "services/sales/quote_math.h"

namespace concord::sales {
namespace {

constexpr std::string_view kLinePrefix = "line-";

int LineNumber(const std::string& line_id) {
  int n = 0;
  if (line_id.rfind(kLinePrefix, 0) != 0 || !absl::SimpleAtoi(line_id.substr(kLinePrefix.size()), &n)) return 0;
  return n;
}

// Copies the requested lines into the quote. A line keeps the id of a line of the current
// revision when it names it (line_id) or, failing that, when it has the same product and
// billing period; other lines get new ids ("line-<n>", never reused within a quote).
void SetLines(ev::Quote& q, const google::protobuf::RepeatedPtrField<ev::QuoteLineItem>& lines) {
  std::vector<ev::QuoteLineItem> previous(q.line_items().begin(), q.line_items().end());
  int next = 0;
  for (const auto& l : previous) next = std::max(next, LineNumber(l.line_id()));
  std::vector<bool> used(previous.size(), false);
  auto claim = [&](auto match) -> std::string {
    for (size_t i = 0; i < previous.size(); ++i) {
      if (!used[i] && match(previous[i])) {
        used[i] = true;
        return previous[i].line_id();
      }
    }
    return "";
  };
  q.clear_line_items();
  for (const auto& in : lines) {
    ev::QuoteLineItem* l = q.add_line_items();
    *l = in;
    l->clear_net_amount();
    std::string id;
    if (!in.line_id().empty()) id = claim([&](const ev::QuoteLineItem& p) { return p.line_id() == in.line_id(); });
    if (id.empty()) {
      id = claim([&](const ev::QuoteLineItem& p) {
        return p.product() == in.product() && p.billing_period() == in.billing_period();
      });
    }
    if (id.empty()) id = Cat(kLinePrefix, ++next);
    l->set_line_id(id);
  }
}

void ProductIndexes(const ev::Quote& q, const std::function<void(const std::string&)>& add) {
  std::set<std::string> products;
  for (const auto& l : q.line_items()) products.insert(l.product());
  for (const auto& p : products) add(layout::By(layout::kQuote, "product", p));
}

ev::Date Today(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  ev::Date d;
  d.set_year(tm.tm_year + 1900);
  d.set_month(tm.tm_mon + 1);
  d.set_day(tm.tm_mday);
  return d;
}

auto DateTuple(const ev::Date& d) { return std::make_tuple(d.year(), d.month(), d.day()); }

}  // namespace

// ---- quotes ---------------------------------------------------------------------------------

absl::StatusOr<v1::IssueQuoteResponse> SalesLogic::IssueQuote(const v1::IssueQuoteRequest& r, const Deadline& d) {
  Clock start;
  Validator v;
  Validate(r, start.ts, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("quote");
  auto res = writes::VersionedWrite<ev::Quote, v1::IssueQuoteResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kQuote),
       .entity_id = id, .create = true, .deadline = d},
      [&](ev::Quote& q, uint64_t, Changes<v1::IssueQuoteResponse>& out) -> absl::Status {
        Clock now;
        Party party;
        auto acc = Load<ev::Account>(layout::kAccount, r.account_id());
        if (!acc.ok()) return acc.status();
        if (auto s = CheckAccountActive(acc->entity, "account_id"); !s.ok()) return s;
        party.account = std::move(*acc);
        if (!r.contact_id().empty()) {
          auto c = Load<ev::Contact>(layout::kContact, r.contact_id());
          if (!c.ok()) return c.status();
          if (auto s = CheckContactActive(c->entity, "contact_id"); !s.ok()) return s;
          if (!c->entity.account_id().empty() && c->entity.account_id() != r.account_id()) {
            return absl::InvalidArgumentError(Cat("contact_id: contact '", r.contact_id(), "' belongs to account '",
                                                  c->entity.account_id(), "', not '", r.account_id(), "'"));
          }
          party.contact = std::move(*c);
        }
        if (!r.opportunity_id().empty()) {
          auto o = Load<ev::Opportunity>(layout::kOpportunity, r.opportunity_id());
          if (!o.ok()) return o.status();
          if (o->entity.account_id() != r.account_id()) {
            return absl::InvalidArgumentError(Cat("opportunity_id: opportunity '", r.opportunity_id(),
                                                  "' belongs to account '", o->entity.account_id(), "', not '",
                                                  r.account_id(), "'"));
          }
          if (auto s = CheckCanChangeOpportunity(o->entity); !s.ok()) return s;
        }
        auto ref = ResolveCustomer(party, nullptr, "account_id");
        if (!ref.ok()) return ref.status();
        q.set_id(id);
        q.set_revision(1);
        q.set_status(ev::QUOTE_STATUS_ISSUED);
        q.set_account_id(r.account_id());
        q.set_contact_id(r.contact_id());
        q.set_opportunity_id(r.opportunity_id());
        *q.mutable_customer() = *ref;
        *q.mutable_owner() = SalesActor(r.has_owner() ? r.owner() : r.actor());
        q.set_currency_code(r.currency_code());
        SetLines(q, r.line_items());
        if (r.has_terms()) *q.mutable_terms() = r.terms();
        *q.mutable_valid_from() = r.has_valid_from() ? r.valid_from() : now.ts;
        *q.mutable_valid_until() = r.valid_until();
        q.set_notes(r.notes());
        *q.mutable_issued_at() = now.ts;
        *q.mutable_issued_by() = SalesActor(r.actor());
        *q.mutable_updated_at() = now.ts;
        if (auto s = ComputeQuoteTotals(&q); !s.ok()) return s;
        out.index.push_back(Index(layout::All(layout::kQuote), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kQuote, "account", q.account_id()), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kQuote, "key", ref->customer_key()), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kQuote, "owner", q.owner().id()), now.ts, id));
        if (!q.opportunity_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kQuote, "opportunity", q.opportunity_id()), now.ts, id));
        }
        ProductIndexes(q, [&](const std::string& name) { out.index.push_back(Index(name, now.ts, id)); });
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = *ref,
                                        .aggregate_type = ev::AGGREGATE_TYPE_QUOTE, .aggregate_id = id,
                                        .aggregate_version = q.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_quote_issued()->mutable_quote() = q; }));
        *out.response.mutable_quote() = q;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::ReviseQuoteResponse> SalesLogic::ReviseQuote(const v1::ReviseQuoteRequest& r, const Deadline& d) {
  Clock start;
  Validator v;
  Validate(r, start.ts, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Quote, v1::ReviseQuoteResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kQuote),
       .entity_id = r.quote_id(), .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Quote& q, uint64_t, Changes<v1::ReviseQuoteResponse>& out) -> absl::Status {
        Clock now;
        if (auto s = CheckCanReviseQuote(q, now.ts); !s.ok()) return s;
        Validator currency;
        for (int i = 0; i < r.line_items_size(); ++i) {
          for (auto [name, m] : {std::pair{"list_price", &r.line_items(i).list_price()},
                                 std::pair{"unit_price", &r.line_items(i).unit_price()}}) {
            if (m->currency_code() != q.currency_code()) {
              currency.Add(Cat(Validator::Index("line_items", i), ".", name, ".currency_code"),
                           Cat("must be the quote's currency ", q.currency_code(), ", got ", m->currency_code()));
            }
          }
        }
        if (!currency.ok()) return currency.ToStatus();
        ev::Quote before = q;
        const uint32_t previous_revision = q.revision();
        SetLines(q, r.line_items());
        if (r.has_terms()) {
          *q.mutable_terms() = r.terms();
        } else {
          q.clear_terms();
        }
        *q.mutable_valid_from() = r.has_valid_from() ? r.valid_from() : now.ts;
        *q.mutable_valid_until() = r.valid_until();
        q.set_notes(r.notes());
        q.set_revision(previous_revision + 1);
        *q.mutable_revised_at() = now.ts;
        q.set_revision_note(r.revision_note());
        *q.mutable_updated_at() = now.ts;
        if (auto s = ComputeQuoteTotals(&q); !s.ok()) return s;
        auto changed =
            writes::ChangedFields(before, q, {"version", "updated_at", "revision", "revised_at", "revision_note"}, {"terms"});
        ProductIndexes(q, [&](const std::string& name) { out.index.push_back(Index(name, q.issued_at(), q.id())); });
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = q.customer(),
                                        .aggregate_type = ev::AGGREGATE_TYPE_QUOTE, .aggregate_id = q.id(),
                                        .aggregate_version = q.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_quote_revised();
                                         *p->mutable_quote() = q;
                                         p->set_previous_revision(previous_revision);
                                         for (auto& f : changed) p->add_changed_fields(f);
                                       }));
        *out.response.mutable_quote() = q;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::WithdrawQuoteResponse> SalesLogic::WithdrawQuote(const v1::WithdrawQuoteRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Quote, v1::WithdrawQuoteResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kQuote),
       .entity_id = r.quote_id(), .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Quote& q, uint64_t, Changes<v1::WithdrawQuoteResponse>& out) -> absl::Status {
        Clock now;
        if (auto s = CheckCanWithdrawQuote(q, now.ts); !s.ok()) return s;
        q.set_status(ev::QUOTE_STATUS_WITHDRAWN);
        *q.mutable_withdrawn_at() = now.ts;
        q.set_withdraw_reason(r.reason());
        *q.mutable_updated_at() = now.ts;
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = q.customer(),
                                        .aggregate_type = ev::AGGREGATE_TYPE_QUOTE, .aggregate_id = q.id(),
                                        .aggregate_version = q.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_quote_withdrawn()->mutable_quote() = q; }));
        *out.response.mutable_quote() = q;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<ev::Quote> SalesLogic::GetQuote(const v1::GetQuoteRequest& r, const Deadline& d) {
  auto q = GetRecord<ev::Quote>("quote_id", r.quote_id(), layout::kQuote, d);
  if (q.ok()) ApplyEffectiveQuoteStatus(&*q, Clock().ts);
  return q;
}

absl::StatusOr<v1::ListQuotesResponse> SalesLogic::ListQuotes(const v1::ListQuotesRequest& r, const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  FilterString(v, "customer_key", r.customer_key());
  v.OptionalId("product", r.product());
  v.OptionalId("owner_id", r.owner_id());
  FilterEnums(v, "statuses", r.statuses(), ev::QuoteStatus_IsValid);
  if (!v.ok()) return v.ToStatus();
  const Timestamp now = Clock().ts;
  std::string index = PickIndex(layout::kQuote, {{"opportunity", r.opportunity_id()},
                                                 {"account", r.account_id()},
                                                 {"key", r.customer_key()},
                                                 {"product", r.product()},
                                                 {"owner", r.owner_id()}});
  auto page = writes::ListEntities<ev::Quote>(
      store_, layout::kQuote,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Quote& q) {
        if (!r.account_id().empty() && q.account_id() != r.account_id()) return false;
        if (!r.opportunity_id().empty() && q.opportunity_id() != r.opportunity_id()) return false;
        if (!r.customer_key().empty() && q.customer().customer_key() != r.customer_key()) return false;
        if (!r.owner_id().empty() && q.owner().id() != r.owner_id()) return false;
        if (!r.product().empty() && std::none_of(q.line_items().begin(), q.line_items().end(),
                                                 [&](const auto& l) { return l.product() == r.product(); })) {
          return false;
        }
        return AnyOf(r.statuses(), EffectiveQuoteStatus(q, now));
      });
  if (!page.ok()) return page.status();
  v1::ListQuotesResponse out;
  for (auto& q : page->items) {
    ApplyEffectiveQuoteStatus(&q, now);
    *out.add_quotes() = std::move(q);
  }
  out.set_next_page_token(page->next_page_token);
  return out;
}

// ---- opportunities -----------------------------------------------------------------------------

absl::StatusOr<v1::CreateOpportunityResponse> SalesLogic::CreateOpportunity(const v1::CreateOpportunityRequest& r,
                                                                            const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("opportunity");
  auto res = writes::VersionedWrite<ev::Opportunity, v1::CreateOpportunityResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r),
       .entity_type = std::string(layout::kOpportunity), .entity_id = id, .create = true, .deadline = d},
      [&](ev::Opportunity& o, uint64_t, Changes<v1::CreateOpportunityResponse>& out) -> absl::Status {
        Clock now;
        Party party;
        auto acc = Load<ev::Account>(layout::kAccount, r.account_id());
        if (!acc.ok()) return acc.status();
        if (auto s = CheckAccountActive(acc->entity, "account_id"); !s.ok()) return s;
        party.account = std::move(*acc);
        if (!r.primary_contact_id().empty()) {
          auto c = Load<ev::Contact>(layout::kContact, r.primary_contact_id());
          if (!c.ok()) return c.status();
          if (auto s = CheckContactActive(c->entity, "primary_contact_id"); !s.ok()) return s;
          if (!c->entity.account_id().empty() && c->entity.account_id() != r.account_id()) {
            return absl::InvalidArgumentError(Cat("primary_contact_id: contact '", r.primary_contact_id(),
                                                  "' belongs to account '", c->entity.account_id(), "', not '",
                                                  r.account_id(), "'"));
          }
          party.contact = std::move(*c);
        }
        std::string lead_id = r.source_lead_id();
        if (!r.handoff_id().empty()) {
          auto h = Load<ev::Handoff>(layout::kHandoff, r.handoff_id());
          if (!h.ok()) return h.status();
          if (lead_id.empty()) lead_id = h->entity.lead_id();
        }
        auto ref = ResolveCustomer(party, nullptr, "account_id");
        if (!ref.ok()) return ref.status();
        if (!lead_id.empty()) ref->set_lead_id(lead_id);
        o.set_id(id);
        o.set_name(r.name());
        o.set_account_id(r.account_id());
        *o.mutable_customer() = *ref;
        o.set_primary_contact_id(r.primary_contact_id());
        *o.mutable_owner() = SalesActor(r.has_owner() ? r.owner() : r.actor());
        o.set_stage(r.stage() != ev::OPPORTUNITY_STAGE_UNSPECIFIED ? r.stage() : ev::OPPORTUNITY_STAGE_DISCOVERY);
        if (r.has_amount()) *o.mutable_amount() = r.amount();
        if (r.has_close_date()) *o.mutable_close_date() = r.close_date();
        o.set_handoff_id(r.handoff_id());
        o.set_source_lead_id(lead_id);
        *o.mutable_stage_changed_at() = now.ts;
        *o.mutable_created_at() = now.ts;
        *o.mutable_updated_at() = now.ts;
        *o.mutable_created_by() = SalesActor(r.actor());
        out.index.push_back(Index(layout::All(layout::kOpportunity), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kOpportunity, "account", o.account_id()), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kOpportunity, "key", ref->customer_key()), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kOpportunity, "owner", o.owner().id()), now.ts, id));
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = *ref,
                                        .aggregate_type = ev::AGGREGATE_TYPE_OPPORTUNITY, .aggregate_id = id,
                                        .aggregate_version = o.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_opportunity_created()->mutable_opportunity() = o; }));
        *out.response.mutable_opportunity() = o;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::UpdateOpportunityStageResponse> SalesLogic::UpdateOpportunityStage(
    const v1::UpdateOpportunityStageRequest& r, const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Opportunity, v1::UpdateOpportunityStageResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r),
       .entity_type = std::string(layout::kOpportunity), .entity_id = r.opportunity_id(),
       .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Opportunity& o, uint64_t, Changes<v1::UpdateOpportunityStageResponse>& out) -> absl::Status {
        if (auto s = CheckCanChangeOpportunity(o); !s.ok()) return s;
        Clock now;
        ev::Opportunity before = o;
        const auto previous_stage = o.stage();
        if (r.stage() != o.stage()) {
          o.set_stage(r.stage());
          *o.mutable_stage_changed_at() = now.ts;
        }
        if (r.has_amount()) *o.mutable_amount() = r.amount();
        if (r.has_close_date()) *o.mutable_close_date() = r.close_date();
        if (!r.competitor().empty()) o.set_competitor(r.competitor());
        if (IsClosedStage(r.stage())) {
          o.set_close_reason(r.close_reason());
          o.set_close_note(r.close_note());
          *o.mutable_closed_at() = now.ts;
          if (!r.has_close_date()) *o.mutable_close_date() = Today(now.at);  // the actual close date
        }
        *o.mutable_updated_at() = now.ts;
        auto changed = writes::ChangedFields(before, o);
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = o.customer(),
                                        .aggregate_type = ev::AGGREGATE_TYPE_OPPORTUNITY, .aggregate_id = o.id(),
                                        .aggregate_version = o.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_opportunity_stage_changed();
                                         *p->mutable_opportunity() = o;
                                         p->set_previous_stage(previous_stage);
                                         for (auto& f : changed) p->add_changed_fields(f);
                                       }));
        *out.response.mutable_opportunity() = o;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<ev::Opportunity> SalesLogic::GetOpportunity(const v1::GetOpportunityRequest& r, const Deadline& d) {
  return GetRecord<ev::Opportunity>("opportunity_id", r.opportunity_id(), layout::kOpportunity, d);
}

absl::StatusOr<v1::ListOpportunitiesResponse> SalesLogic::ListOpportunities(const v1::ListOpportunitiesRequest& r,
                                                                            const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("account_id", r.account_id());
  FilterString(v, "customer_key", r.customer_key());
  v.OptionalId("owner_id", r.owner_id());
  FilterEnums(v, "stages", r.stages(), ev::OpportunityStage_IsValid);
  bool after_ok = !r.has_close_after() || v.Date("close_after", r.close_after());
  bool before_ok = !r.has_close_before() || v.Date("close_before", r.close_before());
  if (after_ok && before_ok && r.has_close_after() && r.has_close_before() &&
      !(DateTuple(r.close_after()) < DateTuple(r.close_before()))) {
    v.Add("close_before", "must be after close_after");
  }
  if (!v.ok()) return v.ToStatus();
  std::string index = PickIndex(layout::kOpportunity,
                                {{"account", r.account_id()}, {"key", r.customer_key()}, {"owner", r.owner_id()}});
  auto page = writes::ListEntities<ev::Opportunity>(
      store_, layout::kOpportunity,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Opportunity& o) {
        if (!r.account_id().empty() && o.account_id() != r.account_id()) return false;
        if (!r.customer_key().empty() && o.customer().customer_key() != r.customer_key()) return false;
        if (!r.owner_id().empty() && o.owner().id() != r.owner_id()) return false;
        if (r.has_close_after() || r.has_close_before()) {
          if (!o.has_close_date()) return false;
          if (r.has_close_after() && DateTuple(o.close_date()) < DateTuple(r.close_after())) return false;
          if (r.has_close_before() && !(DateTuple(o.close_date()) < DateTuple(r.close_before()))) return false;
        }
        return AnyOf(r.stages(), o.stage());
      });
  if (!page.ok()) return page.status();
  v1::ListOpportunitiesResponse out;
  for (auto& o : page->items) *out.add_opportunities() = std::move(o);
  out.set_next_page_token(page->next_page_token);
  return out;
}

}  // namespace concord::sales
