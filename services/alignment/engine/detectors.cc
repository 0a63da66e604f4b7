#include "services/alignment/engine/detectors.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace concord::alignment::engine {

namespace ev = concord::events::v1;

namespace {
std::string Show(const StoredClaim& c) {
  ExtractedClaim e;
  e.attr = c.attr;
  e.v = c.v;
  e.detail = c.text.detail();
  return DisplayValue(e);
}
}  // namespace

double MonthlyMicros(int64_t micros, uint8_t period) {
  switch (period) {
    case ev::BILLING_PERIOD_YEARLY: return micros / 12.0;
    case ev::BILLING_PERIOD_QUARTERLY: return micros / 3.0;
    default: return static_cast<double>(micros);
  }
}

bool SameSubject(const StoredClaim& a, const StoredClaim& b) {
  if (a.attr != b.attr) return false;
  if (a.attr == Attr::kFeature) return a.feature == b.feature;
  if (a.attr == Attr::kPrice) return a.product == b.product;
  return a.product == b.product || a.product == 0 || b.product == 0;
}

bool Disagree(const StoredClaim& a, const StoredClaim& b, const Playbook& pb, std::string* why) {
  switch (a.attr) {
    case Attr::kPrice: {
      if (std::strcmp(a.v.currency, b.v.currency) != 0) return false;
      bool ao = a.v.period == ev::BILLING_PERIOD_ONE_TIME, bo = b.v.period == ev::BILLING_PERIOD_ONE_TIME;
      if (ao != bo) return false;
      uint8_t pa = a.v.period ? a.v.period : b.v.period, pbp = b.v.period ? b.v.period : a.v.period;
      double x = MonthlyMicros(a.v.micros, pa), y = MonthlyMicros(b.v.micros, pbp);
      double hi = std::max(x, y);
      if (hi <= 0) return false;
      double diff = std::fabs(x - y) / hi * 100.0;
      if (diff <= pb.price_tolerance_percent + 1e-9) return false;
      *why = "price " + Show(a) + " vs " + Show(b) + " (differ by " + FormatNumber(std::round(diff * 10) / 10) + " %, tolerance " +
             FormatNumber(pb.price_tolerance_percent) + " %)";
      return true;
    }
    case Attr::kDiscount: {
      double d = std::fabs(a.v.qty - b.v.qty);
      if (d <= pb.discount_tolerance_points + 1e-9) return false;
      *why = "discount " + Show(a) + " vs " + Show(b) + " (tolerance " + FormatNumber(pb.discount_tolerance_points) + " points)";
      return true;
    }
    case Attr::kTrial: {
      double d = std::fabs(a.v.qty - b.v.qty);
      if (d <= pb.trial_tolerance_days + 1e-9) return false;
      *why = "trial " + Show(a) + " vs " + Show(b) + " (tolerance " + FormatNumber(pb.trial_tolerance_days) + " days)";
      return true;
    }
    case Attr::kContractTerm: {
      if (std::fabs(a.v.qty - b.v.qty) < 1e-9) return false;
      *why = "contract term " + Show(a) + " vs " + Show(b);
      return true;
    }
    case Attr::kDeliveryDate: {
      int64_t d = std::llabs(YmdToDays(a.v.ymd) - YmdToDays(b.v.ymd));
      if (d <= pb.date_tolerance_days) return false;
      *why = "delivery date " + Show(a) + " vs " + Show(b) + " (tolerance " + std::to_string(pb.date_tolerance_days) + " days)";
      return true;
    }
    case Attr::kFreeShipping: {
      if (a.v.flag == b.v.flag) return false;
      *why = Show(a) + " vs " + Show(b);
      return true;
    }
    case Attr::kFeature: {
      // available/beta vs not available/coming
      if (a.v.flag == b.v.flag) return false;
      *why = "feature " + Show(a) + " vs " + Show(b);
      return true;
    }
    default: return false;
  }
}

