// concord-sales: wiring only. The logic is in concord::sales_service (service.h, logic.h).
#include "common/outbox/relay.h"
#include "common/outbox/relay_flags.h"
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
  outbox::RelayFlags relay_flags;
  relay_flags.Register(app.parser());
  app.AddValidator([&] {
    std::vector<std::string> problems = relay_flags.Problems();
    if (store_prefix.empty()) problems.push_back(config::Problem("--store-prefix", "must not be empty"));
    return problems;
  });

  std::unique_ptr<outbox::Store> store;
  std::unique_ptr<sales::SalesService> service;
  std::unique_ptr<outbox::Relay> relay;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) {
    store = std::make_unique<outbox::Store>(rt.redis(), store_prefix);
    store->ExportMetrics(rt.metrics());
    service = std::make_unique<sales::SalesService>(
        *store, sales::ServiceOptions{.instance = rt.config().instance_id,
                                      .version = CONCORD_VERSION,
                                      .source = rt.source(),
                                      .workers = rt.config().redis.pool_size,
                                      .authz = &rt.authorizer()});
    rt.server().AddService(service.get(), sales::v1::SalesService::service_full_name());
    relay = std::make_unique<outbox::Relay>(rt.redis().options(), rt.producer(),
                                            relay_flags.Options(store_prefix, rt.config().instance_id));
    relay->Start();
    rt.OnShutdown([&] { relay->Stop(relay_flags.drain()); });
    return absl::OkStatus();
  });
}
