// Immutable records: activities, commitments, outbound messages (log / make / send, list).
#include "services/sales/logic_internal.h"

namespace concord::sales {
namespace {

// OutboundMessage has no `version` field (it is never changed); this adapter lets it go
// through writes::VersionedWrite and writes::ListEntities like the versioned entities.
struct MessageRecord {
  ev::OutboundMessage m;
  bool ParseFromString(const std::string& s) { return m.ParseFromString(s); }
  void set_version(uint64_t) {}
  operator const google::protobuf::MessageLite&() const { return m; }
};

bool InRange(const Timestamp& t, const v1::ListActivitiesRequest& r) {
  if (r.has_occurred_after() && t < r.occurred_after()) return false;
  if (r.has_occurred_before() && !(t < r.occurred_before())) return false;
  return true;
}

}  // namespace

// ---- activities ---------------------------------------------------------------------------

absl::StatusOr<v1::LogActivityResponse> SalesLogic::LogActivity(const v1::LogActivityRequest& r, const Deadline& d) {
  Clock start;
  Validator v;
  Validate(r, start.ts, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("activity");
  auto res = writes::VersionedWrite<ev::Activity, v1::LogActivityResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kActivity),
       .entity_id = id, .create = true, .deadline = d},
      [&](ev::Activity& a, uint64_t, Changes<v1::LogActivityResponse>& out) -> absl::Status {
        Clock now;
        Party party;
        if (!r.account_id().empty()) {
          auto acc = Load<ev::Account>(layout::kAccount, r.account_id());
          if (!acc.ok()) return acc.status();
          if (auto s = CheckAccountActive(acc->entity, "account_id"); !s.ok()) return s;
          party.account = std::move(*acc);
        }
        for (int i = 0; i < r.contact_ids_size(); ++i) {
          auto c = Load<ev::Contact>(layout::kContact, r.contact_ids(i));
          if (!c.ok()) return c.status();
          if (auto s = CheckContactActive(c->entity, Validator::Index("contact_ids", i)); !s.ok()) return s;
          if (i == 0) party.contact = std::move(*c);
        }
        if (!r.opportunity_id().empty()) {
          auto o = Load<ev::Opportunity>(layout::kOpportunity, r.opportunity_id());
          if (!o.ok()) return o.status();
          party.opportunity = std::move(*o);
        }
        auto ref = ResolveCustomer(party, r.has_customer() ? &r.customer() : nullptr, "customer");
        if (!ref.ok()) return ref.status();
        if (!r.lead_id().empty()) ref->set_lead_id(r.lead_id());
        a.set_id(id);
        a.set_kind(r.kind());
        a.set_direction(r.direction() != ev::ACTIVITY_DIRECTION_UNSPECIFIED ? r.direction()
                                                                            : ev::ACTIVITY_DIRECTION_OUTBOUND);
        *a.mutable_actor() = SalesActor(r.actor());
        *a.mutable_customer() = *ref;
        a.set_account_id(FirstOf({r.account_id(), ref->account_id()}));
        for (const auto& c : r.contact_ids()) a.add_contact_ids(c);
        a.set_lead_id(r.lead_id());
        a.set_opportunity_id(r.opportunity_id());
        *a.mutable_occurred_at() = r.has_occurred_at() ? r.occurred_at() : now.ts;
        if (r.has_duration()) *a.mutable_duration() = r.duration();
        a.set_subject(r.subject());
        a.set_outcome(r.outcome());
        a.set_notes(r.notes());
        *a.mutable_created_at() = now.ts;
        const Timestamp& at = a.occurred_at();
        out.index.push_back(Index(layout::All(layout::kActivity), at, id));
        out.index.push_back(Index(layout::By(layout::kActivity, "key", ref->customer_key()), at, id));
        out.index.push_back(Index(layout::By(layout::kActivity, "actor", a.actor().id()), at, id));
        if (!a.account_id().empty()) out.index.push_back(Index(layout::By(layout::kActivity, "account", a.account_id()), at, id));
        if (!a.opportunity_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kActivity, "opportunity", a.opportunity_id()), at, id));
        }
        for (const auto& c : a.contact_ids()) out.index.push_back(Index(layout::By(layout::kActivity, "contact", c), at, id));
        out.response.set_event_id(Emit(out,
                                       {.actor = a.actor(), .customer = *ref,
                                        .aggregate_type = ev::AGGREGATE_TYPE_ACTIVITY, .aggregate_id = id,
                                        .aggregate_version = a.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_activity_logged()->mutable_activity() = a; }));
        *out.response.mutable_activity() = a;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::ListActivitiesResponse> SalesLogic::ListActivities(const v1::ListActivitiesRequest& r,
                                                                      const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("contact_id", r.contact_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  FilterString(v, "customer_key", r.customer_key());
  v.OptionalId("actor_id", r.actor_id());
  FilterEnums(v, "kinds", r.kinds(), ev::ActivityKind_IsValid);
  bool after_ok = !r.has_occurred_after() || v.Timestamp("occurred_after", r.occurred_after());
  bool before_ok = !r.has_occurred_before() || v.Timestamp("occurred_before", r.occurred_before());
  if (after_ok && before_ok) {
    v.TimeOrder("occurred_after", r.has_occurred_after() ? &r.occurred_after() : nullptr, "occurred_before",
                r.has_occurred_before() ? &r.occurred_before() : nullptr);
  }
  if (!v.ok()) return v.ToStatus();
  std::string index = PickIndex(layout::kActivity, {{"contact", r.contact_id()},
                                                    {"opportunity", r.opportunity_id()},
                                                    {"account", r.account_id()},
                                                    {"key", r.customer_key()},
                                                    {"actor", r.actor_id()}});
  auto page = writes::ListEntities<ev::Activity>(
      store_, layout::kActivity,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Activity& a) {
        if (!r.account_id().empty() && a.account_id() != r.account_id()) return false;
        if (!r.contact_id().empty() && std::find(a.contact_ids().begin(), a.contact_ids().end(), r.contact_id()) ==
                                           a.contact_ids().end()) {
          return false;
        }
        if (!r.opportunity_id().empty() && a.opportunity_id() != r.opportunity_id()) return false;
        if (!r.customer_key().empty() && a.customer().customer_key() != r.customer_key()) return false;
        if (!r.actor_id().empty() && a.actor().id() != r.actor_id()) return false;
        return AnyOf(r.kinds(), a.kind()) && InRange(a.occurred_at(), r);
      });
  if (!page.ok()) return page.status();
  v1::ListActivitiesResponse out;
  for (auto& a : page->items) *out.add_activities() = std::move(a);
  out.set_next_page_token(page->next_page_token);
  return out;
}

