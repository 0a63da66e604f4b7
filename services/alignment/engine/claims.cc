#include "services/alignment/engine/claims.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace concord::alignment::engine {

namespace ev = concord::events::v1;

const char* AttrName(Attr a) {
  switch (a) {
    case Attr::kPrice: return "price";
    case Attr::kDiscount: return "discount";
    case Attr::kTrial: return "trial";
    case Attr::kDeliveryDate: return "delivery_date";
    case Attr::kContractTerm: return "contract_term";
    case Attr::kFeature: return "feature";
    case Attr::kFreeShipping: return "free_shipping";
    default: return "none";
  }
}

std::string FormatMoney(const char* currency, int64_t micros) {
  char buf[64];
  int64_t cents = (micros + (micros >= 0 ? 5000 : -5000)) / 10000;
  std::snprintf(buf, sizeof buf, "%s %lld.%02lld", currency, static_cast<long long>(cents / 100),
                static_cast<long long>(std::llabs(cents % 100)));
  return buf;
}

std::string DisplayValue(const ExtractedClaim& c) {
  switch (c.attr) {
    case Attr::kPrice: {
      std::string s = FormatMoney(c.v.currency, c.v.micros);
      switch (c.v.period) {
        case ev::BILLING_PERIOD_MONTHLY: s += "/month"; break;
        case ev::BILLING_PERIOD_QUARTERLY: s += "/quarter"; break;
        case ev::BILLING_PERIOD_YEARLY: s += "/year"; break;
        case ev::BILLING_PERIOD_ONE_TIME: s += " one-time"; break;
        default: break;
      }
      return s;
    }
    case Attr::kDiscount: return FormatNumber(c.v.qty) + " %";
    case Attr::kTrial: return c.v.qty == 0 ? "no trial" : FormatNumber(c.v.qty) + " days";
    case Attr::kDeliveryDate: return FormatYmd(c.v.ymd);
    case Attr::kContractTerm: return FormatNumber(c.v.qty) + " months";
    case Attr::kFreeShipping: return c.v.flag ? "free shipping" : "no free shipping";
    case Attr::kFeature:
      switch (c.v.avail) {
        case Avail::kAvailable: return "available";
        case Avail::kNotAvailable: return "not available";
        case Avail::kComing: return c.detail.empty() ? "coming" : "coming " + c.detail;
        case Avail::kBeta: return "beta";
      }
      return "?";
    default: return "";
  }
}

std::string DebugString(const ExtractedClaim& c) {
  std::string s = AttrName(c.attr);
  if (!c.product.empty()) s += "@" + c.product;
  if (!c.feature.empty()) s += ":" + c.feature;
  return s + "=" + DisplayValue(c);
}

