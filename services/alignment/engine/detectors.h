#pragma once
// Detector rules that are pure functions of claims and the playbook (the event-driven and
// timer-driven orchestration is in engine.cc). See services/alignment/README.md.

#include <string>
#include <string_view>
#include <vector>

#include "services/alignment/engine/playbook.h"
#include "services/alignment/engine/state.h"

namespace concord::alignment::engine {

// Whether two claims are about the same thing: same attribute; same feature for feature
// claims; for prices the same product; for the other attributes the same product, or no
// product on one side ("20% off" in a mail vs a 10 % quote line on concord-pro).
bool SameSubject(const StoredClaim& a, const StoredClaim& b);

// Whether two claims' values disagree beyond the playbook's tolerances; `why` describes it,
// e.g. "discount 20 % vs 10 % (tolerance 0.5 points)". Prices in different currencies or
// one-time vs recurring are not compared.
bool Disagree(const StoredClaim& a, const StoredClaim& b, const Playbook& pb, std::string* why);

struct OffBookProblem {
  std::string problem;  // "discount 30 % exceeds the maximum 20 % for concord-pro"
  std::string rule;     // "price_book.concord-pro.max_discount_percent"
};
// Problems of one claim against the price book, approved offers and catalog; empty = on book.
// `at_ymd` is the claim's date (for approved-offer validity).
std::vector<OffBookProblem> CheckOffBook(const StoredClaim& c, std::string_view product, std::string_view feature,
                                         const Playbook& pb, int32_t at_ymd);

// Price in micro-units per month (yearly / 12, quarterly / 3); same value if the period is unset.
double MonthlyMicros(int64_t micros, uint8_t period);

}  // namespace concord::alignment::engine
