#pragma once
// Fuzzy matching of person and account records (duplicate-record detector, customer view).
// Rules, strongest first; every match says which rules fired and with what score:
//   email     normalized emails equal                             -> score 1.0
//   phone     E.164 phones equal                                   -> score 0.95
//   name      Jaro-Winkler of normalized full names >= threshold   -> score = similarity,
//             after mapping known nicknames (bob -> robert) on the first name; a name match
//             alone is not enough: it needs the same company domain (or the same company
//             name) to count as a match
//   company   same company domain (from the website or a non-free-mail email)
// Account records match on the same domain, or on company names with Jaro-Winkler >= threshold.

#include <string>
#include <string_view>
#include <vector>

#include "services/alignment/engine/util.h"

namespace concord::alignment::engine {

struct MatchOptions {
  double name_threshold = 0.92;
  std::string default_country_code = "1";
};

// A record's identity, normalized once (keep these in state, not the raw fields).
struct NormalizedIdentity {
  std::string email;   // NormalizeEmail
  std::string phone;   // E.164 or ""
  std::string name;    // NormalizeName(first + " " + last) or full name, nicknames canonicalized
  std::string domain;  // company domain: website, else the email's domain unless free-mail
  std::string company; // NormalizeName(company)
};

// The same fields, borrowed (what matching reads).
struct IdentityView {
  std::string_view email, phone, name, domain, company;
  IdentityView() = default;
  IdentityView(const NormalizedIdentity& n)  // NOLINT: implicit
      : email(n.email), phone(n.phone), name(n.name), domain(n.domain), company(n.company) {}
};

// A NormalizedIdentity as it is kept in per-customer state: one exact-size block (the five
// lengths, then the bytes) behind one pointer, instead of five std::string (160 bytes).
class PackedIdentity {
 public:
  PackedIdentity() = default;
  explicit PackedIdentity(const IdentityView& v);
  IdentityView view() const;
  NormalizedIdentity Unpack() const;
  size_t HeapBytes() const { return bytes_.HeapBytes(); }

 private:
  CompactStr bytes_;
};

NormalizedIdentity Normalize(std::string_view first, std::string_view last, std::string_view full,
                             std::string_view email, std::string_view phone, std::string_view company,
                             std::string_view website, const MatchOptions& opt);

// Normalize into buffers the caller reuses across records (no allocation once they have
// grown); the returned identity lives in *buf until the next call.
struct NormalizeBuffers {
  NormalizedIdentity n;
  std::string first, last, scratch;
};
const NormalizedIdentity& NormalizeTo(std::string_view first, std::string_view last, std::string_view full,
                                      std::string_view email, std::string_view phone, std::string_view company,
                                      std::string_view website, const MatchOptions& opt, NormalizeBuffers* buf);

struct MatchResult {
  bool matched = false;
  double score = 0;                  // 0..1
  std::vector<std::string> reasons;  // "email equal after normalization", "name Jaro-Winkler 0.94", ...
  std::string Reasons() const;       // joined with " + "
};

MatchResult MatchPersons(const IdentityView& a, const IdentityView& b, const MatchOptions& opt);
MatchResult MatchAccounts(const IdentityView& a, const IdentityView& b, const MatchOptions& opt);

double JaroWinkler(std::string_view a, std::string_view b);
// "bob" -> "robert"; unchanged when not a known nickname.
std::string_view CanonicalFirstName(std::string_view first);
size_t NicknameCount();

}  // namespace concord::alignment::engine
