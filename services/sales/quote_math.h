#pragma once
// Exact quote arithmetic. Money is integer nanos held in a 128-bit integer; discounts are
// taken to 1e-6 percent; a line's net amount is rounded half-even to the currency's minor
// unit (2 decimals unless the currency is listed in CurrencyDigits()).
//
//   line.net_amount     = round_half_even(unit_price * quantity * (1 - discount_percent / 100))
//   quote.list_total    = sum(line.list_price * quantity)              (exact, not rounded)
//   quote.total         = sum(line.net_amount)
//   quote.discount_total= list_total - total   (negative when lines are priced above list)
//
// Limits (INVALID_ARGUMENT naming the field when exceeded): any Money given by a client has
// |units| <= kMaxInputUnits; every computed amount (line or total) <= kMaxComputedUnits.

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/status/status.h>

#include "concord/events/v1/common.pb.h"
#include "concord/events/v1/events.pb.h"

namespace concord::sales {

using Nanos = __int128;

inline constexpr int64_t kMaxInputUnits = 1'000'000'000'000;          // 10^12
inline constexpr int64_t kMaxComputedUnits = 1'000'000'000'000'000;   // 10^15
inline constexpr int64_t kNanosPerUnit = 1'000'000'000;

// Digits after the decimal point of a currency's minor unit (ISO 4217): 0 for JPY, KRW, ...,
// 3 for BHD, KWD, ..., 2 otherwise.
int CurrencyDigits(std::string_view currency_code);

Nanos ToNanos(const events::v1::Money& m);
// The Money for an amount of nanos (units and nanos with the same sign).
events::v1::Money FromNanos(Nanos n, const std::string& currency_code);

// round(num / den) half to even; den > 0.
Nanos DivRoundHalfEven(Nanos num, Nanos den);

// Discount as millionths of a percent (12.5 % -> 12'500'000); the caller has checked 0..100.
int64_t DiscountMicros(double percent);

// Fills every line's net_amount and the quote's list_total, total and discount_total from
// quote->line_items() and quote->currency_code(). The lines must already be valid (currency,
// ranges); fails with INVALID_ARGUMENT ("line_items[3].net_amount: ..." or
// "line_items: total ...") when a computed amount exceeds kMaxComputedUnits.
absl::Status ComputeQuoteTotals(events::v1::Quote* quote);

}  // namespace concord::sales
