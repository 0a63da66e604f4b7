#include "services/sales/logic.h"

#include "services/sales/logic_internal.h"

namespace concord::sales {

SalesLogic::SalesLogic(outbox::Store& store, writes::EventSource source)
    : store_(store), events_(std::move(source)) {}

outbox::IndexAdd SalesLogic::Index(const std::string& name, const Timestamp& at, const std::string& id) const {
  return {store_.IndexKey(name), static_cast<double>(Millis(at)), id};
}

absl::StatusOr<std::vector<std::string>> SalesLogic::IndexMembers(const std::string& index_name, int limit) {
  std::vector<std::string> out;
  std::string token;
  do {
    auto page = store_.List(store_.IndexKey(index_name), token, writes::limits::kMaxPageSize);
    if (!page.ok()) return writes::StorageError(page.status());
    out.insert(out.end(), page->ids.begin(), page->ids.end());
    token = page->next_token;
  } while (!token.empty() && static_cast<int>(out.size()) <= limit);
  return out;
}

absl::StatusOr<ev::CustomerRef> SalesLogic::ResolveCustomer(const Party& p, const ev::CustomerRef* given,
                                                            std::string_view given_field) {
  ev::CustomerRef ref;
  if (p.account) {
    ref = AccountRef(p.account->entity);
    if (p.contact) {
      ref.set_contact_id(p.contact->entity.id());
      *ref.mutable_person() = p.contact->entity.person();
      if (ref.lead_id().empty()) ref.set_lead_id(p.contact->entity.source_lead_id());
    } else if (given != nullptr && given->has_person()) {
      *ref.mutable_person() = StoredPerson(given->person());  // the person at the account
    }
  } else if (p.contact) {
    ref = ContactRef(p.contact->entity);
  } else if (p.opportunity) {
    ref = p.opportunity->entity.customer();
  } else if (given != nullptr && !given->account_id().empty()) {
    auto account = Load<ev::Account>(layout::kAccount, given->account_id());
    if (!account.ok()) return account.status();
    ref = AccountRef(account->entity);
    if (given->has_person()) *ref.mutable_person() = StoredPerson(given->person());
  } else if (given != nullptr) {
    ref = *given;
    *ref.mutable_person() = StoredPerson(given->person());
    ref.set_customer_key(writes::CustomerKeyFor(ref.person()));
    if (ref.customer_key().empty()) {
      return absl::InvalidArgumentError(
          Cat(given_field, ": an email, phone, website or account_id is required to identify the customer"));
    }
  } else {
    return absl::InvalidArgumentError(Cat(given_field, ": required (who the customer is)"));
  }
  if (given != nullptr && ref.lead_id().empty()) ref.set_lead_id(given->lead_id());
  return ref;
}

}  // namespace concord::sales
