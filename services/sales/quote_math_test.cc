#include "services/sales/quote_math.h"

#include <gtest/gtest.h>

namespace concord::sales {
namespace {

namespace ev = concord::events::v1;

ev::Money M(int64_t units, int32_t nanos, const char* cur = "USD") {
  ev::Money m;
  m.set_currency_code(cur);
  m.set_units(units);
  m.set_nanos(nanos);
  return m;
}

ev::QuoteLineItem* Line(ev::Quote& q, ev::Money list, ev::Money unit, uint32_t qty, std::optional<double> discount) {
  auto* l = q.add_line_items();
  l->set_product("p");
  *l->mutable_list_price() = list;
  *l->mutable_unit_price() = unit;
  l->set_quantity(qty);
  if (discount) l->set_discount_percent(*discount);
  return l;
}

TEST(QuoteMath, RoundsHalfToEven) {
  EXPECT_EQ(DivRoundHalfEven(25, 10), 2);
  EXPECT_EQ(DivRoundHalfEven(35, 10), 4);
  EXPECT_EQ(DivRoundHalfEven(26, 10), 3);
  EXPECT_EQ(DivRoundHalfEven(-25, 10), -2);
  EXPECT_EQ(DivRoundHalfEven(-35, 10), -4);
}

TEST(QuoteMath, LineNetAndTotals) {
  ev::Quote q;
  q.set_currency_code("USD");
  Line(q, M(100, 0), M(90, 0), 3, 10.0);          // 270 * 0.9 = 243.00
  Line(q, M(9, 990000000), M(9, 990000000), 1, std::nullopt);  // 9.99
  Line(q, M(0, 10000000), M(0, 5000000), 1, 50.0);  // 0.005 * 0.5 = 0.0025 -> 0.00
  ASSERT_TRUE(ComputeQuoteTotals(&q).ok());
  EXPECT_EQ(q.line_items(0).net_amount().units(), 243);
  EXPECT_EQ(q.line_items(0).net_amount().nanos(), 0);
  EXPECT_EQ(q.line_items(1).net_amount().units(), 9);
  EXPECT_EQ(q.line_items(1).net_amount().nanos(), 990000000);
  EXPECT_EQ(q.line_items(2).net_amount().units(), 0);
  EXPECT_EQ(q.line_items(2).net_amount().nanos(), 0);
  // list: 300 + 9.99 + 0.01 = 310.00; total: 243 + 9.99 = 252.99; discount 57.01
  EXPECT_EQ(q.list_total().units(), 310);
  EXPECT_EQ(q.list_total().nanos(), 0);
  EXPECT_EQ(q.total().units(), 252);
  EXPECT_EQ(q.total().nanos(), 990000000);
  EXPECT_EQ(q.discount_total().units(), 57);
  EXPECT_EQ(q.discount_total().nanos(), 10000000);
  EXPECT_EQ(q.total().currency_code(), "USD");
}

TEST(QuoteMath, HalfCentGoesToEven) {
  ev::Quote q;
  q.set_currency_code("USD");
  Line(q, M(0, 50000000), M(0, 50000000), 1, 50.0);  // 0.05 * 0.5 = 0.025 -> 0.02
  Line(q, M(0, 70000000), M(0, 70000000), 1, 50.0);  // 0.035 -> 0.04
  ASSERT_TRUE(ComputeQuoteTotals(&q).ok());
  EXPECT_EQ(q.line_items(0).net_amount().nanos(), 20000000);
  EXPECT_EQ(q.line_items(1).net_amount().nanos(), 40000000);
}

TEST(QuoteMath, ZeroAndThreeDigitCurrencies) {
  EXPECT_EQ(CurrencyDigits("JPY"), 0);
  EXPECT_EQ(CurrencyDigits("KWD"), 3);
  EXPECT_EQ(CurrencyDigits("EUR"), 2);
  ev::Quote q;
  q.set_currency_code("JPY");
  Line(q, M(1000, 0, "JPY"), M(999, 0, "JPY"), 1, 12.5);  // 874.125 -> 874
  ASSERT_TRUE(ComputeQuoteTotals(&q).ok());
  EXPECT_EQ(q.total().units(), 874);
  EXPECT_EQ(q.total().nanos(), 0);
}

TEST(QuoteMath, PriceAboveListGivesNegativeDiscountTotal) {
  ev::Quote q;
  q.set_currency_code("USD");
  Line(q, M(10, 0), M(12, 500000000), 2, std::nullopt);
  ASSERT_TRUE(ComputeQuoteTotals(&q).ok());
  EXPECT_EQ(q.discount_total().units(), -5);
  EXPECT_EQ(q.discount_total().nanos(), 0);
}

TEST(QuoteMath, HugeTotalsAreRefused) {
  ev::Quote q;
  q.set_currency_code("USD");
  for (int i = 0; i < 100; ++i) Line(q, M(kMaxInputUnits, 0), M(kMaxInputUnits, 0), 1'000'000, std::nullopt);
  auto s = ComputeQuoteTotals(&q);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line_items"), absl::string_view::npos);
}

}  // namespace
}  // namespace concord::sales
