#include "common/writes/validation.h"

#include <cmath>

#include <absl/strings/ascii.h>
#include "common/writes/strings.h"
#include <absl/strings/str_join.h>

#include "common/identity/identity.h"

namespace concord::writes {
namespace {

namespace ev = concord::events::v1;

// Timestamp range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinSeconds = -62135596800LL;
constexpr int64_t kMaxSeconds = 253402300799LL;

std::string Quoted(std::string_view v) {
  // Echo at most 64 bytes of a bad value back, so a huge value does not make a huge error.
  if (v.size() > 64) return Cat("'", v.substr(0, 64), "...'");
  return Cat("'", v, "'");
}

bool Blank(std::string_view v) { return absl::StripAsciiWhitespace(AbslView(v)).empty(); }

}  // namespace

std::string Validator::Path(std::string_view parent, std::string_view child) {
  if (parent.empty()) return std::string(child);
  if (child.empty()) return std::string(parent);
  return Cat(parent, ".", child);
}

std::string Validator::Index(std::string_view parent, int i) { return Cat(parent, "[", i, "]"); }

std::string Validator::Full(std::string_view field) const { return Path(prefix_, field); }

void Validator::Add(std::string_view field, std::string_view why) {
  violations_.push_back({Full(field), std::string(why)});
}

std::string Validator::Message() const {
  std::vector<std::string> parts;
  parts.reserve(violations_.size());
  for (const auto& v : violations_) parts.push_back(Cat(v.field, ": ", v.why));
  return absl::StrJoin(parts, "; ");
}

absl::Status Validator::ToStatus() const {
  return ok() ? absl::OkStatus() : absl::InvalidArgumentError(Message());
}

grpc::Status Validator::ToGrpcStatus() const {
  return ok() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, Message());
}

bool Validator::Required(std::string_view field, std::string_view value, size_t max_bytes) {
  if (Blank(value)) {
    Add(field, "required");
    return false;
  }
  return MaxBytes(field, value, max_bytes);
}

bool Validator::MaxBytes(std::string_view field, std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    Add(field, Cat("at most ", max_bytes, " bytes, got ", value.size()));
    return false;
  }
  return true;
}

bool Validator::RequestId(std::string_view value, std::string_view field) {
  if (value.empty()) {
    Add(field, "required (the client's idempotency key, 1..128 bytes)");
    return false;
  }
  if (value.size() > limits::kRequestId) {
    Add(field, Cat("at most ", limits::kRequestId, " bytes, got ", value.size()));
    return false;
  }
  for (unsigned char c : value) {
    if (c <= 0x20 || c == 0x7f) {
      Add(field, "must not contain spaces or control characters");
      return false;
    }
  }
  return true;
}

bool Validator::RequiredId(std::string_view field, std::string_view value) {
  if (value.empty()) {
    Add(field, "required");
    return false;
  }
  return OptionalId(field, value);
}

bool Validator::OptionalId(std::string_view field, std::string_view value) {
  if (value.size() > limits::kId) {
    Add(field, Cat("at most ", limits::kId, " bytes, got ", value.size()));
    return false;
  }
  return true;
}

bool Validator::Email(std::string_view field, std::string_view value, bool required) {
  if (value.empty()) {
    if (required) Add(field, "required");
    return !required;
  }
  if (!MaxBytes(field, value, limits::kEmail)) return false;
  if (!identity::IsValidEmail(value)) {
    Add(field, Cat("not a valid email address: ", Quoted(value)));
    return false;
  }
  return true;
}

bool Validator::Phone(std::string_view field, std::string_view value, bool required) {
  if (value.empty()) {
    if (required) Add(field, "required");
    return !required;
  }
  if (!MaxBytes(field, value, limits::kPhone)) return false;
  auto e164 = identity::NormalizePhone(value);
  if (!e164.ok()) {
    Add(field, Cat("not a valid phone number (", e164.status().message(), ")"));
    return false;
  }
  return true;
}

bool Validator::Website(std::string_view field, std::string_view value) {
  if (value.empty()) return true;
  if (!MaxBytes(field, value, limits::kWebsite)) return false;
  if (identity::NormalizeDomain(value).empty()) {
    Add(field, Cat("no domain in ", Quoted(value)));
    return false;
  }
  return true;
}

