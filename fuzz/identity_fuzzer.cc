// libFuzzer target: common/identity/identity.h normalizers and CustomerKey.
// The whole input goes to each normalizer; for CustomerKey it is split on '\n' into
// account_id, email, website, phone, default_country_code.
// Invariants: normalizing a normalized email, domain, phone or name gives the same string;
// a normalized email has a domain; CustomerKey never throws and is deterministic.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "common/identity/identity.h"

namespace id = concord::identity;

namespace {

void Fail(const char* what, std::string_view a, std::string_view b) {
  std::fprintf(stderr, "identity invariant violated: %s: '%.*s' vs '%.*s'\n", what, static_cast<int>(a.size()),
               a.data(), static_cast<int>(b.size()), b.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string email = id::NormalizeEmail(in);
  if (!email.empty()) {
    if (auto again = id::NormalizeEmail(email); again != email) Fail("NormalizeEmail not idempotent", email, again);
    if (!id::IsValidEmail(email)) Fail("normalized email is not valid", email, "");
    if (id::EmailDomain(email).empty()) Fail("normalized email has no domain", email, "");
  }
  std::string domain = id::NormalizeDomain(in);
  if (!domain.empty()) {
    if (auto again = id::NormalizeDomain(domain); again != domain) Fail("NormalizeDomain not idempotent", domain, again);
  }
  (void)id::IsFreeMailDomain(in);
  for (std::string_view cc : {"1", "44"}) {
    auto phone = id::NormalizePhone(in, cc);
    if (phone.ok()) {
      auto again = id::NormalizePhone(*phone, cc);
      if (!again.ok()) Fail("normalized phone is rejected", *phone, std::string(again.status().message()));
      if (*again != *phone) Fail("NormalizePhone not idempotent", *phone, *again);
    }
  }
  std::string name = id::NormalizeName(in);
  if (auto again = id::NormalizeName(name); again != name) Fail("NormalizeName not idempotent", name, again);

  id::IdentityInput ii;
  std::string* fields[] = {&ii.account_id, &ii.email, &ii.website, &ii.phone, &ii.default_country_code};
  std::string_view rest = in;
  for (auto* f : fields) {
    auto nl = rest.find('\n');
    *f = std::string(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  try {
    std::string key = id::CustomerKey(ii);
    if (id::CustomerKey(ii) != key) Fail("CustomerKey not deterministic", key, "");
  } catch (const std::exception& e) {
    Fail("CustomerKey threw", e.what(), "");
  } catch (...) {
    Fail("CustomerKey threw", "(not a std::exception)", "");
  }
  return 0;
}
