// concord-marketing: wiring only.
#include "common/runtime/runtime.h"
#include "concord/marketing/v1/marketing.grpc.pb.h"

int main(int argc, char** argv) {
  concord::runtime::Main app("marketing", "Concord marketing service: campaigns, leads, hand-offs and outbound messages", {.grpc_listen = "0.0.0.0:50051", .admin_listen = "0.0.0.0:9101"});
  concord::marketing::v1::MarketingService::CallbackService service;
  return app.Run(argc, argv, [&](concord::runtime::Runtime& rt) {
    rt.server().AddService(&service, concord::marketing::v1::MarketingService::service_full_name());
    return absl::OkStatus();
  });
}
