#include "services/marketing/marketing.h"

#include <algorithm>
#include <set>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>

#include "common/identity/identity.h"
#include "common/writes/customer.h"
#include "common/writes/diff.h"
#include "common/writes/pagination.h"
#include "common/writes/proto_bytes.h"
#include "common/writes/status.h"
#include "common/writes/strings.h"
#include "common/writes/validation.h"
#include "common/writes/write.h"
#include "common/writes/write_async.h"

namespace concord::marketing {
namespace {

namespace ev = concord::events::v1;
namespace limits = writes::limits;
using google::protobuf::Timestamp;
using writes::Cat;
using writes::Validator;

constexpr ev::Team kTeam = ev::TEAM_MARKETING;
constexpr int kScanPage = 500;

// ---- small helpers ------------------------------------------------------------------------

ev::Actor OwnTeam(ev::Actor a) {
  if (a.team() == ev::TEAM_UNSPECIFIED) a.set_team(kTeam);
  return a;
}

double Millis(const Timestamp& t) { return static_cast<double>(t.seconds()) * 1000.0 + t.nanos() / 1000000; }

bool Before(const Timestamp& a, const Timestamp& b) {
  return a.seconds() < b.seconds() || (a.seconds() == b.seconds() && a.nanos() < b.nanos());
}

// t in [after, before), each bound optional.
bool InWindow(const Timestamp& t, const Timestamp* after, const Timestamp* before) {
  if (after != nullptr && Before(t, *after)) return false;
  if (before != nullptr && !Before(t, *before)) return false;
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(writes::AbslView(a), writes::AbslView(b));
}

bool ContainsIgnoreCase(std::string_view hay, std::string_view needle) {
  std::string h = absl::AsciiStrToLower(writes::AbslView(hay));
  std::string n = absl::AsciiStrToLower(writes::AbslView(needle));
  return h.find(n) != std::string::npos;
}

template <typename Repeated, typename T>
bool Contains(const Repeated& values, const T& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

std::string Upper(std::string s) {
  absl::AsciiStrToUpper(&s);
  return s;
}

ev::CustomerRef LeadRef(const ev::Lead& l) {
  ev::CustomerRef r;
  r.set_customer_key(l.customer_key());
  r.set_lead_id(l.id());
  *r.mutable_person() = l.person();
  return r;
}

writes::WriteTarget Target(const std::string& request_id, std::string fingerprint, std::string type, std::string id,
                           bool create, uint64_t expected_version, Deadline d) {
  writes::WriteTarget t;
  t.request_id = request_id;
  t.fingerprint = std::move(fingerprint);
  t.entity_type = std::move(type);
  t.entity_id = std::move(id);
  t.create = create;
  t.expected_version = expected_version;
  t.deadline = d;
  return t;
}

writes::EventSpec Spec(const ev::Actor& actor, ev::CustomerRef customer, ev::AggregateType type, const std::string& id,
                       uint64_t version, const std::string& request_id, std::chrono::system_clock::time_point at) {
  writes::EventSpec s;
  s.actor = OwnTeam(actor);
  s.customer = std::move(customer);
  s.aggregate_type = type;
  s.aggregate_id = id;
  s.aggregate_version = version;
  s.request_id = request_id;
  s.occurred_at = at;
  return s;
}

template <typename R>
absl::StatusOr<R> Unwrap(absl::StatusOr<writes::WriteResult<R>> r) {
  if (!r.ok()) return r.status();
  return std::move(r->response);
}

absl::Status CheckDeadline(Deadline d) { return writes::CheckDeadline(d); }

void CheckWindow(Validator& v, std::string_view from_field, const Timestamp* from, std::string_view until_field,
                 const Timestamp* until) {
  bool ok = true;
  if (from != nullptr) ok &= v.Timestamp(from_field, *from);
  if (until != nullptr) ok &= v.Timestamp(until_field, *until);
  if (ok) v.TimeOrder(from_field, from, until_field, until);
}

void CheckEnumList(Validator& v, std::string_view field, const google::protobuf::RepeatedField<int>& values,
                   bool (*is_valid)(int)) {
  for (int i = 0; i < values.size(); ++i) v.Enum(Validator::Index(field, i), values[i], is_valid, false);
}

bool MatchesCriteria(const ev::SegmentCriteria& c, const ev::Lead& l) {
  auto any = [](const google::protobuf::RepeatedPtrField<std::string>& values, const std::string& v) {
    if (values.empty()) return true;
    for (const auto& x : values) {
      if (EqualsIgnoreCase(x, v)) return true;
    }
    return false;
  };
  if (!any(c.industries(), l.industry()) || !any(c.regions(), l.region()) || !any(c.countries(), l.country())) {
    return false;
  }
  return c.lifecycle_stages().empty() || Contains(c.lifecycle_stages(), static_cast<int>(l.lifecycle_stage()));
}

std::string StatusName(ev::CampaignStatus s) { return ev::CampaignStatus_Name(s); }
std::string StatusName(ev::LeadStatus s) { return ev::LeadStatus_Name(s); }

// ---- campaign and lead updates ---------------------------------------------------------------

// Runs one versioned update of a campaign: `change` applies the request (or refuses), then the
// event (keyed "campaign:<id>") is built with `payload` and the response filled.
template <typename Req, typename Resp>
void WriteCampaign(
    outbox::Store& store, const writes::EventFactory& events, const Req& req, Deadline d, writes::Async<Resp> async,
    std::function<absl::Status(ev::Campaign& c, const Timestamp& now)> change,
    std::function<void(const ev::Campaign& before, const ev::Campaign& after, ev::Event& e)> payload) {
  writes::VersionedWriteAsync<ev::Campaign, Resp>(
      store,
      Target(req.request_id(), writes::RequestFingerprint(req), "campaign", req.campaign_id(), false,
             req.expected_version(), d),
      [&store, &events, &req, change = std::move(change), payload = std::move(payload)](
          ev::Campaign& c, uint64_t, writes::Changes<Resp>& out) -> absl::Status {
        const ev::Campaign before = c;
        auto at = writes::NowMillis();
        auto now = writes::ToTimestamp(at);
        if (auto s = change(c, now); !s.ok()) return s;
        *c.mutable_updated_at() = now;
        auto e = events.Build(Spec(req.actor(), ev::CustomerRef(), ev::AGGREGATE_TYPE_CAMPAIGN, c.id(), c.version(),
                                   req.request_id(), at),
                              [&](ev::Event& e) { payload(before, c, e); });
        out.events.push_back(events.ToOutbox(e, writes::CampaignKey(c.id())));
        *out.response.mutable_campaign() = c;
        out.response.set_event_id(e.id());
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

// Same for a lead; the event is keyed by the lead's (possibly new) customer key.
template <typename Req, typename Resp>
void WriteLead(
    outbox::Store& store, const writes::EventFactory& events, const Req& req, Deadline d, writes::Async<Resp> async,
    std::function<absl::Status(ev::Lead& l, const Timestamp& now)> change,
    std::function<void(const ev::Lead& before, const ev::Lead& after, ev::Event& e)> payload) {
  writes::VersionedWriteAsync<ev::Lead, Resp>(
      store,
      Target(req.request_id(), writes::RequestFingerprint(req), "lead", req.lead_id(), false, req.expected_version(),
             d),
      [&store, &events, &req, change = std::move(change), payload = std::move(payload)](
          ev::Lead& l, uint64_t, writes::Changes<Resp>& out) -> absl::Status {
        const ev::Lead before = l;
        auto at = writes::NowMillis();
        auto now = writes::ToTimestamp(at);
        if (auto s = change(l, now); !s.ok()) return s;
        *l.mutable_updated_at() = now;
        if (l.customer_key() != before.customer_key()) {
          out.index.push_back(
              {store.IndexKey(Cat("leads:customer:", l.customer_key())), Millis(l.created_at()), l.id()});
        }
        auto e = events.Build(
            Spec(req.actor(), LeadRef(l), ev::AGGREGATE_TYPE_LEAD, l.id(), l.version(), req.request_id(), at),
            [&](ev::Event& e) { payload(before, l, e); });
        out.events.push_back(events.ToOutbox(e));
        *out.response.mutable_lead() = l;
        out.response.set_event_id(e.id());
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

template <typename Req>
void CommonWrite(Validator& v, const Req& req) {
  v.RequestId(req.request_id());
  v.Actor("actor", req.actor(), req.has_actor(), kTeam);
}

}  // namespace

Marketing::Marketing(outbox::Store& store, writes::EventFactory events, Options options)
    : store_(store), events_(std::move(events)), options_(options) {}

template <typename Entity>
absl::StatusOr<Entity> Marketing::Read(std::string_view type, const std::string& id) {
  auto got = store_.Get(store_.EntityKey(type, id));
  if (!got.ok()) return writes::StorageError(got.status());
  if (!got->has_value()) return writes::NotFound(type, id);
  Entity e;
  if (!e.ParseFromString((*got)->data)) return absl::InternalError(Cat("stored ", type, " '", id, "' is corrupt"));
  writes::SetVersion(e, (*got)->version);
  return e;
}

// =============================================================================================
// Campaigns
// =============================================================================================

void Marketing::CreateCampaign(const mv1::CreateCampaignRequest& req, Deadline d, writes::Async<mv1::CreateCampaignResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.Required("name", req.name(), limits::kName);
  v.MaxBytes("description", req.description(), limits::kDescription);
  v.Enum("channel", req.channel(), ev::Channel_IsValid, true);
  v.Enum("purpose", req.purpose(), ev::MessagePurpose_IsValid, false);
  if (!req.has_segment()) {
    v.Add("segment", "required");
  } else {
    v.Segment("segment", req.segment());
  }
  v.Offers("offers", req.offers());
  CheckWindow(v, "starts_at", req.has_starts_at() ? &req.starts_at() : nullptr, "ends_at",
              req.has_ends_at() ? &req.ends_at() : nullptr);
  if (req.has_budget()) v.Money("budget", req.budget(), /*non_negative=*/true);
  v.OptionalActor("owner", req.owner(), req.has_owner(), {kTeam});
  if (!v.ok()) return async.done(v.ToStatus());

  const std::string id = writes::NewId("cmp");
  writes::VersionedWriteAsync<ev::Campaign, mv1::CreateCampaignResponse>(
      store_, Target(req.request_id(), writes::RequestFingerprint(req), "campaign", id, true, 0, d),
      [this, &req, id](ev::Campaign& c, uint64_t, writes::Changes<mv1::CreateCampaignResponse>& out) -> absl::Status {
        auto at = writes::NowMillis();
        auto now = writes::ToTimestamp(at);
        c.set_id(id);
        c.set_name(req.name());
        c.set_description(req.description());
        c.set_status(ev::CAMPAIGN_STATUS_DRAFT);
        c.set_channel(req.channel());
        c.set_purpose(req.purpose());
        *c.mutable_segment() = req.segment();
        *c.mutable_offers() = req.offers();
        if (req.has_starts_at()) *c.mutable_starts_at() = req.starts_at();
        if (req.has_ends_at()) *c.mutable_ends_at() = req.ends_at();
        if (req.has_budget()) *c.mutable_budget() = req.budget();
        *c.mutable_owner() = OwnTeam(req.has_owner() ? req.owner() : req.actor());
        *c.mutable_created_at() = now;
        *c.mutable_updated_at() = now;
        *c.mutable_created_by() = OwnTeam(req.actor());
        auto e = events_.Build(
            Spec(req.actor(), ev::CustomerRef(), ev::AGGREGATE_TYPE_CAMPAIGN, id, c.version(), req.request_id(), at),
            [&](ev::Event& e) { *e.mutable_campaign_created()->mutable_campaign() = c; });
        out.events.push_back(events_.ToOutbox(e, writes::CampaignKey(id)));
        out.index.push_back({store_.IndexKey("campaigns"), Millis(now), id});
        *out.response.mutable_campaign() = c;
        out.response.set_event_id(e.id());
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

absl::StatusOr<mv1::CreateCampaignResponse> Marketing::CreateCampaign(const mv1::CreateCampaignRequest& req, Deadline d) {
  return writes::Wait<mv1::CreateCampaignResponse>([&](writes::Async<mv1::CreateCampaignResponse> a) { CreateCampaign(req, d, std::move(a)); });
}

void Marketing::UpdateCampaign(const mv1::UpdateCampaignRequest& req, Deadline d, writes::Async<mv1::UpdateCampaignResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("campaign_id", req.campaign_id());
  if (req.has_name()) v.Required("name", req.name(), limits::kName);
  if (req.has_description()) v.MaxBytes("description", req.description(), limits::kDescription);
  v.Enum("channel", req.channel(), ev::Channel_IsValid, false);
  v.Enum("purpose", req.purpose(), ev::MessagePurpose_IsValid, false);
  if (req.has_segment()) v.Segment("segment", req.segment());
  if (req.has_offers()) v.Offers("offers.offers", req.offers().offers());
  if (req.has_starts_at()) v.Timestamp("starts_at", req.starts_at());
  if (req.has_ends_at()) v.Timestamp("ends_at", req.ends_at());
  if (req.has_budget()) v.Money("budget", req.budget(), /*non_negative=*/true);
  v.OptionalActor("owner", req.owner(), req.has_owner(), {kTeam});
  bool any = req.has_name() || req.has_description() || req.channel() != 0 || req.purpose() != 0 ||
             req.has_segment() || req.has_offers() || req.has_starts_at() || req.has_ends_at() || req.has_budget() ||
             req.has_owner();
  if (!any) v.Add("campaign_id", "nothing to update: set at least one field besides campaign_id");
  if (!v.ok()) return async.done(v.ToStatus());

  WriteCampaign<mv1::UpdateCampaignRequest, mv1::UpdateCampaignResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Campaign& c, const Timestamp&) -> absl::Status {
        if (c.status() == ev::CAMPAIGN_STATUS_ENDED) {
          return writes::WrongState("campaign", c.id(), StatusName(c.status()), "an ended campaign cannot be updated");
        }
        if (req.has_name()) c.set_name(req.name());
        if (req.has_description()) c.set_description(req.description());
        if (req.channel() != ev::CHANNEL_UNSPECIFIED) c.set_channel(req.channel());
        if (req.purpose() != ev::MESSAGE_PURPOSE_UNSPECIFIED) c.set_purpose(req.purpose());
        if (req.has_segment()) *c.mutable_segment() = req.segment();
        if (req.has_offers()) *c.mutable_offers() = req.offers().offers();
        if (req.has_starts_at()) *c.mutable_starts_at() = req.starts_at();
        if (req.has_ends_at()) *c.mutable_ends_at() = req.ends_at();
        if (req.has_budget()) *c.mutable_budget() = req.budget();
        if (req.has_owner()) *c.mutable_owner() = OwnTeam(req.owner());
        if (c.has_starts_at() && c.has_ends_at() && !Before(c.starts_at(), c.ends_at())) {
          return absl::InvalidArgumentError(req.has_ends_at() ? "ends_at: must be after starts_at"
                                                              : "starts_at: must be before ends_at");
        }
        return absl::OkStatus();
      },
      [](const ev::Campaign& before, const ev::Campaign& after, ev::Event& e) {
        auto* p = e.mutable_campaign_updated();
        *p->mutable_campaign() = after;
        for (auto& f : writes::ChangedFields(before, after)) p->add_changed_fields(f);
      });
}

absl::StatusOr<mv1::UpdateCampaignResponse> Marketing::UpdateCampaign(const mv1::UpdateCampaignRequest& req, Deadline d) {
  return writes::Wait<mv1::UpdateCampaignResponse>([&](writes::Async<mv1::UpdateCampaignResponse> a) { UpdateCampaign(req, d, std::move(a)); });
}

void Marketing::LaunchCampaign(const mv1::LaunchCampaignRequest& req, Deadline d, writes::Async<mv1::LaunchCampaignResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("campaign_id", req.campaign_id());
  if (!v.ok()) return async.done(v.ToStatus());
  WriteCampaign<mv1::LaunchCampaignRequest, mv1::LaunchCampaignResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Campaign& c, const Timestamp& now) -> absl::Status {
        if (c.status() != ev::CAMPAIGN_STATUS_DRAFT) {
          return writes::WrongState("campaign", c.id(), StatusName(c.status()), "only a DRAFT campaign can be launched");
        }
        c.set_status(ev::CAMPAIGN_STATUS_ACTIVE);
        *c.mutable_launched_at() = now;
        return absl::OkStatus();
      },
      [](const ev::Campaign&, const ev::Campaign& after, ev::Event& e) {
        *e.mutable_campaign_launched()->mutable_campaign() = after;
      });
}

absl::StatusOr<mv1::LaunchCampaignResponse> Marketing::LaunchCampaign(const mv1::LaunchCampaignRequest& req, Deadline d) {
  return writes::Wait<mv1::LaunchCampaignResponse>([&](writes::Async<mv1::LaunchCampaignResponse> a) { LaunchCampaign(req, d, std::move(a)); });
}

void Marketing::EndCampaign(const mv1::EndCampaignRequest& req, Deadline d, writes::Async<mv1::EndCampaignResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("campaign_id", req.campaign_id());
  v.MaxBytes("reason", req.reason(), limits::kReason);
  if (!v.ok()) return async.done(v.ToStatus());
  WriteCampaign<mv1::EndCampaignRequest, mv1::EndCampaignResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Campaign& c, const Timestamp& now) -> absl::Status {
        if (c.status() == ev::CAMPAIGN_STATUS_ENDED) {
          return writes::WrongState("campaign", c.id(), StatusName(c.status()), "the campaign has already ended");
        }
        c.set_status(ev::CAMPAIGN_STATUS_ENDED);
        *c.mutable_ended_at() = now;
        c.set_end_reason(req.reason());
        return absl::OkStatus();
      },
      [](const ev::Campaign&, const ev::Campaign& after, ev::Event& e) {
        *e.mutable_campaign_ended()->mutable_campaign() = after;
      });
}

absl::StatusOr<mv1::EndCampaignResponse> Marketing::EndCampaign(const mv1::EndCampaignRequest& req, Deadline d) {
  return writes::Wait<mv1::EndCampaignResponse>([&](writes::Async<mv1::EndCampaignResponse> a) { EndCampaign(req, d, std::move(a)); });
}

absl::StatusOr<ev::Campaign> Marketing::GetCampaign(const mv1::GetCampaignRequest& req, Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  Validator v;
  v.RequiredId("campaign_id", req.campaign_id());
  if (!v.ok()) return v.ToStatus();
  return Read<ev::Campaign>("campaign", req.campaign_id());
}

absl::StatusOr<mv1::ListCampaignsResponse> Marketing::ListCampaigns(const mv1::ListCampaignsRequest& req,
                                                                    Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  int page_size = 0;
  if (auto s = writes::CheckPageSize(req.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  CheckEnumList(v, "statuses", req.statuses(), ev::CampaignStatus_IsValid);
  CheckEnumList(v, "channels", req.channels(), ev::Channel_IsValid);
  v.OptionalId("owner_id", req.owner_id());
  v.OptionalId("product", req.product());
  if (req.has_created_after()) v.Timestamp("created_after", req.created_after());
  if (req.has_created_before()) v.Timestamp("created_before", req.created_before());
  if (!v.ok()) return v.ToStatus();

  const Timestamp* after = req.has_created_after() ? &req.created_after() : nullptr;
  const Timestamp* before = req.has_created_before() ? &req.created_before() : nullptr;
  writes::PageRequest p;
  p.index_key = store_.IndexKey("campaigns");
  p.page_token = req.page_token();
  p.page_size = page_size;
  p.deadline = d;
  auto page = writes::ListEntities<ev::Campaign>(store_, "campaign", p, [&](const ev::Campaign& c) {
    if (!req.statuses().empty() && !Contains(req.statuses(), static_cast<int>(c.status()))) return false;
    if (!req.channels().empty() && !Contains(req.channels(), static_cast<int>(c.channel()))) return false;
    if (!req.owner_id().empty() && c.owner().id() != req.owner_id()) return false;
    if (!req.product().empty() &&
        std::none_of(c.offers().begin(), c.offers().end(),
                     [&](const ev::Offer& o) { return o.product() == req.product(); })) {
      return false;
    }
    return InWindow(c.created_at(), after, before);
  });
  if (!page.ok()) return page.status();
  mv1::ListCampaignsResponse out;
  for (auto& c : page->items) *out.add_campaigns() = std::move(c);
  out.set_next_page_token(page->next_page_token);
  return out;
}

// =============================================================================================
// Leads
// =============================================================================================

void Marketing::CaptureLead(const mv1::CaptureLeadRequest& req, Deadline d, writes::Async<mv1::CaptureLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  if (!req.has_person()) {
    v.Add("person", "required (email or phone)");
  } else {
    v.Person("person", req.person(), /*require_contact=*/true);
  }
  v.MaxBytes("industry", req.industry(), limits::kName);
  v.MaxBytes("region", req.region(), limits::kName);
  v.CountryCode("country", req.country());
  v.OptionalId("source_campaign_id", req.source_campaign_id());
  v.Enum("source_channel", req.source_channel(), ev::Channel_IsValid, false);
  if (req.lifecycle_stage() != ev::LIFECYCLE_STAGE_UNSPECIFIED && req.lifecycle_stage() != ev::LIFECYCLE_STAGE_LEAD &&
      req.lifecycle_stage() != ev::LIFECYCLE_STAGE_SUBSCRIBER) {
    v.Add("lifecycle_stage", "must be LIFECYCLE_STAGE_LEAD (default) or LIFECYCLE_STAGE_SUBSCRIBER");
  }
  v.OptionalActor("owner", req.owner(), req.has_owner(), {kTeam});
  if (!v.ok()) return async.done(v.ToStatus());

  const std::string id = writes::NewId("lead");
  writes::VersionedWriteAsync<ev::Lead, mv1::CaptureLeadResponse>(
      store_, Target(req.request_id(), writes::RequestFingerprint(req), "lead", id, true, 0, d),
      [this, &req, id](ev::Lead& l, uint64_t, writes::Changes<mv1::CaptureLeadResponse>& out) -> absl::Status {
        if (!req.source_campaign_id().empty()) {
          auto c = Read<ev::Campaign>("campaign", req.source_campaign_id());
          if (!c.ok()) {
            if (absl::IsNotFound(c.status())) {
              return absl::NotFoundError(Cat("source_campaign_id: campaign '", req.source_campaign_id(), "' not found"));
            }
            return c.status();
          }
        }
        auto at = writes::NowMillis();
        auto now = writes::ToTimestamp(at);
        l.set_id(id);
        l.set_customer_key(writes::CustomerKeyFor(req.person()));
        *l.mutable_person() = req.person();
        l.set_industry(req.industry());
        l.set_region(req.region());
        l.set_country(Upper(req.country()));
        l.set_status(ev::LEAD_STATUS_NEW);
        l.set_lifecycle_stage(req.lifecycle_stage() == ev::LIFECYCLE_STAGE_SUBSCRIBER ? ev::LIFECYCLE_STAGE_SUBSCRIBER
                                                                                       : ev::LIFECYCLE_STAGE_LEAD);
        l.set_source_campaign_id(req.source_campaign_id());
        l.set_source_channel(req.source_channel());
        if (req.has_owner()) *l.mutable_owner() = OwnTeam(req.owner());
        *l.mutable_created_at() = now;
        *l.mutable_updated_at() = now;
        *l.mutable_created_by() = OwnTeam(req.actor());
        auto e = events_.Build(
            Spec(req.actor(), LeadRef(l), ev::AGGREGATE_TYPE_LEAD, id, l.version(), req.request_id(), at),
            [&](ev::Event& e) { *e.mutable_lead_captured()->mutable_lead() = l; });
        out.events.push_back(events_.ToOutbox(e));
        double score = Millis(now);
        out.index.push_back({store_.IndexKey("leads"), score, id});
        out.index.push_back({store_.IndexKey(Cat("leads:customer:", l.customer_key())), score, id});
        if (!l.source_campaign_id().empty()) {
          out.index.push_back({store_.IndexKey(Cat("leads:campaign:", l.source_campaign_id())), score, id});
        }
        *out.response.mutable_lead() = l;
        out.response.set_event_id(e.id());
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

absl::StatusOr<mv1::CaptureLeadResponse> Marketing::CaptureLead(const mv1::CaptureLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::CaptureLeadResponse>([&](writes::Async<mv1::CaptureLeadResponse> a) { CaptureLead(req, d, std::move(a)); });
}

void Marketing::UpdateLead(const mv1::UpdateLeadRequest& req, Deadline d, writes::Async<mv1::UpdateLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("lead_id", req.lead_id());
  if (req.has_first_name()) v.MaxBytes("first_name", req.first_name(), limits::kName);
  if (req.has_last_name()) v.MaxBytes("last_name", req.last_name(), limits::kName);
  if (req.has_full_name()) v.MaxBytes("full_name", req.full_name(), limits::kName);
  if (req.has_email()) v.Email("email", req.email());
  if (req.has_phone()) v.Phone("phone", req.phone());
  if (req.has_company()) v.MaxBytes("company", req.company(), limits::kName);
  if (req.has_website()) v.Website("website", req.website());
  if (req.has_title()) v.MaxBytes("title", req.title(), limits::kName);
  if (req.has_industry()) v.MaxBytes("industry", req.industry(), limits::kName);
  if (req.has_region()) v.MaxBytes("region", req.region(), limits::kName);
  if (req.has_country()) v.CountryCode("country", req.country());
  v.OptionalActor("owner", req.owner(), req.has_owner(), {kTeam});
  bool any = req.has_first_name() || req.has_last_name() || req.has_full_name() || req.has_email() ||
             req.has_phone() || req.has_company() || req.has_website() || req.has_title() || req.has_industry() ||
             req.has_region() || req.has_country() || req.has_owner();
  if (!any) v.Add("lead_id", "nothing to update: set at least one field besides lead_id");
  if (!v.ok()) return async.done(v.ToStatus());

  WriteLead<mv1::UpdateLeadRequest, mv1::UpdateLeadResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Lead& l, const Timestamp&) -> absl::Status {
        auto* p = l.mutable_person();
        if (req.has_first_name()) p->set_first_name(req.first_name());
        if (req.has_last_name()) p->set_last_name(req.last_name());
        if (req.has_full_name()) p->set_full_name(req.full_name());
        if (req.has_email()) p->set_email(req.email());
        if (req.has_phone()) p->set_phone(req.phone());
        if (req.has_company()) p->set_company(req.company());
        if (req.has_website()) p->set_website(req.website());
        if (req.has_title()) p->set_title(req.title());
        if (req.has_industry()) l.set_industry(req.industry());
        if (req.has_region()) l.set_region(req.region());
        if (req.has_country()) l.set_country(Upper(req.country()));
        if (req.has_owner()) *l.mutable_owner() = OwnTeam(req.owner());
        if (absl::StripAsciiWhitespace(p->email()).empty() && absl::StripAsciiWhitespace(p->phone()).empty()) {
          return absl::InvalidArgumentError(
              Cat(req.has_email() ? "email" : "phone", ": email and phone cannot both be empty"));
        }
        l.set_customer_key(writes::CustomerKeyFor(*p));
        return absl::OkStatus();
      },
      [](const ev::Lead& before, const ev::Lead& after, ev::Event& e) {
        auto* u = e.mutable_lead_updated();
        *u->mutable_lead() = after;
        for (auto& f : writes::ChangedFields(before, after, {"version", "updated_at"}, {"person"})) {
          u->add_changed_fields(f);
        }
      });
}

absl::StatusOr<mv1::UpdateLeadResponse> Marketing::UpdateLead(const mv1::UpdateLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::UpdateLeadResponse>([&](writes::Async<mv1::UpdateLeadResponse> a) { UpdateLead(req, d, std::move(a)); });
}

void Marketing::ScoreLead(const mv1::ScoreLeadRequest& req, Deadline d, writes::Async<mv1::ScoreLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("lead_id", req.lead_id());
  v.IntRange("score", req.score(), 0, 100);
  v.ScoreReasons("reasons", req.reasons());
  if (!v.ok()) return async.done(v.ToStatus());
  WriteLead<mv1::ScoreLeadRequest, mv1::ScoreLeadResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Lead& l, const Timestamp& now) -> absl::Status {
        l.set_score(req.score());
        *l.mutable_score_reasons() = req.reasons();
        *l.mutable_scored_at() = now;
        return absl::OkStatus();
      },
      [](const ev::Lead& before, const ev::Lead& after, ev::Event& e) {
        auto* s = e.mutable_lead_scored();
        *s->mutable_lead() = after;
        s->set_previous_score(before.score());
      });
}

absl::StatusOr<mv1::ScoreLeadResponse> Marketing::ScoreLead(const mv1::ScoreLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::ScoreLeadResponse>([&](writes::Async<mv1::ScoreLeadResponse> a) { ScoreLead(req, d, std::move(a)); });
}

void Marketing::QualifyLead(const mv1::QualifyLeadRequest& req, Deadline d, writes::Async<mv1::QualifyLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("lead_id", req.lead_id());
  v.MaxBytes("note", req.note(), limits::kReason);
  if (!v.ok()) return async.done(v.ToStatus());
  WriteLead<mv1::QualifyLeadRequest, mv1::QualifyLeadResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Lead& l, const Timestamp& now) -> absl::Status {
        if (l.status() != ev::LEAD_STATUS_NEW && l.status() != ev::LEAD_STATUS_RECYCLED) {
          return writes::WrongState("lead", l.id(), StatusName(l.status()), "only a NEW or RECYCLED lead can be qualified");
        }
        l.set_status(ev::LEAD_STATUS_MQL);
        l.set_lifecycle_stage(ev::LIFECYCLE_STAGE_MQL);
        *l.mutable_qualified_at() = now;
        return absl::OkStatus();
      },
      [&](const ev::Lead& before, const ev::Lead& after, ev::Event& e) {
        auto* q = e.mutable_lead_qualified();
        *q->mutable_lead() = after;
        q->set_previous_status(before.status());
        q->set_note(req.note());
      });
}

absl::StatusOr<mv1::QualifyLeadResponse> Marketing::QualifyLead(const mv1::QualifyLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::QualifyLeadResponse>([&](writes::Async<mv1::QualifyLeadResponse> a) { QualifyLead(req, d, std::move(a)); });
}

void Marketing::HandOffLead(const mv1::HandOffLeadRequest& req, Deadline d, writes::Async<mv1::HandOffLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("lead_id", req.lead_id());
  v.OptionalActor("suggested_owner", req.suggested_owner(), req.has_suggested_owner(), {ev::TEAM_SALES});
  v.MaxBytes("note", req.note(), limits::kReason);
  if (!v.ok()) return async.done(v.ToStatus());
  WriteLead<mv1::HandOffLeadRequest, mv1::HandOffLeadResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Lead& l, const Timestamp& now) -> absl::Status {
        if (l.status() != ev::LEAD_STATUS_MQL) {
          return writes::WrongState("lead", l.id(), StatusName(l.status()), "only an MQL can be handed off");
        }
        l.set_status(ev::LEAD_STATUS_HANDED_OFF);
        l.set_lifecycle_stage(ev::LIFECYCLE_STAGE_MQL);
        auto* h = l.mutable_handoff();
        h->Clear();
        h->set_handoff_id(writes::NewId("hof"));
        *h->mutable_handed_off_at() = now;
        *h->mutable_handed_off_by() = OwnTeam(req.actor());
        if (req.has_suggested_owner()) {
          ev::Actor owner = req.suggested_owner();
          if (owner.team() == ev::TEAM_UNSPECIFIED) owner.set_team(ev::TEAM_SALES);
          *h->mutable_suggested_owner() = owner;
        }
        h->set_note(req.note());
        return absl::OkStatus();
      },
      [](const ev::Lead&, const ev::Lead& after, ev::Event& e) {
        *e.mutable_lead_handed_off()->mutable_lead() = after;
      });
}

absl::StatusOr<mv1::HandOffLeadResponse> Marketing::HandOffLead(const mv1::HandOffLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::HandOffLeadResponse>([&](writes::Async<mv1::HandOffLeadResponse> a) { HandOffLead(req, d, std::move(a)); });
}

void Marketing::RecycleLead(const mv1::RecycleLeadRequest& req, Deadline d, writes::Async<mv1::RecycleLeadResponse> async) {
  Validator v;
  CommonWrite(v, req);
  v.RequiredId("lead_id", req.lead_id());
  v.Enum("reason", req.reason(), ev::RecycleReason_IsValid, true);
  v.MaxBytes("note", req.note(), limits::kReason);
  if (!v.ok()) return async.done(v.ToStatus());
  WriteLead<mv1::RecycleLeadRequest, mv1::RecycleLeadResponse>(
      store_, events_, req, d, std::move(async),
      [&](ev::Lead& l, const Timestamp& now) -> absl::Status {
        if (l.status() != ev::LEAD_STATUS_MQL && l.status() != ev::LEAD_STATUS_HANDED_OFF) {
          return writes::WrongState("lead", l.id(), StatusName(l.status()),
                                    "only an MQL or HANDED_OFF lead can be recycled");
        }
        l.set_status(ev::LEAD_STATUS_RECYCLED);
        l.set_lifecycle_stage(ev::LIFECYCLE_STAGE_LEAD);
        l.set_recycle_reason(req.reason());
        *l.mutable_recycled_at() = now;
        l.set_recycle_count(l.recycle_count() + 1);
        return absl::OkStatus();
      },
      [&](const ev::Lead& before, const ev::Lead& after, ev::Event& e) {
        auto* r = e.mutable_lead_recycled();
        *r->mutable_lead() = after;
        r->set_previous_status(before.status());
        r->set_note(req.note());
      });
}

absl::StatusOr<mv1::RecycleLeadResponse> Marketing::RecycleLead(const mv1::RecycleLeadRequest& req, Deadline d) {
  return writes::Wait<mv1::RecycleLeadResponse>([&](writes::Async<mv1::RecycleLeadResponse> a) { RecycleLead(req, d, std::move(a)); });
}

absl::StatusOr<ev::Lead> Marketing::GetLead(const mv1::GetLeadRequest& req, Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  Validator v;
  v.RequiredId("lead_id", req.lead_id());
  if (!v.ok()) return v.ToStatus();
  return Read<ev::Lead>("lead", req.lead_id());
}

absl::StatusOr<mv1::ListLeadsResponse> Marketing::ListLeads(const mv1::ListLeadsRequest& req, Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  int page_size = 0;
  if (auto s = writes::CheckPageSize(req.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  CheckEnumList(v, "statuses", req.statuses(), ev::LeadStatus_IsValid);
  CheckEnumList(v, "lifecycle_stages", req.lifecycle_stages(), ev::LifecycleStage_IsValid);
  v.IntRange("min_score", req.min_score(), 0, 100);
  v.IntRange("max_score", req.max_score(), 0, 100);
  if (req.max_score() > 0 && req.min_score() > req.max_score()) v.Add("max_score", "must be >= min_score (or 0)");
  v.OptionalId("source_campaign_id", req.source_campaign_id());
  v.MaxBytes("customer_key", req.customer_key(), limits::kWebsite);
  if (!req.email().empty()) v.Email("email", req.email());
  v.MaxBytes("company", req.company(), limits::kName);
  v.OptionalId("owner_id", req.owner_id());
  if (req.has_created_after()) v.Timestamp("created_after", req.created_after());
  if (req.has_created_before()) v.Timestamp("created_before", req.created_before());
  if (!v.ok()) return v.ToStatus();

  // The narrowest index the filters allow; every filter is still checked on the lead itself.
  std::string index = "leads";
  if (!req.customer_key().empty()) {
    index = Cat("leads:customer:", req.customer_key());
  } else if (!req.source_campaign_id().empty()) {
    index = Cat("leads:campaign:", req.source_campaign_id());
  }
  const std::string email = identity::NormalizeEmail(req.email());
  const Timestamp* after = req.has_created_after() ? &req.created_after() : nullptr;
  const Timestamp* before = req.has_created_before() ? &req.created_before() : nullptr;
  writes::PageRequest p;
  p.index_key = store_.IndexKey(index);
  p.page_token = req.page_token();
  p.page_size = page_size;
  p.deadline = d;
  auto page = writes::ListEntities<ev::Lead>(store_, "lead", p, [&](const ev::Lead& l) {
    if (!req.statuses().empty() && !Contains(req.statuses(), static_cast<int>(l.status()))) return false;
    if (!req.lifecycle_stages().empty() && !Contains(req.lifecycle_stages(), static_cast<int>(l.lifecycle_stage()))) {
      return false;
    }
    if (l.score() < req.min_score()) return false;
    if (req.max_score() > 0 && l.score() > req.max_score()) return false;
    if (!req.source_campaign_id().empty() && l.source_campaign_id() != req.source_campaign_id()) return false;
    if (!req.customer_key().empty() && l.customer_key() != req.customer_key()) return false;
    if (!email.empty() && identity::NormalizeEmail(l.person().email()) != email) return false;
    if (!req.company().empty() && !ContainsIgnoreCase(l.person().company(), req.company())) return false;
    if (!req.owner_id().empty() && l.owner().id() != req.owner_id()) return false;
    return InWindow(l.created_at(), after, before);
  });
  if (!page.ok()) return page.status();
  mv1::ListLeadsResponse out;
  for (auto& l : page->items) *out.add_leads() = std::move(l);
  out.set_next_page_token(page->next_page_token);
  return out;
}

// =============================================================================================
// Outbound messages
// =============================================================================================

absl::StatusOr<std::vector<ev::CustomerRef>> Marketing::ResolveSegment(const ev::Segment& segment, Deadline d) {
  std::vector<ev::CustomerRef> out;
  std::set<std::string> seen_leads;
  const size_t max = static_cast<size_t>(options_.max_segment_recipients);
  auto too_many = [&] {
    return absl::FailedPreconditionError(
        Cat("segment: more than ", options_.max_segment_recipients, " recipients; split the segment"));
  };
  int scanned = 0;
  // All leads of `index` that `keep` accepts, newest first.
  auto scan = [&](const std::string& index, const std::function<bool(const ev::Lead&)>& keep) -> absl::Status {
    std::string token;
    do {
      writes::PageRequest p;
      p.index_key = store_.IndexKey(index);
      p.page_token = token;
      p.page_size = kScanPage;
      p.max_scan = kScanPage;
      p.deadline = d;
      auto page = writes::ListEntities<ev::Lead>(store_, "lead", p, keep);
      if (!page.ok()) return page.status();
      scanned += page->scanned;
      if (scanned > options_.max_segment_scan) {
        return absl::FailedPreconditionError(
            Cat("segment: more than ", options_.max_segment_scan, " leads to examine; narrow the criteria"));
      }
      for (auto& l : page->items) {
        if (!seen_leads.insert(l.id()).second) continue;
        if (out.size() >= max) return too_many();
        out.push_back(LeadRef(l));
      }
      token = page->next_page_token;
    } while (!token.empty());
    return absl::OkStatus();
  };

  if (segment.has_customers()) {
    std::set<std::string> seen_keys;
    for (const auto& key : segment.customers().customer_keys()) {
      if (!seen_keys.insert(key).second) continue;
      size_t before = out.size();
      if (auto s = scan(Cat("leads:customer:", key), [&](const ev::Lead& l) { return l.customer_key() == key; });
          !s.ok()) {
        return s;
      }
      if (out.size() == before) {  // a customer without a known lead: the customer itself
        if (out.size() >= max) return too_many();
        ev::CustomerRef r;
        r.set_customer_key(key);
        out.push_back(std::move(r));
      }
    }
  } else {
    const auto& c = segment.criteria();
    if (auto s = scan("leads", [&](const ev::Lead& l) { return MatchesCriteria(c, l); }); !s.ok()) return s;
  }
  if (out.empty()) return absl::FailedPreconditionError("segment: matches no recipients");
  return out;
}

absl::StatusOr<mv1::SendMessageResponse> Marketing::SendMessage(const mv1::SendMessageRequest& req, Deadline d) {
  Validator v;
  CommonWrite(v, req);
  v.Enum("channel", req.channel(), ev::Channel_IsValid, true);
  v.Enum("purpose", req.purpose(), ev::MessagePurpose_IsValid, false);
  if (req.channel() == ev::CHANNEL_EMAIL) {
    v.Required("subject", req.subject(), limits::kSubject);
  } else {
    v.MaxBytes("subject", req.subject(), limits::kSubject);
  }
  v.Required("body", req.body(), limits::kBody);
  v.Offers("offers", req.offers());
  v.OptionalId("campaign_id", req.campaign_id());
  switch (req.recipient_case()) {
    case mv1::SendMessageRequest::kLeadId:
      v.RequiredId("lead_id", req.lead_id());
      break;
    case mv1::SendMessageRequest::kPerson: {
      const auto& r = req.person();
      v.Person("person.person", r.person(), /*require_contact=*/true);
      v.OptionalId("person.account_id", r.account_id());
      v.OptionalId("person.lead_id", r.lead_id());
      v.OptionalId("person.contact_id", r.contact_id());
      break;
    }
    case mv1::SendMessageRequest::kSegment:
      v.Segment("segment", req.segment());
      break;
    case mv1::SendMessageRequest::RECIPIENT_NOT_SET:
      v.Add("recipient", "exactly one of lead_id, person or segment is required");
      break;
  }
  if (!v.ok()) return v.ToStatus();

  const std::string id = writes::NewId("msg");
  return Unwrap(writes::VersionedWrite<ev::OutboundMessage, mv1::SendMessageResponse>(
      store_, Target(req.request_id(), writes::RequestFingerprint(req), "message", id, true, 0, d),
      [&](ev::OutboundMessage& m, uint64_t, writes::Changes<mv1::SendMessageResponse>& out) -> absl::Status {
        if (!req.campaign_id().empty()) {
          auto c = Read<ev::Campaign>("campaign", req.campaign_id());
          if (!c.ok()) {
            if (absl::IsNotFound(c.status())) {
              return absl::NotFoundError(Cat("campaign_id: campaign '", req.campaign_id(), "' not found"));
            }
            return c.status();
          }
          if (c->status() != ev::CAMPAIGN_STATUS_ACTIVE) {
            return writes::WrongState("campaign", c->id(), StatusName(c->status()),
                                      "messages can only be sent for an ACTIVE campaign");
          }
        }
        std::vector<ev::CustomerRef> recipients;
        switch (req.recipient_case()) {
          case mv1::SendMessageRequest::kLeadId: {
            auto l = Read<ev::Lead>("lead", req.lead_id());
            if (!l.ok()) return l.status();
            recipients.push_back(LeadRef(*l));
            break;
          }
          case mv1::SendMessageRequest::kPerson: {
            ev::CustomerRef r = req.person();
            r.set_customer_key(writes::CustomerKeyFor(r.person(), r.account_id()));
            recipients.push_back(std::move(r));
            break;
          }
          default: {
            auto resolved = ResolveSegment(req.segment(), d);
            if (!resolved.ok()) return resolved.status();
            recipients = std::move(*resolved);
          }
        }

        auto at = writes::NowMillis();
        auto now = writes::ToTimestamp(at);
        m.set_id(id);
        *m.mutable_sender() = OwnTeam(req.actor());
        m.set_channel(req.channel());
        m.set_purpose(req.purpose());
        m.set_subject(req.subject());
        m.set_body(req.body());
        *m.mutable_offers() = req.offers();
        if (req.recipient_case() == mv1::SendMessageRequest::kSegment) {
          *m.mutable_segment() = req.segment();
        } else {
          *m.mutable_person() = recipients.front();
        }
        m.set_campaign_id(req.campaign_id());
        m.set_recipient_count(static_cast<uint32_t>(recipients.size()));
        *m.mutable_sent_at() = now;
        m.set_request_id(req.request_id());

        size_t bytes = 0;
        std::set<std::string> lead_ix, customer_ix;
        for (size_t i = 0; i < recipients.size(); ++i) {
          const auto& r = recipients[i];
          auto e = events_.Build(
              Spec(req.actor(), r, ev::AGGREGATE_TYPE_MESSAGE, id, 1, req.request_id(), at),
              [&](ev::Event& e) {
                auto* s = e.mutable_message_sent();
                *s->mutable_message() = m;
                *s->mutable_recipient() = r;
                s->set_delivery_id(Cat(id, ":", i + 1));
              });
          out.events.push_back(events_.ToOutbox(e));
          bytes += out.events.back().value.size();
          if (bytes > options_.max_send_event_bytes) {
            return absl::FailedPreconditionError(Cat("segment: the send's ", recipients.size(),
                                                     " events exceed ", options_.max_send_event_bytes,
                                                     " bytes; split the segment or shorten the message"));
          }
          out.response.add_event_ids(e.id());
          if (!r.lead_id().empty()) lead_ix.insert(r.lead_id());
          customer_ix.insert(r.customer_key());
        }
        double score = Millis(now);
        out.index.push_back({store_.IndexKey("messages"), score, id});
        if (!req.campaign_id().empty()) {
          out.index.push_back({store_.IndexKey(Cat("messages:campaign:", req.campaign_id())), score, id});
        }
        for (const auto& l : lead_ix) out.index.push_back({store_.IndexKey(Cat("messages:lead:", l)), score, id});
        for (const auto& k : customer_ix) {
          out.index.push_back({store_.IndexKey(Cat("messages:customer:", k)), score, id});
        }
        *out.response.mutable_message() = m;
        return absl::OkStatus();
      }));
}

absl::StatusOr<ev::OutboundMessage> Marketing::GetMessage(const mv1::GetMessageRequest& req, Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  Validator v;
  v.RequiredId("message_id", req.message_id());
  if (!v.ok()) return v.ToStatus();
  return Read<ev::OutboundMessage>("message", req.message_id());
}

absl::StatusOr<mv1::ListMessagesResponse> Marketing::ListMessages(const mv1::ListMessagesRequest& req, Deadline d) {
  if (auto s = CheckDeadline(d); !s.ok()) return s;
  int page_size = 0;
  if (auto s = writes::CheckPageSize(req.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("campaign_id", req.campaign_id());
  v.OptionalId("lead_id", req.lead_id());
  v.MaxBytes("customer_key", req.customer_key(), limits::kWebsite);
  CheckEnumList(v, "channels", req.channels(), ev::Channel_IsValid);
  v.OptionalId("sender_id", req.sender_id());
  if (req.has_sent_after()) v.Timestamp("sent_after", req.sent_after());
  if (req.has_sent_before()) v.Timestamp("sent_before", req.sent_before());
  if (!v.ok()) return v.ToStatus();

  // Who a message reached is known from the per-lead and per-customer indexes (a segment
  // send's entity names the segment, not each recipient). With both lead_id and customer_key,
  // the lead's index is read and the lead must currently belong to that customer.
  std::string index = "messages";
  if (!req.lead_id().empty()) {
    index = Cat("messages:lead:", req.lead_id());
    if (!req.customer_key().empty()) {
      auto lead = Read<ev::Lead>("lead", req.lead_id());
      if (!lead.ok() && !absl::IsNotFound(lead.status())) return lead.status();
      if (!lead.ok() || lead->customer_key() != req.customer_key()) return mv1::ListMessagesResponse();
    }
  } else if (!req.customer_key().empty()) {
    index = Cat("messages:customer:", req.customer_key());
  } else if (!req.campaign_id().empty()) {
    index = Cat("messages:campaign:", req.campaign_id());
  }
  const Timestamp* after = req.has_sent_after() ? &req.sent_after() : nullptr;
  const Timestamp* before = req.has_sent_before() ? &req.sent_before() : nullptr;
  writes::PageRequest p;
  p.index_key = store_.IndexKey(index);
  p.page_token = req.page_token();
  p.page_size = page_size;
  p.deadline = d;
  auto page = writes::ListEntities<ev::OutboundMessage>(store_, "message", p, [&](const ev::OutboundMessage& m) {
    if (!req.campaign_id().empty() && m.campaign_id() != req.campaign_id()) return false;
    if (!req.channels().empty() && !Contains(req.channels(), static_cast<int>(m.channel()))) return false;
    if (!req.sender_id().empty() && m.sender().id() != req.sender_id()) return false;
    return InWindow(m.sent_at(), after, before);
  });
  if (!page.ok()) return page.status();
  mv1::ListMessagesResponse out;
  for (auto& m : page->items) *out.add_messages() = std::move(m);
  out.set_next_page_token(page->next_page_token);
  return out;
}

}  // namespace concord::marketing
