#include "services/sales/quote_math.h"

#include <array>
#include <cmath>

#include <absl/strings/str_cat.h>

namespace concord::sales {
namespace {

constexpr std::array<std::string_view, 16> kZeroDigit = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                                          "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF"};
constexpr std::array<std::string_view, 7> kThreeDigit = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};

Nanos Pow10(int n) {
  Nanos p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

Nanos Abs(Nanos n) { return n < 0 ? -n : n; }

bool TooLarge(Nanos n) { return Abs(n) > static_cast<Nanos>(kMaxComputedUnits) * kNanosPerUnit; }

}  // namespace

int CurrencyDigits(std::string_view code) {
  for (auto c : kZeroDigit) {
    if (c == code) return 0;
  }
  for (auto c : kThreeDigit) {
    if (c == code) return 3;
  }
  return 2;
}

Nanos ToNanos(const events::v1::Money& m) { return static_cast<Nanos>(m.units()) * kNanosPerUnit + m.nanos(); }

events::v1::Money FromNanos(Nanos n, const std::string& currency_code) {
  events::v1::Money m;
  m.set_currency_code(currency_code);
  m.set_units(static_cast<int64_t>(n / kNanosPerUnit));  // truncates toward zero: same sign
  m.set_nanos(static_cast<int32_t>(n % kNanosPerUnit));
  return m;
}

Nanos DivRoundHalfEven(Nanos num, Nanos den) {
  bool negative = num < 0;
  Nanos a = Abs(num);
  Nanos q = a / den;
  Nanos r = a % den;
  Nanos twice = r * 2;
  if (twice > den || (twice == den && (q % 2) == 1)) ++q;
  return negative ? -q : q;
}

int64_t DiscountMicros(double percent) { return static_cast<int64_t>(std::llround(percent * 1e6)); }

absl::Status ComputeQuoteTotals(events::v1::Quote* quote) {
  const std::string& currency = quote->currency_code();
  const Nanos minor = Pow10(9 - CurrencyDigits(currency));
  const Nanos hundred_percent = static_cast<Nanos>(100) * 1'000'000;  // in millionths of a percent
  Nanos list_total = 0;
  Nanos total = 0;
  for (int i = 0; i < quote->line_items_size(); ++i) {
    auto* line = quote->mutable_line_items(i);
    const Nanos qty = line->quantity();
    const Nanos gross = ToNanos(line->unit_price()) * qty;
    const Nanos keep = hundred_percent - (line->has_discount_percent() ? DiscountMicros(line->discount_percent()) : 0);
    // |unit| <= 10^21 nanos, qty <= 10^6, keep <= 10^8: the product stays below 10^35.
    const Nanos net = DivRoundHalfEven(gross * keep, hundred_percent * minor) * minor;
    const Nanos list = ToNanos(line->list_price()) * qty;
    if (TooLarge(net) || TooLarge(list)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line_items[", i, "]: amount exceeds ", kMaxComputedUnits, " units of ", currency));
    }
    *line->mutable_net_amount() = FromNanos(net, currency);
    list_total += list;
    total += net;
  }
  if (TooLarge(list_total) || TooLarge(total)) {
    return absl::InvalidArgumentError(
        absl::StrCat("line_items: quote total exceeds ", kMaxComputedUnits, " units of ", currency));
  }
  *quote->mutable_list_total() = FromNanos(list_total, currency);
  *quote->mutable_total() = FromNanos(total, currency);
  *quote->mutable_discount_total() = FromNanos(list_total - total, currency);
  return absl::OkStatus();
}

}  // namespace concord::sales
