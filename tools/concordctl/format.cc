#include "tools/concordctl/format.h"
#include "common/grpc/codes.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

namespace concord::ctl {

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return kExitOk;
    case grpc::StatusCode::NOT_FOUND: return kExitNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE: return kExitRejected;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return kExitUnavailable;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return kExitRefused;
    default: return kExitOther;
  }
}

std::string StatusCodeName(grpc::StatusCode code) {
  auto name = grpcserver::CodeName(code);
  if (name == "UNKNOWN" && code != grpc::StatusCode::UNKNOWN) return "CODE_" + std::to_string(static_cast<int>(code));
  return std::string(name);
}

std::string ErrorLine(std::string_view code, std::string_view message) {
  std::string out = "concordctl: ";
  out += code;
  out += ": ";
  std::string msg(message);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  for (size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\r') continue;
    if (msg[i] == '\n') {
      out += "; ";
      while (i + 1 < msg.size() && msg[i + 1] == ' ') ++i;
    } else {
      out += msg[i];
    }
  }
  return out;
}

namespace {
bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }
}  // namespace

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += IsContinuation(c) ? 0 : 1;
  return n;
}

std::string Truncate(std::string_view s, size_t width) {
  std::string clean(s);
  for (auto& c : clean) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  if (DisplayWidth(clean) <= width) return clean;
  if (width == 0) return "";
  // Keep width-1 code points, then the ellipsis.
  size_t keep = width - 1, seen = 0, i = 0;
  for (; i < clean.size(); ++i) {
    if (!IsContinuation(static_cast<unsigned char>(clean[i]))) {
      if (seen == keep) break;
      ++seen;
    }
  }
  std::string out = clean.substr(0, i);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\xE2\x80\xA6";
}

Table::Table(std::vector<std::string> headers, std::vector<size_t> max_widths)
    : headers_(std::move(headers)), max_widths_(std::move(max_widths)) {
  max_widths_.resize(headers_.size(), 0);
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    cells[i] = Truncate(cells[i], max_widths_[i] ? max_widths_[i] : std::string::npos);
  }
  rows_.push_back(std::move(cells));
}

void Table::Render(std::ostream& out) const {
  std::vector<size_t> w(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) w[i] = DisplayWidth(headers_[i]);
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], DisplayWidth(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(w[i] - DisplayWidth(cells[i]) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
}

std::string Table::ToString() const {
  std::ostringstream ss;
  Render(ss);
  return ss.str();
}

std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t w = 0;
  for (const auto& [k, v] : rows) w = std::max(w, DisplayWidth(k));
  std::string out;
  for (const auto& [k, v] : rows) {
    std::string line = k + std::string(w - DisplayWidth(k) + 2, ' ') + v;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatAge(std::chrono::seconds age) {
  int64_t s = age.count();
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  if (s < 14 * 86400) return std::to_string(s / 86400) + "d";
  return std::to_string(s / (7 * 86400)) + "w";
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  std::string sign;
  if (ms < 0) {
    sign = "-";
    ms = -ms;
  }
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else if (ms < 86'400'000) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  }
  return sign + buf;
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    std::string num(s.substr(start, i - start));
    if (std::count(num.begin(), num.end(), '.') > 1) return std::nullopt;
    double v = std::stod(num);
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit.empty()) {
      if (any || i != s.size()) return std::nullopt;  // a bare number only on its own
      mult = 1000;
    } else if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60'000;
    } else if (unit == "h") {
      mult = 3'600'000;
    } else if (unit == "d") {
      mult = 86'400'000;
    } else if (unit == "w") {
      mult = 7 * 86'400'000.0;
    } else {
      return std::nullopt;
    }
    total_ms += v * mult;
    any = true;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms + 0.5));
}

std::optional<MoneyParts> ParseMoney(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;
  if (whole.size() > 15 || frac.size() > 9) return std::nullopt;
  for (char c : whole) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  for (char c : frac) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  MoneyParts m;
  m.units = whole.empty() ? 0 : std::stoll(std::string(whole));
  std::string f(frac);
  f.resize(9, '0');
  m.nanos = static_cast<int32_t>(std::stol(f));
  if (neg) {
    m.units = -m.units;
    m.nanos = -m.nanos;
  }
  return m;
}

std::string FormatMoney(std::string_view currency, int64_t units, int32_t nanos) {
  bool neg = units < 0 || nanos < 0;
  uint64_t u = static_cast<uint64_t>(units < 0 ? -units : units);
  int32_t n = nanos < 0 ? -nanos : nanos;
  char frac[16];
  std::snprintf(frac, sizeof frac, "%09d", n);
  std::string f(frac);
  while (f.size() > 2 && f.back() == '0') f.pop_back();
  std::string out;
  if (!currency.empty()) {
    out += currency;
    out += " ";
  }
  if (neg) out += "-";
  return out + std::to_string(u) + "." + f;
}

namespace {
std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string ShortEnumName(const google::protobuf::EnumDescriptor* e, std::string_view prefix, int value) {
  const auto* v = e->FindValueByNumber(value);
  if (!v) return "<" + std::to_string(value) + ">";
  std::string name = v->name();
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  name = Lower(name);
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::optional<int> ParseEnum(const google::protobuf::EnumDescriptor* e, std::string_view prefix, std::string_view text) {
  std::string up;
  for (char c : text) {
    up += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (up.empty()) return std::nullopt;
  const auto* v = e->FindValueByName(up.rfind(prefix, 0) == 0 ? up : std::string(prefix) + up);
  if (!v || v->number() == 0) return std::nullopt;
  return v->number();
}

std::string EnumChoices(const google::protobuf::EnumDescriptor* e, std::string_view prefix) {
  std::string out;
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() == 0) continue;
    if (!out.empty()) out += ", ";
    out += ShortEnumName(e, prefix, e->value(i)->number());
  }
  return out;
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item(s.substr(start, comma - start));
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

std::string ShortId(std::string_view id, size_t n) { return std::string(id.substr(0, std::min(n, id.size()))); }

}  // namespace concord::ctl

namespace concord::ctl {
std::string FixedRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string s;
  for (size_t i = 0; i < cells.size(); ++i) {
    size_t w = i < widths.size() ? widths[i] : 0;
    std::string c = w ? Truncate(cells[i], w) : cells[i];
    s += c;
    if (i + 1 < cells.size()) s += std::string((w > DisplayWidth(c) ? w - DisplayWidth(c) : 0) + 2, ' ');
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}
}  // namespace concord::ctl
