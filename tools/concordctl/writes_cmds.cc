// concordctl marketing capture-lead|handoff|send, sales create-account|accept-handoff|quote|log-call.
// Every write sends a fresh UUID request_id (or --request-id to retry one) and the actor.
#include <google/protobuf/util/time_util.h>

#include "concord/marketing/v1/marketing.grpc.pb.h"
#include "concord/sales/v1/sales.grpc.pb.h"
#include "tools/concordctl/commands.h"
#include "tools/concordctl/findings_view.h"
#include "tools/concordctl/format.h"

namespace concord::ctl {
namespace mk = concord::marketing::v1;
namespace sl = concord::sales::v1;
namespace ev1 = concord::events::v1;
using google::protobuf::util::TimeUtil;

namespace {

struct PersonOpts {
  std::string first_name, last_name, full_name, email, phone, company, website, title;
};

void AddPersonOptions(CLI::App* sub, PersonOpts& p) {
  sub->add_option("--email", p.email, "Email");
  sub->add_option("--phone", p.phone, "Phone");
  sub->add_option("--first-name", p.first_name, "First name");
  sub->add_option("--last-name", p.last_name, "Last name");
  sub->add_option("--full-name", p.full_name, "Full name, when first/last are not known separately");
  sub->add_option("--company", p.company, "Company name");
  sub->add_option("--website", p.website, "Company website or domain");
  sub->add_option("--title", p.title, "Job title");
}

ev1::PersonIdentity Person(const PersonOpts& p) {
  ev1::PersonIdentity x;
  x.set_first_name(p.first_name);
  x.set_last_name(p.last_name);
  x.set_full_name(p.full_name);
  x.set_email(p.email);
  x.set_phone(p.phone);
  x.set_company(p.company);
  x.set_website(p.website);
  x.set_title(p.title);
  return x;
}

bool Empty(const PersonOpts& p) { return p.email.empty() && p.phone.empty(); }

// --request-id and --actor on every write.
struct WriteOpts {
  std::string request_id, actor;
};

void AddWriteOptions(CLI::App* sub, WriteOpts& w) {
  sub->add_option("--request-id", w.request_id, "Idempotency key (default: a fresh UUID; reuse it to retry safely)");
  sub->add_option("--actor", w.actor, "Who does it (default: the global --actor / CONCORD_ACTOR)");
}

template <typename Req>
void Stamp(Context& ctx, const WriteOpts& w, Req& req) {
  *req.mutable_actor() = ctx.WriteActor(w.actor);
  req.set_request_id(w.request_id.empty() ? Context::NewRequestId() : w.request_id);
}

ev1::Money Money(const std::string& flag, const std::string& currency, const std::string& text) {
  auto m = ParseMoney(text);
  if (!m) throw UsageError(flag + ": '" + text + "' is not an amount (e.g. 49 or 44.10)");
  ev1::Money x;
  x.set_currency_code(currency);
  x.set_units(m->units);
  x.set_nanos(m->nanos);
  return x;
}

template <typename E>
E Enum(const std::string& flag, const google::protobuf::EnumDescriptor* d, const std::string& prefix, const std::string& text) {
  auto v = ParseEnum(d, prefix, text);
  if (!v) throw UsageError(flag + ": unknown value '" + text + "' (one of: " + EnumChoices(d, prefix) + ")");
  return static_cast<E>(*v);
}

std::string LeadStatus(int s) { return ShortEnumName(ev1::LeadStatus_descriptor(), "LEAD_STATUS_", s); }

void PrintLead(Context& ctx, const ev1::Lead& l, const std::string& event_id) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"lead", l.id()},
      {"customer", l.customer_key()},
      {"status", LeadStatus(l.status())},
      {"stage", ShortEnumName(ev1::LifecycleStage_descriptor(), "LIFECYCLE_STAGE_", l.lifecycle_stage())},
      {"email", l.person().email()},
      {"company", l.person().company()},
      {"version", std::to_string(l.version())}};
  if (!l.handoff().handoff_id().empty()) kv.push_back({"hand-off", l.handoff().handoff_id()});
  kv.push_back({"event", event_id});
  ctx.out() << KeyValues(kv);
}

}  // namespace

void AddMarketingCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* marketing = app.add_subcommand("marketing", "Marketing writes: capture leads, hand off, send messages");
  marketing->require_subcommand(1);

  {
    struct Opts {
      WriteOpts w;
      PersonOpts p;
      std::string industry, region, country, campaign, channel;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = marketing->add_subcommand("capture-lead", "Capture a lead (email or phone required)");
    AddWriteOptions(sub, o->w);
    AddPersonOptions(sub, o->p);
    sub->add_option("--industry", o->industry, "Industry");
    sub->add_option("--region", o->region, "Region, e.g. NA");
    sub->add_option("--country", o->country, "ISO 3166-1 alpha-2 country");
    sub->add_option("--campaign", o->campaign, "Source campaign id");
    sub->add_option("--channel", o->channel, "Source channel: " + EnumChoices(ev1::Channel_descriptor(), "CHANNEL_"));
    OnRun(sub, action, [&ctx, o] {
      if (Empty(o->p)) throw UsageError("capture-lead: --email or --phone is required");
      mk::CaptureLeadRequest req;
      Stamp(ctx, o->w, req);
      *req.mutable_person() = Person(o->p);
      req.set_industry(o->industry);
      req.set_region(o->region);
      req.set_country(o->country);
      req.set_source_campaign_id(o->campaign);
      if (!o->channel.empty()) req.set_source_channel(Enum<ev1::Channel>("--channel", ev1::Channel_descriptor(), "CHANNEL_", o->channel));
      mk::CaptureLeadResponse resp;
      auto c = ctx.Call();
      Context::Check(mk::MarketingService::NewStub(ctx.MarketingChannel())->CaptureLead(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      PrintLead(ctx, resp.lead(), resp.event_id());
    });
  }

  {
    struct Opts {
      WriteOpts w;
      std::string lead, suggested_owner, note;
      bool qualify = false;
      uint64_t expected_version = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = marketing->add_subcommand("handoff", "Hand an MQL to sales (--qualify first qualifies a NEW lead)");
    sub->add_option("lead", o->lead, "Lead id")->required();
    AddWriteOptions(sub, o->w);
    sub->add_flag("--qualify", o->qualify, "Qualify the lead (NEW or RECYCLED -> MQL) before handing it off");
    sub->add_option("--suggested-owner", o->suggested_owner, "Sales rep id to suggest");
    sub->add_option("--note", o->note, "Note for sales");
    sub->add_option("--expected-version", o->expected_version, "Refuse (ABORTED) unless the lead is at this version");
    OnRun(sub, action, [&ctx, o] {
      auto stub = mk::MarketingService::NewStub(ctx.MarketingChannel());
      if (o->qualify) {
        mk::QualifyLeadRequest q;
        *q.mutable_actor() = ctx.WriteActor(o->w.actor);
        q.set_request_id(Context::NewRequestId());
        q.set_lead_id(o->lead);
        q.set_expected_version(o->expected_version);
        mk::QualifyLeadResponse qr;
        auto c = ctx.Call();
        Context::Check(stub->QualifyLead(c.get(), q, &qr));
      }
      mk::HandOffLeadRequest req;
      Stamp(ctx, o->w, req);
      req.set_lead_id(o->lead);
      if (!o->qualify) req.set_expected_version(o->expected_version);
      if (!o->suggested_owner.empty()) {
        req.mutable_suggested_owner()->set_id(o->suggested_owner);
        req.mutable_suggested_owner()->set_team(ev1::TEAM_SALES);
      }
      req.set_note(o->note);
      mk::HandOffLeadResponse resp;
      auto c = ctx.Call();
      Context::Check(stub->HandOffLead(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      PrintLead(ctx, resp.lead(), resp.event_id());
    });
  }

  {
    struct Opts {
      WriteOpts w;
      std::string lead, email, subject, body, channel = "email", purpose, campaign, offer_product, offer_code, offer_discount;
      int offer_trial_days = -1;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = marketing->add_subcommand("send", "Send a message to a lead (--lead) or any person (--email)");
    AddWriteOptions(sub, o->w);
    auto* lead = sub->add_option("--lead", o->lead, "Recipient lead id");
    sub->add_option("--email", o->email, "Recipient email (a person marketing has no lead for)")->excludes(lead);
    sub->add_option("--subject", o->subject, "Subject (required for email)");
    sub->add_option("--body", o->body, "Body text")->required();
    sub->add_option("--channel", o->channel, "Channel: " + EnumChoices(ev1::Channel_descriptor(), "CHANNEL_"))->capture_default_str();
    sub->add_option("--purpose", o->purpose, "Purpose: " + EnumChoices(ev1::MessagePurpose_descriptor(), "MESSAGE_PURPOSE_"));
    sub->add_option("--campaign", o->campaign, "Campaign id (must be ACTIVE)");
    sub->add_option("--offer-product", o->offer_product, "Structured offer: catalog product id");
    sub->add_option("--offer-code", o->offer_code, "Structured offer: approved offer code");
    sub->add_option("--offer-discount", o->offer_discount, "Structured offer: discount in percent");
    sub->add_option("--offer-trial-days", o->offer_trial_days, "Structured offer: free trial days");
    OnRun(sub, action, [&ctx, o] {
      mk::SendMessageRequest req;
      Stamp(ctx, o->w, req);
      if (!o->lead.empty()) {
        req.set_lead_id(o->lead);
      } else if (!o->email.empty()) {
        req.mutable_person()->mutable_person()->set_email(o->email);
      } else {
        throw UsageError("send: --lead or --email is required");
      }
      req.set_channel(Enum<ev1::Channel>("--channel", ev1::Channel_descriptor(), "CHANNEL_", o->channel));
      if (!o->purpose.empty()) {
        req.set_purpose(Enum<ev1::MessagePurpose>("--purpose", ev1::MessagePurpose_descriptor(), "MESSAGE_PURPOSE_", o->purpose));
      }
      req.set_subject(o->subject);
      req.set_body(o->body);
      req.set_campaign_id(o->campaign);
      if (!o->offer_product.empty()) {
        auto* off = req.add_offers();
        off->set_product(o->offer_product);
        off->set_offer_code(o->offer_code);
        if (!o->offer_discount.empty()) {
          try {
            off->set_discount_percent(std::stod(o->offer_discount));
          } catch (const std::exception&) {
            throw UsageError("--offer-discount: '" + o->offer_discount + "' is not a number");
          }
        }
        if (o->offer_trial_days >= 0) off->set_trial_days(static_cast<uint32_t>(o->offer_trial_days));
      } else if (!o->offer_discount.empty() || !o->offer_code.empty() || o->offer_trial_days >= 0) {
        throw UsageError("send: an offer needs --offer-product");
      }
      mk::SendMessageResponse resp;
      auto c = ctx.Call();
      Context::Check(mk::MarketingService::NewStub(ctx.MarketingChannel())->SendMessage(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      std::string events;
      for (const auto& e : resp.event_ids()) events += (events.empty() ? "" : ", ") + e;
      ctx.out() << KeyValues({{"message", resp.message().id()},
                              {"recipients", std::to_string(resp.message().recipient_count())},
                              {"customer", resp.message().person().customer_key()},
                              {"subject", Truncate(resp.message().subject(), 80)},
                              {"events", events}});
    });
  }
}

void AddSalesCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* sales = app.add_subcommand("sales", "Sales writes: accounts, hand-off acceptance, quotes, calls");
  sales->require_subcommand(1);

  {
    struct Opts {
      WriteOpts w;
      std::string name, website, industry, region, country, owner, stage;
      unsigned employees = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = sales->add_subcommand("create-account", "Create an account");
    AddWriteOptions(sub, o->w);
    sub->add_option("--name", o->name, "Account name")->required();
    sub->add_option("--website", o->website, "Company website or domain");
    sub->add_option("--industry", o->industry, "Industry");
    sub->add_option("--region", o->region, "Region, e.g. NA");
    sub->add_option("--country", o->country, "ISO 3166-1 alpha-2 country");
    sub->add_option("--employees", o->employees, "Employee count");
    sub->add_option("--owner", o->owner, "Owning rep id (default: the actor)");
    sub->add_option("--stage", o->stage, "Lifecycle stage: " + EnumChoices(ev1::LifecycleStage_descriptor(), "LIFECYCLE_STAGE_"));
    OnRun(sub, action, [&ctx, o] {
      sl::CreateAccountRequest req;
      Stamp(ctx, o->w, req);
      req.set_name(o->name);
      req.set_website(o->website);
      req.set_industry(o->industry);
      req.set_region(o->region);
      req.set_country(o->country);
      req.set_employee_count(o->employees);
      if (!o->owner.empty()) req.mutable_owner()->set_id(o->owner);
      if (!o->stage.empty()) {
        req.set_lifecycle_stage(Enum<ev1::LifecycleStage>("--stage", ev1::LifecycleStage_descriptor(), "LIFECYCLE_STAGE_", o->stage));
      }
      sl::CreateAccountResponse resp;
      auto c = ctx.Call();
      Context::Check(sl::SalesService::NewStub(ctx.SalesChannel())->CreateAccount(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      const auto& a = resp.account();
      ctx.out() << KeyValues({{"account", a.id()},
                              {"customer", a.customer_key()},
                              {"name", a.name()},
                              {"domain", a.domain()},
                              {"owner", a.owner().id()},
                              {"version", std::to_string(a.version())},
                              {"event", resp.event_id()}});
    });
  }

  {
    struct Opts {
      WriteOpts w;
      PersonOpts p;
      std::string handoff, lead, account, contact, owner, note;
      uint64_t expected_version = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = sales->add_subcommand(
        "accept-handoff",
        "Accept a marketing hand-off. The person's identity is read from marketing (GetLead) unless given with --email etc.");
    AddWriteOptions(sub, o->w);
    sub->add_option("handoff", o->handoff, "Hand-off id (from 'marketing handoff')")->required();
    sub->add_option("--lead", o->lead, "Marketing lead id")->required();
    AddPersonOptions(sub, o->p);
    sub->add_option("--account", o->account, "Link to this account");
    sub->add_option("--contact", o->contact, "Link to this contact");
    sub->add_option("--owner", o->owner, "Rep taking it (default: the actor)");
    sub->add_option("--note", o->note, "Note");
    sub->add_option("--expected-version", o->expected_version, "0 for a hand-off sales has not seen before");
    OnRun(sub, action, [&ctx, o] {
      sl::AcceptHandoffRequest req;
      Stamp(ctx, o->w, req);
      req.set_handoff_id(o->handoff);
      req.set_lead_id(o->lead);
      if (!Empty(o->p)) {
        *req.mutable_customer()->mutable_person() = Person(o->p);
      } else {
        // As marketing recorded the person.
        mk::GetLeadRequest g;
        g.set_lead_id(o->lead);
        ev1::Lead lead;
        auto c = ctx.Call();
        Context::Check(mk::MarketingService::NewStub(ctx.MarketingChannel())->GetLead(c.get(), g, &lead));
        *req.mutable_customer()->mutable_person() = lead.person();
        req.mutable_customer()->set_lead_id(lead.id());
      }
      req.set_account_id(o->account);
      req.set_contact_id(o->contact);
      if (!o->owner.empty()) req.mutable_owner()->set_id(o->owner);
      req.set_note(o->note);
      req.set_expected_version(o->expected_version);
      sl::AcceptHandoffResponse resp;
      auto c = ctx.Call();
      Context::Check(sl::SalesService::NewStub(ctx.SalesChannel())->AcceptHandoff(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      const auto& h = resp.handoff();
      ctx.out() << KeyValues({{"hand-off", h.id()},
                              {"lead", h.lead_id()},
                              {"customer", h.customer().customer_key()},
                              {"status", ShortEnumName(ev1::HandoffStatus_descriptor(), "HANDOFF_STATUS_", h.status())},
                              {"owner", h.owner().id()},
                              {"event", resp.event_id()}});
    });
  }

  {
    struct Opts {
      WriteOpts w;
      std::string account, contact, opportunity, product, currency = "USD", list_price, unit_price, valid_for = "14d", notes,
                                                             billing;
      unsigned quantity = 1, term_months = 0;
      double discount = -1;
      int trial_days = -1;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = sales->add_subcommand("quote", "Issue a one-line quote");
    AddWriteOptions(sub, o->w);
    sub->add_option("--account", o->account, "Account id")->required();
    sub->add_option("--contact", o->contact, "Contact id");
    sub->add_option("--opportunity", o->opportunity, "Opportunity id");
    sub->add_option("--product", o->product, "Catalog product id, e.g. concord-pro")->required();
    sub->add_option("--currency", o->currency, "ISO 4217 currency")->capture_default_str();
    sub->add_option("--list-price", o->list_price, "Price-book price per unit, e.g. 49")->required();
    sub->add_option("--unit-price", o->unit_price, "Offered price per unit before the discount (default: the list price)");
    sub->add_option("--quantity", o->quantity, "Units")->capture_default_str();
    sub->add_option("--discount", o->discount, "Line discount in percent")->check(CLI::Range(0.0, 100.0));
    sub->add_option("--billing", o->billing, "Billing period: " + EnumChoices(ev1::BillingPeriod_descriptor(), "BILLING_PERIOD_"));
    sub->add_option("--term-months", o->term_months, "Contract term in months");
    sub->add_option("--trial-days", o->trial_days, "Free trial in days");
    sub->add_option("--valid-for", o->valid_for, "Validity from now, e.g. 14d")->capture_default_str();
    sub->add_option("--notes", o->notes, "Notes shown to the customer");
    OnRun(sub, action, [&ctx, o] {
      sl::IssueQuoteRequest req;
      Stamp(ctx, o->w, req);
      req.set_account_id(o->account);
      req.set_contact_id(o->contact);
      req.set_opportunity_id(o->opportunity);
      req.set_currency_code(o->currency);
      auto* line = req.add_line_items();
      line->set_product(o->product);
      *line->mutable_list_price() = Money("--list-price", o->currency, o->list_price);
      *line->mutable_unit_price() = Money("--unit-price", o->currency, o->unit_price.empty() ? o->list_price : o->unit_price);
      line->set_quantity(o->quantity);
      if (o->discount >= 0) line->set_discount_percent(o->discount);
      if (!o->billing.empty()) {
        line->set_billing_period(Enum<ev1::BillingPeriod>("--billing", ev1::BillingPeriod_descriptor(), "BILLING_PERIOD_", o->billing));
      }
      if (o->term_months) req.mutable_terms()->set_contract_term_months(o->term_months);
      if (o->trial_days >= 0) req.mutable_terms()->set_trial_days(static_cast<uint32_t>(o->trial_days));
      auto valid = ParseDuration(o->valid_for);
      if (!valid || valid->count() <= 0) throw UsageError("--valid-for: '" + o->valid_for + "' is not a duration (e.g. 14d)");
      *req.mutable_valid_until() = TimeUtil::GetCurrentTime() + TimeUtil::MillisecondsToDuration(valid->count());
      req.set_notes(o->notes);
      sl::IssueQuoteResponse resp;
      auto c = ctx.Call();
      Context::Check(sl::SalesService::NewStub(ctx.SalesChannel())->IssueQuote(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      const auto& q = resp.quote();
      ctx.out() << KeyValues({{"quote", q.id()},
                              {"customer", q.customer().customer_key()},
                              {"total", FormatMoney(q.total().currency_code(), q.total().units(), q.total().nanos())},
                              {"list total", FormatMoney(q.list_total().currency_code(), q.list_total().units(), q.list_total().nanos())},
                              {"valid until", FormatTime(q.valid_until())},
                              {"event", resp.event_id()}});
    });
  }

  {
    struct Opts {
      WriteOpts w;
      std::string account, lead, contact, opportunity, notes, subject, outcome, duration, direction;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = sales->add_subcommand("log-call", "Log a call with an account, lead or contact");
    AddWriteOptions(sub, o->w);
    sub->add_option("--account", o->account, "Account id");
    sub->add_option("--lead", o->lead, "Lead id");
    sub->add_option("--contact", o->contact, "Contact id");
    sub->add_option("--opportunity", o->opportunity, "Opportunity id");
    sub->add_option("--notes", o->notes, "What was said (claims are extracted from it)");
    sub->add_option("--subject", o->subject, "Subject");
    sub->add_option("--outcome", o->outcome, "Outcome: " + EnumChoices(ev1::ActivityOutcome_descriptor(), "ACTIVITY_OUTCOME_"));
    sub->add_option("--direction", o->direction, "outbound (default), inbound or internal");
    sub->add_option("--duration", o->duration, "How long, e.g. 15m");
    OnRun(sub, action, [&ctx, o] {
      if (o->account.empty() && o->lead.empty() && o->contact.empty()) {
        throw UsageError("log-call: --account, --lead or --contact is required");
      }
      sl::LogActivityRequest req;
      Stamp(ctx, o->w, req);
      req.set_kind(ev1::ACTIVITY_KIND_CALL);
      req.set_account_id(o->account);
      req.set_lead_id(o->lead);
      if (!o->contact.empty()) req.add_contact_ids(o->contact);
      req.set_opportunity_id(o->opportunity);
      req.set_notes(o->notes);
      req.set_subject(o->subject);
      if (!o->outcome.empty()) {
        req.set_outcome(Enum<ev1::ActivityOutcome>("--outcome", ev1::ActivityOutcome_descriptor(), "ACTIVITY_OUTCOME_", o->outcome));
      }
      if (!o->direction.empty()) {
        req.set_direction(
            Enum<ev1::ActivityDirection>("--direction", ev1::ActivityDirection_descriptor(), "ACTIVITY_DIRECTION_", o->direction));
      }
      if (!o->duration.empty()) {
        auto d = ParseDuration(o->duration);
        if (!d) throw UsageError("--duration: '" + o->duration + "' is not a duration (e.g. 15m)");
        *req.mutable_duration() = TimeUtil::MillisecondsToDuration(d->count());
      }
      *req.mutable_occurred_at() = TimeUtil::GetCurrentTime();
      sl::LogActivityResponse resp;
      auto c = ctx.Call();
      Context::Check(sl::SalesService::NewStub(ctx.SalesChannel())->LogActivity(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      const auto& a = resp.activity();
      ctx.out() << KeyValues({{"activity", a.id()},
                              {"customer", a.customer().customer_key()},
                              {"kind", ShortEnumName(ev1::ActivityKind_descriptor(), "ACTIVITY_KIND_", a.kind())},
                              {"when", FormatTime(a.occurred_at())},
                              {"event", resp.event_id()}});
    });
  }
}

}  // namespace concord::ctl
