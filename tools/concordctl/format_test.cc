#include "tools/concordctl/format.h"

#include <gtest/gtest.h>

#include "concord/alignment/v1/alignment.pb.h"

namespace concord::ctl {
namespace {

using namespace std::chrono_literals;

TEST(ExitCodes, MapStatusCodes) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::NOT_FOUND), 3);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INVALID_ARGUMENT), 4);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::FAILED_PRECONDITION), 4);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::ABORTED), 4);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAVAILABLE), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::DEADLINE_EXCEEDED), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INTERNAL), 1);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::PERMISSION_DENIED), 6);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAUTHENTICATED), 6);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
}

TEST(ErrorLine, IsOneLine) {
  EXPECT_EQ(ErrorLine("NOT_FOUND", "finding f-1 not found"), "concordctl: NOT_FOUND: finding f-1 not found");
  EXPECT_EQ(ErrorLine("INVALID_ARGUMENT", "yaml: line 3: bad\n  line 4: worse\n"),
            "concordctl: INVALID_ARGUMENT: yaml: line 3: bad; line 4: worse");
}

TEST(Truncate, CutsOnCodePoints) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Truncate("a longer title here", 8), "a longe\xE2\x80\xA6");
  EXPECT_EQ(DisplayWidth(Truncate("a longer title here", 8)), 8u);
  // Multi-byte characters are never split.
  EXPECT_EQ(Truncate("Zürich café Straße", 6), "Züric\xE2\x80\xA6");
  EXPECT_EQ(Truncate("line one\nline two", 100), "line one line two");
  EXPECT_EQ(DisplayWidth("Zürich"), 6u);
}

TEST(Table, AlignsColumnsAndTruncates) {
  Table t({"ID", "TITLE", "AGE"}, {0, 10, 0});
  t.AddRow({"f-1", "short", "5s"});
  t.AddRow({"f-12345", "a title that is much too long", "3h"});
  EXPECT_EQ(t.ToString(),
            "ID       TITLE       AGE\n"
            "f-1      short       5s\n"
            "f-12345  a title t\xE2\x80\xA6  3h\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(Table, AlignsUtf8ByDisplayWidth) {
  Table t({"NAME", "X"});
  t.AddRow({"Zoë", "1"});
  t.AddRow({"Bob", "2"});
  EXPECT_EQ(t.ToString(), "NAME  X\nZoë   1\nBob   2\n");
}

TEST(Table, EmptyCellsAtTheEndLeaveNoTrailingSpaces) {
  Table t({"A", "B"});
  t.AddRow({"x"});
  EXPECT_EQ(t.ToString(), "A  B\nx\n");
}

TEST(KeyValues, AlignsKeys) { EXPECT_EQ(KeyValues({{"id", "1"}, {"status", "open"}}), "id      1\nstatus  open\n"); }

TEST(FixedRow, PadsAndTruncates) {
  EXPECT_EQ(FixedRow({"ab", "cdefgh", "tail"}, {4, 3, 0}), "ab    cd\xE2\x80\xA6  tail");
}

TEST(Durations, Age) {
  EXPECT_EQ(FormatAge(0s), "0s");
  EXPECT_EQ(FormatAge(-5s), "0s");
  EXPECT_EQ(FormatAge(59s), "59s");
  EXPECT_EQ(FormatAge(60s), "1m");
  EXPECT_EQ(FormatAge(3599s), "59m");
  EXPECT_EQ(FormatAge(3600s), "1h");
  EXPECT_EQ(FormatAge(86399s), "23h");
  EXPECT_EQ(FormatAge(86400s * 3), "3d");
  EXPECT_EQ(FormatAge(86400s * 21), "3w");
}

TEST(Durations, Format) {
  EXPECT_EQ(FormatDuration(850ms), "850ms");
  EXPECT_EQ(FormatDuration(12s), "12s");
  EXPECT_EQ(FormatDuration(65s), "1m05s");
  EXPECT_EQ(FormatDuration(2h + 3min), "2h03m");
  EXPECT_EQ(FormatDuration(76h), "3d04h");
  EXPECT_EQ(FormatDuration(-1500ms), "-1s");
}

TEST(Durations, Parse) {
  EXPECT_EQ(ParseDuration("5s"), 5000ms);
  EXPECT_EQ(ParseDuration("500ms"), 500ms);
  EXPECT_EQ(ParseDuration("1h30m"), 90min);
  EXPECT_EQ(ParseDuration("7d"), 168h);
  EXPECT_EQ(ParseDuration("2.5h"), 150min);
  EXPECT_EQ(ParseDuration("3"), 3s);
  EXPECT_EQ(ParseDuration("1w"), 168h);
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("5x"));
  EXPECT_FALSE(ParseDuration("abc"));
  EXPECT_FALSE(ParseDuration("-5s"));
  EXPECT_FALSE(ParseDuration("1h5"));
  EXPECT_FALSE(ParseDuration("1..2s"));
}