bool Validator::CountryCode(std::string_view field, std::string_view value) {
  if (value.empty()) return true;
  if (value.size() != 2 || !absl::ascii_isalpha(value[0]) || !absl::ascii_isalpha(value[1])) {
    Add(field, Cat("must be an ISO 3166-1 alpha-2 code (2 letters), got ", Quoted(value)));
    return false;
  }
  return true;
}

bool Validator::Person(std::string_view field, const ev::PersonIdentity& p, bool require_contact) {
  size_t before = violations_.size();
  MaxBytes(Path(field, "first_name"), p.first_name(), limits::kName);
  MaxBytes(Path(field, "last_name"), p.last_name(), limits::kName);
  MaxBytes(Path(field, "full_name"), p.full_name(), limits::kName);
  MaxBytes(Path(field, "company"), p.company(), limits::kName);
  MaxBytes(Path(field, "title"), p.title(), limits::kName);
  Email(Path(field, "email"), p.email());
  Phone(Path(field, "phone"), p.phone());
  Website(Path(field, "website"), p.website());
  if (require_contact && Blank(p.email()) && Blank(p.phone())) {
    Add(Path(field, "email"), "email or phone is required");
  }
  return violations_.size() == before;
}

bool Validator::Actor(std::string_view field, const ev::Actor& actor, bool present, ev::Team own_team) {
  if (!present) {
    Add(field, "required (who makes the change: actor.id)");
    return false;
  }
  size_t before = violations_.size();
  if (Blank(actor.id())) {
    Add(Path(field, "id"), "required");
  } else {
    MaxBytes(Path(field, "id"), actor.id(), limits::kId);
  }
  if (actor.team() != ev::TEAM_UNSPECIFIED && actor.team() != own_team) {
    Add(Path(field, "team"), Cat("must be unset or ", ev::Team_Name(own_team), ", got ",
                                          ev::Team_IsValid(actor.team()) ? ev::Team_Name(actor.team())
                                                                         : std::to_string(actor.team())));
  }
  MaxBytes(Path(field, "display_name"), actor.display_name(), limits::kName);
  Email(Path(field, "email"), actor.email());
  Enum(Path(field, "kind"), actor.kind(), ev::ActorKind_IsValid, false);
  return violations_.size() == before;
}

bool Validator::OptionalActor(std::string_view field, const ev::Actor& actor, bool present,
                              std::vector<ev::Team> allowed_teams) {
  if (!present) return true;
  size_t before = violations_.size();
  if (Blank(actor.id())) {
    Add(Path(field, "id"), "required when set");
  } else {
    MaxBytes(Path(field, "id"), actor.id(), limits::kId);
  }
  if (Enum(Path(field, "team"), actor.team(), ev::Team_IsValid, false) && actor.team() != ev::TEAM_UNSPECIFIED &&
      !allowed_teams.empty()) {
    bool allowed = false;
    std::vector<std::string> names;
    for (auto t : allowed_teams) {
      allowed |= (t == actor.team());
      names.push_back(ev::Team_Name(t));
    }
    if (!allowed) {
      Add(Path(field, "team"),
          Cat("must be unset or ", absl::StrJoin(names, " or "), ", got ", ev::Team_Name(actor.team())));
    }
  }
  MaxBytes(Path(field, "display_name"), actor.display_name(), limits::kName);
  Email(Path(field, "email"), actor.email());
  Enum(Path(field, "kind"), actor.kind(), ev::ActorKind_IsValid, false);
  return violations_.size() == before;
}

bool Validator::Percent(std::string_view field, double value) {
  if (!std::isfinite(value) || value < 0 || value > 100) {
    Add(field, Cat("must be a percentage in 0..100, got ", value));
    return false;
  }
  return true;
}

bool Validator::IntRange(std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    Add(field, Cat("must be in ", min, "..", max, ", got ", value));
    return false;
  }
  return true;
}

