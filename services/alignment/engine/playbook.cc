#include "services/alignment/engine/playbook.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace concord::alignment::engine {

namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

const char* AvailabilityName(Availability a) {
  switch (a) {
    case Availability::kAvailable: return "available";
    case Availability::kBeta: return "beta";
    case Availability::kRoadmap: return "roadmap";
    case Availability::kNotOffered: return "not_offered";
  }
  return "?";
}

const PriceBookEntry* Playbook::Price(std::string_view product) const {
  auto it = price_book.find(std::string(product));
  return it == price_book.end() ? nullptr : &it->second;
}
const CatalogFeature* Playbook::Feature(std::string_view id) const {
  for (const auto& f : features)
    if (f.id == id) return &f;
  return nullptr;
}
const ApprovedOffer* Playbook::Offer(std::string_view code) const {
  for (const auto& o : approved_offers)
    if (o.code == code) return &o;
  return nullptr;
}

std::string PlaybookProblem::ToString() const {
  std::string s;
  if (line) s += "line " + std::to_string(line) + ": ";
  if (!path.empty()) s += path + ": ";
  if (!error) s += "warning: ";
  return s + message;
}

std::string PlaybookLoad::ErrorText() const {
  std::string s;
  for (const auto& p : problems) {
    if (!p.error) continue;
    if (!s.empty()) s += "\n";
    s += p.ToString();
  }
  return s;
}

std::optional<Micros> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  Micros total = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i] - '0');
      if (n > 1'000'000'000) return std::nullopt;
      ++i;
    }
    if (i == s.size()) return std::nullopt;
    Micros unit = 0;
    switch (s[i++]) {
      case 'd': unit = kDay; break;
      case 'h': unit = kHour; break;
      case 'm': unit = kMinute; break;
      case 's': unit = kSecond; break;
      default: return std::nullopt;
    }
    // Durations beyond ~100 years are not plausible playbook settings (and would overflow).
    constexpr Micros kMax = 36500 * kDay;
    if (n > kMax / unit || total > kMax - n * unit) return std::nullopt;
    total += n * unit;
  }
  return total;
}

namespace {

// Exact decimal -> micro-units.
std::optional<int64_t> ParseMicros(const std::string& s) {
  if (s.empty()) return std::nullopt;
  int64_t units = 0, frac = 0;
  int frac_digits = 0;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    i = 1;
  }
  bool any = false, dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    any = true;
    if (!dot) {
      units = units * 10 + (c - '0');
      if (units > 1'000'000'000'000LL) return std::nullopt;
    } else if (frac_digits < 6) {
      frac = frac * 10 + (c - '0');
      ++frac_digits;
    }
  }
  if (!any) return std::nullopt;
  while (frac_digits < 6) {
    frac *= 10;
    ++frac_digits;
  }
  int64_t v = units * 1'000'000 + frac;
  return neg ? -v : v;
}

struct Ctx {
  std::vector<PlaybookProblem> problems;
  void Err(const YAML::Node& n, const std::string& path, const std::string& msg, bool error = true) {
    PlaybookProblem p;
    p.error = error;
    if (n.IsDefined() && n.Mark().line >= 0) {
      p.line = static_cast<uint32_t>(n.Mark().line + 1);
      p.column = static_cast<uint32_t>(n.Mark().column + 1);
    }
    p.path = path;
    p.message = msg;
    problems.push_back(std::move(p));
  }
  void Warn(const YAML::Node& n, const std::string& path, const std::string& msg) { Err(n, path, msg, false); }

