// Hand-offs (accept, reject) and AssignOwner.
#include <type_traits>

#include "services/sales/logic_internal.h"

namespace concord::sales {
namespace {

void SetRecord(ev::OwnerAssigned* p, const ev::Account& e) { *p->mutable_account() = e; }
void SetRecord(ev::OwnerAssigned* p, const ev::Contact& e) { *p->mutable_contact() = e; }
void SetRecord(ev::OwnerAssigned* p, const ev::Opportunity& e) { *p->mutable_opportunity() = e; }
void SetRecord(ev::OwnerAssigned* p, const ev::Handoff& e) { *p->mutable_handoff() = e; }
void SetRecord(v1::AssignOwnerResponse* p, const ev::Account& e) { *p->mutable_account() = e; }
void SetRecord(v1::AssignOwnerResponse* p, const ev::Contact& e) { *p->mutable_contact() = e; }
void SetRecord(v1::AssignOwnerResponse* p, const ev::Opportunity& e) { *p->mutable_opportunity() = e; }
void SetRecord(v1::AssignOwnerResponse* p, const ev::Handoff& e) { *p->mutable_handoff() = e; }

// What AcceptHandoffRequest and RejectHandoffRequest have in common.
template <typename Req>
bool GivesIdentity(const Req& r) {
  if (!r.has_customer()) return false;
  const auto& p = r.customer().person();
  return !r.customer().account_id().empty() || !absl::StripAsciiWhitespace(p.email()).empty() ||
         !absl::StripAsciiWhitespace(p.phone()).empty() || !absl::StripAsciiWhitespace(p.website()).empty();
}

}  // namespace

template <typename R>
absl::StatusOr<R> SalesLogic::WriteHandoff(const std::string& handoff_id, const std::string& request_id,
                                           const std::string& fingerprint, uint64_t expected_version,
                                           const Deadline& d, const writes::Mutation<ev::Handoff, R>& mutate) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = Find<ev::Handoff>(layout::kHandoff, handoff_id);
    if (!found.ok()) return found.status();
    const bool exists = found->has_value();
    if (!exists && expected_version != 0) return writes::VersionMismatch(expected_version, 0);
    auto res = writes::VersionedWrite<ev::Handoff, R>(store_,
                                                      {.request_id = request_id,
                                                       .fingerprint = fingerprint,
                                                       .entity_type = std::string(layout::kHandoff),
                                                       .entity_id = handoff_id,
                                                       .create = !exists,
                                                       .expected_version = expected_version,
                                                       .deadline = d},
                                                      mutate);
    if (!exists && !res.ok() && res.status().code() == absl::StatusCode::kAlreadyExists) continue;  // lost a race
    if (!res.ok()) return res.status();
    return std::move(res->response);
  }
  return absl::AbortedError(Cat("hand-off '", handoff_id, "' is being changed concurrently; retry with the same request_id"));
}

// The part of accepting and rejecting that is the same: identity, links, timestamps, index.
// Fills `h` (new when previous_version == 0) with its id, lead, customer and timestamps.
template <typename Req>
static absl::Status PrepareHandoff(const Req& r, ev::Handoff& h, uint64_t previous_version, const Timestamp& now,
                                   const std::function<absl::StatusOr<ev::CustomerRef>()>& resolve) {
  const bool is_new = previous_version == 0;
  if (is_new) {
    h.set_id(r.handoff_id());
    h.set_lead_id(r.lead_id());
    *h.mutable_created_at() = now;
  } else if (h.lead_id() != r.lead_id()) {
    return absl::InvalidArgumentError(
        Cat("lead_id: hand-off '", h.id(), "' is for lead '", h.lead_id(), "', not '", r.lead_id(), "'"));
  }
  auto ref = resolve();
  if (!ref.ok()) return ref.status();
  *h.mutable_customer() = *ref;
  h.mutable_customer()->set_lead_id(h.lead_id());
  *h.mutable_updated_at() = now;
  return absl::OkStatus();
}