std::vector<OffBookProblem> CheckOffBook(const StoredClaim& c, std::string_view product, std::string_view feature,
                                         const Playbook& pb, int32_t at_ymd) {
  std::vector<OffBookProblem> out;
  const PriceBookEntry* pe = product.empty() ? nullptr : pb.Price(product);
  auto pfx = [&] { return "price_book." + std::string(product); };  // built only for a problem
  switch (c.attr) {
    case Attr::kPrice:
      if (pe && pe->currency == c.v.currency && c.v.period != ev::BILLING_PERIOD_ONE_TIME) {
        uint8_t period = c.v.period ? c.v.period : static_cast<uint8_t>(pe->period);
        double claimed = MonthlyMicros(c.v.micros, period);
        double floor = MonthlyMicros(pe->floor_price_micros, static_cast<uint8_t>(pe->period));
        if (pe->floor_price_micros > 0 && claimed < floor * (1 - pb.price_tolerance_percent / 100.0) - 1e-6) {
          ExtractedClaim f;
          f.attr = Attr::kPrice;
          std::memcpy(f.v.currency, pe->currency.c_str(), 4);
          f.v.micros = pe->floor_price_micros;
          f.v.period = static_cast<uint8_t>(pe->period);
          out.push_back({"price " + Show(c) + " is below the floor price " + DisplayValue(f) + " of " + std::string(product),
                         pfx() + ".floor_price"});
        }
      }
      break;
    case Attr::kDiscount: {
      double max = -1;
      std::string rule;
      if (pe) {
        max = pe->max_discount_percent;
        rule = pfx() + ".max_discount_percent";
      } else if (product.empty() && !pb.price_book.empty()) {
        for (const auto& [id, e] : pb.price_book) max = std::max(max, e.max_discount_percent);
        rule = "price_book.*.max_discount_percent";
      }
      if (max >= 0 && c.v.qty > max + pb.discount_tolerance_points + 1e-9)
        out.push_back({"discount " + Show(c) + " exceeds the maximum " + FormatNumber(max) + " %" +
                           (product.empty() ? std::string(" of every product") : " for " + std::string(product)),
                       rule});
      break;
    }
    case Attr::kTrial:
      if (pe && pe->max_trial_days && c.v.qty > *pe->max_trial_days + pb.trial_tolerance_days + 1e-9)
        out.push_back({"trial " + Show(c) + " exceeds the maximum " + std::to_string(*pe->max_trial_days) + " days for " +
                           std::string(product),
                       pfx() + ".max_trial_days"});
      break;
    case Attr::kFeature: {
      const CatalogFeature* f = pb.Feature(feature);
      if (!f) {
        if (c.v.flag && !pb.features.empty())
          out.push_back({"feature '" + std::string(feature) + "' promised as available is not in the catalog", "catalog.features"});
        break;
      }
      std::string rule = "catalog.features." + f->id;
      if (c.v.flag && (f->availability == Availability::kRoadmap || f->availability == Availability::kNotOffered))
        out.push_back({"'" + f->name + "' promised as " + Show(c) + " but the catalog says " + AvailabilityName(f->availability) +
                           (f->eta.empty() ? "" : " (" + f->eta + ")"),
                       rule + ".availability"});
      else if (c.v.avail == Avail::kComing && f->availability == Availability::kNotOffered)
        out.push_back({"'" + f->name + "' promised as coming but the catalog says not_offered", rule + ".availability"});
      else if (c.v.flag && !product.empty() && !f->products.empty()) {
        bool in = false;
        for (const auto& p : f->products) in |= p == product;
        if (!in)
          out.push_back({"'" + f->name + "' promised in " + std::string(product) + " but the catalog has it only in " +
                             [&] {
                               std::string s;
                               for (const auto& p : f->products) s += (s.empty() ? "" : ", ") + p;
                               return s;
                             }(),
                         rule + ".products"});
      }
      break;
    }
    default: break;
  }
  if (!c.text.offer_code().empty() && c.structured) {
    const ApprovedOffer* o = pb.Offer(c.text.offer_code());
    if (!o) {
      if (c.index == 0 || c.attr != Attr::kNone)  // reported once per claim of the offer
        out.push_back({"offer code '" + std::string(c.text.offer_code()) + "' is not in the approved offers", "approved_offers"});
    } else {
      std::string rule = "approved_offers[" + o->code + "]";
      if (c.attr == Attr::kDiscount && o->discount_percent &&
          std::fabs(*o->discount_percent - c.v.qty) > pb.discount_tolerance_points + 1e-9)
        out.push_back({"discount " + Show(c) + " differs from approved offer " + o->code + " (" + FormatNumber(*o->discount_percent) + " %)", rule});
      if (c.attr == Attr::kTrial && o->trial_days && std::fabs(*o->trial_days - c.v.qty) > pb.trial_tolerance_days + 1e-9)
        out.push_back({"trial " + Show(c) + " differs from approved offer " + o->code + " (" + std::to_string(*o->trial_days) + " days)", rule});
      if (c.attr == Attr::kFreeShipping && o->free_shipping && *o->free_shipping != c.v.flag)
        out.push_back({Show(c) + " differs from approved offer " + o->code, rule});
      if ((o->valid_until_ymd && at_ymd > *o->valid_until_ymd) || (o->valid_from_ymd && at_ymd < *o->valid_from_ymd))
        out.push_back({"approved offer " + o->code + " is not valid on " + FormatYmd(at_ymd), rule + ".valid_until"});
    }
  }
  return out;
}

}  // namespace concord::alignment::engine
