#include "common/kafka/handle.h"

#include <absl/strings/str_cat.h>

#include "common/kafka/security.h"

namespace concord::kafka {

absl::StatusOr<ConfPtr> MakeConf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property ", k, ": ", err));
    }
  }
  return conf;
}

absl::StatusOr<KafkaPtr> NewHandle(rd_kafka_type_t type, const Properties& props, ConnectionMonitor* monitor,
                                   const std::function<void(rd_kafka_conf_t*)>& customize) {
  auto conf = MakeConf(props);
  if (!conf.ok()) return conf.status();
  monitor->Install(conf->get(), props);
  if (customize) customize(conf->get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf->get(), err, sizeof err);
  // The error may quote a property (e.g. "ssl.key.location failed: ..."): scrub it all the same.
  if (!rk) return absl::InvalidArgumentError(monitor->scrub()(err));
  conf.value().release();  // rd_kafka_new took ownership
  return KafkaPtr(rk);
}

bool IsRetryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

absl::Status ToStatus(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  std::string msg = std::string(context) + ": " + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err);
  if (IsRetryable(err)) return absl::UnavailableError(msg);
  switch (err) {
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return absl::InvalidArgumentError(msg);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::NotFoundError(msg);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return absl::PermissionDeniedError(msg);
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return absl::UnauthenticatedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status PingCluster(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count()));
  if (md) rd_kafka_metadata_destroy(md);
  auto status = ToStatus(err, "kafka metadata");
  auto* monitor = ConnectionMonitor::Of(rk);
  if (!monitor) return status;
  if (status.ok()) monitor->Succeeded();
  return monitor->Explain(status);
}

HeaderViews Views(const Headers& headers) {
  HeaderViews out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back({h.key, h.value});
  return out;
}

}  // namespace concord::kafka