  std::optional<std::string> Str(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      Err(n, path, "must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }
  std::optional<double> Num(const YAML::Node& n, const std::string& path, double lo, double hi) {
    if (!n.IsScalar()) {
      Err(n, path, "must be a number");
      return std::nullopt;
    }
    double v;
    try {
      v = n.as<double>();
    } catch (...) {
      Err(n, path, "must be a number, got '" + n.Scalar() + "'");
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "must be " << lo << ".." << hi << ", got " << n.Scalar();
      Err(n, path, os.str());
      return std::nullopt;
    }
    return v;
  }
  std::optional<int64_t> Money(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      Err(n, path, "must be an amount like 49.00");
      return std::nullopt;
    }
    auto v = ParseMicros(n.Scalar());
    if (!v || *v < 0) {
      Err(n, path, "must be a non-negative amount like 49.00, got '" + n.Scalar() + "'");
      return std::nullopt;
    }
    return v;
  }
  std::optional<Micros> Dur(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      Err(n, path, "must be a duration like 72h or 30d");
      return std::nullopt;
    }
    auto d = ParseDuration(n.Scalar());
    if (!d || *d <= 0) {
      Err(n, path, "must be a positive duration like 72h, 30d, 90m, got '" + n.Scalar() + "'");
      return std::nullopt;
    }
    return d;
  }
  std::optional<int32_t> Date(const YAML::Node& n, const std::string& path) {
    std::string s = n.IsScalar() ? n.Scalar() : "";
    int y, m, d;
    if (s.size() == 10 && std::sscanf(s.c_str(), "%4d-%2d-%2d", &y, &m, &d) == 3 && m >= 1 && m <= 12 && d >= 1 &&
        d <= 31) {
      return Ymd(y, m, d);
    }
    Err(n, path, "must be a date YYYY-MM-DD, got '" + s + "'");
    return std::nullopt;
  }
  std::vector<std::string> StrList(const YAML::Node& n, const std::string& path) {
    std::vector<std::string> out;
    if (!n) return out;
    if (!n.IsSequence()) {
      Err(n, path, "must be a list of strings");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      if (auto s = Str(n[i], path + "[" + std::to_string(i) + "]")) out.push_back(*s);
    }
    return out;
  }
  void UnknownKeys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> known) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.Scalar();
      bool ok = false;
      for (const char* kk : known) ok |= k == kk;
      if (!ok) Warn(it->first, path.empty() ? k : path + "." + k, "unknown key (ignored)");
    }
  }
};

bool CurrencyOk(const std::string& c) {
  return c.size() == 3 && std::all_of(c.begin(), c.end(), [](char x) { return x >= 'A' && x <= 'Z'; });
}

std::optional<BillingPeriod> ParsePeriod(const std::string& s) {
  if (s == "one_time") return ev::BILLING_PERIOD_ONE_TIME;
  if (s == "monthly") return ev::BILLING_PERIOD_MONTHLY;
  if (s == "quarterly") return ev::BILLING_PERIOD_QUARTERLY;
  if (s == "yearly" || s == "annual") return ev::BILLING_PERIOD_YEARLY;
  return std::nullopt;
}

std::optional<LifecycleStage> ParseStage(const std::string& s) {
  static const std::pair<const char*, LifecycleStage> k[] = {
      {"subscriber", ev::LIFECYCLE_STAGE_SUBSCRIBER}, {"lead", ev::LIFECYCLE_STAGE_LEAD},
      {"mql", ev::LIFECYCLE_STAGE_MQL},               {"sql", ev::LIFECYCLE_STAGE_SQL},
      {"opportunity", ev::LIFECYCLE_STAGE_OPPORTUNITY}, {"customer", ev::LIFECYCLE_STAGE_CUSTOMER},
      {"evangelist", ev::LIFECYCLE_STAGE_EVANGELIST}, {"former_customer", ev::LIFECYCLE_STAGE_FORMER_CUSTOMER}};
  for (auto& [n, v] : k)
    if (s == n) return v;
  return std::nullopt;
}

std::optional<int> ParsePurpose(const std::string& s) {
  static const char* k[] = {"unspecified", "welcome",  "nurture",  "promotion", "new_customer_offer",
                            "win_back",    "event_invite", "newsletter", "follow_up", "proposal",
                            "onboarding",  "renewal",  "transactional"};
  for (int i = 1; i < 13; ++i)
    if (s == k[i]) return i;
  return std::nullopt;
}