absl::StatusOr<v1::AcceptHandoffResponse> SalesLogic::AcceptHandoff(const v1::AcceptHandoffRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  using Resp = v1::AcceptHandoffResponse;
  return WriteHandoff<Resp>(
      r.handoff_id(), r.request_id(), writes::RequestFingerprint(r), r.expected_version(), d,
      [&](ev::Handoff& h, uint64_t previous_version, Changes<Resp>& out) -> absl::Status {
        const bool is_new = previous_version == 0;
        if (auto s = CheckCanAcceptHandoff(is_new ? nullptr : &h); !s.ok()) return s;
        Clock now;
        Party party;
        if (!r.account_id().empty()) {
          auto a = Load<ev::Account>(layout::kAccount, r.account_id());
          if (!a.ok()) return a.status();
          if (auto s = CheckAccountActive(a->entity, "account_id"); !s.ok()) return s;
          party.account = std::move(*a);
        }
        if (!r.contact_id().empty()) {
          auto c = Load<ev::Contact>(layout::kContact, r.contact_id());
          if (!c.ok()) return c.status();
          if (auto s = CheckContactActive(c->entity, "contact_id"); !s.ok()) return s;
          party.contact = std::move(*c);
        }
        auto s = PrepareHandoff(r, h, previous_version, now.ts, [&]() -> absl::StatusOr<ev::CustomerRef> {
          if (party.account || party.contact || GivesIdentity(r)) {
            return ResolveCustomer(party, r.has_customer() ? &r.customer() : nullptr, "customer");
          }
          if (!is_new) return h.customer();
          return absl::InvalidArgumentError(Cat("customer: required the first time sales hears of hand-off '",
                                                r.handoff_id(), "' (email or phone, or account_id)"));
        });
        if (!s.ok()) return s;
        if (party.account) h.set_account_id(party.account->entity.id());
        if (party.contact) h.set_contact_id(party.contact->entity.id());
        h.set_status(ev::HANDOFF_STATUS_ACCEPTED);
        *h.mutable_owner() = SalesActor(r.has_owner() ? r.owner() : r.actor());
        *h.mutable_decided_by() = SalesActor(r.actor());
        *h.mutable_decided_at() = now.ts;
        h.set_note(r.note());
        out.index.push_back(Index(layout::All(layout::kHandoff), h.created_at(), h.id()));
        out.index.push_back(Index(layout::By(layout::kHandoff, "owner", h.owner().id()), h.created_at(), h.id()));
        out.index.push_back(Index(layout::By(layout::kHandoff, "key", h.customer().customer_key()), h.created_at(), h.id()));
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = h.customer(),
                                        .aggregate_type = ev::AGGREGATE_TYPE_HANDOFF, .aggregate_id = h.id(),
                                        .aggregate_version = h.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_handoff_accepted()->mutable_handoff() = h; }));
        *out.response.mutable_handoff() = h;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RejectHandoffResponse> SalesLogic::RejectHandoff(const v1::RejectHandoffRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  using Resp = v1::RejectHandoffResponse;
  return WriteHandoff<Resp>(
      r.handoff_id(), r.request_id(), writes::RequestFingerprint(r), r.expected_version(), d,
      [&](ev::Handoff& h, uint64_t previous_version, Changes<Resp>& out) -> absl::Status {
        const bool is_new = previous_version == 0;
        if (auto s = CheckCanRejectHandoff(is_new ? nullptr : &h); !s.ok()) return s;
        Clock now;
        auto s = PrepareHandoff(r, h, previous_version, now.ts, [&]() -> absl::StatusOr<ev::CustomerRef> {
          if (GivesIdentity(r)) return ResolveCustomer(Party{}, &r.customer(), "customer");
          if (!is_new) return h.customer();
          return absl::InvalidArgumentError(Cat("customer: required the first time sales hears of hand-off '",
                                                r.handoff_id(), "' (email or phone, or account_id)"));
        });
        if (!s.ok()) return s;
        h.set_status(ev::HANDOFF_STATUS_REJECTED);
        *h.mutable_decided_by() = SalesActor(r.actor());
        *h.mutable_decided_at() = now.ts;
        h.set_reject_reason(r.reason());
        h.set_note(r.note());
        out.index.push_back(Index(layout::All(layout::kHandoff), h.created_at(), h.id()));
        out.index.push_back(Index(layout::By(layout::kHandoff, "key", h.customer().customer_key()), h.created_at(), h.id()));
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = h.customer(),
                                        .aggregate_type = ev::AGGREGATE_TYPE_HANDOFF, .aggregate_id = h.id(),
                                        .aggregate_version = h.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_handoff_rejected()->mutable_handoff() = h; }));
        *out.response.mutable_handoff() = h;
        return absl::OkStatus();
      });
}

