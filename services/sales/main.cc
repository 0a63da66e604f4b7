// concord-sales: wiring only.
#include "common/runtime/runtime.h"
#include "concord/sales/v1/sales.grpc.pb.h"

int main(int argc, char** argv) {
  concord::runtime::Main app("sales", "Concord sales service: accounts, contacts, hand-offs, activities, quotes, commitments and opportunities", {.grpc_listen = "0.0.0.0:50052", .admin_listen = "0.0.0.0:9102"});
  concord::sales::v1::SalesService::CallbackService service;
  return app.Run(argc, argv, [&](concord::runtime::Runtime& rt) {
    rt.server().AddService(&service, concord::sales::v1::SalesService::service_full_name());
    return absl::OkStatus();
  });
}