std::optional<Severity> ParseSeverity(const std::string& s) {
  if (s == "info") return av::SEVERITY_INFO;
  if (s == "low") return av::SEVERITY_LOW;
  if (s == "medium") return av::SEVERITY_MEDIUM;
  if (s == "high") return av::SEVERITY_HIGH;
  if (s == "critical") return av::SEVERITY_CRITICAL;
  return std::nullopt;
}

const char* kTypeKeys[8] = {"", "conflicting_claim", "off_book_claim", "duplicate_outreach", "ownership_violation",
                            "duplicate_record", "handoff_sla_breach", "contradictory_journey"};

void ParseDoc(const YAML::Node& root, Playbook& pb, Ctx& c) {
  if (!root.IsMap()) {
    c.Err(root, "", "the playbook must be a YAML mapping");
    return;
  }
  c.UnknownKeys(root, "",
                {"version", "price_book", "approved_offers", "catalog", "ownership", "windows", "tolerances", "sla",
                 "journey", "severities", "identity", "limits"});
  if (auto v = root["version"]) {
    if (auto s = c.Str(v, "version")) pb.declared_version = *s;
  } else {
    c.Warn(root, "version", "no version label; findings will only carry the server version");
  }

  // catalog first: price book and offers refer to its products.
  // Each feature's `products` node, kept for the cross-check below: looking it up again by id
  // would miss it when the map repeats a key (the problem would then have no line).
  std::vector<YAML::Node> feature_products;
  if (auto cat = root["catalog"]) {
    c.UnknownKeys(cat, "catalog", {"products", "features"});
    if (auto prods = cat["products"]) {
      if (!prods.IsMap()) c.Err(prods, "catalog.products", "must be a mapping of product id to product");
      else
        for (auto it = prods.begin(); it != prods.end(); ++it) {
          std::string id = it->first.Scalar(), path = "catalog.products." + id;
          CatalogProduct p;
          p.id = id;
          YAML::Node n = it->second;  // a copy: `it->` yields a temporary
          if (!n.IsMap()) {
            c.Err(n, path, "must be a mapping with name and aliases");
            continue;
          }
          c.UnknownKeys(n, path, {"name", "aliases"});
          if (n["name"]) {
            if (auto s = c.Str(n["name"], path + ".name")) p.name = *s;
          } else {
            c.Err(n, path + ".name", "is required");
          }
          p.aliases = c.StrList(n["aliases"], path + ".aliases");
          pb.products.push_back(std::move(p));
        }
    }
    if (auto feats = cat["features"]) {
      if (!feats.IsMap()) c.Err(feats, "catalog.features", "must be a mapping of feature id to feature");
      else
        for (auto it = feats.begin(); it != feats.end(); ++it) {
          std::string id = it->first.Scalar(), path = "catalog.features." + id;
          CatalogFeature f;
          f.id = id;
          YAML::Node n = it->second;  // a copy: `it->` yields a temporary
          if (!n.IsMap()) {
            c.Err(n, path, "must be a mapping");
            continue;
          }
          c.UnknownKeys(n, path, {"name", "aliases", "availability", "products", "eta"});
          if (n["name"]) {
            if (auto s = c.Str(n["name"], path + ".name")) f.name = *s;
          } else {
            c.Err(n, path + ".name", "is required");
          }
          f.aliases = c.StrList(n["aliases"], path + ".aliases");
          if (auto a = n["availability"]) {
            std::string s = a.IsScalar() ? a.Scalar() : "";
            if (s == "available") f.availability = Availability::kAvailable;
            else if (s == "beta") f.availability = Availability::kBeta;
            else if (s == "roadmap") f.availability = Availability::kRoadmap;
            else if (s == "not_offered") f.availability = Availability::kNotOffered;
            else c.Err(a, path + ".availability", "must be available, beta, roadmap or not_offered, got '" + s + "'");
          } else {
            c.Err(n, path + ".availability", "is required");
          }
          f.products = c.StrList(n["products"], path + ".products");
          if (n["eta"]) {
            if (auto s = c.Str(n["eta"], path + ".eta")) f.eta = *s;
          }
          feature_products.push_back(n["products"].IsDefined() ? n["products"] : n);
          pb.features.push_back(std::move(f));
        }
    }
  }
  auto known_product = [&](const std::string& id) {
    for (const auto& p : pb.products)
      if (p.id == id) return true;
    return false;
  };
  for (size_t i = 0; i < pb.features.size(); ++i) {
    const auto& f = pb.features[i];
    for (const auto& p : f.products)
      if (!known_product(p)) c.Err(feature_products[i], "catalog.features." + f.id + ".products", "unknown product '" + p + "'");
  }

  if (auto pbk = root["price_book"]) {
    if (!pbk.IsMap()) c.Err(pbk, "price_book", "must be a mapping of product id to price");
    else
      for (auto it = pbk.begin(); it != pbk.end(); ++it) {
        std::string id = it->first.Scalar(), path = "price_book." + id;
        YAML::Node n = it->second;  // a copy: `it->` yields a temporary
        if (!n.IsMap()) {
          c.Err(n, path, "must be a mapping");
          continue;
        }
        c.UnknownKeys(n, path,
                      {"currency", "list_price", "floor_price", "billing_period", "max_discount_percent", "max_trial_days"});
        if (!known_product(id)) c.Err(it->first, path, "product '" + id + "' is not in catalog.products");
        PriceBookEntry e;
        e.product = id;
        if (auto cur = n["currency"]) {
          if (auto s = c.Str(cur, path + ".currency")) {
            if (!CurrencyOk(*s)) c.Err(cur, path + ".currency", "must be an ISO 4217 code like USD, got '" + *s + "'");
            e.currency = *s;
          }
        } else {
          c.Err(n, path + ".currency", "is required");
        }
        if (auto lp = n["list_price"]) {
          if (auto v = c.Money(lp, path + ".list_price")) e.list_price_micros = *v;
        } else {
          c.Err(n, path + ".list_price", "is required");
        }
        if (auto fp = n["floor_price"]) {
          if (auto v = c.Money(fp, path + ".floor_price")) {
            e.floor_price_micros = *v;
            if (*v > e.list_price_micros)
              c.Err(fp, path + ".floor_price", "must not exceed list_price (" + n["list_price"].Scalar() + "), got " + fp.Scalar());
          }
        }
        if (auto bp = n["billing_period"]) {
          auto p = ParsePeriod(bp.IsScalar() ? bp.Scalar() : "");
          if (!p) c.Err(bp, path + ".billing_period", "must be one_time, monthly, quarterly or yearly");
          else e.period = *p;
        }
        if (auto md = n["max_discount_percent"]) {
          if (auto v = c.Num(md, path + ".max_discount_percent", 0, 100)) e.max_discount_percent = *v;
        }
        if (auto mt = n["max_trial_days"]) {
          if (auto v = c.Num(mt, path + ".max_trial_days", 0, 3650)) e.max_trial_days = static_cast<uint32_t>(*v);
        }
        pb.price_book[id] = e;
      }
  }

  if (auto offs = root["approved_offers"]) {
    if (!offs.IsSequence()) c.Err(offs, "approved_offers", "must be a list");
    else
      for (size_t i = 0; i < offs.size(); ++i) {
        const YAML::Node& n = offs[i];
        std::string path = "approved_offers[" + std::to_string(i) + "]";
        if (!n.IsMap()) {
          c.Err(n, path, "must be a mapping");
          continue;
        }
        c.UnknownKeys(n, path,
                      {"code", "product", "discount_percent", "trial_days", "free_shipping", "price", "valid_from",
                       "valid_until", "new_customers_only", "description"});
        ApprovedOffer o;
        if (auto s = n["code"] ? c.Str(n["code"], path + ".code") : std::nullopt) o.code = *s;
        else if (!n["code"]) c.Err(n, path + ".code", "is required");
        for (const auto& prev : pb.approved_offers)
          if (!o.code.empty() && prev.code == o.code) c.Err(n["code"], path + ".code", "duplicate offer code '" + o.code + "'");
        if (auto s = n["product"] ? c.Str(n["product"], path + ".product") : std::nullopt) {
          o.product = *s;
          if (!known_product(o.product)) c.Err(n["product"], path + ".product", "unknown product '" + o.product + "'");
        } else if (!n["product"]) {
          c.Err(n, path + ".product", "is required");
        }
        if (n["discount_percent"])
          if (auto v = c.Num(n["discount_percent"], path + ".discount_percent", 0, 100)) {
            o.discount_percent = *v;
            if (auto* pe = pb.Price(o.product); pe && *v > pe->max_discount_percent)
              c.Err(n["discount_percent"], path + ".discount_percent",
                    "exceeds price_book." + o.product + ".max_discount_percent");
          }
        if (n["trial_days"])
          if (auto v = c.Num(n["trial_days"], path + ".trial_days", 0, 3650)) o.trial_days = static_cast<uint32_t>(*v);
        if (n["free_shipping"]) {
          try {
            o.free_shipping = n["free_shipping"].as<bool>();
          } catch (...) {
            c.Err(n["free_shipping"], path + ".free_shipping", "must be true or false");
          }
        }
        if (n["price"])
          if (auto v = c.Money(n["price"], path + ".price")) o.price_micros = *v;
        if (n["valid_from"]) o.valid_from_ymd = c.Date(n["valid_from"], path + ".valid_from");
        if (n["valid_until"]) o.valid_until_ymd = c.Date(n["valid_until"], path + ".valid_until");
        if (o.valid_from_ymd && o.valid_until_ymd && *o.valid_from_ymd >= *o.valid_until_ymd)
          c.Err(n["valid_until"], path + ".valid_until", "must be after valid_from");
        if (n["new_customers_only"]) {
          try {
            o.new_customers_only = n["new_customers_only"].as<bool>();
          } catch (...) {
            c.Err(n["new_customers_only"], path + ".new_customers_only", "must be true or false");
          }
        }
        pb.approved_offers.push_back(std::move(o));
      }
  }

  if (auto own = root["ownership"]) {
    if (!own.IsMap()) c.Err(own, "ownership", "must be a mapping of lifecycle stage to team");
    else {
      c.UnknownKeys(own, "ownership", {"stages", "non_owner_allowed_purposes"});
      if (auto st = own["stages"]) {
        if (!st.IsMap()) c.Err(st, "ownership.stages", "must be a mapping of lifecycle stage to team");
        else
          for (auto it = st.begin(); it != st.end(); ++it) {
            std::string k = it->first.Scalar(), path = "ownership.stages." + k;
            auto stage = ParseStage(k);
            if (!stage) {
              c.Err(it->first, path,
                    "unknown lifecycle stage (subscriber, lead, mql, sql, opportunity, customer, evangelist, former_customer)");
              continue;
            }
            std::string v = it->second.IsScalar() ? it->second.Scalar() : "";
            if (v == "marketing") pb.owner[*stage] = ev::TEAM_MARKETING;
            else if (v == "sales") pb.owner[*stage] = ev::TEAM_SALES;
            else if (v == "shared") pb.owner[*stage] = ev::TEAM_UNSPECIFIED;
            else c.Err(it->second, path, "must be marketing, sales or shared, got '" + v + "'");
          }
      }
      if (auto ap = own["non_owner_allowed_purposes"]) {
        auto list = c.StrList(ap, "ownership.non_owner_allowed_purposes");
        pb.non_owner_allowed_purposes.clear();
        for (size_t i = 0; i < list.size(); ++i) {
          if (auto p = ParsePurpose(list[i])) pb.non_owner_allowed_purposes.push_back(*p);
          else c.Err(ap[i], "ownership.non_owner_allowed_purposes[" + std::to_string(i) + "]", "unknown message purpose '" + list[i] + "'");
        }
      }
    }
  }

  if (auto w = root["windows"]) {
    c.UnknownKeys(w, "windows", {"duplicate_outreach", "claim_validity", "ownership_repeat"});
    if (w["duplicate_outreach"])
      if (auto d = c.Dur(w["duplicate_outreach"], "windows.duplicate_outreach")) pb.duplicate_outreach_window = *d;
    if (w["claim_validity"])
      if (auto d = c.Dur(w["claim_validity"], "windows.claim_validity")) pb.claim_validity = *d;
    if (w["ownership_repeat"])
      if (auto d = c.Dur(w["ownership_repeat"], "windows.ownership_repeat")) pb.ownership_repeat_window = *d;
  }
  if (auto t = root["tolerances"]) {
    c.UnknownKeys(t, "tolerances", {"price_percent", "discount_points", "trial_days", "date_days"});
    if (t["price_percent"])
      if (auto v = c.Num(t["price_percent"], "tolerances.price_percent", 0, 100)) pb.price_tolerance_percent = *v;
    if (t["discount_points"])
      if (auto v = c.Num(t["discount_points"], "tolerances.discount_points", 0, 100)) pb.discount_tolerance_points = *v;
    if (t["trial_days"])
      if (auto v = c.Num(t["trial_days"], "tolerances.trial_days", 0, 365)) pb.trial_tolerance_days = *v;
    if (t["date_days"])
      if (auto v = c.Num(t["date_days"], "tolerances.date_days", 0, 365)) pb.date_tolerance_days = static_cast<int32_t>(*v);
  }
  if (auto s = root["sla"]) {
    c.UnknownKeys(s, "sla", {"handoff_accept", "first_touch"});
    if (s["handoff_accept"])
      if (auto d = c.Dur(s["handoff_accept"], "sla.handoff_accept")) pb.sla_handoff_accept = *d;
    if (s["first_touch"])
      if (auto d = c.Dur(s["first_touch"], "sla.first_touch")) pb.sla_first_touch = *d;
    if (pb.sla_first_touch < pb.sla_handoff_accept)
      c.Warn(s, "sla.first_touch", "is shorter than sla.handoff_accept");
  }
  if (auto j = root["journey"]) {
    c.UnknownKeys(j, "journey", {"stalled_opportunity_days"});
    if (j["stalled_opportunity_days"])
      if (auto v = c.Num(j["stalled_opportunity_days"], "journey.stalled_opportunity_days", 1, 3650))
        pb.stalled_opportunity_days = static_cast<int32_t>(*v);
  }
  if (auto sv = root["severities"]) {
    if (!sv.IsMap()) c.Err(sv, "severities", "must be a mapping of finding type to severity");
    else
      for (auto it = sv.begin(); it != sv.end(); ++it) {
        std::string k = it->first.Scalar(), path = "severities." + k;
        int idx = -1;
        for (int i = 1; i < 8; ++i)
          if (k == kTypeKeys[i]) idx = i;
        if (idx < 0) {
          c.Err(it->first, path, "unknown finding type");
          continue;
        }
        auto s = ParseSeverity(it->second.IsScalar() ? it->second.Scalar() : "");
        if (!s) c.Err(it->second, path, "must be info, low, medium, high or critical, got '" + it->second.Scalar() + "'");
        else pb.severity[idx] = *s;
      }
  }
  if (auto id = root["identity"]) {
    c.UnknownKeys(id, "identity", {"name_jaro_winkler_threshold", "default_country_code"});
    if (id["name_jaro_winkler_threshold"])
      if (auto v = c.Num(id["name_jaro_winkler_threshold"], "identity.name_jaro_winkler_threshold", 0.5, 1.0))
        pb.name_jaro_winkler_threshold = *v;
    if (id["default_country_code"])
      if (auto v = c.Str(id["default_country_code"], "identity.default_country_code")) pb.default_country_code = *v;
  }
  if (auto l = root["limits"]) {
    c.UnknownKeys(l, "limits", {"max_touches", "max_claims", "max_records", "dedupe_ids"});
    if (l["max_touches"]) if (auto v = c.Num(l["max_touches"], "limits.max_touches", 1, 256)) pb.max_touches = static_cast<uint32_t>(*v);
    if (l["max_claims"]) if (auto v = c.Num(l["max_claims"], "limits.max_claims", 1, 256)) pb.max_claims = static_cast<uint32_t>(*v);
    if (l["max_records"]) if (auto v = c.Num(l["max_records"], "limits.max_records", 1, 256)) pb.max_records = static_cast<uint32_t>(*v);
    if (l["dedupe_ids"]) if (auto v = c.Num(l["dedupe_ids"], "limits.dedupe_ids", 1, 4096)) pb.dedupe_ids = static_cast<uint32_t>(*v);
  }
}

}  // namespace

