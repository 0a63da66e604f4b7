#include "common/writes/rpc_metrics.h"

#include "common/grpc/codes.h"

namespace concord::writes {

std::string_view CodeName(grpc::StatusCode code) { return grpcserver::CodeName(code); }

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
