#include "common/writes/rpc_metrics.h"

namespace concord::writes {

std::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

RpcMetrics::RpcMetrics(metrics::Registry& registry, std::string service)
    : service_(std::move(service)),
      requests_(registry.AddCounter("concord_rpc_requests_total", "gRPC calls handled, by method and status code",
                                    {"service", "method", "code"})),
      writes_(registry.AddHistogram("concord_rpc_write_duration_seconds", "Latency of write calls",
                                    {"service", "method"}, metrics::LatencyBuckets())),
      reads_(registry.AddHistogram("concord_rpc_read_duration_seconds", "Latency of read calls",
                                   {"service", "method"}, metrics::LatencyBuckets())) {}

void RpcMetrics::Record(std::string_view method, grpc::StatusCode code, std::chrono::steady_clock::duration elapsed,
                        bool write) {
  std::string m(method);
  requests_.With({service_, m, std::string(CodeName(code))}).Inc();
  double secs = std::chrono::duration<double>(elapsed).count();
  (write ? writes_ : reads_).With({service_, m}).Observe(secs);
}

}  // namespace concord::writes
