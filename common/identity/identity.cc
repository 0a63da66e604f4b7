#include "common/identity/identity.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>

namespace concord::identity {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool PlausibleDomain(std::string_view d) {
  if (d.size() < 3 || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  if (d.front() == '.' || d.back() == '.' || d.front() == '-' || d.find("..") != std::string_view::npos) return false;
  return std::all_of(d.begin(), d.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  });
}

// Free-mail providers: their domains say nothing about the customer's company.
constexpr std::array<std::string_view, 40> kFreeMail = {
    "gmail.com",    "googlemail.com", "yahoo.com",   "yahoo.co.uk",  "yahoo.fr",     "ymail.com",
    "hotmail.com",  "hotmail.co.uk",  "hotmail.fr",  "outlook.com",  "live.com",     "msn.com",
    "aol.com",      "icloud.com",     "me.com",      "mac.com",      "proton.me",    "protonmail.com",
    "gmx.com",      "gmx.de",         "gmx.net",     "web.de",       "mail.com",     "yandex.ru",
    "yandex.com",   "zoho.com",       "fastmail.com", "hey.com",     "qq.com",       "163.com",
    "126.com",      "mail.ru",        "orange.fr",   "free.fr",      "libero.it",    "t-online.de",
    "comcast.net",  "verizon.net",    "att.net",     "tutanota.com",
};

}  // namespace

std::string NormalizeEmail(std::string_view email) {
  std::string e = Lower(Trim(email));
  auto at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos) return "";
  std::string local = e.substr(0, at);
  std::string domain = e.substr(at + 1);
  if (!PlausibleDomain(domain)) return "";
  // No whitespace or control characters anywhere in the local part (not only " \t\r\n": a
  // "\v" left at the edge once Gmail dots are removed would be trimmed on the next pass).
  if (std::any_of(local.begin(), local.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c <= 0x20 || c == 0x7f || std::string_view("<>,;\"").find(ch) != std::string_view::npos;
      }))
    return "";
  if (auto plus = local.find('+'); plus != std::string::npos && plus > 0) local.resize(plus);
  if (domain == "googlemail.com") domain = "gmail.com";
  if (domain == "gmail.com") local.erase(std::remove(local.begin(), local.end(), '.'), local.end());
  if (local.empty()) return "";
  return local + "@" + domain;
}

bool IsValidEmail(std::string_view email) { return !NormalizeEmail(email).empty(); }

std::string EmailDomain(std::string_view email) {
  std::string e = NormalizeEmail(email);
  auto at = e.find('@');
  return at == std::string::npos ? "" : e.substr(at + 1);
}

std::string NormalizeDomain(std::string_view input) {
  std::string d = Lower(Trim(input));
  if (auto scheme = d.find("://"); scheme != std::string::npos) d = d.substr(scheme + 3);
  if (auto at = d.rfind('@'); at != std::string::npos) d = d.substr(at + 1);  // user@host or an email
  auto end = d.find_first_of("/?#:");
  if (end != std::string::npos) d.resize(end);
  while (!d.empty() && d.back() == '.') d.pop_back();
  // Every leading "www." ("www.www.acme.com" too), so that a normalized domain normalizes to itself.
  while (absl::StartsWith(d, "www.")) d = d.substr(4);
  return PlausibleDomain(d) ? d : "";
}

bool IsFreeMailDomain(std::string_view domain) {
  std::string d = Lower(domain);
  return std::find(kFreeMail.begin(), kFreeMail.end(), d) != kFreeMail.end();
}

absl::StatusOr<std::string> NormalizePhone(std::string_view raw, std::string_view default_country_code) {
  std::string_view s = Trim(raw);
  // Drop an extension ("x123", "ext. 123").
  std::string lower = Lower(s);
  for (std::string_view marker : {"ext", "x", "#"}) {
    auto pos = lower.find(marker);
    if (pos != std::string::npos && pos > 0) {
      lower.resize(pos);
      s = s.substr(0, pos);
    }
  }
  bool international = false;
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && digits.empty()) international = true;
    else if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/') continue;
    else return absl::InvalidArgumentError(std::string("unexpected character '") + c + "' in phone number");
  }
  if (!international && digits.size() > 2 && digits.compare(0, 2, "00") == 0) {
    international = true;
    digits = digits.substr(2);
  }
  if (!international) {
    // National number: drop a trunk prefix 0 (UK, FR, DE...), or a leading country code 1 in NANP.
    if (default_country_code == "1" && digits.size() == 11 && digits[0] == '1') {
      digits = digits.substr(1);
    } else if (!digits.empty() && digits[0] == '0') {
      digits = digits.substr(1);
    }
    digits = std::string(default_country_code) + digits;
  }
  if (digits.size() < 8) return absl::InvalidArgumentError("phone number has too few digits");
  if (digits.size() > 15) return absl::InvalidArgumentError("phone number has more than 15 digits (E.164)");
  if (digits[0] == '0') return absl::InvalidArgumentError("country code cannot start with 0");
  return "+" + digits;
}

std::string NormalizeName(std::string_view name) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    char folded = 0;
    if (c == 0xC3 && i + 1 < name.size()) {
      // UTF-8 for U+00C0..U+00FF: fold the common Latin-1 letters to ASCII.
      unsigned char n = static_cast<unsigned char>(name[++i]);
      static const char* kMap = "aaaaaaaceeeeiiiidnooooo*ouuuuyts" "aaaaaaaceeeeiiiidnooooo/ouuuuyty";
      unsigned idx = (n >= 0x80 && n <= 0xBF) ? n - 0x80 : 64;
      if (idx < 64) folded = kMap[idx];
      if (folded == '*' || folded == '/') folded = 0;
    } else if (std::isalnum(c)) {
      folded = static_cast<char>(std::tolower(c));
    } else if (c == '\'' || c == '.') {
      continue;  // O'Brien -> obrien, J. -> j
    } else if (c >= 0x80) {
      // Other non-ASCII bytes: keep them (names in other scripts stay comparable).
      folded = static_cast<char>(c);
    }
    if (folded) {
      if (space && !out.empty()) out.push_back(' ');
      space = false;
      out.push_back(folded);
    } else {
      space = true;
    }
  }
  return out;
}

std::string CustomerKey(const IdentityInput& in) {
  std::string domain = NormalizeDomain(in.website);
  if (domain.empty()) {
    std::string from_email = EmailDomain(in.email);
    if (!from_email.empty() && !IsFreeMailDomain(from_email)) domain = from_email;
  }
  if (!domain.empty() && !IsFreeMailDomain(domain)) return "domain:" + domain;
  std::string account(Trim(in.account_id));
  if (!account.empty()) return "account:" + account;
  std::string email = NormalizeEmail(in.email);
  if (!email.empty()) return "email:" + email;
  if (!in.phone.empty()) {
    if (auto e164 = NormalizePhone(in.phone, in.default_country_code); e164.ok()) return "phone:" + *e164;
  }
  return "";
}

}  // namespace concord::identity
