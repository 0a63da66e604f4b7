#pragma once
// The outbox relay's settings as flags, for each service that owns an outbox (marketing,
// sales): the same names, defaults and checks everywhere.

#include <chrono>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/outbox/relay.h"

namespace concord::outbox {

struct RelayFlags {
  bool enabled = true;
  int gather_ms = static_cast<int>(RelayOptions{}.gather.count());
  int drain_ms = 5000;

  void Register(config::Parser& parser);
  std::vector<std::string> Problems() const;
  RelayOptions Options(std::string prefix, std::string instance) const;
  std::chrono::milliseconds drain() const { return std::chrono::milliseconds(drain_ms); }
};

}  // namespace concord::outbox
