// concord-alignment: wiring only.
#include "common/runtime/runtime.h"
#include "concord/alignment/v1/alignment.grpc.pb.h"

int main(int argc, char** argv) {
  concord::runtime::Main app("alignment", "Concord alignment service: finds duplicated work and conflicting customer messages", {.grpc_listen = "0.0.0.0:50053", .admin_listen = "0.0.0.0:9103"});
  concord::alignment::v1::AlignmentService::CallbackService service;
  return app.Run(argc, argv, [&](concord::runtime::Runtime& rt) {
    rt.server().AddService(&service, concord::alignment::v1::AlignmentService::service_full_name());
    return absl::OkStatus();
  });
}
