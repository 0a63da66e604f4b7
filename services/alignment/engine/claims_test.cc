#include "services/alignment/engine/claims.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine {
namespace {

using testing::ExamplePlaybook;
using testing::SourceDir;

constexpr int32_t kRef = 20260115;  // the corpus is read as if written on 2026-01-15

std::string RunExtract(const ClaimExtractor& x, std::string_view text) {
  std::vector<ExtractedClaim> out;
  x.Extract(text, "", kRef, &out);
  std::string s;
  for (const auto& c : out) {
    EXPECT_LT(c.begin, c.end) << text;
    EXPECT_LE(c.end, text.size()) << text;
    s += (s.empty() ? "" : " | ") + DebugString(c);
  }
  return s.empty() ? "-" : s;
}

// testdata/claims_corpus.tsv: sentence <TAB> expected claims ("-" for none), one per line,
// claims as "attr[@product][:feature]=value" joined by " | " in text order.
TEST(ClaimCorpus, EverySentenceMatches) {
  ClaimExtractor x(ExamplePlaybook());
  std::ifstream in(SourceDir() + "/services/alignment/engine/testdata/claims_corpus.tsv");
  ASSERT_TRUE(in) << "corpus not found";
  std::string line;
  int n = 0, bad = 0;
  bool dump = std::getenv("CONCORD_CLAIMS_DUMP") != nullptr;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    std::string text = line.substr(0, tab);
    std::string want = tab == std::string::npos ? "" : line.substr(tab + 1);
    std::string got = RunExtract(x, text);
    ++n;
    if (dump) std::printf("%s\t%s\n", text.c_str(), got.c_str());
    if (got != want) {
      ++bad;
      ADD_FAILURE() << "sentence: " << text << "\n  want: " << want << "\n  got:  " << got;
    }
  }
  EXPECT_GE(n, 200);
  EXPECT_EQ(bad, 0);
}

TEST(ClaimExtractorTest, SpansAreExactBytes) {
  ClaimExtractor x(ExamplePlaybook());
  std::string text = "Hi! Get 20% off Concord Pro, now €49/mo with a 30-day free trial.";
  std::vector<ExtractedClaim> out;
  x.Extract(text, "", kRef, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(text.substr(out[0].begin, out[0].end - out[0].begin), "20% off");
  EXPECT_EQ(out[0].product, "concord-pro");
  EXPECT_EQ(text.substr(out[1].begin, out[1].end - out[1].begin), "€49/mo");
  EXPECT_EQ(std::string(out[1].v.currency), "EUR");
  EXPECT_EQ(out[1].v.micros, 49'000'000);
  EXPECT_EQ(text.substr(out[2].begin, out[2].end - out[2].begin), "30-day free trial");
  EXPECT_EQ(out[2].v.qty, 30);
}

TEST(ClaimExtractorTest, DefaultProductApplies) {
  ClaimExtractor x(ExamplePlaybook());
  std::vector<ExtractedClaim> out;
  x.Extract("We can do 10% off.", "concord-enterprise", kRef, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].product, "concord-enterprise");
}

TEST(ClaimExtractorTest, ThousandsAndK) {
  ClaimExtractor x(ExamplePlaybook());
  std::vector<ExtractedClaim> out;
  x.Extract("It is $1,200 per month or $1.2k.", "", kRef, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].v.micros, 1'200'000'000);
  EXPECT_EQ(out[1].v.micros, 1'200'000'000);
}

TEST(ClaimExtractorTest, EmptyAndNoise) {
  ClaimExtractor x(ExamplePlaybook());
  std::vector<ExtractedClaim> out;
  x.Extract("", "", kRef, &out);
  x.Extract("%%% $$$ --- 2026- -05 ... \xE2\x82", "", kRef, &out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace concord::alignment::engine