Playbook DefaultPlaybook() {
  Playbook pb;
  pb.owner[ev::LIFECYCLE_STAGE_SUBSCRIBER] = ev::TEAM_MARKETING;
  pb.owner[ev::LIFECYCLE_STAGE_LEAD] = ev::TEAM_MARKETING;
  pb.owner[ev::LIFECYCLE_STAGE_MQL] = ev::TEAM_MARKETING;
  pb.owner[ev::LIFECYCLE_STAGE_SQL] = ev::TEAM_SALES;
  pb.owner[ev::LIFECYCLE_STAGE_OPPORTUNITY] = ev::TEAM_SALES;
  pb.owner[ev::LIFECYCLE_STAGE_CUSTOMER] = ev::TEAM_SALES;
  pb.owner[ev::LIFECYCLE_STAGE_EVANGELIST] = ev::TEAM_UNSPECIFIED;
  pb.owner[ev::LIFECYCLE_STAGE_FORMER_CUSTOMER] = ev::TEAM_MARKETING;
  pb.non_owner_allowed_purposes = {ev::MESSAGE_PURPOSE_NEWSLETTER, ev::MESSAGE_PURPOSE_TRANSACTIONAL,
                                   ev::MESSAGE_PURPOSE_EVENT_INVITE};
  pb.severity = {av::SEVERITY_UNSPECIFIED, av::SEVERITY_HIGH,   av::SEVERITY_HIGH, av::SEVERITY_MEDIUM,
                 av::SEVERITY_MEDIUM,      av::SEVERITY_LOW,    av::SEVERITY_HIGH, av::SEVERITY_MEDIUM};
  return pb;
}

