#include "common/metrics/metrics.h"

#include <cmath>
#include <sstream>

namespace concord::metrics {
namespace {

void AtomicAdd(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += out.empty() ? "" : ",";
    out += names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "" : ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  return out.empty() ? "" : "{" + out + "}";
}

template <typename T>
void Header(std::ostringstream& os, const Family<T>& f, const char* type) {
  os << "# HELP " << f.name() << " " << f.help() << "\n# TYPE " << f.name() << " " << type << "\n";
}

}  // namespace

void Counter::Inc(double v) {
  if (v < 0) return;  // counters only go up
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  counters_.push_back(std::make_unique<Family<Counter>>(name, help, std::move(labels), [] { return std::make_unique<Counter>(); }));
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(name, help, std::move(labels), [] { return std::make_unique<Gauge>(); }));
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                          std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      name, help, std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *histograms_.back();
}

void Registry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  for (const auto& h : hooks_) h();
  std::ostringstream os;
  for (const auto& f : counters_) {
    Header(os, *f, "counter");
    f->ForEach([&](const auto& values, const Counter& c) {
      os << f->name() << LabelSet(f->label_names(), values) << " " << FormatValue(c.Value()) << "\n";
    });
  }
  for (const auto& f : gauges_) {
    Header(os, *f, "gauge");
    f->ForEach([&](const auto& values, const Gauge& g) {
      os << f->name() << LabelSet(f->label_names(), values) << " " << FormatValue(g.Value()) << "\n";
    });
  }
  for (const auto& f : histograms_) {
    Header(os, *f, "histogram");
    f->ForEach([&](const auto& values, const Histogram& h) {
      auto counts = h.CumulativeCounts();
      for (size_t i = 0; i < counts.size(); ++i) {
        std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
        os << f->name() << "_bucket" << LabelSet(f->label_names(), values, "le", le) << " " << counts[i] << "\n";
      }
      os << f->name() << "_sum" << LabelSet(f->label_names(), values) << " " << FormatValue(h.Sum()) << "\n";
      os << f->name() << "_count" << LabelSet(f->label_names(), values) << " " << h.Count() << "\n";
    });
  }
  return os.str();
}

Registry& Default() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace concord::metrics
