// concord-marketing: wiring only. The logic is in marketing.{h,cc}, the gRPC adapter in
// service.{h,cc}; see README.md in this directory.
#include <memory>

#include "common/outbox/relay.h"
#include "common/outbox/store.h"
#include "common/runtime/runtime.h"
#include "common/writes/envelope.h"
#include "services/marketing/marketing.h"
#include "services/marketing/service.h"

#ifndef CONCORD_VERSION
#define CONCORD_VERSION "dev"
#endif

int main(int argc, char** argv) {
  using namespace concord;
  runtime::Main app("marketing", "Concord marketing service: campaigns, leads, hand-offs and outbound messages",
                    {.grpc_listen = "0.0.0.0:50051", .admin_listen = "0.0.0.0:9101"});
  bool relay_enabled = true;
  std::string store_prefix = marketing::kStorePrefix;
  app.parser().Add("--store-prefix", &store_prefix, "Prefix of this deployment's Redis keys (records, outbox, relay lease)");
  app.parser().Add("--outbox-relay", &relay_enabled,
                   "Relay committed events from the Redis outbox to Kafka (false: they wait in Redis; for tests)");
  int relay_gather_ms = static_cast<int>(outbox::RelayOptions{}.gather.count());
  app.parser().Add("--outbox-relay-gather-ms", &relay_gather_ms,
                   "Under a steady trickle, the relay reads the outbox at most this often: longer = fewer, larger "
                   "produce requests (less broker CPU), shorter = lower event latency");
  app.AddValidator([&] {
    std::vector<std::string> problems;
    if (relay_gather_ms < 0) problems.push_back(config::Problem("--outbox-relay-gather-ms", "must be >= 0"));
    return problems;
  });

  std::unique_ptr<outbox::Store> store;
  std::unique_ptr<marketing::Marketing> logic;
  std::unique_ptr<marketing::MarketingService> service;
  std::unique_ptr<outbox::Relay> relay;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) {
    store = std::make_unique<outbox::Store>(rt.redis(), store_prefix);
    writes::EventSource source;
    source.team = events::v1::TEAM_MARKETING;
    source.service = "marketing";
    source.instance = rt.config().instance_id;
    source.version = CONCORD_VERSION;
    source.source = rt.source();
    source.topic = marketing::kTopic;
    logic = std::make_unique<marketing::Marketing>(*store, writes::EventFactory(source));
    service = std::make_unique<marketing::MarketingService>(*logic, rt.metrics(), rt.config().redis.pool_size,
                                                            &rt.authorizer());
    rt.server().AddService(service.get(), marketing::MarketingService::service_full_name());

    outbox::RelayOptions ro;
    ro.prefix = store_prefix;
    ro.instance = rt.config().instance_id;
    ro.enabled = relay_enabled;
    ro.gather = std::chrono::milliseconds(relay_gather_ms);
    relay = std::make_unique<outbox::Relay>(rt.redis().options(), rt.producer(), ro);
    relay->Start();
    rt.OnShutdown([&] { relay->Stop(std::chrono::seconds(10)); });
    return absl::OkStatus();
  });
}
