// Contacts: create, update, merge, get, list.
#include "common/identity/identity.h"
#include "services/sales/logic_internal.h"

namespace concord::sales {
namespace {

// Index entries for a contact's current values (added again on change; see layout.h).
template <typename Add>
void ContactIndexes(const ev::Contact& c, Add add) {
  add(layout::By(layout::kContact, "key", c.customer_key()));
  add(layout::By(layout::kContact, "owner", c.owner().id()));
  if (!c.account_id().empty()) add(layout::By(layout::kContact, "account", c.account_id()));
  std::string email = identity::NormalizeEmail(c.person().email());
  if (!email.empty()) add(layout::By(layout::kContact, "email", email));
}

}  // namespace

absl::StatusOr<v1::CreateContactResponse> SalesLogic::CreateContact(const v1::CreateContactRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  const std::string id = writes::NewId("contact");
  auto res = writes::VersionedWrite<ev::Contact, v1::CreateContactResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kContact),
       .entity_id = id, .create = true, .deadline = d},
      [&](ev::Contact& c, uint64_t, Changes<v1::CreateContactResponse>& out) -> absl::Status {
        Clock now;
        c.set_id(id);
        *c.mutable_person() = StoredPerson(r.person());
        if (!r.account_id().empty()) {
          auto account = Load<ev::Account>(layout::kAccount, r.account_id());
          if (!account.ok()) return account.status();
          if (auto s = CheckAccountActive(account->entity, "account_id"); !s.ok()) return s;
          c.set_account_id(r.account_id());
          c.set_customer_key(account->entity.customer_key());
        } else {
          c.set_customer_key(writes::CustomerKeyFor(c.person()));
        }
        c.set_lifecycle_stage(r.lifecycle_stage() != ev::LIFECYCLE_STAGE_UNSPECIFIED ? r.lifecycle_stage()
                                                                                      : ev::LIFECYCLE_STAGE_SQL);
        *c.mutable_owner() = SalesActor(r.has_owner() ? r.owner() : r.actor());
        c.set_source_lead_id(r.source_lead_id());
        c.set_status(ev::RECORD_STATUS_ACTIVE);
        *c.mutable_created_at() = now.ts;
        *c.mutable_updated_at() = now.ts;
        *c.mutable_created_by() = SalesActor(r.actor());
        out.index.push_back(Index(layout::All(layout::kContact), now.ts, id));
        ContactIndexes(c, [&](const std::string& name) { out.index.push_back(Index(name, now.ts, id)); });
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = ContactRef(c),
                                        .aggregate_type = ev::AGGREGATE_TYPE_CONTACT, .aggregate_id = id,
                                        .aggregate_version = c.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_contact_created()->mutable_contact() = c; }));
        *out.response.mutable_contact() = c;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::UpdateContactResponse> SalesLogic::UpdateContact(const v1::UpdateContactRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Contact, v1::UpdateContactResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kContact),
       .entity_id = r.contact_id(), .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Contact& c, uint64_t, Changes<v1::UpdateContactResponse>& out) -> absl::Status {
        if (auto s = CheckContactActive(c, "contact_id"); !s.ok()) return s;
        Clock now;
        ev::Contact before = c;
        auto* p = c.mutable_person();
        if (r.has_first_name()) p->set_first_name(r.first_name());
        if (r.has_last_name()) p->set_last_name(r.last_name());
        if (r.has_full_name()) p->set_full_name(r.full_name());
        if (r.has_email()) p->set_email(r.email());
        if (r.has_phone()) p->set_phone(writes::NormalizedPhone(r.phone()));
        if (r.has_company()) p->set_company(r.company());
        if (r.has_website()) p->set_website(r.website());
        if (r.has_title()) p->set_title(r.title());
        if (absl::StripAsciiWhitespace(p->email()).empty() && absl::StripAsciiWhitespace(p->phone()).empty()) {
          return absl::InvalidArgumentError("email: email and phone cannot both be empty");
        }
        if (r.has_account_id()) c.set_account_id(r.account_id());
        if (!c.account_id().empty()) {
          auto account = Load<ev::Account>(layout::kAccount, c.account_id());
          if (!account.ok()) return account.status();
          if (r.has_account_id()) {
            if (auto s = CheckAccountActive(account->entity, "account_id"); !s.ok()) return s;
          }
          c.set_customer_key(account->entity.customer_key());
        } else {
          c.set_customer_key(writes::CustomerKeyFor(c.person()));
        }
        if (r.lifecycle_stage() != ev::LIFECYCLE_STAGE_UNSPECIFIED) c.set_lifecycle_stage(r.lifecycle_stage());
        *c.mutable_updated_at() = now.ts;
        auto changed = writes::ChangedFields(before, c, {"version", "updated_at"}, {"person"});
        ContactIndexes(c, [&](const std::string& name) { out.index.push_back(Index(name, c.created_at(), c.id())); });
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = ContactRef(c),
                                        .aggregate_type = ev::AGGREGATE_TYPE_CONTACT, .aggregate_id = c.id(),
                                        .aggregate_version = c.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* pl = e.mutable_contact_updated();
                                         *pl->mutable_contact() = c;
                                         for (auto& f : changed) pl->add_changed_fields(f);
                                       }));
        *out.response.mutable_contact() = c;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<v1::MergeContactsResponse> SalesLogic::MergeContacts(const v1::MergeContactsRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Contact, v1::MergeContactsResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kContact),
       .entity_id = r.survivor_contact_id(), .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Contact& survivor, uint64_t, Changes<v1::MergeContactsResponse>& out) -> absl::Status {
        if (auto s = CheckContactActive(survivor, "survivor_contact_id"); !s.ok()) return s;
        Clock now;
        std::vector<ev::Contact> merged;
        for (int i = 0; i < r.merged_contact_ids_size(); ++i) {
          auto m = Load<ev::Contact>(layout::kContact, r.merged_contact_ids(i));
          if (!m.ok()) return m.status();
          if (auto s = CheckContactActive(m->entity, Validator::Index("merged_contact_ids", i)); !s.ok()) return s;
          auto& c = m->entity;
          c.set_status(ev::RECORD_STATUS_MERGED);
          c.set_merged_into_id(survivor.id());
          *c.mutable_updated_at() = now.ts;
          Rewrite(out, layout::kContact, c, m->version);
          survivor.add_merged_from_ids(c.id());
          merged.push_back(c);
        }
        *survivor.mutable_updated_at() = now.ts;
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = ContactRef(survivor),
                                        .aggregate_type = ev::AGGREGATE_TYPE_CONTACT, .aggregate_id = survivor.id(),
                                        .aggregate_version = survivor.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_contact_merged();
                                         *p->mutable_survivor() = survivor;
                                         for (auto& m : merged) *p->add_merged() = m;
                                         p->set_reason(r.reason());
                                       }));
        *out.response.mutable_survivor() = survivor;
        return absl::OkStatus();
      });
  if (!res.ok()) return res.status();
  return std::move(res->response);
}

