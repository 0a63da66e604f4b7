#include "services/alignment/engine/identity_match.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/identity/identity.h"

namespace concord::alignment::engine {

namespace {
const std::pair<std::string_view, std::string_view> kNick[] = {
    {"bob", "robert"},      {"rob", "robert"},       {"bobby", "robert"},    {"robbie", "robert"},
    {"bill", "william"},    {"will", "william"},     {"billy", "william"},   {"liam", "william"},
    {"liz", "elizabeth"},   {"beth", "elizabeth"},   {"betty", "elizabeth"}, {"lizzie", "elizabeth"},
    {"eliza", "elizabeth"}, {"jim", "james"},        {"jimmy", "james"},     {"jamie", "james"},
    {"mike", "michael"},    {"mick", "michael"},     {"mikey", "michael"},   {"dave", "david"},
    {"davey", "david"},     {"tom", "thomas"},       {"tommy", "thomas"},    {"dick", "richard"},
    {"rick", "richard"},    {"rich", "richard"},     {"ricky", "richard"},   {"joe", "joseph"},
    {"joey", "joseph"},     {"chris", "christopher"}, {"kate", "katherine"}, {"katie", "katherine"},
    {"kathy", "katherine"}, {"cathy", "catherine"},  {"jen", "jennifer"},    {"jenny", "jennifer"},
    {"jenn", "jennifer"},   {"alex", "alexander"},   {"sasha", "alexander"}, {"tony", "anthony"},
    {"dan", "daniel"},      {"danny", "daniel"},     {"matt", "matthew"},    {"nick", "nicholas"},
    {"sam", "samuel"},      {"steve", "steven"},     {"stephen", "steven"},  {"ben", "benjamin"},
    {"ed", "edward"},       {"eddie", "edward"},     {"ted", "edward"},      {"greg", "gregory"},
    {"pat", "patricia"},    {"patty", "patricia"},   {"trish", "patricia"},  {"peggy", "margaret"},
    {"maggie", "margaret"}, {"meg", "margaret"},     {"sue", "susan"},       {"susie", "susan"},
    {"andy", "andrew"},     {"drew", "andrew"},      {"tim", "timothy"},     {"jon", "jonathan"},
    {"nate", "nathan"},     {"vicky", "victoria"},   {"tori", "victoria"},   {"chuck", "charles"},
    {"charlie", "charles"}, {"hank", "henry"},       {"harry", "henry"},     {"jack", "john"},
    {"johnny", "john"},     {"jeff", "jeffrey"},     {"larry", "lawrence"},  {"ron", "ronald"},
    {"don", "donald"},      {"ken", "kenneth"},      {"abby", "abigail"},    {"becky", "rebecca"},
    {"mandy", "amanda"},    {"manny", "emmanuel"},   {"fred", "frederick"},  {"pete", "peter"},
};
}  // namespace

size_t NicknameCount() { return sizeof(kNick) / sizeof(kNick[0]); }

std::string_view CanonicalFirstName(std::string_view first) {
  for (const auto& [n, c] : kNick)
    if (n == first) return c;
  return first;
}

double JaroWinkler(std::string_view a, std::string_view b) {
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  if (a == b) return 1.0;
  const int la = static_cast<int>(a.size()), lb = static_cast<int>(b.size());
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  std::vector<char> ma(la, 0), mb(lb, 0);
  int matches = 0;
  for (int i = 0; i < la; ++i) {
    int lo = std::max(0, i - window), hi = std::min(lb - 1, i + window);
    for (int j = lo; j <= hi; ++j) {
      if (mb[j] || a[i] != b[j]) continue;
      ma[i] = mb[j] = 1;
      ++matches;
      break;
    }
  }
  if (!matches) return 0.0;
  int t = 0;
  for (int i = 0, j = 0; i < la; ++i) {
    if (!ma[i]) continue;
    while (!mb[j]) ++j;
    if (a[i] != b[j]) ++t;
    ++j;
  }
  double m = matches;
  double jaro = (m / la + m / lb + (m - t / 2.0) / m) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1 - jaro);
}

const NormalizedIdentity& NormalizeTo(std::string_view first, std::string_view last, std::string_view full,
                                      std::string_view email, std::string_view phone, std::string_view company,
                                      std::string_view website, const MatchOptions& opt, NormalizeBuffers* buf) {
  NormalizedIdentity& n = buf->n;
  identity::NormalizeEmailTo(email, &n.email);
  n.phone.clear();
  if (!phone.empty()) identity::NormalizePhoneTo(phone, opt.default_country_code, &n.phone);
  std::string &f = buf->first, &l = buf->last, &name = n.name;
  identity::NormalizeNameTo(first, &f);
  identity::NormalizeNameTo(last, &l);
  if (!f.empty() || !l.empty()) {
    name.assign(f);
    if (!f.empty() && !l.empty()) name.push_back(' ');
    name.append(l);
  } else {
    identity::NormalizeNameTo(full, &name);
  }
  // canonicalize the first word through the nickname table
  size_t sp = name.find(' ');
  std::string_view first_word = std::string_view(name).substr(0, sp);
  std::string_view canon = CanonicalFirstName(first_word);
  if (canon != first_word) name.replace(0, first_word.size(), canon);  // canon is a table entry, not in name
  identity::NormalizeDomainTo(website, &n.domain);
  if (n.domain.empty() && !n.email.empty()) {
    // EmailDomain(n.email): the domain of the email normalized once more
    identity::NormalizeEmailTo(n.email, &buf->scratch);
    auto at = buf->scratch.find('@');
    std::string_view d = at == std::string::npos ? std::string_view() : std::string_view(buf->scratch).substr(at + 1);
    if (!identity::IsFreeMailDomain(d)) n.domain.assign(d);
  }
  identity::NormalizeNameTo(company, &n.company);
  return n;
}

