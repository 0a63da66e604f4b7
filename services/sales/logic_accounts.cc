// Accounts: create, update, merge, get, list.
#include "common/identity/identity.h"
#include "services/sales/logic_internal.h"

namespace concord::sales {
namespace {

std::string AccountKey(const std::string& id, const std::string& website) {
  return identity::CustomerKey({.account_id = id, .website = website});
}

std::string Upper(std::string s) {
  for (auto& c : s) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return s;
}

}  // namespace

void SalesLogic::CreateAccount(const v1::CreateAccountRequest& r, const Deadline& d, writes::Async<v1::CreateAccountResponse> async) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return async.done(v.ToStatus());
  const std::string id = writes::NewId("acct");
  writes::VersionedWriteAsync<ev::Account, v1::CreateAccountResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kAccount),
       .entity_id = id, .create = true, .deadline = d},
      [this, &r, id](ev::Account& a, uint64_t, Changes<v1::CreateAccountResponse>& out) -> absl::Status {
        Clock now;
        a.set_id(id);
        a.set_name(r.name());
        a.set_website(r.website());
        a.set_domain(identity::NormalizeDomain(r.website()));
        a.set_customer_key(AccountKey(id, r.website()));
        a.set_industry(r.industry());
        a.set_region(r.region());
        a.set_country(Upper(r.country()));
        a.set_employee_count(r.employee_count());
        a.set_lifecycle_stage(r.lifecycle_stage() != ev::LIFECYCLE_STAGE_UNSPECIFIED ? r.lifecycle_stage()
                                                                                      : ev::LIFECYCLE_STAGE_SQL);
        *a.mutable_owner() = SalesActor(r.has_owner() ? r.owner() : r.actor());
        a.set_status(ev::RECORD_STATUS_ACTIVE);
        *a.mutable_created_at() = now.ts;
        *a.mutable_updated_at() = now.ts;
        *a.mutable_created_by() = SalesActor(r.actor());
        out.index.push_back(Index(layout::All(layout::kAccount), now.ts, id));
        out.index.push_back(Index(layout::By(layout::kAccount, "owner", a.owner().id()), now.ts, id));
        if (!a.domain().empty()) out.index.push_back(Index(layout::By(layout::kAccount, "domain", a.domain()), now.ts, id));
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = AccountRef(a),
                                        .aggregate_type = ev::AGGREGATE_TYPE_ACCOUNT, .aggregate_id = id,
                                        .aggregate_version = a.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) { *e.mutable_account_created()->mutable_account() = a; }));
        *out.response.mutable_account() = a;
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

absl::StatusOr<v1::CreateAccountResponse> SalesLogic::CreateAccount(const v1::CreateAccountRequest& r, const Deadline& d) {
  return writes::Wait<v1::CreateAccountResponse>([&](writes::Async<v1::CreateAccountResponse> a) { CreateAccount(r, d, std::move(a)); });
}

void SalesLogic::UpdateAccount(const v1::UpdateAccountRequest& r, const Deadline& d, writes::Async<v1::UpdateAccountResponse> async) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return async.done(v.ToStatus());
  writes::VersionedWriteAsync<ev::Account, v1::UpdateAccountResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kAccount),
       .entity_id = r.account_id(), .expected_version = r.expected_version(), .deadline = d},
      [this, &r](ev::Account& a, uint64_t read_version, Changes<v1::UpdateAccountResponse>& out) -> absl::Status {
        if (auto s = CheckAccountActive(a, "account_id"); !s.ok()) return s;
        Clock now;
        ev::Account before = a;
        if (r.has_name()) a.set_name(r.name());
        if (r.has_website()) {
          a.set_website(r.website());
          a.set_domain(identity::NormalizeDomain(r.website()));
          a.set_customer_key(AccountKey(a.id(), r.website()));
        }
        if (r.has_industry()) a.set_industry(r.industry());
        if (r.has_region()) a.set_region(r.region());
        if (r.has_country()) a.set_country(Upper(r.country()));
        if (r.has_employee_count()) a.set_employee_count(r.employee_count());
        if (r.lifecycle_stage() != ev::LIFECYCLE_STAGE_UNSPECIFIED) a.set_lifecycle_stage(r.lifecycle_stage());
        *a.mutable_updated_at() = now.ts;
        auto changed = writes::ChangedFields(before, a);
        if (a.customer_key() != before.customer_key()) {
          // Contacts, quotes and opportunities carry the account's key: move them along.
          if (auto s = Relink(a.id(), a, now.ts, out); !s.ok()) return s;
        }
        if (!a.domain().empty() && a.domain() != before.domain()) {
          out.index.push_back(Index(layout::By(layout::kAccount, "domain", a.domain()), a.created_at(), a.id()));
        }
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = AccountRef(a),
                                        .aggregate_type = ev::AGGREGATE_TYPE_ACCOUNT, .aggregate_id = a.id(),
                                        .aggregate_version = a.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_account_updated();
                                         *p->mutable_account() = a;
                                         for (auto& f : changed) p->add_changed_fields(f);
                                       }));
        *out.response.mutable_account() = a;
        (void)read_version;
        return absl::OkStatus();
      },
      writes::ResponseOnly(std::move(async)));
}

