#include "common/identity/identity.h"

#include <algorithm>
#include <array>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>

namespace concord::identity {
namespace {

// ASCII classification (absl::ascii_*, inline) instead of <cctype>'s locale calls: the same
// results in the "C" locale the services run in (none calls setlocale).
char LowerChar(char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); }

void AppendLower(std::string_view s, std::string* out) {
  for (char c : s) out->push_back(LowerChar(c));
}

// Case-insensitive find of a lower-case needle (no lower-cased copy of the haystack).
size_t FindLower(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && LowerChar(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (LowerChar(s[i]) != lower[i]) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool PlausibleDomain(std::string_view d) {
  if (d.size() < 3 || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  if (d.front() == '.' || d.back() == '.' || d.front() == '-' || d.find("..") != std::string_view::npos) return false;
  return std::all_of(d.begin(), d.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
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

void NormalizeEmailTo(std::string_view email, std::string* out) {
  out->clear();
  // Checked on the raw text: lower-casing changes none of the characters the checks look at.
  std::string_view e = Trim(email);
  auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || e.find('@', at + 1) != std::string_view::npos) return;
  std::string_view local = e.substr(0, at), domain = e.substr(at + 1);
  if (!PlausibleDomain(domain)) return;
  // No whitespace or control characters anywhere in the local part (not only " \t\r\n": a
  // "\v" left at the edge once Gmail dots are removed would be trimmed on the next pass).
  if (std::any_of(local.begin(), local.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c <= 0x20 || c == 0x7f || std::string_view("<>,;\"").find(ch) != std::string_view::npos;
      }))
    return;
  if (auto plus = local.find('+'); plus != std::string_view::npos && plus > 0) local = local.substr(0, plus);
  const bool gmail = EqualsLower(domain, "googlemail.com") || EqualsLower(domain, "gmail.com");
  for (char c : local)
    if (!gmail || c != '.') out->push_back(LowerChar(c));
  if (out->empty()) return;
  out->push_back('@');
  if (gmail) out->append("gmail.com");
  else AppendLower(domain, out);
}

std::string NormalizeEmail(std::string_view email) {
  std::string out;
  NormalizeEmailTo(email, &out);
  return out;
}

bool IsValidEmail(std::string_view email) { return !NormalizeEmail(email).empty(); }

std::string EmailDomain(std::string_view email) {
  std::string e = NormalizeEmail(email);
  auto at = e.find('@');
  return at == std::string::npos ? "" : e.substr(at + 1);
}

void NormalizeDomainTo(std::string_view input, std::string* out) {
  out->clear();
  AppendLower(Trim(input), out);
  std::string& d = *out;
  // erase() and resize() in place: no temporary strings.
  if (auto scheme = d.find("://"); scheme != std::string::npos) d.erase(0, scheme + 3);
  if (auto at = d.rfind('@'); at != std::string::npos) d.erase(0, at + 1);  // user@host or an email
  auto end = d.find_first_of("/?#:");
  if (end != std::string::npos) d.resize(end);
  while (!d.empty() && d.back() == '.') d.pop_back();
  // Every leading "www." ("www.www.acme.com" too), so that a normalized domain normalizes to itself.
  size_t www = 0;
  while (std::string_view(d).substr(www).starts_with("www.")) www += 4;
  d.erase(0, www);
  if (!PlausibleDomain(d)) d.clear();
}

std::string NormalizeDomain(std::string_view input) {
  std::string out;
  NormalizeDomainTo(input, &out);
  return out;
}

bool IsFreeMailDomain(std::string_view domain) {
  return std::any_of(kFreeMail.begin(), kFreeMail.end(), [&](std::string_view f) { return EqualsLower(domain, f); });
}

namespace {

enum class PhoneError { kNone, kCharacter, kTooFew, kTooMany, kZeroCountryCode };

// E.164 into *out; on error *out is cleared and *bad is the offending character (kCharacter).
PhoneError Phone(std::string_view raw, std::string_view default_country_code, std::string* out, char* bad) {
  out->clear();
  std::string_view s = Trim(raw);
  // Drop an extension ("x123", "ext. 123").
  for (std::string_view marker : {"ext", "x", "#"}) {
    auto pos = FindLower(s, marker);
    if (pos != std::string_view::npos && pos > 0) s = s.substr(0, pos);
  }
  bool international = false;
  std::string& digits = *out;
  for (char c : s) {
    if (c == '+' && digits.empty()) international = true;
    else if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/') continue;
    else {
      *bad = c;
      digits.clear();
      return PhoneError::kCharacter;
    }
  }
  if (!international && digits.size() > 2 && digits.compare(0, 2, "00") == 0) {
    international = true;
    digits.erase(0, 2);
  }
  if (!international) {
    // National number: drop a trunk prefix 0 (UK, FR, DE...), or a leading country code 1 in NANP.
    if (default_country_code == "1" && digits.size() == 11 && digits[0] == '1') {
      digits.erase(0, 1);
    } else if (!digits.empty() && digits[0] == '0') {
      digits.erase(0, 1);
    }
    digits.insert(0, default_country_code);
  }
  PhoneError err = PhoneError::kNone;
  if (digits.size() < 8) err = PhoneError::kTooFew;
  else if (digits.size() > 15) err = PhoneError::kTooMany;
  else if (digits[0] == '0') err = PhoneError::kZeroCountryCode;
  if (err != PhoneError::kNone) {
    digits.clear();
    return err;
  }
  digits.insert(digits.begin(), '+');
  return err;
}

}  // namespace

bool NormalizePhoneTo(std::string_view raw, std::string_view default_country_code, std::string* out) {
  char bad = 0;
  return Phone(raw, default_country_code, out, &bad) == PhoneError::kNone;
}

absl::StatusOr<std::string> NormalizePhone(std::string_view raw, std::string_view default_country_code) {
  std::string out;
  char bad = 0;
  switch (Phone(raw, default_country_code, &out, &bad)) {
    case PhoneError::kNone:
      return out;
    case PhoneError::kCharacter:
      return absl::InvalidArgumentError(std::string("unexpected character '") + bad + "' in phone number");
    case PhoneError::kTooFew:
      return absl::InvalidArgumentError("phone number has too few digits");
    case PhoneError::kTooMany:
      return absl::InvalidArgumentError("phone number has more than 15 digits (E.164)");
    case PhoneError::kZeroCountryCode:
      return absl::InvalidArgumentError("country code cannot start with 0");
  }
  return absl::InternalError("unreachable");
}

void NormalizeNameTo(std::string_view name, std::string* out_ptr) {
  std::string& out = *out_ptr;
  out.clear();
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
    } else if (absl::ascii_isalnum(c)) {
      folded = absl::ascii_tolower(c);
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
}

std::string NormalizeName(std::string_view name) {
  std::string out;
  NormalizeNameTo(name, &out);
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