PlaybookLoad LoadPlaybook(std::string_view yaml, uint64_t version) {
  PlaybookLoad out;
  Ctx c;
  Playbook pb = DefaultPlaybook();
  pb.version = version;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    ParseDoc(root, pb, c);
  } catch (const YAML::Exception& e) {
    PlaybookProblem p;
    p.line = e.mark.line >= 0 ? static_cast<uint32_t>(e.mark.line + 1) : 0;
    p.column = e.mark.column >= 0 ? static_cast<uint32_t>(e.mark.column + 1) : 0;
    p.message = "YAML syntax: " + e.msg;
    c.problems.push_back(std::move(p));
  }
  std::stable_sort(c.problems.begin(), c.problems.end(),
                   [](const PlaybookProblem& a, const PlaybookProblem& b) { return a.line < b.line; });
  out.problems = std::move(c.problems);
  bool has_error = std::any_of(out.problems.begin(), out.problems.end(), [](const auto& p) { return p.error; });
  if (!has_error) out.playbook = std::move(pb);
  return out;
}

PlaybookLoad LoadPlaybookFile(const std::string& path, uint64_t version) {
  std::ifstream in(path);
  if (!in) {
    PlaybookLoad out;
    out.problems.push_back({true, 0, 0, "", "cannot read " + path});
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadPlaybook(ss.str(), version);
}

}  // namespace concord::alignment::engine
