#include "common/logging/log.h"

#include <gtest/gtest.h>

namespace concord::log {
namespace {

TEST(LogTest, FormatIsOneJsonObjectWithFields) {
  ASSERT_TRUE(Init("test-svc", "info"));
  auto line = Format(Level::kWarn, "broker \"down\"\n", {{"attempt", 3}, {"topic", "t"}});
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a log record must stay on one line";
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["service"], "test-svc");
  EXPECT_EQ(j["msg"], "broker \"down\"\n");
  EXPECT_EQ(j["attempt"], 3);
  EXPECT_EQ(j["topic"], "t");
  std::string ts = j["ts"];
  EXPECT_EQ(ts.size(), 24u);
  EXPECT_EQ(ts.back(), 'Z');
}

TEST(LogTest, FieldsCannotOverrideReservedKeys) {
  auto j = nlohmann::json::parse(Format(Level::kInfo, "m", {{"level", "fake"}, {"msg", "x"}}));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "m");
}

TEST(LogTest, InvalidUtf8IsReplacedNotThrown) {
  std::string bad = "caf\xC3";
  EXPECT_NO_THROW(nlohmann::json::parse(Format(Level::kInfo, bad, {})));
}

TEST(LogTest, UnknownLevelIsRefused) {
  Level l;
  EXPECT_FALSE(ParseLevel("verbose", &l));
  EXPECT_TRUE(ParseLevel("debug", &l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(Init("x", "loud"));
}

}  // namespace
}  // namespace concord::log
