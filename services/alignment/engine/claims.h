#pragma once
// Claim extraction: what a team told a customer about price, discount, trial, delivery date,
// contract term, free shipping and feature availability, from structured offers and from
// free text. Rules and limits: services/alignment/README.md ("Claim extractor").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/alignment/engine/playbook.h"

namespace concord::alignment::engine {

// Same numbering as concord.alignment.v1.ClaimAttribute.
enum class Attr : uint8_t {
  kNone = 0,
  kPrice = 1,
  kDiscount = 2,
  kTrial = 3,
  kDeliveryDate = 4,
  kContractTerm = 5,
  kFeature = 6,
  kFreeShipping = 7,
};
const char* AttrName(Attr a);  // "price", "discount", "trial", "delivery_date", "contract_term", "feature", "free_shipping"

// Feature availability as claimed.
enum class Avail : uint8_t { kAvailable = 0, kNotAvailable = 1, kComing = 2, kBeta = 3 };

struct ClaimVal {
  int64_t micros = 0;      // price, in micro-units of `currency`
  char currency[4] = {};   // ISO 4217
  uint8_t period = 0;      // concord.events.v1.BillingPeriod
  double qty = 0;          // discount %, trial days, term months
  int32_t ymd = 0;         // delivery date yyyymmdd
  bool flag = false;       // free shipping; feature available (kAvailable or kBeta)
  Avail avail = Avail::kAvailable;
};

struct ExtractedClaim {
  Attr attr = Attr::kNone;
  std::string product;  // catalog product id, "" when not tied to one product
  std::string feature;  // catalog feature id (or the name as given, for structured commitments)
  ClaimVal v;
  bool structured = false;
  // Free text: UTF-8 byte span [begin, end) in the text it came from.
  uint32_t begin = 0, end = 0;
  float confidence = 1.0f;
  std::string detail;  // e.g. "Q3" for "coming in Q3"
};

// "20 %", "USD 49.00/month", "30 days", "2026-03-03", "12 months", "free shipping",
// "available", "not available", "coming Q3", "beta".
std::string DisplayValue(const ExtractedClaim& c);
// "discount@concord-pro=20 %", "feature:sso=available" (product omitted when empty).
std::string DebugString(const ExtractedClaim& c);

// Money "49.99" -> micro-units; false if malformed.
std::string FormatMoney(const char* currency, int64_t micros);

class ClaimExtractor {
 public:
  explicit ClaimExtractor(const Playbook& pb);

  // Appends the claims found in `text`, ordered by span. `default_product` is used for claims
  // not tied to a product mention; `ref_ymd` is the date the text was written (yyyymmdd), used
  // for "by March 3" (next such date) and "within 10 business days".
  void Extract(std::string_view text, std::string_view default_product, int32_t ref_ymd,
               std::vector<ExtractedClaim>* out) const;

  struct Phrase {
    std::vector<std::string> words;
    std::string id;
    bool feature = false;
  };

 private:
  std::vector<Phrase> phrases_;  // longest first
};

}  // namespace concord::alignment::engine
