#include "services/alignment/engine/util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

namespace concord::alignment::engine {
namespace {

// Every form of id comes back exactly as it went in, and equal ids compare equal.
TEST(CompactIdTest, RoundTripsEveryForm) {
  const std::string uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  for (const std::string& s : {std::string(), std::string("x"), std::string("sixteen-bytes-id"),
                               std::string("seventeen-bytes-id"), uuid,
                               // Not canonical: upper case, a non-hex digit, a dash out of place.
                               std::string("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"),
                               std::string("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg"),
                               std::string("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1-0"),
                               std::string("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f/"),
                               std::string("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f:")}) {
    CompactId id(s);
    EXPECT_EQ(id.str(), s);
    EXPECT_EQ(id.empty(), s.empty());
    EXPECT_TRUE(id == CompactId(s)) << s;
    CompactId copy = id;
    EXPECT_EQ(copy.str(), s);
  }
  // Only the canonical form is packed into 16 bytes; the others keep their text.
  EXPECT_EQ(CompactId(uuid).HeapBytes(), 0u);
  EXPECT_GT(CompactId("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0").HeapBytes(), 0u);
  EXPECT_FALSE(CompactId(uuid) == CompactId("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"));
}

// The findings' numbers read as printf wrote them before (%lld for whole numbers, %g, %.2f).
TEST(FormatTest, NumbersAsPrintfWroteThem) {
  for (double v : {0.0, -0.0, 1.0, 20.0, -3.0, 12.5, 0.1, 1.0 / 3, 2.0 / 3, 99.995, 1234567.0, 1234567.5, 1e-7, 3e-10,
                   1e21, -7.25, 0.005, 0.015, 1.005, 0.93, 0.925, std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::infinity(), std::nan("")}) {
    char g[400], f[400];
    if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 9e18) std::snprintf(g, sizeof g, "%lld", static_cast<long long>(std::llround(v)));
    else std::snprintf(g, sizeof g, "%g", v);
    std::snprintf(f, sizeof f, "%.2f", v);
    if (std::fabs(v) < 9e18 || !std::isfinite(v)) {  // llround of a larger whole number overflows
      EXPECT_EQ(FormatNumber(v), g) << v;
    }
    EXPECT_EQ(FormatFixed2(v), f) << v;
  }
}

TEST(FormatTest, CopyCurrencyKeepsThreeCharactersUpToANul) {
  char c[4] = {'x', 'x', 'x', 'x'};
  CopyCurrency(c, "EUR");
  EXPECT_STREQ(c, "EUR");
  CopyCurrency(c, "USDX");
  EXPECT_STREQ(c, "USD");
  CopyCurrency(c, std::string_view("G\0BP", 4));
  EXPECT_STREQ(c, "G");
  CopyCurrency(c, "");
  EXPECT_STREQ(c, "");
}

}  // namespace
}  // namespace concord::alignment::engine
