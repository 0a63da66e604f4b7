#include "services/alignment/engine/identity_match.h"

#include <gtest/gtest.h>

namespace concord::alignment::engine {
namespace {

NormalizedIdentity P(const char* first, const char* last, const char* email, const char* phone = "",
                     const char* company = "Acme", const char* website = "") {
  return Normalize(first, last, "", email, phone, company, website, MatchOptions{});
}

TEST(IdentityMatchTest, EmailAfterNormalization) {
  auto r = MatchPersons(P("Jane", "Doe", "Jane.Doe+news@Acme.com"), P("J", "D", "jane.doe@acme.com"), {});
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.score, 1.0);
  EXPECT_EQ(r.Reasons(), "email equal after normalization + same company domain (acme.com)");
}

TEST(IdentityMatchTest, PhoneE164) {
  auto r = MatchPersons(P("A", "B", "a@x.com", "(415) 555-0100"), P("C", "D", "c@y.com", "+1 415 555 0100"), {});
  EXPECT_TRUE(r.matched);
  EXPECT_NE(r.Reasons().find("phone equal in E.164 (+14155550100)"), std::string::npos);
}

TEST(IdentityMatchTest, NicknameAndSameCompany) {
  auto r = MatchPersons(P("Bob", "Smith", "bob@acme.com"), P("Robert", "Smith", "rsmith@acme.com"), {});
  EXPECT_TRUE(r.matched);
  EXPECT_NE(r.Reasons().find("name Jaro-Winkler 1.00 (after nicknames)"), std::string::npos) << r.Reasons();
  EXPECT_NE(r.Reasons().find("same company domain (acme.com)"), std::string::npos) << r.Reasons();
}

TEST(IdentityMatchTest, TypoInNameSameCompany) {
  auto r = MatchPersons(P("Katherine", "Johnson", "kj@acme.com"), P("Katherine", "Jonson", "k.johnson@acme.com"), {});
  EXPECT_TRUE(r.matched) << r.Reasons();
}

TEST(IdentityMatchTest, NearMissSameNameOtherCompany) {
  // same name, different companies, free-mail emails: not a match
  auto r = MatchPersons(P("John", "Smith", "js1@gmail.com", "", "Acme"), P("John", "Smith", "js2@gmail.com", "", "Globex"), {});
  EXPECT_FALSE(r.matched);
  EXPECT_TRUE(r.reasons.empty());
}

TEST(IdentityMatchTest, NearMissSimilarButBelowThreshold) {
  auto r = MatchPersons(P("Jon", "Smith", "a@acme.com"), P("Joan", "Smythe", "b@acme.com"), {});
  EXPECT_FALSE(r.matched);
  MatchOptions loose;
  loose.name_threshold = 0.70;
  auto r2 = MatchPersons(P("Jon", "Smith", "a@acme.com"), P("Joan", "Smythe", "b@acme.com"), loose);
  EXPECT_TRUE(r2.matched);
}

TEST(IdentityMatchTest, JaroWinklerKnownValues) {
  EXPECT_NEAR(JaroWinkler("martha", "marhta"), 0.961, 0.001);
  EXPECT_NEAR(JaroWinkler("dixon", "dicksonx"), 0.813, 0.001);
  EXPECT_EQ(JaroWinkler("", ""), 1.0);
  EXPECT_EQ(JaroWinkler("abc", ""), 0.0);
}

TEST(IdentityMatchTest, NicknameTable) {
  EXPECT_GE(NicknameCount(), 40u);
  EXPECT_EQ(CanonicalFirstName("bill"), "william");
  EXPECT_EQ(CanonicalFirstName("liz"), "elizabeth");
  EXPECT_EQ(CanonicalFirstName("zoe"), "zoe");
}

TEST(IdentityMatchTest, Accounts) {
  auto a = Normalize("", "", "", "", "", "Acme Inc", "https://www.acme.com", {});
  auto b = Normalize("", "", "", "", "", "ACME, Inc.", "acme.com", {});
  auto c = Normalize("", "", "", "", "", "Acme Corp", "acme.io", {});
  EXPECT_TRUE(MatchAccounts(a, b, {}).matched);
  EXPECT_FALSE(MatchAccounts(a, c, {}).matched);
}

}  // namespace
}  // namespace concord::alignment::engine
