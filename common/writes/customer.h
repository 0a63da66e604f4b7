#pragma once
// The customer key of a person as both services compute it: identity::CustomerKey (company
// domain, else account id, else normalized email, else "phone:<E.164>").

#include <string>
#include <string_view>

#include "concord/events/v1/common.pb.h"

namespace concord::writes {

std::string CustomerKeyFor(const events::v1::PersonIdentity& person, std::string_view account_id = {});

// E.164 form of a phone ("" when empty or invalid).
std::string NormalizedPhone(std::string_view phone);

}  // namespace concord::writes