NormalizedIdentity Normalize(std::string_view first, std::string_view last, std::string_view full,
                             std::string_view email, std::string_view phone, std::string_view company,
                             std::string_view website, const MatchOptions& opt) {
  NormalizeBuffers buf;
  NormalizeTo(first, last, full, email, phone, company, website, opt, &buf);
  return std::move(buf.n);
}

// Layout: the lengths of email, phone, name, domain and company as varints (one byte each for
// short fields), then their bytes. The domain is usually the email's own domain: then its
// length is stored with the low bit set and its bytes are the end of the email's (a person
// record is a 64-byte block instead of 96).
PackedIdentity::PackedIdentity(const IdentityView& v) {
  const std::string_view f[5] = {v.email, v.phone, v.name, v.domain, v.company};
  if (f[0].empty() && f[1].empty() && f[2].empty() && f[3].empty() && f[4].empty()) return;
  const bool shared = !v.domain.empty() && v.domain.size() < v.email.size() &&
                      v.email.substr(v.email.size() - v.domain.size()) == v.domain;
  // One buffer per thread, reused: the only allocation left is the packed block itself.
  thread_local std::string b;
  b.clear();
  char len[5];
  for (int i = 0; i < 5; ++i) {
    uint32_t n = static_cast<uint32_t>(f[i].size());
    if (i == 3) n = n << 1 | (shared ? 1 : 0);
    b.append(len, static_cast<size_t>(PutVar(len, n) - len));
  }
  for (int i = 0; i < 5; ++i)
    if (i != 3 || !shared) b.append(f[i]);
  bytes_ = b;
}

IdentityView PackedIdentity::view() const {
  IdentityView v;
  std::string_view b = bytes_.view();
  if (b.empty()) return v;
  std::string_view* f[5] = {&v.email, &v.phone, &v.name, &v.domain, &v.company};
  const char* q = b.data();
  uint32_t n[5];
  for (uint32_t& x : n) x = GetVar32(q);
  const bool shared = n[3] & 1;
  n[3] >>= 1;
  for (int i = 0; i < 5; ++i) {
    if (i == 3 && shared) {
      v.domain = v.email.substr(v.email.size() - n[3]);
      continue;
    }
    *f[i] = std::string_view(q, n[i]);
    q += n[i];
  }
  return v;
}

NormalizedIdentity PackedIdentity::Unpack() const {
  IdentityView v = view();
  NormalizedIdentity n;
  n.email = v.email;
  n.phone = v.phone;
  n.name = v.name;
  n.domain = v.domain;
  n.company = v.company;
  return n;
}

std::string MatchResult::Reasons() const {
  std::string s;
  for (const auto& r : reasons) s += (s.empty() ? "" : " + ") + r;
  return s;
}

MatchResult MatchPersons(const IdentityView& a, const IdentityView& b, const MatchOptions& opt) {
  MatchResult r;
  if (!a.email.empty() && a.email == b.email) {
    r.matched = true;
    r.score = 1.0;
    r.reasons.push_back("email equal after normalization");
  }
  if (!a.phone.empty() && a.phone == b.phone) {
    if (!r.matched) r.score = 0.95;
    r.matched = true;
    r.reasons.push_back("phone equal in E.164 (" + std::string(a.phone) + ")");
  }
  bool same_company = (!a.domain.empty() && a.domain == b.domain) || (!a.company.empty() && a.company == b.company);
  if (!a.name.empty() && !b.name.empty()) {
    double jw = JaroWinkler(a.name, b.name);
    if (jw >= opt.name_threshold) {
      r.reasons.push_back("name Jaro-Winkler " + FormatFixed2(jw) + (a.name == b.name ? " (after nicknames)" : ""));
      if (same_company && !r.matched) {
        r.matched = true;
        r.score = 0.9 * jw;
      }
    }
  }
  if (same_company && !r.reasons.empty())
    r.reasons.push_back(!a.domain.empty() && a.domain == b.domain ? "same company domain (" + std::string(a.domain) + ")"
                                                                   : "same company name");
  if (!r.matched) r.reasons.clear();
  return r;
}

MatchResult MatchAccounts(const IdentityView& a, const IdentityView& b, const MatchOptions& opt) {
  MatchResult r;
  if (!a.domain.empty() && a.domain == b.domain) {
    r.matched = true;
    r.score = 1.0;
    r.reasons.push_back("same company domain (" + std::string(a.domain) + ")");
  }
  if (!a.company.empty() && !b.company.empty()) {
    double jw = JaroWinkler(a.company, b.company);
    if (jw >= opt.name_threshold) {
      if (!r.matched) r.score = jw;
      r.matched = true;
      r.reasons.push_back("company name Jaro-Winkler " + FormatFixed2(jw));
    }
  }
  return r;
}

}  // namespace concord::alignment::engine
