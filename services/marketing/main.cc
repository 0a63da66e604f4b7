// concord-marketing: wiring only. The logic is in marketing.{h,cc}, the gRPC adapter in
// service.{h,cc}; see README.md in this directory.
#include <memory>

#include "common/outbox/relay.h"
#include "common/outbox/relay_flags.h"
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
  std::string store_prefix = marketing::kStorePrefix;
  app.parser().Add("--store-prefix", &store_prefix, "Prefix of this deployment's Redis keys (records, outbox, relay lease)");
  outbox::RelayFlags relay_flags;
  relay_flags.Register(app.parser());
  app.AddValidator([&] { return relay_flags.Problems(); });

  std::unique_ptr<outbox::Store> store;
  std::unique_ptr<marketing::Marketing> logic;
  std::unique_ptr<marketing::MarketingService> service;
  std::unique_ptr<outbox::Relay> relay;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) {
    store = std::make_unique<outbox::Store>(rt.redis(), store_prefix);
    store->ExportMetrics(rt.metrics());
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

    relay = std::make_unique<outbox::Relay>(rt.redis().options(), rt.producer(),
                                            relay_flags.Options(store_prefix, rt.config().instance_id));
    relay->Start();
    rt.OnShutdown([&] { relay->Stop(relay_flags.drain()); });
    return absl::OkStatus();
  });
}
