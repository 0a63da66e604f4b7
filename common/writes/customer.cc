#include "common/writes/customer.h"

#include "common/identity/identity.h"

namespace concord::writes {

std::string NormalizedPhone(std::string_view phone) {
  if (phone.empty()) return "";
  auto e164 = identity::NormalizePhone(phone);
  return e164.ok() ? *e164 : "";
}

std::string CustomerKeyFor(const events::v1::PersonIdentity& person, std::string_view account_id) {
  return identity::CustomerKey({.account_id = std::string(account_id),
                                .email = person.email(),
                                .website = person.website(),
                                .phone = person.phone()});
}

}  // namespace concord::writes
