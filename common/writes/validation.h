#pragma once
// Request validation shared by the marketing and sales services.
//
// A Validator collects every problem of a request (not only the first) as
// "field.path: why" and turns them into one INVALID_ARGUMENT:
//   "name: required; offers[1].price.currency_code: must be 3 upper-case letters (ISO 4217), got 'usd'"
// Field paths use the proto field names of the request, dotted for nested messages and with
// [i] for repeated fields, so a client can find the field in the .proto file.
//
// Every helper returns true when the value is valid (so a caller can skip dependent checks)
// and adds a violation otherwise. Limits are the ones documented in
// proto/concord/events/v1/common.proto; they live in `limits` below, in one place.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <google/protobuf/repeated_ptr_field.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/support/status.h>

#include "concord/events/v1/common.pb.h"

namespace concord::writes {

namespace limits {
// Sizes in bytes of UTF-8.
inline constexpr size_t kRequestId = 128;      // 1..128, required on every write
inline constexpr size_t kId = 64;              // server-assigned ids, actor ids, product ids, codes
inline constexpr size_t kName = 200;           // names, titles, company, industry, region
inline constexpr size_t kSubject = 998;        // message / activity subject (RFC 5322 line limit)
inline constexpr size_t kBody = 16 * 1024;     // message body
inline constexpr size_t kNotes = 16 * 1024;    // activity / quote notes
inline constexpr size_t kDescription = 4 * 1024;
inline constexpr size_t kReason = 4 * 1024;    // reason, note, end_reason, offer / commitment free text
inline constexpr size_t kLineDescription = 1024;
inline constexpr size_t kScoreReasonText = 1024;
inline constexpr size_t kEmail = 254;
inline constexpr size_t kPhone = 32;
inline constexpr size_t kWebsite = 256;
inline constexpr size_t kInstance = 128;
// Counts.
inline constexpr int kOffers = 20;
inline constexpr int kLineItems = 100;
inline constexpr int kScoreReasons = 20;
inline constexpr int kSegmentKeys = 10000;
inline constexpr int kCriteriaValues = 50;
inline constexpr int kContactIds = 20;
// Lists.
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;
// Offer trial length.
inline constexpr uint32_t kMaxTrialDays = 3650;
}  // namespace limits

struct Violation {
  std::string field;
  std::string why;
};

class Validator {
 public:
  Validator() = default;
  // Every field path added through this validator is prefixed with `prefix` + ".".
  explicit Validator(std::string prefix) : prefix_(std::move(prefix)) {}

  void Add(std::string_view field, std::string_view why);
  bool ok() const { return violations_.empty(); }
  const std::vector<Violation>& violations() const { return violations_; }
  // "a: why; b: why" (empty when ok).
  std::string Message() const;
  // OK, or INVALID_ARGUMENT with Message().
  absl::Status ToStatus() const;
  grpc::Status ToGrpcStatus() const;

  // ---- strings -------------------------------------------------------------------------
  // Non-empty (after trimming ASCII whitespace) and at most max bytes.
  bool Required(std::string_view field, std::string_view value, size_t max_bytes);
  // At most max bytes (empty is fine).
  bool MaxBytes(std::string_view field, std::string_view value, size_t max_bytes);
  // The write's idempotency key: required, 1..128 bytes, printable ASCII (no spaces/controls).
  bool RequestId(std::string_view value, std::string_view field = "request_id");
  // An id the client passes back (campaign_id, lead_id...): required, <= 64 bytes.
  bool RequiredId(std::string_view field, std::string_view value);
  // Same, but empty is fine.
  bool OptionalId(std::string_view field, std::string_view value);