absl::StatusOr<ev::Contact> SalesLogic::GetContact(const v1::GetContactRequest& r, const Deadline& d) {
  return GetRecord<ev::Contact>("contact_id", r.contact_id(), layout::kContact, d);
}

absl::StatusOr<v1::ListContactsResponse> SalesLogic::ListContacts(const v1::ListContactsRequest& r,
                                                                  const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  v.OptionalId("account_id", r.account_id());
  FilterString(v, "customer_key", r.customer_key());
  FilterString(v, "email", r.email());
  FilterString(v, "name", r.name());
  FilterString(v, "owner_id", r.owner_id());
  FilterEnums(v, "statuses", r.statuses(), ev::RecordStatus_IsValid);
  std::string email;
  if (!r.email().empty()) {
    email = identity::NormalizeEmail(r.email());
    if (email.empty()) v.Add("email", "not a valid email address");
  }
  if (!v.ok()) return v.ToStatus();
  std::string index = PickIndex(layout::kContact, {{"account", r.account_id()},
                                                   {"email", email},
                                                   {"key", r.customer_key()},
                                                   {"owner", r.owner_id()}});
  auto page = writes::ListEntities<ev::Contact>(
      store_, layout::kContact,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Contact& c) {
        if (!r.account_id().empty() && c.account_id() != r.account_id()) return false;
        if (!r.customer_key().empty() && c.customer_key() != r.customer_key()) return false;
        if (!email.empty() && identity::NormalizeEmail(c.person().email()) != email) return false;
        if (!r.owner_id().empty() && c.owner().id() != r.owner_id()) return false;
        if (!r.name().empty() && !ContainsFold(c.person().first_name(), r.name()) &&
            !ContainsFold(c.person().last_name(), r.name()) && !ContainsFold(c.person().full_name(), r.name())) {
          return false;
        }
        if (r.statuses().empty()) return c.status() == ev::RECORD_STATUS_ACTIVE;
        return AnyOf(r.statuses(), c.status());
      });
  if (!page.ok()) return page.status();
  v1::ListContactsResponse out;
  for (auto& c : page->items) *out.add_contacts() = std::move(c);
  out.set_next_page_token(page->next_page_token);
  return out;
}

}  // namespace concord::sales
