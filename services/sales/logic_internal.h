#pragma once
// Helpers shared by the logic_*.cc files (not part of the library's interface).

#include <algorithm>
#include <set>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <google/protobuf/util/time_util.h>

#include "common/writes/customer.h"
#include "common/writes/diff.h"
#include "common/writes/pagination.h"
#include "common/writes/proto_bytes.h"
#include "common/writes/status.h"
#include "common/writes/strings.h"
#include "common/writes/validation.h"
#include "services/sales/layout.h"
#include "services/sales/logic.h"
#include "services/sales/rules.h"
#include "services/sales/validate.h"

namespace concord::sales {

namespace ev = concord::events::v1;
using google::protobuf::Timestamp;
using writes::Cat;
using writes::Changes;
using writes::Validator;

// Now, in milliseconds (the precision of ce_time) as a time point and a Timestamp.
struct Clock {
  std::chrono::system_clock::time_point at = writes::NowMillis();
  Timestamp ts = writes::ToTimestamp(at);
};

inline int64_t Millis(const Timestamp& t) { return t.seconds() * 1000 + t.nanos() / 1'000'000; }

// The actor as recorded: team filled with TEAM_SALES when unset.
inline ev::Actor SalesActor(const ev::Actor& a) {
  ev::Actor out = a;
  if (out.team() == ev::TEAM_UNSPECIFIED) out.set_team(ev::TEAM_SALES);
  return out;
}

inline std::string Lower(std::string_view s) { return absl::AsciiStrToLower(writes::AbslView(s)); }
inline bool ContainsFold(std::string_view hay, std::string_view needle) {
  return Lower(hay).find(Lower(needle)) != std::string::npos;
}
inline bool EqualsFold(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(writes::AbslView(a), writes::AbslView(b));
}
template <typename Repeated, typename V>
bool AnyOf(const Repeated& values, V v) {
  return values.empty() || std::find(values.begin(), values.end(), v) != values.end();
}

inline ev::CustomerRef AccountRef(const ev::Account& a) {
  ev::CustomerRef ref;
  ref.set_customer_key(a.customer_key());
  ref.set_account_id(a.id());
  ref.mutable_person()->set_company(a.name());
  ref.mutable_person()->set_website(a.website());
  return ref;
}

inline ev::CustomerRef ContactRef(const ev::Contact& c) {
  ev::CustomerRef ref;
  ref.set_customer_key(c.customer_key());
  ref.set_account_id(c.account_id());
  ref.set_contact_id(c.id());
  ref.set_lead_id(c.source_lead_id());
  *ref.mutable_person() = c.person();
  return ref;
}

// The stored form of a person: as given, phone in E.164.
inline ev::PersonIdentity StoredPerson(const ev::PersonIdentity& p) {
  ev::PersonIdentity out = p;
  if (!out.phone().empty()) out.set_phone(writes::NormalizedPhone(out.phone()));
  return out;
}

inline std::string FirstOf(std::initializer_list<std::string> names) {
  for (const auto& n : names) {
    if (!n.empty()) return n;
  }
  return "";
}

// ---- SalesLogic templates ------------------------------------------------------------

template <typename T>
absl::StatusOr<std::optional<SalesLogic::Loaded<T>>> SalesLogic::Find(std::string_view type, const std::string& id) {
  auto got = store_.Get(store_.EntityKey(type, id));
  if (!got.ok()) return writes::StorageError(got.status());
  if (!got->has_value()) return std::optional<Loaded<T>>();
  Loaded<T> out;
  if (!out.entity.ParseFromString((*got)->data)) {
    return absl::InternalError(Cat("stored ", type, " '", id, "' is corrupt"));
  }
  out.version = (*got)->version;
  return std::optional<Loaded<T>>(std::move(out));
}

template <typename T>
absl::StatusOr<SalesLogic::Loaded<T>> SalesLogic::Load(std::string_view type, const std::string& id) {
  auto found = Find<T>(type, id);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return writes::NotFound(type, id);
  return std::move(**found);
}

template <typename T>
absl::StatusOr<T> SalesLogic::GetRecord(std::string_view field, const std::string& id, std::string_view type,
                                        const Deadline& d) {
  Validator v;
  v.RequiredId(field, id);
  if (!v.ok()) return v.ToStatus();
  if (auto s = writes::CheckDeadline(d); !s.ok()) return s;
  auto loaded = Load<T>(type, id);
  if (!loaded.ok()) return loaded.status();
  loaded->entity.set_version(loaded->version);
  return std::move(loaded->entity);
}

template <typename T, typename R>
void SalesLogic::Rewrite(Changes<R>& out, std::string_view type, T& entity, uint64_t read_version) {
  entity.set_version(read_version + 1);
  out.more_entities.push_back({store_.EntityKey(type, entity.id()), read_version, writes::SerializeDeterministic(entity)});
}

template <typename R>
std::string SalesLogic::Emit(Changes<R>& out, const writes::EventSpec& spec,
                             const std::function<void(ev::Event&)>& payload) {
  ev::Event e = events_.Build(spec, payload);
  out.events.push_back(events_.ToOutbox(e));
  return e.id();
}

template <typename R>
absl::Status SalesLogic::Relink(const std::string& from_id, const ev::Account& to, const Timestamp& now,
                                Changes<R>& out) {
  auto contacts = IndexMembers(layout::By(layout::kContact, "account", from_id), kMaxCascade);
  if (!contacts.ok()) return contacts.status();
  auto quotes = IndexMembers(layout::By(layout::kQuote, "account", from_id), kMaxCascade);
  if (!quotes.ok()) return quotes.status();
  auto opps = IndexMembers(layout::By(layout::kOpportunity, "account", from_id), kMaxCascade);
  if (!opps.ok()) return opps.status();
  if (contacts->size() + quotes->size() + opps->size() > static_cast<size_t>(kMaxCascade)) {
    return absl::FailedPreconditionError(Cat("account ", from_id, " has more than ", kMaxCascade,
                                             " contacts, quotes and opportunities to move in one call"));
  }
  for (const auto& id : *contacts) {
    auto c = Find<ev::Contact>(layout::kContact, id);
    if (!c.ok()) return c.status();
    if (!c->has_value() || (*c)->entity.account_id() != from_id) continue;  // moved since
    auto& e = (*c)->entity;
    e.set_account_id(to.id());
    e.set_customer_key(to.customer_key());
    *e.mutable_updated_at() = now;
    Rewrite(out, layout::kContact, e, (*c)->version);
    out.index.push_back(Index(layout::By(layout::kContact, "account", to.id()), e.created_at(), id));
    out.index.push_back(Index(layout::By(layout::kContact, "key", to.customer_key()), e.created_at(), id));
  }
  for (const auto& id : *quotes) {
    auto q = Find<ev::Quote>(layout::kQuote, id);
    if (!q.ok()) return q.status();
    if (!q->has_value() || (*q)->entity.account_id() != from_id) continue;
    auto& e = (*q)->entity;
    e.set_account_id(to.id());
    e.mutable_customer()->set_account_id(to.id());
    e.mutable_customer()->set_customer_key(to.customer_key());
    *e.mutable_updated_at() = now;
    Rewrite(out, layout::kQuote, e, (*q)->version);
    out.index.push_back(Index(layout::By(layout::kQuote, "account", to.id()), e.issued_at(), id));
    out.index.push_back(Index(layout::By(layout::kQuote, "key", to.customer_key()), e.issued_at(), id));
  }
  for (const auto& id : *opps) {
    auto o = Find<ev::Opportunity>(layout::kOpportunity, id);
    if (!o.ok()) return o.status();
    if (!o->has_value() || (*o)->entity.account_id() != from_id) continue;
    auto& e = (*o)->entity;
    e.set_account_id(to.id());
    e.mutable_customer()->set_account_id(to.id());
    e.mutable_customer()->set_customer_key(to.customer_key());
    *e.mutable_updated_at() = now;
    Rewrite(out, layout::kOpportunity, e, (*o)->version);
    out.index.push_back(Index(layout::By(layout::kOpportunity, "account", to.id()), e.created_at(), id));
    out.index.push_back(Index(layout::By(layout::kOpportunity, "key", to.customer_key()), e.created_at(), id));
  }
  return absl::OkStatus();
}

// Which index a List walks: the first filter that has one, else every record of the type.
inline std::string PickIndex(std::string_view type, std::initializer_list<std::pair<std::string_view, std::string>> by) {
  for (const auto& [field, value] : by) {
    if (!value.empty()) return layout::By(type, field, value);
  }
  return layout::All(type);
}

// Filter strings of List requests: <= 256 bytes each.
inline void FilterString(Validator& v, std::string_view field, std::string_view value) {
  v.MaxBytes(field, value, writes::limits::kWebsite);
}

template <typename Repeated>
void FilterEnums(Validator& v, std::string_view field, const Repeated& values, bool (*is_valid)(int)) {
  for (int i = 0; i < values.size(); ++i) v.Enum(Validator::Index(field, i), values[i], is_valid, true);
}

}  // namespace concord::sales
