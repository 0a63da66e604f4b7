#pragma once
// Per-RPC metrics of the marketing and sales services:
//   concord_rpc_requests_total{service,method,code}          every call, by gRPC status code name
//   concord_rpc_write_duration_seconds{service,method}        latency of write calls (all outcomes)
//   concord_rpc_read_duration_seconds{service,method}         latency of reads (Get*, List*)

#include <chrono>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

#include "common/metrics/metrics.h"

namespace concord::writes {

std::string_view CodeName(grpc::StatusCode code);

class RpcMetrics {
 public:
  RpcMetrics(metrics::Registry& registry, std::string service);

  void Record(std::string_view method, grpc::StatusCode code, std::chrono::steady_clock::duration elapsed, bool write);

 private:
  std::string service_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& writes_;
  metrics::Family<metrics::Histogram>& reads_;
};

}  // namespace concord::writes