  // ---- identity ------------------------------------------------------------------------
  // identity::IsValidEmail and <= 254 bytes. Empty is fine unless required.
  bool Email(std::string_view field, std::string_view value, bool required = false);
  // identity::NormalizePhone (E.164) and <= 32 bytes. Empty is fine unless required.
  bool Phone(std::string_view field, std::string_view value, bool required = false);
  // A website or bare domain with a plausible domain (identity::NormalizeDomain), <= 256 bytes.
  bool Website(std::string_view field, std::string_view value);
  // ISO 3166-1 alpha-2: two ASCII letters (either case). Empty is fine.
  bool CountryCode(std::string_view field, std::string_view value);
  // Every PersonIdentity field within its limit; email / phone / website well-formed when set;
  // when require_contact, email or phone must be set (violation on `field`.email).
  bool Person(std::string_view field, const events::v1::PersonIdentity& p, bool require_contact);

  // The write's actor: present, id required (<= 64), display_name <= 200, email valid when set,
  // team either unset or `own_team` (a service fills it with its own team), kind known.
  bool Actor(std::string_view field, const events::v1::Actor& actor, bool present, events::v1::Team own_team);
  // An optional actor (owner, suggested_owner): when present, as above but with `team` allowed
  // to be any of `allowed_teams` (empty = any known team).
  bool OptionalActor(std::string_view field, const events::v1::Actor& actor, bool present,
                     std::vector<events::v1::Team> allowed_teams = {});

  // ---- numbers, money, time --------------------------------------------------------------
  // 0..100 inclusive, finite.
  bool Percent(std::string_view field, double value);
  bool IntRange(std::string_view field, int64_t value, int64_t min, int64_t max);
  // ISO 4217 shape: exactly three upper-case ASCII letters.
  bool CurrencyCode(std::string_view field, std::string_view value);
  // currency_code required; nanos in -999,999,999..999,999,999 with the sign of units;
  // non_negative: the amount must be >= 0.
  bool Money(std::string_view field, const events::v1::Money& m, bool non_negative = false);
  // A set Timestamp within 0001-01-01..9999-12-31 and nanos 0..999,999,999.
  bool Timestamp(std::string_view field, const google::protobuf::Timestamp& t);
  // Both set -> from < until (violation on until_field).
  bool TimeOrder(std::string_view from_field, const google::protobuf::Timestamp* from, std::string_view until_field,
                 const google::protobuf::Timestamp* until);
  bool Date(std::string_view field, const events::v1::Date& d);

  // ---- enums and counts -------------------------------------------------------------------
  // `value` must be known (is_valid, e.g. events::v1::Channel_IsValid) and, when required,
  // not the zero *_UNSPECIFIED value.
  bool Enum(std::string_view field, int value, bool (*is_valid)(int), bool required);
  bool MaxCount(std::string_view field, int count, int max);

  // ---- shared value types -----------------------------------------------------------------
  // product required (<= 64), offer_code <= 64, price valid when set, discount 0..100,
  // trial_days <= 3650, valid_from < valid_until, text <= 4 KiB, billing period known.
  bool Offer(std::string_view field, const events::v1::Offer& o);
  // <= 20 offers, each valid; field is the repeated field's path ("offers").
  bool Offers(std::string_view field, const google::protobuf::RepeatedPtrField<events::v1::Offer>& offers);
  // Exactly one selector; criteria values <= 50 per field (<= 200 bytes each), known
  // lifecycle stages, 2-letter countries; customer list 1..10000 keys (<= 256 bytes each).
  bool Segment(std::string_view field, const events::v1::Segment& s);
  bool ScoreReasons(std::string_view field, const google::protobuf::RepeatedPtrField<events::v1::ScoreReason>& r);

  // Joins a parent path and a child ("offers[2]" + "price" -> "offers[2].price").
  static std::string Path(std::string_view parent, std::string_view child);
  static std::string Index(std::string_view parent, int i);

 private:
  std::string Full(std::string_view field) const;

  std::string prefix_;
  std::vector<Violation> violations_;
};

// Page size of a List request: 0 -> 50; 1..500 as is; anything else INVALID_ARGUMENT
// ("page_size: must be 0..500, got 900").
absl::Status CheckPageSize(int requested, int* out);

}  // namespace concord::writes