template <typename Entity, typename R>
absl::StatusOr<R> SalesLogic::AssignTo(const v1::AssignOwnerRequest& r, const Deadline& d, std::string_view type,
                                       const std::string& id) {
  auto res = writes::VersionedWrite<Entity, R>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(type),
       .entity_id = id, .expected_version = r.expected_version(), .deadline = d},
      [&](Entity& e, uint64_t, Changes<R>& out) -> absl::Status {
        ev::OwnedRecordType record_type;
        ev::AggregateType aggregate;
        ev::CustomerRef ref;
        if constexpr (std::is_same_v<Entity, ev::Account>) {
          if (auto s = CheckAccountActive(e, "account_id"); !s.ok()) return s;
          record_type = ev::OWNED_RECORD_TYPE_ACCOUNT;
          aggregate = ev::AGGREGATE_TYPE_ACCOUNT;
          ref = AccountRef(e);
        } else if constexpr (std::is_same_v<Entity, ev::Contact>) {
          if (auto s = CheckContactActive(e, "contact_id"); !s.ok()) return s;
          record_type = ev::OWNED_RECORD_TYPE_CONTACT;
          aggregate = ev::AGGREGATE_TYPE_CONTACT;
          ref = ContactRef(e);
        } else if constexpr (std::is_same_v<Entity, ev::Opportunity>) {
          if (auto s = CheckCanChangeOpportunity(e); !s.ok()) return s;
          record_type = ev::OWNED_RECORD_TYPE_OPPORTUNITY;
          aggregate = ev::AGGREGATE_TYPE_OPPORTUNITY;
          ref = e.customer();
        } else {
          if (auto s = CheckCanAssignHandoff(e); !s.ok()) return s;
          record_type = ev::OWNED_RECORD_TYPE_HANDOFF;
          aggregate = ev::AGGREGATE_TYPE_HANDOFF;
          ref = e.customer();
        }
        Clock now;
        const bool had_owner = e.has_owner();
        const ev::Actor previous = e.owner();
        *e.mutable_owner() = SalesActor(r.owner());
        *e.mutable_updated_at() = now.ts;
        out.index.push_back(Index(layout::By(type, "owner", e.owner().id()), e.created_at(), e.id()));
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = ref, .aggregate_type = aggregate,
                                        .aggregate_id = e.id(), .aggregate_version = e.version(),
                                        .request_id = r.request_id(), .occurred_at = now.at},
                                       [&](ev::Event& ev) {
                                         auto* p = ev.mutable_owner_assigned();
                                         p->set_record_type(record_type);
                                         p->set_record_id(e.id());
                                         *p->mutable_owner() = e.owner();
                                         if (had_owner) *p->mutable_previous_owner() = previous;
                                         SetRecord(p, e);
                                         p->set_note(r.note());
                                       }));
        SetRecord(&out.response, e);
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::AssignOwnerResponse> SalesLogic::AssignOwner(const v1::AssignOwnerRequest& r, const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  using Resp = v1::AssignOwnerResponse;
  switch (r.target_case()) {
    case v1::AssignOwnerRequest::kAccountId:
      return AssignTo<ev::Account, Resp>(r, d, layout::kAccount, r.account_id());
    case v1::AssignOwnerRequest::kContactId:
      return AssignTo<ev::Contact, Resp>(r, d, layout::kContact, r.contact_id());
    case v1::AssignOwnerRequest::kOpportunityId:
      return AssignTo<ev::Opportunity, Resp>(r, d, layout::kOpportunity, r.opportunity_id());
    case v1::AssignOwnerRequest::kHandoffId:
      return AssignTo<ev::Handoff, Resp>(r, d, layout::kHandoff, r.handoff_id());
    default:
      return absl::InvalidArgumentError("target: exactly one of account_id, contact_id, opportunity_id or handoff_id is required");
  }
}

}  // namespace concord::sales
