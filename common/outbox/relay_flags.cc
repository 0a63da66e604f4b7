#include "common/outbox/relay_flags.h"

namespace concord::outbox {

void RelayFlags::Register(config::Parser& parser) {
  parser.Add("--outbox-relay", &enabled,
             "Relay committed events from the Redis outbox to Kafka; false leaves them in the outbox "
             "(for tests that simulate a crash between answering and publishing)");
  parser.Add("--outbox-relay-drain-ms", &drain_ms,
             "At shutdown, how long the relay waits for in-flight records to be acknowledged");
  parser.Add("--outbox-relay-gather-ms", &gather_ms,
             "Under a steady trickle, the relay reads the outbox at most this often: longer = fewer, larger "
             "produce requests (less broker CPU), shorter = lower event latency");
}

std::vector<std::string> RelayFlags::Problems() const {
  std::vector<std::string> problems;
  if (drain_ms < 0) problems.push_back(config::Problem("--outbox-relay-drain-ms", "must be >= 0"));
  if (gather_ms < 0) problems.push_back(config::Problem("--outbox-relay-gather-ms", "must be >= 0"));
  return problems;
}

RelayOptions RelayFlags::Options(std::string prefix, std::string instance) const {
  RelayOptions o;
  o.prefix = std::move(prefix);
  o.instance = std::move(instance);
  o.gather = std::chrono::milliseconds(gather_ms);
  o.enabled = enabled;
  return o;
}

}  // namespace concord::outbox