absl::StatusOr<v1::UpdateAccountResponse> SalesLogic::UpdateAccount(const v1::UpdateAccountRequest& r, const Deadline& d) {
  return writes::Wait<v1::UpdateAccountResponse>([&](writes::Async<v1::UpdateAccountResponse> a) { UpdateAccount(r, d, std::move(a)); });
}

absl::StatusOr<v1::MergeAccountsResponse> SalesLogic::MergeAccounts(const v1::MergeAccountsRequest& r,
                                                                    const Deadline& d) {
  Validator v;
  Validate(r, v);
  if (!v.ok()) return v.ToStatus();
  auto res = writes::VersionedWrite<ev::Account, v1::MergeAccountsResponse>(
      store_,
      {.request_id = r.request_id(), .fingerprint = writes::RequestFingerprint(r), .entity_type = std::string(layout::kAccount),
       .entity_id = r.survivor_account_id(), .expected_version = r.expected_version(), .deadline = d},
      [&](ev::Account& survivor, uint64_t, Changes<v1::MergeAccountsResponse>& out) -> absl::Status {
        if (auto s = CheckAccountActive(survivor, "survivor_account_id"); !s.ok()) return s;
        Clock now;
        std::vector<ev::Account> merged;
        for (int i = 0; i < r.merged_account_ids_size(); ++i) {
          auto m = Load<ev::Account>(layout::kAccount, r.merged_account_ids(i));
          if (!m.ok()) return m.status();
          if (auto s = CheckAccountActive(m->entity, Validator::Index("merged_account_ids", i)); !s.ok()) return s;
          auto& a = m->entity;
          a.set_status(ev::RECORD_STATUS_MERGED);
          a.set_merged_into_id(survivor.id());
          *a.mutable_updated_at() = now.ts;
          Rewrite(out, layout::kAccount, a, m->version);
          if (auto s = Relink(a.id(), survivor, now.ts, out); !s.ok()) return s;
          survivor.add_merged_from_ids(a.id());
          merged.push_back(a);
        }
        *survivor.mutable_updated_at() = now.ts;
        out.response.set_event_id(Emit(out,
                                       {.actor = SalesActor(r.actor()), .customer = AccountRef(survivor),
                                        .aggregate_type = ev::AGGREGATE_TYPE_ACCOUNT, .aggregate_id = survivor.id(),
                                        .aggregate_version = survivor.version(), .request_id = r.request_id(),
                                        .occurred_at = now.at},
                                       [&](ev::Event& e) {
                                         auto* p = e.mutable_account_merged();
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

absl::StatusOr<ev::Account> SalesLogic::GetAccount(const v1::GetAccountRequest& r, const Deadline& d) {
  return GetRecord<ev::Account>("account_id", r.account_id(), layout::kAccount, d);
}

absl::StatusOr<v1::ListAccountsResponse> SalesLogic::ListAccounts(const v1::ListAccountsRequest& r,
                                                                  const Deadline& d) {
  int page_size = 0;
  if (auto s = writes::CheckPageSize(r.page_size(), &page_size); !s.ok()) return s;
  Validator v;
  FilterString(v, "name", r.name());
  FilterString(v, "domain", r.domain());
  FilterString(v, "owner_id", r.owner_id());
  FilterString(v, "industry", r.industry());
  FilterString(v, "region", r.region());
  FilterEnums(v, "lifecycle_stages", r.lifecycle_stages(), ev::LifecycleStage_IsValid);
  FilterEnums(v, "statuses", r.statuses(), ev::RecordStatus_IsValid);
  if (!v.ok()) return v.ToStatus();
  const std::string domain = r.domain().empty() ? "" : identity::NormalizeDomain(r.domain());
  if (!r.domain().empty() && domain.empty()) return absl::InvalidArgumentError("domain: no domain in it");
  std::string index = PickIndex(layout::kAccount, {{"domain", domain}, {"owner", r.owner_id()}});
  auto page = writes::ListEntities<ev::Account>(
      store_, layout::kAccount,
      {.index_key = store_.IndexKey(index), .page_token = r.page_token(), .page_size = page_size, .deadline = d},
      [&](const ev::Account& a) {
        if (!r.name().empty() && !ContainsFold(a.name(), r.name())) return false;
        if (!domain.empty() && a.domain() != domain) return false;
        if (!r.owner_id().empty() && a.owner().id() != r.owner_id()) return false;
        if (!r.industry().empty() && !EqualsFold(a.industry(), r.industry())) return false;
        if (!r.region().empty() && !EqualsFold(a.region(), r.region())) return false;
        if (!AnyOf(r.lifecycle_stages(), a.lifecycle_stage())) return false;
        if (r.statuses().empty()) return a.status() == ev::RECORD_STATUS_ACTIVE;
        return AnyOf(r.statuses(), a.status());
      });
  if (!page.ok()) return page.status();
  v1::ListAccountsResponse out;
  for (auto& a : page->items) *out.add_accounts() = std::move(a);
  out.set_next_page_token(page->next_page_token);
  return out;
}

}  // namespace concord::sales