bool Validator::CurrencyCode(std::string_view field, std::string_view value) {
  if (value.empty()) {
    Add(field, "required (ISO 4217 code, e.g. USD)");
    return false;
  }
  bool ok = value.size() == 3;
  for (char c : value) ok = ok && c >= 'A' && c <= 'Z';
  if (!ok) {
    Add(field, Cat("must be 3 upper-case letters (ISO 4217), got ", Quoted(value)));
    return false;
  }
  return true;
}

bool Validator::Money(std::string_view field, const ev::Money& m, bool non_negative) {
  size_t before = violations_.size();
  CurrencyCode(Path(field, "currency_code"), m.currency_code());
  if (m.nanos() < -999999999 || m.nanos() > 999999999) {
    Add(Path(field, "nanos"), Cat("must be in -999999999..999999999, got ", m.nanos()));
  } else if ((m.units() > 0 && m.nanos() < 0) || (m.units() < 0 && m.nanos() > 0)) {
    Add(Path(field, "nanos"), "must have the same sign as units");
  } else if (non_negative && (m.units() < 0 || m.nanos() < 0)) {
    Add(field, "must not be negative");
  }
  return violations_.size() == before;
}

bool Validator::Timestamp(std::string_view field, const google::protobuf::Timestamp& t) {
  if (t.seconds() < kMinSeconds || t.seconds() > kMaxSeconds || t.nanos() < 0 || t.nanos() > 999999999) {
    Add(field, "not a valid timestamp (0001-01-01..9999-12-31, nanos 0..999999999)");
    return false;
  }
  return true;
}

bool Validator::TimeOrder(std::string_view from_field, const google::protobuf::Timestamp* from,
                          std::string_view until_field, const google::protobuf::Timestamp* until) {
  if (from == nullptr || until == nullptr) return true;
  bool before = from->seconds() < until->seconds() ||
                (from->seconds() == until->seconds() && from->nanos() < until->nanos());
  if (!before) {
    Add(until_field, Cat("must be after ", Full(from_field)));
    return false;
  }
  return true;
}

bool Validator::Date(std::string_view field, const ev::Date& d) {
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool ok = d.year() >= 1 && d.year() <= 9999 && d.month() >= 1 && d.month() <= 12 && d.day() >= 1 &&
            d.day() <= kDays[d.month() - 1];
  if (ok && d.month() == 2 && d.day() == 29) {
    int y = d.year();
    ok = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  }
  if (!ok) {
    Add(field, Cat("not a valid date: ", d.year(), "-", d.month(), "-", d.day()));
    return false;
  }
  return true;
}

bool Validator::Enum(std::string_view field, int value, bool (*is_valid)(int), bool required) {
  if (!is_valid(value)) {
    Add(field, Cat("unknown value ", value));
    return false;
  }
  if (required && value == 0) {
    Add(field, "required (must not be *_UNSPECIFIED)");
    return false;
  }
  return true;
}

bool Validator::MaxCount(std::string_view field, int count, int max) {
  if (count > max) {
    Add(field, Cat("at most ", max, " entries, got ", count));
    return false;
  }
  return true;
}

bool Validator::Offer(std::string_view field, const ev::Offer& o) {
  size_t before = violations_.size();
  OptionalId(Path(field, "offer_code"), o.offer_code());
  if (Blank(o.product())) {
    Add(Path(field, "product"), "required");
  } else {
    MaxBytes(Path(field, "product"), o.product(), limits::kId);
  }
  if (o.has_price()) Money(Path(field, "price"), o.price(), /*non_negative=*/true);
  Enum(Path(field, "billing_period"), o.billing_period(), ev::BillingPeriod_IsValid, false);
  if (o.has_discount_percent()) Percent(Path(field, "discount_percent"), o.discount_percent());
  if (o.has_trial_days() && o.trial_days() > limits::kMaxTrialDays) {
    Add(Path(field, "trial_days"), Cat("must be in 0..", limits::kMaxTrialDays, ", got ", o.trial_days()));
  }
  bool from_ok = !o.has_valid_from() || Timestamp(Path(field, "valid_from"), o.valid_from());
  bool until_ok = !o.has_valid_until() || Timestamp(Path(field, "valid_until"), o.valid_until());
  if (from_ok && until_ok) {
    TimeOrder(Path(field, "valid_from"), o.has_valid_from() ? &o.valid_from() : nullptr, Path(field, "valid_until"),
              o.has_valid_until() ? &o.valid_until() : nullptr);
  }
  MaxBytes(Path(field, "text"), o.text(), limits::kReason);
  return violations_.size() == before;
}