// ---- commitments ----------------------------------------------------------------------------

absl::StatusOr<v1::MakeCommitmentResponse> SalesLogic::MakeCommitment(const v1::MakeCommitmentRequest& r,
                                                                      const Deadline& d) {
  Clock start;
  Validator v;
  Validate(r, start.ts, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("commitment");
  auto res = writes::VersionedWrite<ev::Commitment, v1::MakeCommitmentResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kCommitment),
       .entity_id = id, .create = true, .deadline = d},
      [&](ev::Commitment& c, uint64_t, Changes<v1::MakeCommitmentResponse>& out) -> absl::Status {
        Clock now;
        Party party;
        if (!r.account_id().empty()) {
          auto acc = Load<ev::Account>(layout::kAccount, r.account_id());
          if (!acc.ok()) return acc.status();
          if (auto s = CheckAccountActive(acc->entity, "account_id"); !s.ok()) return s;
          party.account = std::move(*acc);
        }
        if (!r.contact_id().empty()) {
          auto ct = Load<ev::Contact>(layout::kContact, r.contact_id());
          if (!ct.ok()) return ct.status();
          if (auto s = CheckContactActive(ct->entity, "contact_id"); !s.ok()) return s;
          party.contact = std::move(*ct);
        }
        if (!r.opportunity_id().empty()) {
          auto o = Load<ev::Opportunity>(layout::kOpportunity, r.opportunity_id());
          if (!o.ok()) return o.status();
          party.opportunity = std::move(*o);
        }
        if (!r.activity_id().empty()) {
          auto act = Find<ev::Activity>(layout::kActivity, r.activity_id());
          if (!act.ok()) return act.status();
          if (!act->has_value()) return writes::NotFound(layout::kActivity, r.activity_id());
        }
        auto ref = ResolveCustomer(party, r.has_customer() ? &r.customer() : nullptr, "customer");
        if (!ref.ok()) return ref.status();
        c.set_id(id);
        c.set_kind(r.kind());
        *c.mutable_customer() = *ref;
        c.set_account_id(FirstOf({r.account_id(), ref->account_id()}));
        c.set_contact_id(FirstOf({r.contact_id(), ref->contact_id()}));
        c.set_opportunity_id(r.opportunity_id());
        c.set_product(FirstOf({r.product(), r.has_concession() ? r.concession().product() : ""}));
        c.set_feature(r.feature());
        if (r.has_due_date()) *c.mutable_due_date() = r.due_date();
        if (r.has_concession()) *c.mutable_concession() = r.concession();
        c.set_text(r.text());
        c.set_channel(r.channel());
        c.set_activity_id(r.activity_id());
        *c.mutable_made_by() = SalesActor(r.actor());
        *c.mutable_made_at() = r.has_made_at() ? r.made_at() : now.ts;
        if (r.has_valid_until()) *c.mutable_valid_until() = r.valid_until();
        const Timestamp& at = c.made_at();
        out.index.push_back(Index(layout::All(layout::kCommitment), at, id));
        out.index.push_back(Index(layout::By(layout::kCommitment, "key", ref->customer_key()), at, id));
        out.index.push_back(Index(layout::By(layout::kCommitment, "made_by", c.made_by().id()), at, id));
        if (!c.account_id().empty()) out.index.push_back(Index(layout::By(layout::kCommitment, "account", c.account_id()), at, id));
        if (!c.contact_id().empty()) out.index.push_back(Index(layout::By(layout::kCommitment, "contact", c.contact_id()), at, id));
        if (!c.opportunity_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kCommitment, "opportunity", c.opportunity_id()), at, id));
        }
        if (!c.product().empty()) out.index.push_back(Index(layout::By(layout::kCommitment, "product", c.product()), at, id));
        out.response.set_event_id(Emit(out,
                                       {.actor = c.made_by(), .customer = *ref,
                                        .aggregate_type = ev::AGGREGATE_TYPE_COMMITMENT, .aggregate_id = id,
                                        .aggregate_version = c.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_commitment_made()->mutable_commitment() = c; }));
        *out.response.mutable_commitment() = c;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::ListCommitmentsResponse> SalesLogic::ListCommitments(const v1::ListCommitmentsRequest& r,
                                                                        const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("contact_id", r.contact_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  FilterString(v, "customer_key", r.customer_key());
  v.OptionalId("product", r.product());
  v.OptionalId("made_by_id", r.made_by_id());
  FilterEnums(v, "kinds", r.kinds(), ev::CommitmentKind_IsValid);
  if (!v.ok()) return v.ToStatus();
  std::string index = PickIndex(layout::kCommitment, {{"contact", r.contact_id()},
                                                      {"opportunity", r.opportunity_id()},
                                                      {"account", r.account_id()},
                                                      {"key", r.customer_key()},
                                                      {"product", r.product()},
                                                      {"made_by", r.made_by_id()}});
  auto page = writes::ListEntities<ev::Commitment>(
      store_, layout::kCommitment,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Commitment& c) {
        if (!r.account_id().empty() && c.account_id() != r.account_id()) return false;
        if (!r.contact_id().empty() && c.contact_id() != r.contact_id()) return false;
        if (!r.opportunity_id().empty() && c.opportunity_id() != r.opportunity_id()) return false;
        if (!r.customer_key().empty() && c.customer().customer_key() != r.customer_key()) return false;
        if (!r.product().empty() && c.product() != r.product()) return false;
        if (!r.made_by_id().empty() && c.made_by().id() != r.made_by_id()) return false;
        return AnyOf(r.kinds(), c.kind());
      });
  if (!page.ok()) return page.status();
  v1::ListCommitmentsResponse out;
  for (auto& c : page->items) *out.add_commitments() = std::move(c);
  out.set_next_page_token(page->next_page_token);
  return out;
}

