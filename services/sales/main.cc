// concord-sales: wiring only. The logic is in concord::sales_service (service.h, logic.h).
#include "common/outbox/relay.h"
#include "common/outbox/store.h"
#include "common/runtime/runtime.h"
#include "services/sales/service.h"

int main(int argc, char** argv) {
  using namespace concord;
  runtime::Main app("sales",
                    "Concord sales service: accounts, contacts, hand-offs, activities, quotes, commitments and "
                    "opportunities",
                    {.grpc_listen = "0.0.0.0:50052", .admin_listen = "0.0.0.0:9102"});
  std::string store_prefix = "concord:sales";
  app.parser().Add("--store-prefix", &store_prefix,
                   "Prefix of every Redis key of the service (entities, indexes, idempotency records, outbox, "
                   "relay lease)");
  bool relay_enabled = true;
  app.parser().Add("--outbox-relay", &relay_enabled,
                   "Relay committed events from the Redis outbox to Kafka; false leaves them in the outbox "
                   "(for tests that simulate a crash between answering and publishing)");
  int relay_drain_ms = 5000;
  app.parser().Add("--outbox-relay-drain-ms", &relay_drain_ms,
                   "At shutdown, how long the relay waits for in-flight records to be acknowledged");
  int relay_gather_ms = static_cast<int>(outbox::RelayOptions{}.gather.count());
  app.parser().Add("--outbox-relay-gather-ms", &relay_gather_ms,
                   "Under a steady trickle, the relay reads the outbox at most this often: longer = fewer, larger "
                   "produce requests (less broker CPU), shorter = lower event latency");
  app.AddValidator([&] {
    std::vector<std::string> problems;
    if (store_prefix.empty()) problems.push_back(config::Problem("--store-prefix", "must not be empty"));
    if (relay_drain_ms < 0) problems.push_back(config::Problem("--outbox-relay-drain-ms", "must be >= 0"));
    if (relay_gather_ms < 0) problems.push_back(config::Problem("--outbox-relay-gather-ms", "must be >= 0"));
    return problems;
  });

  std::unique_ptr<outbox::Store> store;
  std::unique_ptr<sales::SalesService> service;
  std::unique_ptr<outbox::Relay> relay;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) {
    store = std::make_unique<outbox::Store>(rt.redis(), store_prefix);
    service = std::make_unique<sales::SalesService>(
        *store, sales::ServiceOptions{.instance = rt.config().instance_id,
                                      .version = CONCORD_VERSION,
                                      .source = rt.source(),
                                      .workers = rt.config().redis.pool_size,
                                      .authz = &rt.authorizer()});
    rt.server().AddService(service.get(), sales::v1::SalesService::service_full_name());
    relay = std::make_unique<outbox::Relay>(
        rt.redis().options(), rt.producer(),
        outbox::RelayOptions{.prefix = store_prefix,
                             .instance = rt.config().instance_id,
                             .gather = std::chrono::milliseconds(relay_gather_ms),
                             .enabled = relay_enabled});
    relay->Start();
    rt.OnShutdown([&relay, relay_drain_ms] { relay->Stop(std::chrono::milliseconds(relay_drain_ms)); });
    return absl::OkStatus();
  });
}