bool Validator::Offers(std::string_view field, const google::protobuf::RepeatedPtrField<ev::Offer>& offers) {
  if (!MaxCount(field, offers.size(), limits::kOffers)) return false;
  bool ok = true;
  for (int i = 0; i < offers.size(); ++i) ok &= Offer(Index(field, i), offers[i]);
  return ok;
}

bool Validator::Segment(std::string_view field, const ev::Segment& s) {
  size_t before = violations_.size();
  OptionalId(Path(field, "segment_id"), s.segment_id());
  MaxBytes(Path(field, "name"), s.name(), limits::kName);
  switch (s.selector_case()) {
    case ev::Segment::SELECTOR_NOT_SET:
      Add(field, "exactly one of criteria or customers is required");
      break;
    case ev::Segment::kCriteria: {
      const auto& c = s.criteria();
      auto strings = [&](std::string_view name, const google::protobuf::RepeatedPtrField<std::string>& values,
                         bool country) {
        std::string f = Path(Path(field, "criteria"), name);
        if (!MaxCount(f, values.size(), limits::kCriteriaValues)) return;
        for (int i = 0; i < values.size(); ++i) {
          if (Blank(values[i])) {
            Add(Index(f, i), "must not be empty");
          } else if (country) {
            CountryCode(Index(f, i), values[i]);
          } else {
            MaxBytes(Index(f, i), values[i], limits::kName);
          }
        }
      };
      strings("industries", c.industries(), false);
      strings("regions", c.regions(), false);
      strings("countries", c.countries(), true);
      std::string f = Path(Path(field, "criteria"), "lifecycle_stages");
      if (MaxCount(f, c.lifecycle_stages_size(), limits::kCriteriaValues)) {
        for (int i = 0; i < c.lifecycle_stages_size(); ++i) {
          Enum(Index(f, i), c.lifecycle_stages(i), ev::LifecycleStage_IsValid, true);
        }
      }
      break;
    }
    case ev::Segment::kCustomers: {
      std::string f = Path(Path(field, "customers"), "customer_keys");
      const auto& keys = s.customers().customer_keys();
      if (keys.empty()) {
        Add(f, "at least one customer key is required");
      } else if (MaxCount(f, keys.size(), limits::kSegmentKeys)) {
        for (int i = 0; i < keys.size(); ++i) {
          if (Blank(keys[i])) {
            Add(Index(f, i), "must not be empty");
          } else {
            MaxBytes(Index(f, i), keys[i], limits::kWebsite);
          }
        }
      }
      break;
    }
  }
  return violations_.size() == before;
}

bool Validator::ScoreReasons(std::string_view field,
                             const google::protobuf::RepeatedPtrField<ev::ScoreReason>& reasons) {
  if (!MaxCount(field, reasons.size(), limits::kScoreReasons)) return false;
  size_t before = violations_.size();
  for (int i = 0; i < reasons.size(); ++i) {
    std::string f = Index(field, i);
    Required(Path(f, "code"), reasons[i].code(), limits::kId);
    MaxBytes(Path(f, "description"), reasons[i].description(), limits::kScoreReasonText);
    IntRange(Path(f, "points"), reasons[i].points(), -100, 100);
  }
  return violations_.size() == before;
}

absl::Status CheckPageSize(int requested, int* out) {
  if (requested == 0) {
    *out = limits::kDefaultPageSize;
    return absl::OkStatus();
  }
  if (requested < 0 || requested > limits::kMaxPageSize) {
    return absl::InvalidArgumentError(
        Cat("page_size: must be 0 (default ", limits::kDefaultPageSize, ") to ", limits::kMaxPageSize,
                     ", got ", requested));
  }
  *out = requested;
  return absl::OkStatus();
}

}  // namespace concord::writes
