#include "services/alignment/engine/util.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace concord::alignment::engine