TEST(Money, ParseIsExact) {
  auto m = ParseMoney("44.10");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->units, 44);
  EXPECT_EQ(m->nanos, 100000000);
  m = ParseMoney("49");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->units, 49);
  EXPECT_EQ(m->nanos, 0);
  m = ParseMoney("-3.5");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->units, -3);
  EXPECT_EQ(m->nanos, -500000000);
  m = ParseMoney(".99");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->units, 0);
  EXPECT_EQ(m->nanos, 990000000);
  EXPECT_FALSE(ParseMoney(""));
  EXPECT_FALSE(ParseMoney("1."));
  EXPECT_FALSE(ParseMoney("1,5"));
  EXPECT_FALSE(ParseMoney("0.1234567891"));
  EXPECT_FALSE(ParseMoney("ten"));
}

TEST(Money, Format) {
  EXPECT_EQ(FormatMoney("USD", 44, 100000000), "USD 44.10");
  EXPECT_EQ(FormatMoney("USD", 49, 0), "USD 49.00");
  EXPECT_EQ(FormatMoney("EUR", 0, 5000000), "EUR 0.005");
  EXPECT_EQ(FormatMoney("", -3, -500000000), "-3.50");
}

TEST(Enums, ShortNamesRoundTrip) {
  const auto* d = alignment::v1::FindingType_descriptor();
  EXPECT_EQ(ShortEnumName(d, "FINDING_TYPE_", alignment::v1::FINDING_TYPE_CONFLICTING_CLAIM), "conflicting-claim");
  EXPECT_EQ(ShortEnumName(d, "FINDING_TYPE_", 99), "<99>");
  EXPECT_EQ(ParseEnum(d, "FINDING_TYPE_", "conflicting-claim"), alignment::v1::FINDING_TYPE_CONFLICTING_CLAIM);
  EXPECT_EQ(ParseEnum(d, "FINDING_TYPE_", "OFF_BOOK_CLAIM"), alignment::v1::FINDING_TYPE_OFF_BOOK_CLAIM);
  EXPECT_EQ(ParseEnum(d, "FINDING_TYPE_", "FINDING_TYPE_DUPLICATE_RECORD"), alignment::v1::FINDING_TYPE_DUPLICATE_RECORD);
  EXPECT_FALSE(ParseEnum(d, "FINDING_TYPE_", "unspecified"));
  EXPECT_FALSE(ParseEnum(d, "FINDING_TYPE_", "nonsense"));
  EXPECT_FALSE(ParseEnum(d, "FINDING_TYPE_", ""));
  EXPECT_NE(EnumChoices(d, "FINDING_TYPE_").find("conflicting-claim, off-book-claim"), std::string::npos);
}

TEST(Lists, Split) {
  EXPECT_EQ(SplitList("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_EQ(ShortId("f-0123456789abcdef"), "f-01234567");
  EXPECT_EQ(ShortId("f-1"), "f-1");
}

}  // namespace
}  // namespace concord::ctl