// ---- outbound messages -------------------------------------------------------------------------

absl::StatusOr<v1::SendMessageResponse> SalesLogic::SendMessage(const v1::SendMessageRequest& r, const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("message");
  auto res = writes::VersionedWrite<MessageRecord, v1::SendMessageResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kMessage),
       .entity_id = id, .create = true, .deadline = d},
      [&](MessageRecord& rec, uint64_t, Changes<v1::SendMessageResponse>& out) -> absl::Status {
        Clock now;
        Party party;
        const std::string contact_id =
            r.recipient_case() == v1::SendMessageRequest::kContactId ? r.contact_id() : r.person().contact_id();
        if (!contact_id.empty()) {
          auto c = Load<ev::Contact>(layout::kContact, contact_id);
          if (!c.ok()) return c.status();
          if (auto s = CheckContactActive(c->entity, r.recipient_case() == v1::SendMessageRequest::kContactId
                                                         ? "contact_id"
                                                         : "person.contact_id");
              !s.ok()) {
            return s;
          }
          party.contact = std::move(*c);
        }
        if (!r.opportunity_id().empty()) {
          auto o = Load<ev::Opportunity>(layout::kOpportunity, r.opportunity_id());
          if (!o.ok()) return o.status();
        }
        const ev::CustomerRef* given = r.recipient_case() == v1::SendMessageRequest::kPerson ? &r.person() : nullptr;
        auto ref = ResolveCustomer(party, party.contact ? nullptr : given, "person");
        if (!ref.ok()) return ref.status();
        auto& m = rec.m;
        m.set_id(id);
        *m.mutable_sender() = SalesActor(r.actor());
        m.set_channel(r.channel());
        m.set_purpose(r.purpose());
        m.set_subject(r.subject());
        m.set_body(r.body());
        *m.mutable_offers() = r.offers();
        *m.mutable_person() = *ref;
        m.set_opportunity_id(r.opportunity_id());
        m.set_recipient_count(1);
        *m.mutable_sent_at() = now.ts;
        m.set_request_id(r.request_id());
        out.index.push_back(Index(layout::All(layout::kMessage), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kMessage, "key", ref->customer_key()), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kMessage, "sender", m.sender().id()), now.ts, id));
        if (!ref->contact_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kMessage, "contact", ref->contact_id()), now.ts, id));
        }
        if (!ref->account_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kMessage, "account", ref->account_id()), now.ts, id));
        }
        if (!m.opportunity_id().empty()) {
          out.index.push_back(Index(layout::By(layout::kMessage, "opportunity", m.opportunity_id()), now.ts, id));
        }
        out.response.set_event_id(Emit(out,
                                       {.actor = m.sender(), .customer = *ref,
                                        .aggregate_type = ev::AGGREGATE_TYPE_MESSAGE, .aggregate_id = id,
                                        .aggregate_version = 1, .request_id = r.request_id(), .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_message_sent();
                                         *p->mutable_message() = m;
                                         *p->mutable_recipient() = *ref;
                                         p->set_delivery_id(Cat(id, "/", ref->customer_key()));
                                       }));
        *out.response.mutable_message() = m;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::ListMessagesResponse> SalesLogic::ListMessages(const v1::ListMessagesRequest& r, const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("contact_id", r.contact_id());
  v.OptionalId("account_id", r.account_id());
  v.OptionalId("opportunity_id", r.opportunity_id());
  FilterString(v, "customer_key", r.customer_key());
  v.OptionalId("sender_id", r.sender_id());
  FilterEnums(v, "channels", r.channels(), ev::Channel_IsValid);
  bool after_ok = !r.has_sent_after() || v.Timestamp("sent_after", r.sent_after());
  bool before_ok = !r.has_sent_before() || v.Timestamp("sent_before", r.sent_before());
  if (after_ok && before_ok) {
    v.TimeOrder("sent_after", r.has_sent_after() ? &r.sent_after() : nullptr, "sent_before",
                r.has_sent_before() ? &r.sent_before() : nullptr);
  }
  if (!v.ok()) return v.ToStatus();
  std::string index = PickIndex(layout::kMessage, {{"contact", r.contact_id()},
                                                   {"opportunity", r.opportunity_id()},
                                                   {"account", r.account_id()},
                                                   {"key", r.customer_key()},
                                                   {"sender", r.sender_id()}});
  auto page = writes::ListEntities<MessageRecord>(
      store_, layout::kMessage,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const MessageRecord& rec) {
        const auto& m = rec.m;
        if (!r.contact_id().empty() && m.person().contact_id() != r.contact_id()) return false;
        if (!r.account_id().empty() && m.person().account_id() != r.account_id()) return false;
        if (!r.opportunity_id().empty() && m.opportunity_id() != r.opportunity_id()) return false;
        if (!r.customer_key().empty() && m.person().customer_key() != r.customer_key()) return false;
        if (!r.sender_id().empty() && m.sender().id() != r.sender_id()) return false;
        if (r.has_sent_after() && m.sent_at() < r.sent_after()) return false;
        if (r.has_sent_before() && !(m.sent_at() < r.sent_before())) return false;
        return AnyOf(r.channels(), m.channel());
      });
  if (!page.ok()) return page.status();
  v1::ListMessagesResponse out;
  for (auto& rec : page->items) *out.add_messages() = std::move(rec.m);
  out.set_next_page_token(page->next_page_token);
  return out;
}

}  // namespace concord::sales
