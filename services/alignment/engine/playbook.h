#pragma once
// The playbook: the versioned YAML that the detectors judge against (price book, approved
// offers, catalog, ownership per lifecycle stage, windows, tolerances, SLAs, severities).
// See services/alignment/README.md for the format and services/alignment/playbook.example.yaml.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "concord/alignment/v1/alignment.pb.h"
#include "concord/events/v1/common.pb.h"
#include "services/alignment/engine/util.h"

namespace concord::alignment::engine {

using concord::alignment::v1::FindingType;
using concord::alignment::v1::Severity;
using concord::events::v1::BillingPeriod;
using concord::events::v1::LifecycleStage;
using concord::events::v1::Team;

enum class Availability : uint8_t { kAvailable, kBeta, kRoadmap, kNotOffered };
const char* AvailabilityName(Availability a);

struct PriceBookEntry {
  std::string product;       // catalog product id, e.g. "concord-pro"
  std::string currency;      // ISO 4217
  int64_t list_price_micros = 0;
  int64_t floor_price_micros = 0;
  BillingPeriod period = concord::events::v1::BILLING_PERIOD_MONTHLY;
  double max_discount_percent = 0;
  std::optional<uint32_t> max_trial_days;
};

struct ApprovedOffer {
  std::string code;
  std::string product;
  std::optional<double> discount_percent;
  std::optional<uint32_t> trial_days;
  std::optional<bool> free_shipping;
  std::optional<int64_t> price_micros;  // in the product's price-book currency
  std::optional<int32_t> valid_from_ymd, valid_until_ymd;
  bool new_customers_only = false;
};

struct CatalogProduct {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;  // names as written in text, matched case-insensitively
};

struct CatalogFeature {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;
  Availability availability = Availability::kAvailable;
  std::vector<std::string> products;  // empty = every product
  std::string eta;                    // for roadmap features, e.g. "Q3 2026"
};

struct Playbook {
  // Server-assigned version (+1 per installed version); findings carry it.
  uint64_t version = 0;
  // The `version` label written in the YAML.
  std::string declared_version;

  std::map<std::string, PriceBookEntry> price_book;  // by product id
  std::vector<ApprovedOffer> approved_offers;
  std::vector<CatalogProduct> products;
  std::vector<CatalogFeature> features;

  // Owner per LifecycleStage value (index = enum value 0..8). TEAM_UNSPECIFIED = shared.
  std::array<Team, 9> owner{};
  // Message purposes the non-owning team may still send in any stage (newsletter, ...).
  std::vector<int> non_owner_allowed_purposes;

  Micros duplicate_outreach_window = 72 * kHour;
  Micros claim_validity = 30 * kDay;
  Micros ownership_repeat_window = 72 * kHour;

  double price_tolerance_percent = 1.0;
  double discount_tolerance_points = 0.5;
  double trial_tolerance_days = 0;
  int32_t date_tolerance_days = 0;

  Micros sla_handoff_accept = 24 * kHour;
  Micros sla_first_touch = 48 * kHour;
  int32_t stalled_opportunity_days = 14;

  // Identity matching.
  double name_jaro_winkler_threshold = 0.92;
  std::string default_country_code = "1";

  // Severity per FindingType value (index 0..7).
  std::array<Severity, 8> severity{};

  // Bounded per-customer histories.
  uint32_t max_touches = 8;
  uint32_t max_claims = 16;
  uint32_t max_records = 8;
  uint32_t dedupe_ids = 64;

  const PriceBookEntry* Price(std::string_view product) const;
  const CatalogFeature* Feature(std::string_view id) const;
  const ApprovedOffer* Offer(std::string_view code) const;
  Severity SeverityOf(FindingType t) const { return severity[static_cast<size_t>(t) & 7]; }
  Team OwnerOf(LifecycleStage s) const { return owner[static_cast<size_t>(s) % 9]; }
};

struct PlaybookProblem {
  bool error = true;  // false = warning
  uint32_t line = 0;    // 1-based, 0 = whole document
  uint32_t column = 0;  // 1-based, 0 = unknown
  std::string path;     // "price_book.concord-pro.max_discount_percent"
  std::string message;
  // "line 12: price_book.pro.max_discount_percent: must be 0..100, got 140"
  std::string ToString() const;
};

struct PlaybookLoad {
  std::optional<Playbook> playbook;  // set iff there is no error
  std::vector<PlaybookProblem> problems;  // errors and warnings, ordered by line
  bool ok() const { return playbook.has_value(); }
  // The errors as "line N: path: problem" lines.
  std::string ErrorText() const;
};

// Parses and validates a playbook. `version` becomes Playbook::version.
PlaybookLoad LoadPlaybook(std::string_view yaml, uint64_t version = 1);
PlaybookLoad LoadPlaybookFile(const std::string& path, uint64_t version = 1);

// The built-in defaults (no price book, no catalog) for tests and first start.
Playbook DefaultPlaybook();

// Parses "72h", "30d", "90m", "45s", "1h30m"; nullopt on error.
std::optional<Micros> ParseDuration(std::string_view s);

}  // namespace concord::alignment::engine
