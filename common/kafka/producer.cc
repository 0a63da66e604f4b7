#include "common/kafka/producer.h"

#include <absl/strings/str_cat.h>

#include "common/kafka/security.h"
#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::kafka {

absl::Status DeliveryResult::status() const {
  if (ok()) return absl::OkStatus();
  auto s = ToStatus(error, "kafka delivery");
  return absl::Status(s.code(), absl::StrCat(s.message(), " (", error_text, ")"));
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  Properties props = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      {"enable.idempotence", "true"},  // implies acks=all, bounded in-flight, retries
      {"acks", "all"},
      {"linger.ms", std::to_string(options.linger_ms)},
      {"delivery.timeout.ms", std::to_string(options.delivery_timeout_ms)},
      {"compression.type", "lz4"},
      // Same partition for a key as the Java client and Kafka Streams: other teams can join on it.
      {"partitioner", "murmur2_random"},
      {"socket.keepalive.enable", "true"},
  };
  props.insert(props.end(), options.properties.begin(), options.properties.end());

  std::unique_ptr<Producer> p(new Producer());
  p->monitor_ = std::make_unique<ConnectionMonitor>("producer " + options.client_id, props);
  p->monitor_->set_error_hook([raw = p.get()](rd_kafka_t* rk, rd_kafka_resp_err_t err, const std::string&) {
    raw->OnError(rk, err);
  });
  auto rk = NewHandle(RD_KAFKA_PRODUCER, props, p->monitor_.get(),
                      [](rd_kafka_conf_t* conf) { rd_kafka_conf_set_dr_msg_cb(conf, &Producer::OnDelivery); });
  if (!rk.ok()) return absl::Status(rk.status().code(), absl::StrCat("kafka producer: ", rk.status().message()));
  p->rk_ = std::move(*rk);
  p->poller_ = std::thread([raw = p.get()] {
    thread::SetName("kafka-reports");  // delivery reports
    while (!raw->stop_.load()) rd_kafka_poll(raw->rk_.get(), 100);
  });
  return p;
}

Producer::~Producer() {
  if (rk_) {
    if (auto s = Flush(std::chrono::seconds(10)); !s.ok()) {
      log::Warn("kafka producer closed with records undelivered", {{"in_flight", InFlight()}, {"error", s.ToString()}});
    }
  }
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  // Serve the last reports (including purged records) so no callback is leaked.
  if (rk_) {
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_.get(), 0);
  }
}

void Producer::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void*) {
  auto* cb = static_cast<Callback*>(msg->_private);
  if (!cb) return;
  DeliveryResult r;
  r.error = msg->err;
  r.topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
  r.partition = msg->partition;
  r.offset = msg->offset;
  auto* monitor = ConnectionMonitor::Of(rk);
  if (!msg->err && monitor) monitor->Succeeded();
  if (msg->err) {
    r.error_text = rd_kafka_err2str(msg->err);
    r.retryable = IsRetryable(msg->err);
    // A record that timed out because the cluster refuses our credentials or certificate:
    // say so, rather than only "Message timed out".
    if (monitor) {
      if (auto f = monitor->LastFailure()) {
        r.error_text += absl::StrCat(" (", FailureKindName(f->kind), " failure: ", f->broker, ": ", f->cause, ")");
      }
    }
  }
  (*cb)(r);
  delete cb;
}

void Producer::OnError(rd_kafka_t* rk, rd_kafka_resp_err_t err) {
  // Everything else is logged by the monitor; transport errors are retried by librdkafka.
  if (err != RD_KAFKA_RESP_ERR__FATAL) return;
  char buf[512];
  rd_kafka_fatal_error(rk, buf, sizeof buf);
  fatal_ = true;
  log::Error("kafka producer fatal error", {{"reason", monitor_->scrub()(buf)}});
}

absl::Status Producer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                               const Headers& headers, Callback callback, int32_t partition) {
  HeadersPtr hdrs(rd_kafka_headers_new(headers.size()));
  for (const auto& h : headers) {
    rd_kafka_header_add(hdrs.get(), h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                        static_cast<ssize_t>(h.value.size()));
  }
  auto* cb = new Callback(std::move(callback));
  std::string topic_str(topic);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(topic_str.c_str()), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADERS(hdrs.get()), RD_KAFKA_V_OPAQUE(cb), RD_KAFKA_V_END);
  if (err) {
    delete cb;
    return ToStatus(err, "kafka produce to " + std::string(topic));
  }
  hdrs.release();  // owned by the message now
  return absl::OkStatus();
}

DeliveryResult Producer::ProduceSync(std::string_view topic, std::string_view key, std::string_view value,
                                     const Headers& headers, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<DeliveryResult>>();
  auto future = promise->get_future();
  auto s = Produce(topic, key, value, headers, [promise](const DeliveryResult& r) { promise->set_value(r); });
  if (!s.ok()) {
    DeliveryResult r;
    r.error = RD_KAFKA_RESP_ERR__FAIL;
    r.error_text = std::string(s.message());
    r.retryable = absl::IsUnavailable(s);
    return r;
  }
  if (future.wait_for(timeout) != std::future_status::ready) {
    DeliveryResult r;
    r.error = RD_KAFKA_RESP_ERR__TIMED_OUT;
    r.error_text = "no delivery report within the timeout (the record may still be delivered)";
    r.retryable = true;
    return r;
  }
  return future.get();
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  return ToStatus(rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())), "kafka flush");
}

absl::Status Producer::Ping(std::chrono::milliseconds timeout) { return PingCluster(rk_.get(), timeout); }

absl::Status Producer::Prepare(const std::string& topic, std::chrono::milliseconds timeout) {
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
      rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  if (!rkt) return absl::InvalidArgumentError("kafka topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error()));
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, static_cast<int>(timeout.count()));
  std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> guard(md, &rd_kafka_metadata_destroy);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return ToStatus(err, "kafka metadata for " + topic);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::NotFoundError("kafka topic " + topic + ": " +
                               rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
  }
  return absl::OkStatus();
}

int Producer::InFlight() const { return rd_kafka_outq_len(rk_.get()); }

}  // namespace concord::kafka