namespace {

enum class TK : uint8_t { kWord, kNum, kSym, kHyph, kEnd, kComma };

struct Tok {
  TK k;
  uint32_t b, e;
  std::string_view s;  // lower-cased text
  double num = 0;
  bool has_k = false;    // "1.2k"
  bool ordinal = false;  // "3rd"
  bool plain_int = false;  // digits only
  int sentence = 0, clause = 0;
};

bool IsWordByte(unsigned char c) { return std::isalnum(c) || c == '\'' || c >= 0x80; }

std::vector<Tok> Tokenize(std::string_view low) {
  std::vector<Tok> t;
  t.reserve(low.size() / 4 + 4);
  size_t i = 0, n = low.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(low[i]);
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (i + 2 < n && c == 0xE2 && static_cast<unsigned char>(low[i + 1]) == 0x82 && static_cast<unsigned char>(low[i + 2]) == 0xAC) {
      t.push_back({TK::kSym, uint32_t(i), uint32_t(i + 3), low.substr(i, 3)});
      i += 3;
      continue;
    }
    if (i + 1 < n && c == 0xC2 && static_cast<unsigned char>(low[i + 1]) == 0xA3) {
      t.push_back({TK::kSym, uint32_t(i), uint32_t(i + 2), low.substr(i, 2)});
      i += 2;
      continue;
    }
    if (i + 2 < n && c == 0xE2 && static_cast<unsigned char>(low[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(low[i + 2]) == 0x93 || static_cast<unsigned char>(low[i + 2]) == 0x94)) {
      t.push_back({TK::kHyph, uint32_t(i), uint32_t(i + 3), low.substr(i, 3)});  // en/em dash
      i += 3;
      continue;
    }
    if (std::isdigit(c)) {
      size_t j = i;
      double v = 0;
      bool plain = true;
      while (j < n) {
        if (std::isdigit(static_cast<unsigned char>(low[j]))) {
          v = v * 10 + (low[j] - '0');
          ++j;
        } else if (low[j] == ',' && j + 3 < n && std::isdigit(static_cast<unsigned char>(low[j + 1])) &&
                   std::isdigit(static_cast<unsigned char>(low[j + 2])) &&
                   std::isdigit(static_cast<unsigned char>(low[j + 3])) &&
                   (j + 4 >= n || !std::isdigit(static_cast<unsigned char>(low[j + 4])))) {
          j += 1;
          plain = false;
        } else {
          break;
        }
      }
      if (j + 1 < n && low[j] == '.' && std::isdigit(static_cast<unsigned char>(low[j + 1]))) {
        plain = false;
        ++j;
        double scale = 0.1;
        while (j < n && std::isdigit(static_cast<unsigned char>(low[j]))) {
          v += scale * (low[j] - '0');
          scale /= 10;
          ++j;
        }
      }
      Tok tk{TK::kNum, uint32_t(i), 0, {}};
      tk.num = v;
      tk.plain_int = plain;
      if (j < n && low[j] == 'k' && (j + 1 >= n || !std::isalpha(static_cast<unsigned char>(low[j + 1])))) {
        tk.has_k = true;
        tk.num *= 1000;
        ++j;
      } else if (j + 1 < n && (low.substr(j, 2) == "st" || low.substr(j, 2) == "nd" || low.substr(j, 2) == "rd" ||
                               low.substr(j, 2) == "th") &&
                 (j + 2 >= n || !std::isalpha(static_cast<unsigned char>(low[j + 2])))) {
        tk.ordinal = true;
        j += 2;
      }
      tk.e = uint32_t(j);
      tk.s = low.substr(i, j - i);
      t.push_back(tk);
      i = j;
      continue;
    }
    if (IsWordByte(c)) {
      size_t j = i;
      while (j < n && IsWordByte(static_cast<unsigned char>(low[j]))) {
        // stop before euro / pound / dashes
        unsigned char d = static_cast<unsigned char>(low[j]);
        if ((d == 0xE2 || d == 0xC2) && j > i) break;
        ++j;
      }
      if (j == i) {  // a lone non-ASCII byte we do not know
        ++i;
        continue;
      }
      size_t e = j;
      while (e > i && low[e - 1] == '\'') --e;
      t.push_back({TK::kWord, uint32_t(i), uint32_t(e), low.substr(i, e - i)});
      i = j;
      continue;
    }
    if (c == '-') t.push_back({TK::kHyph, uint32_t(i), uint32_t(i + 1), low.substr(i, 1)});
    else if (c == '.' || c == '!' || c == '?' || c == ';' || c == '\n') t.push_back({TK::kEnd, uint32_t(i), uint32_t(i + 1), low.substr(i, 1)});
    else if (c == ',' || c == ':' || c == '(' || c == ')' || c == '"') t.push_back({TK::kComma, uint32_t(i), uint32_t(i + 1), low.substr(i, 1)});
    else t.push_back({TK::kSym, uint32_t(i), uint32_t(i + 1), low.substr(i, 1)});
    ++i;
  }
  int sent = 0, clause = 0;
  for (auto& tk : t) {
    if (tk.k == TK::kEnd) {
      tk.sentence = sent++;
      tk.clause = clause++;
      continue;
    }
    if (tk.k == TK::kComma ||
        (tk.k == TK::kWord && (tk.s == "but" || tk.s == "while" || tk.s == "whereas" || tk.s == "however" ||
                               tk.s == "although" || tk.s == "though"))) {
      tk.sentence = sent;
      tk.clause = clause++;
      continue;
    }
    tk.sentence = sent;
    tk.clause = clause;
  }
  return t;
}

struct Ctx {
  const std::vector<Tok>& t;
  int n;
  bool W(int i, std::string_view w) const { return i >= 0 && i < n && t[i].k == TK::kWord && t[i].s == w; }
  bool WAny(int i, std::initializer_list<std::string_view> ws) const {
    if (i < 0 || i >= n || t[i].k != TK::kWord) return false;
    for (auto w : ws)
      if (t[i].s == w) return true;
    return false;
  }
  bool Sym(int i, std::string_view s) const { return i >= 0 && i < n && t[i].k == TK::kSym && t[i].s == s; }
  bool IsNum(int i) const { return i >= 0 && i < n && t[i].k == TK::kNum; }
  // Skips hyphens forward.
  int Next(int i) const {
    ++i;
    while (i < n && t[i].k == TK::kHyph) ++i;
    return i;
  }
  bool SameSentence(int a, int b) const { return a >= 0 && b >= 0 && a < n && b < n && t[a].sentence == t[b].sentence; }
  // Any of `ws` within `back` tokens before i, same clause.
  int Before(int i, int back, std::initializer_list<std::string_view> ws) const {
    for (int j = i - 1; j >= 0 && j >= i - back; --j) {
      if (t[j].k == TK::kEnd || t[j].k == TK::kComma) return -1;
      if (WAny(j, ws)) return j;
    }
    return -1;
  }
  bool Negated(int i, int back = 3) const {
    for (int j = i - 1; j >= 0 && j >= i - back; --j) {
      if (t[j].k == TK::kEnd || t[j].k == TK::kComma) return false;
      if (t[j].k != TK::kWord) continue;
      auto s = t[j].s;
      if (s == "not" || s == "no" || s == "never" || s == "without" || s == "cannot" || s == "nor" ||
          (s.size() > 3 && s.substr(s.size() - 3) == "n't"))
        return true;
    }
    return false;
  }
  bool UpTo(int i) const {
    return (W(i - 2, "up") && W(i - 1, "to")) || WAny(i - 1, {"over", "under", "beyond", "than", "additional", "extra"}) ||
           (W(i - 2, "more") && W(i - 1, "than")) || (W(i - 2, "at") && W(i - 1, "least"));
  }
};

std::optional<double> NumberWord(std::string_view s) {
  static const std::pair<std::string_view, double> k[] = {
      {"a", 1},      {"an", 1},       {"one", 1},      {"two", 2},       {"three", 3},    {"four", 4},
      {"five", 5},   {"six", 6},      {"seven", 7},    {"eight", 8},     {"nine", 9},     {"ten", 10},
      {"eleven", 11}, {"twelve", 12}, {"fourteen", 14}, {"fifteen", 15}, {"eighteen", 18}, {"twenty", 20},
      {"thirty", 30}, {"sixty", 60},  {"ninety", 90}};
  for (auto& [w, v] : k)
    if (s == w) return v;
  return std::nullopt;
}

// A count at token i: a plain number or a number word.
std::optional<double> CountAt(const Ctx& c, int i) {
  if (i < 0 || i >= c.n) return std::nullopt;
  if (c.t[i].k == TK::kNum && !c.t[i].has_k) return c.t[i].num;
  if (c.t[i].k == TK::kWord) return NumberWord(c.t[i].s);
  return std::nullopt;
}

// Time unit at i in days (day 1, week 7, month 30, year 365); 0 if none.
int UnitDays(const Ctx& c, int i) {
  if (c.WAny(i, {"day", "days"})) return 1;
  if (c.WAny(i, {"week", "weeks", "wk", "wks"})) return 7;
  if (c.WAny(i, {"month", "months", "mo", "mos"})) return 30;
  if (c.WAny(i, {"year", "years", "yr", "yrs"})) return 365;
  return 0;
}

int MonthOf(std::string_view s) {
  static const char* k[] = {"january", "february", "march",     "april",   "may",      "june",
                            "july",    "august",   "september", "october", "november", "december"};
  static const char* a[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  for (int m = 0; m < 12; ++m)
    if (s == k[m] || s == a[m]) return m + 1;
  if (s == "sept") return 9;
  return 0;
}

int DaysInMonth(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

struct Mention {
  int b, e;  // token range [b, e)
  std::string id;
  bool feature;
};

const char* kCurrencyCodes[] = {"usd", "eur", "gbp", "cad", "aud", "chf", "jpy", "sek", "nok", "dkk", "inr"};

bool CurrencyWord(std::string_view s, char out[4]) {
  for (const char* cc : kCurrencyCodes)
    if (s == cc) {
      for (int k = 0; k < 3; ++k) out[k] = static_cast<char>(std::toupper(cc[k]));
      out[3] = 0;
      return true;
    }
  if (s == "dollars" || s == "dollar" || s == "bucks") {
    std::memcpy(out, "USD", 4);
    return true;
  }
  if (s == "euros" || s == "euro") {
    std::memcpy(out, "EUR", 4);
    return true;
  }
  return false;
}

}  // namespace

ClaimExtractor::ClaimExtractor(const Playbook& pb) {
  auto add = [&](std::string_view name, const std::string& id, bool feature) {
    Phrase p;
    p.id = id;
    p.feature = feature;
    std::string low(name);
    for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const auto& tk : Tokenize(low))
      if (tk.k == TK::kWord || tk.k == TK::kNum) p.words.emplace_back(tk.s);
    if (p.words.empty()) return;
    for (const auto& q : phrases_)
      if (q.words == p.words) return;
    phrases_.push_back(std::move(p));
  };
  for (const auto& p : pb.products) {
    add(p.name, p.id, false);
    add(p.id, p.id, false);
    for (const auto& a : p.aliases) add(a, p.id, false);
  }
  for (const auto& f : pb.features) {
    add(f.name, f.id, true);
    add(f.id, f.id, true);
    for (const auto& a : f.aliases) add(a, f.id, true);
  }
  std::stable_sort(phrases_.begin(), phrases_.end(),
                   [](const Phrase& a, const Phrase& b) { return a.words.size() > b.words.size(); });
}

void ClaimExtractor::Extract(std::string_view text, std::string_view default_product, int32_t ref_ymd,
                             std::vector<ExtractedClaim>* out) const {
  if (text.empty()) return;
  std::string low(text);
  for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::vector<Tok> toks = Tokenize(low);
  const Ctx c{toks, static_cast<int>(toks.size())};
  const int n = c.n;
  const size_t first_out = out->size();

  // 1. Catalog mentions (longest phrase first, no overlaps; hyphens skipped).
  std::vector<Mention> mentions;
  std::vector<char> used(n, 0);
  for (int i = 0; i < n; ++i) {
    if (used[i] || (toks[i].k != TK::kWord && toks[i].k != TK::kNum)) continue;
    for (const auto& p : phrases_) {
      int j = i;
      size_t w = 0;
      while (w < p.words.size() && j < n) {
        if (toks[j].k == TK::kHyph) {
          ++j;
          continue;
        }
        if ((toks[j].k != TK::kWord && toks[j].k != TK::kNum) || toks[j].s != p.words[w] || used[j]) break;
        ++w;
        ++j;
      }
      if (w == p.words.size()) {
        for (int k = i; k < j; ++k) used[k] = 1;
        mentions.push_back({i, j, p.id, p.feature});
        break;
      }
    }
  }
  std::string single_product;
  {
    int count = 0;
    for (const auto& m : mentions)
      if (!m.feature && m.id != single_product) {
        single_product = m.id;
        ++count;
      }
    if (count != 1) single_product.clear();
  }
  auto product_for = [&](int tok) -> std::string {
    int best = -1, best_d = 1 << 30;
    for (size_t k = 0; k < mentions.size(); ++k) {
      const auto& m = mentions[k];
      if (m.feature || !c.SameSentence(m.b, tok)) continue;
      int d = m.b <= tok ? tok - m.e : (m.b - tok) + 2;  // prefer a preceding mention
      if (d < best_d) {
        best_d = d;
        best = static_cast<int>(k);
      }
    }
    if (best >= 0) return mentions[best].id;
    if (!single_product.empty()) return single_product;
    return std::string(default_product);
  };
  auto emit = [&](Attr a, int tb, int te_incl, const ClaimVal& v, float conf = 0.9f) -> ExtractedClaim& {
    ExtractedClaim cl;
    cl.attr = a;
    cl.v = v;
    cl.begin = toks[tb].b;
    cl.end = toks[te_incl].e;
    cl.confidence = conf;
    cl.product = product_for(tb);
    out->push_back(std::move(cl));
    return out->back();
  };

  for (int i = 0; i < n; ++i) {
    const Tok& t = toks[i];

    // ---- money: "$1,200", "€49/mo", "USD 99", "99 USD", "$1.2k", "49 dollars per month"
    {
      char cur[4] = {};
      int num = -1, mb = i;
      if (t.k == TK::kSym && c.IsNum(i + 1)) {
        if (t.s == "$") std::memcpy(cur, "USD", 4);
        else if (t.s == "\xE2\x82\xAC") std::memcpy(cur, "EUR", 4);
        else if (t.s == "\xC2\xA3") std::memcpy(cur, "GBP", 4);
        if (cur[0]) num = i + 1;
        if (cur[0] && c.W(i - 1, "us")) mb = i - 1;
      } else if (t.k == TK::kWord && c.IsNum(i + 1) && CurrencyWord(t.s, cur) && t.s.size() == 3) {
        num = i + 1;
      } else if (t.k == TK::kNum && i + 1 < n && toks[i + 1].k == TK::kWord && CurrencyWord(toks[i + 1].s, cur) &&
                 !(i > 0 && toks[i - 1].k == TK::kSym)) {
        num = i;
      }
      if (num >= 0) {
        int end = (num == i) ? i + 1 : num;  // last token of the amount
        // billing period
        uint8_t period = 0;
        int j = end + 1;
        for (int rep = 0; rep < 3 && j < n; ++rep) {
          int k = j;
          if (c.Sym(k, "/") || c.WAny(k, {"per", "a", "an", "each", "every"})) ++k;
          else if (c.WAny(k, {"monthly"})) { period = ev::BILLING_PERIOD_MONTHLY; end = k; break; }
          else if (c.WAny(k, {"annually", "yearly"})) { period = ev::BILLING_PERIOD_YEARLY; end = k; break; }
          else if (c.WAny(k, {"quarterly"})) { period = ev::BILLING_PERIOD_QUARTERLY; end = k; break; }
          else if (c.WAny(k, {"once"}) || (c.W(k, "one") && c.W(c.Next(k), "time"))) {
            period = ev::BILLING_PERIOD_ONE_TIME;
            end = c.W(k, "once") ? k : c.Next(k);
            break;
          } else break;
          if (c.WAny(k, {"mo", "month", "mon"})) { period = ev::BILLING_PERIOD_MONTHLY; end = k; break; }
          if (c.WAny(k, {"yr", "year", "annum"})) { period = ev::BILLING_PERIOD_YEARLY; end = k; break; }
          if (c.WAny(k, {"quarter", "qtr"})) { period = ev::BILLING_PERIOD_QUARTERLY; end = k; break; }
          if (c.WAny(k, {"user", "seat", "license", "licence", "agent", "member"})) { end = k; j = k + 1; continue; }
          break;
        }
        bool skip = c.Negated(mb) || c.UpTo(mb) ||
                    c.Before(mb, 3, {"save", "saves", "saving", "budget", "revenue", "raised", "spent", "spend",
                                     "credit", "refund", "fine", "penalty", "worth", "fee", "costs", "cost", "paid"}) >= 0;
        int after = end + 1;
        if (c.W(after, "in") && c.WAny(after + 1, {"credit", "credits", "savings"})) skip = true;
        if (c.WAny(after, {"off", "discount", "credit", "credits", "savings", "rebate", "cashback", "back", "less",
                           "cheaper", "budget", "revenue", "more", "saved"}))
          skip = true;
        // "costs $49/month": a price statement unless it is about the customer's spend
        if (skip && c.Before(mb, 2, {"costs", "cost"}) >= 0 && !c.Negated(mb) && !c.UpTo(mb) &&
            !c.WAny(after, {"off", "discount", "credit", "credits", "savings", "less", "more"}))
          skip = false;
        if (!skip) {
          ClaimVal v;
          std::memcpy(v.currency, cur, 4);
          // Amounts beyond a trillion are not offers (and would overflow micro-units).
          if (!(std::fabs(toks[num].num) < 1e12)) {
            i = std::max(i, end);
            continue;
          }
          v.micros = static_cast<int64_t>(std::llround(toks[num].num * 1e6));
          v.period = period;
          float conf = c.WAny(mb - 1, {"from", "starting"}) || c.W(mb - 1, "at") ? 0.7f : 0.9f;
          emit(Attr::kPrice, mb, end, v, conf);
        }
        i = std::max(i, end);
        continue;
      }
    }

    // ---- discount: "20% off", "a 15% discount", "save 20%", "discount of 10 percent"
    if (t.k == TK::kNum && !t.has_k && (c.Sym(i + 1, "%") || c.WAny(i + 1, {"percent", "pct"}))) {
      int pct = i + 1;
      int after = c.Next(pct);
      int cue_after = -1;
      if (c.WAny(after, {"off", "discount", "discounted", "reduction", "rebate"})) cue_after = after;
      else if (c.W(after, "price") && c.WAny(after + 1, {"cut", "reduction", "break"})) cue_after = after + 1;
      int cue_before = c.Before(i, 3, {"discount", "discounted", "save", "saving", "savings", "off"});
      bool saving_stat = cue_before >= 0 && c.WAny(cue_before, {"save", "saves"}) &&
                         c.WAny(cue_before - 1, {"customers", "teams", "companies", "users", "clients", "they"});
      if ((cue_after >= 0 || cue_before >= 0) && t.num <= 100 && !c.Negated(cue_before >= 0 ? cue_before : i, 5) &&
          !c.Negated(i, 5) && !c.UpTo(i) && !saving_stat) {
        ClaimVal v;
        v.qty = t.num;
        emit(Attr::kDiscount, cue_before >= 0 && cue_after < 0 ? cue_before : i, cue_after >= 0 ? cue_after : pct, v);
      }
      i = pct;
      continue;
    }

    // ---- trial / contract term: "30-day trial", "2-week free trial", "12-month contract", "two-year agreement"
    if (auto cnt = CountAt(c, i); cnt && (t.k == TK::kNum || c.Next(i) == i + 2 || UnitDays(c, c.Next(i)))) {
      int u = c.Next(i);
      int ud = UnitDays(c, u);
      if (ud) {
        int k = c.Next(u);
        // trial
        int trial_end = -1;
        if (c.W(k, "trial")) trial_end = k;
        else if (c.W(k, "free") && c.W(c.Next(k), "trial")) trial_end = c.Next(k);
        else if (c.W(k, "free") && !c.WAny(c.Next(k), {"shipping", "delivery", "returns", "support", "of", "onboarding"}) &&
                 c.Before(i, 3, {"for"}) < 0)
          trial_end = k;
        else if (c.W(k, "of") && c.W(k + 1, "free") && c.WAny(k + 2, {"trial", "access", "usage", "use"})) trial_end = k + 2;
        if (trial_end >= 0 && !c.Negated(i) && !c.UpTo(i) && (t.k == TK::kNum || !c.WAny(i, {"a", "an"}) || true)) {
          ClaimVal v;
          v.qty = *cnt * ud;
          emit(Attr::kTrial, i, trial_end, v);
          i = trial_end;
          continue;
        }
        // contract term
        if (ud >= 30 && c.WAny(k, {"contract", "term", "agreement", "commitment", "subscription", "commit", "license"}) &&
            !c.Negated(i) && !c.UpTo(i)) {
          ClaimVal v;
          v.qty = ud == 30 ? *cnt : *cnt * 12;
          emit(Attr::kContractTerm, i, k, v);
          i = k;
          continue;
        }
        // "trial of 30 days", "free for 2 weeks", "trial period of 14 days"
        int back = c.Before(i, 4, {"trial"});
        int free_for = (c.W(i - 1, "for") && c.W(i - 2, "free")) ? i - 2 : -1;
        if ((back >= 0 || free_for >= 0) && !c.Negated(back >= 0 ? back : free_for) && !c.UpTo(i) && !c.W(i - 1, "by") &&
            !(back >= 0 && c.Before(i, 4, {"after", "ends", "expires"}) >= 0)) {
          ClaimVal v;
          v.qty = *cnt * ud;
          emit(Attr::kTrial, back >= 0 ? back : free_for, u, v);
          i = u;
          continue;
        }
      }
    }
    // "no free trial", "no trial"
    if (c.W(i, "no") && (c.W(i + 1, "trial") || (c.W(i + 1, "free") && c.W(i + 2, "trial")))) {
      ClaimVal v;
      v.qty = 0;
      int e = c.W(i + 1, "trial") ? i + 1 : i + 2;
      emit(Attr::kTrial, i, e, v);
      i = e;
      continue;
    }
    // "annual contract", "month-to-month"
    if (c.WAny(i, {"annual", "yearly", "one-year"}) &&
        c.WAny(c.Next(i), {"contract", "commitment", "agreement", "term", "subscription", "plan", "license"}) && !c.Negated(i)) {
      ClaimVal v;
      v.qty = 12;
      emit(Attr::kContractTerm, i, c.Next(i), v);
      i = c.Next(i);
      continue;
    }
    if (c.W(i, "month") && c.W(c.Next(i), "to") && c.W(c.Next(c.Next(i)), "month") && !c.Negated(i)) {
      ClaimVal v;
      v.qty = 1;
      int e = c.Next(c.Next(i));
      emit(Attr::kContractTerm, i, e, v);
      i = e;
      continue;
    }

    // ---- free shipping
    if (c.W(i, "free") && c.WAny(c.Next(i), {"shipping"})) {
      ClaimVal v;
      v.flag = !c.Negated(i);
      int b = v.flag ? i : std::max(0, c.Before(i, 3, {"no", "not", "without"}));
      if (!v.flag && b < 0) b = i;
      emit(Attr::kFreeShipping, b, c.Next(i), v);
      i = c.Next(i);
      continue;
    }
    if (c.W(i, "shipping") && c.WAny(i + 1, {"is", "'s"}) && (c.W(i + 2, "free") || (c.WAny(i + 2, {"not"}) && c.W(i + 3, "free")))) {
      ClaimVal v;
      v.flag = c.W(i + 2, "free");
      int e = v.flag ? i + 2 : i + 3;
      emit(Attr::kFreeShipping, i, e, v);
      i = e;
      continue;
    }
    if (c.W(i, "shipping") && c.WAny(i + 1, {"isn't"}) && c.W(i + 2, "free")) {
      ClaimVal v;
      v.flag = false;
      emit(Attr::kFreeShipping, i, i + 2, v);
      i += 2;
      continue;
    }
    if (c.WAny(i, {"ships"}) && c.W(i + 1, "free") && !c.Negated(i)) {
      ClaimVal v;
      v.flag = true;
      emit(Attr::kFreeShipping, i, i + 1, v);
      ++i;
      continue;
    }

    // ---- delivery: "within 10 business days"
    if (c.WAny(i, {"within", "in"}) && CountAt(c, i + 1) && !c.WAny(i + 1, {"a", "an"})) {
      int k = i + 2;
      bool business = false;
      if (c.WAny(k, {"business", "working"})) {
        business = true;
        ++k;
      }
      int ud = UnitDays(c, k);
      bool cue = false;
      for (int j = 0; j < n; ++j)
        if (c.SameSentence(i, j) && c.WAny(j, {"deliver", "delivered", "delivery", "ship", "shipped", "live", "ready",
                                               "installed", "install", "implementation", "implemented", "deployed",
                                               "provisioned", "onboarded", "set", "rollout", "launch", "go-live"}))
          cue = true;
      // More than ~10 years is not a delivery term (and would overflow or loop for ages).
      if (ud && ud <= 7 && cue && ref_ymd && !c.Negated(i) && *CountAt(c, i + 1) * ud <= 3660) {
        double cnt = *CountAt(c, i + 1);
        int64_t days = YmdToDays(ref_ymd);
        if (business) {
          int left = static_cast<int>(cnt * ud);
          while (left > 0) {
            ++days;
            int64_t wd = (days + 4) % 7;  // 0 = Sunday (1970-01-01 was a Thursday)
            if (wd < 0) wd += 7;
            if (wd != 0 && wd != 6) --left;
          }
        } else {
          days += static_cast<int64_t>(cnt * ud);
        }
        ClaimVal v;
        v.ymd = DaysToYmd(days);
        emit(Attr::kDeliveryDate, i, k, v);
        i = k;
        continue;
      }
    }

    // ---- dates: "2026-12-01", "March 3", "March 3rd, 2026", "3 March 2026"
    {
      int y = 0, m = 0, d = 0, db = i, de = -1;
      if (t.k == TK::kNum && t.plain_int && t.e - t.b == 4 && i + 4 < n && toks[i + 1].k == TK::kHyph && c.IsNum(i + 2) &&
          toks[i + 3].k == TK::kHyph && c.IsNum(i + 4) && toks[i + 1].e == toks[i + 2].b &&
          toks[i + 2].num >= 0 && toks[i + 2].num <= 12 && toks[i + 4].num >= 0 && toks[i + 4].num <= 31) {
        y = static_cast<int>(t.num);
        m = static_cast<int>(toks[i + 2].num);
        d = static_cast<int>(toks[i + 4].num);
        de = i + 4;
      } else if (t.k == TK::kWord && MonthOf(t.s) && c.IsNum(i + 1) && toks[i + 1].plain_int && toks[i + 1].num >= 1 &&
                 toks[i + 1].num <= 31 && !(t.s == "may" && !c.IsNum(i + 1))) {
        m = MonthOf(t.s);
        d = static_cast<int>(toks[i + 1].num);
        de = i + 1;
        int k = i + 2;
        if (k < n && toks[k].k == TK::kComma && toks[k].s == ",") ++k;
        if (c.IsNum(k) && toks[k].num >= 1900 && toks[k].num <= 2200 && toks[k].plain_int) {
          y = static_cast<int>(toks[k].num);
          de = k;
        }
      } else if (t.k == TK::kNum && t.plain_int && t.num >= 1 && t.num <= 31 && i + 1 < n && toks[i + 1].k == TK::kWord &&
                 MonthOf(toks[i + 1].s) && toks[i + 1].s != "may" && toks[i + 1].s != "mar") {
        d = static_cast<int>(t.num);
        m = MonthOf(toks[i + 1].s);
        de = i + 1;
        if (c.IsNum(i + 2) && toks[i + 2].num >= 1900 && toks[i + 2].num <= 2200) {
          y = static_cast<int>(toks[i + 2].num);
          de = i + 2;
        }
      }
      if (de >= 0) {
        if (y == 0 && ref_ymd) {
          y = ref_ymd / 10000;
          if (Ymd(y, m, d) < ref_ymd) ++y;
        }
        bool valid = y > 0 && m >= 1 && m <= 12 && d >= 1 && d <= DaysInMonth(y, m);
        int cue = -1;
        for (int j = db - 1; j >= 0 && j >= db - 8 && toks[j].k != TK::kEnd; --j)
          if (c.WAny(j, {"by", "before", "deliver", "delivered", "delivery", "ship", "ships", "shipped", "shipping", "live",
                         "launch", "ready", "installed", "install", "implementation", "implemented", "completed", "due",
                         "deadline", "provisioned", "onboarded", "deployed", "go-live", "rollout"})) {
            cue = j;
            break;
          }
        bool blocked = c.WAny(db - 1, {"since", "from", "after", "until", "till", "through", "ends", "expires", "expire",
                                       "ended", "last", "on", "of", "in"}) ||
                       (c.W(db - 2, "as") && c.W(db - 1, "of"));
        if (c.W(db - 1, "on") && cue >= 0 && cue >= db - 4) blocked = false;  // "live on March 3"
        if (c.W(db - 1, "of") && c.WAny(db - 2, {"end"})) blocked = true;
        if (cue >= 0 && c.WAny(cue, {"by", "before"}) &&
            c.WAny(cue - 1, {"sign", "signed", "signing", "reply", "respond", "register", "decide", "book", "order", "purchase",
                             "buy", "pay", "renew", "upgrade"}))
          blocked = true;
        if (valid && cue >= 0 && !blocked && !c.Negated(cue) && !c.Negated(db)) {
          ClaimVal v;
          v.ymd = Ymd(y, m, d);
          int b = cue >= db - 3 ? cue : db;
          emit(Attr::kDeliveryDate, b, de, v);
        }
        i = de;
        continue;
      }
    }
  }

  // ---- feature availability, per mention, from cues in the same clause
  for (const auto& m : mentions) {
    if (!m.feature) continue;
    {  // questions ("Does Concord support SSO?") claim nothing
      int k = m.e;
      while (k < n && toks[k].k != TK::kEnd) ++k;
      if (k < n && toks[k].s == "?") continue;
    }
    int clause = toks[m.b].clause;
    int lo = m.b, hi = m.e - 1;
    while (lo > 0 && toks[lo - 1].clause == clause && toks[lo - 1].k != TK::kEnd && toks[lo - 1].k != TK::kComma) --lo;
    while (hi + 1 < n && toks[hi + 1].clause == clause && toks[hi + 1].k != TK::kEnd && toks[hi + 1].k != TK::kComma) ++hi;
    int coming = -1, coming_end = -1, neg = -1, beta = -1, pos = -1;
    std::string detail;
    for (int j = lo; j <= hi; ++j) {
      if (j >= m.b && j < m.e) continue;
      if (c.W(j, "coming") || (c.W(j, "will") && c.W(j + 1, "be") && c.WAny(j + 2, {"available", "included", "released", "ready"})) ||
          c.WAny(j, {"roadmap", "planned", "upcoming"}) || (c.W(j, "later") && c.W(j + 1, "this"))) {
        coming = j;
        coming_end = j;
        for (int k = j + 1; k <= hi && k <= j + 4; ++k) {
          if (toks[k].k == TK::kWord && toks[k].s.size() == 2 && toks[k].s[0] == 'q' && toks[k].s[1] >= '1' && toks[k].s[1] <= '4') {
            detail = "Q" + std::string(1, toks[k].s[1]);
            coming_end = k;
            if (c.IsNum(k + 1) && toks[k + 1].num >= 2000 && toks[k + 1].num < 2200) {
              detail += " " + std::string(toks[k + 1].s);
              coming_end = k + 1;
            }
            break;
          }
          if (c.W(k, "soon")) {
            detail = "soon";
            coming_end = k;
            break;
          }
          if (c.IsNum(k) && toks[k].num >= 2000 && toks[k].num < 2200 && toks[k].plain_int) {
            detail = std::string(toks[k].s);
            coming_end = k;
            break;
          }
          if (toks[k].k == TK::kWord && MonthOf(toks[k].s) && toks[k].s != "may") {
            detail = std::string(text.substr(toks[k].b, toks[k].e - toks[k].b));
            coming_end = k;
            break;
          }
        }
        if (c.W(j, "later") && c.W(j + 1, "this") && c.WAny(j + 2, {"year", "quarter"})) {
          detail = "later this " + std::string(toks[j + 2].s);
          coming_end = j + 2;
        }
        break;
      }
      if (c.WAny(j, {"beta", "preview"}) && !c.Negated(j)) beta = j;
      if (c.WAny(j, {"unavailable", "lacks", "lack", "missing"}) || (c.W(j, "not") && c.WAny(j + 1, {"offered", "supported"})))
        neg = j;
      if (c.WAny(j, {"available", "included", "includes", "include", "supports", "support", "supported", "offers", "offer",
                     "has", "have", "enabled", "live", "ga", "comes", "come", "get", "gets", "built", "ships"})) {
        if (c.W(j, "support") && j < m.b && !c.Negated(j) && !c.WAny(j - 1, {"we", "it", "they", "does", "do", "will", "to"})) {
          // "support for SSO" needs a verb elsewhere; treat "full support for" as positive
        }
        if (c.Negated(j, 3)) neg = j;
        else if (pos < 0) pos = j;
      }
    }
    if (c.WAny(m.b - 1, {"no", "without"})) neg = m.b - 1;
    ExtractedClaim cl;
    cl.attr = Attr::kFeature;
    cl.feature = m.id;
    int cue;
    if (coming >= 0) {
      cl.v.avail = Avail::kComing;
      cl.v.flag = false;
      cl.detail = detail;
      cue = coming;
    } else if (neg >= 0) {
      cl.v.avail = Avail::kNotAvailable;
      cue = neg;
    } else if (beta >= 0) {
      cl.v.avail = Avail::kBeta;
      cl.v.flag = true;
      cue = beta;
    } else if (pos >= 0) {
      cl.v.avail = Avail::kAvailable;
      cl.v.flag = true;
      cue = pos;
    } else {
      continue;
    }
    int b = std::min(m.b, cue), e = std::max(m.e - 1, coming >= 0 ? coming_end : cue);
    if (neg >= 0 && coming < 0) {
      int nb = c.Negated(neg, 3) ? neg - 3 : neg;
      for (int k = std::max(nb, lo); k < neg; ++k)
        if (toks[k].k == TK::kWord && (toks[k].s == "not" || toks[k].s == "no" || toks[k].s.ends_with("n't"))) {
          b = std::min(b, k);
          break;
        }
    }
    cl.begin = toks[b].b;
    cl.end = toks[e].e;
    cl.confidence = 0.85f;
    cl.product = product_for(m.b);
    out->push_back(std::move(cl));
  }

  std::stable_sort(out->begin() + static_cast<long>(first_out), out->end(),
                   [](const ExtractedClaim& a, const ExtractedClaim& b) { return a.begin < b.begin; });
}

}  // namespace concord::alignment::engine
