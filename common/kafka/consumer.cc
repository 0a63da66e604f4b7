#include "common/kafka/consumer.h"

#include <cstring>

#include <absl/strings/str_cat.h>

#include "common/kafka/security.h"
#include "common/logging/log.h"

namespace concord::kafka {

std::string Message::error_text() const {
  if (!m_->err) return "";
  std::string text = rd_kafka_err2str(m_->err);
  if (m_->payload && m_->len) text += ": " + std::string(static_cast<const char*>(m_->payload), m_->len);
  return text;
}

int64_t Message::timestamp_ms() const {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(m_.get(), &type);
}

Headers Message::headers() const {
  Headers out;
  for (const auto& h : header_views()) out.push_back({std::string(h.key), std::string(h.value)});
  return out;
}

HeaderViews Message::header_views() const {
  HeaderViews out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m_.get(), &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return out;
  out.reserve(rd_kafka_header_cnt(hdrs));
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.push_back({name, value ? std::string_view(static_cast<const char*>(value), size) : std::string_view()});
  }
  return out;
}

std::optional<std::string> Message::header(std::string_view key) const {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m_.get(), &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return std::nullopt;
  const void* value;
  size_t size;
  std::string k(key);
  if (rd_kafka_header_get_last(hdrs, k.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return value ? std::string(static_cast<const char*>(value), size) : std::string();
}

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (!list) return out;
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

PartitionListPtr ToList(const std::vector<TopicPartition>& tps) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
  for (const auto& tp : tps) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = tp.offset;
  }
  return list;
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  if (options.group_id.empty()) return absl::InvalidArgumentError("kafka consumer: group id is required");
  Properties props = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"client.id", options.client_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"enable.auto.offset.store", "false"},  // we store after processing
      {"enable.auto.commit", options.auto_commit ? "true" : "false"},
      {"auto.commit.interval.ms", std::to_string(options.auto_commit_interval_ms)},
      {"auto.offset.reset", options.auto_offset_reset},
      {"enable.partition.eof", "false"},
      {"session.timeout.ms", "10000"},
      {"heartbeat.interval.ms", "1000"},
      {"socket.keepalive.enable", "true"},
      {"statistics.interval.ms", "0"},
  };
  props.insert(props.end(), options.properties.begin(), options.properties.end());

  std::unique_ptr<Consumer> c(new Consumer());
  c->listener_ = options.listener;
  c->monitor_ = std::make_unique<ConnectionMonitor>("consumer " + options.client_id, props);
  c->monitor_->set_owner(c.get());
  auto handle = NewHandle(RD_KAFKA_CONSUMER, props, c->monitor_.get(),
                          [](rd_kafka_conf_t* conf) { rd_kafka_conf_set_rebalance_cb(conf, &Consumer::OnRebalance); });
  if (!handle.ok()) return absl::Status(handle.status().code(), absl::StrCat("kafka consumer: ", handle.status().message()));
  c->rk_ = std::move(*handle);
  rd_kafka_t* rk = c->rk_.get();
  rd_kafka_poll_set_consumer(rk);

  std::vector<TopicPartition> subs;
  for (const auto& t : options.topics) subs.push_back({t, RD_KAFKA_PARTITION_UA});
  auto list = ToList(subs);
  if (auto e = rd_kafka_subscribe(rk, list.get()); e) return ToStatus(e, "kafka subscribe");
  return c;
}

Consumer::~Consumer() {
  if (rk_ && !closed_) {
    if (auto s = Close(); !s.ok()) log::Warn("kafka consumer close failed", {{"error", s.ToString()}});
  }
}

void Consumer::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Consumer*>(static_cast<ConnectionMonitor*>(opaque)->owner());
  bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  auto tps = ToVector(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (self->listener_) self->listener_->OnAssigned(tps);
    auto list = ToList(tps);  // with any starting offsets the listener chose
    if (cooperative) {
      ErrorPtr e(rd_kafka_incremental_assign(rk, list.get()));
      if (e) log::Error("kafka incremental assign failed", {{"error", rd_kafka_error_string(e.get())}});
    } else {
      rd_kafka_assign(rk, list.get());
    }
    log::Info("kafka partitions assigned", {{"count", tps.size()}});
    return;
  }
  // Revoked or lost: let the application finish, then give the partitions up.
  bool lost = rd_kafka_assignment_lost(rk);
  if (self->listener_) {
    if (lost) self->listener_->OnLost(tps);
    else self->listener_->OnRevoked(tps);
  }
  if (!lost) {
    // Commit what the application stored for these partitions before another member takes them.
    rd_kafka_commit(rk, nullptr, 0);
  }
  if (cooperative) {
    ErrorPtr e(rd_kafka_incremental_unassign(rk, parts));
    if (e) log::Error("kafka incremental unassign failed", {{"error", rd_kafka_error_string(e.get())}});
  } else {
    rd_kafka_assign(rk, nullptr);
  }
  log::Info(lost ? "kafka partitions lost" : "kafka partitions revoked", {{"count", tps.size()}});
}

std::optional<Message> Consumer::Poll(std::chrono::milliseconds timeout) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count()));
  if (!m) return std::nullopt;
  return Message(MessagePtr(m));
}

absl::Status Consumer::Store(const Message& m) { return Store({m.topic(), m.partition(), m.offset() + 1}); }

absl::Status Consumer::Store(const TopicPartition& next) {
  auto list = ToList({next});
  return ToStatus(rd_kafka_offsets_store(rk_.get(), list.get()), "kafka offsets store");
}

absl::Status Consumer::Commit() {
  auto err = rd_kafka_commit(rk_.get(), nullptr, 0);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return absl::OkStatus();  // nothing new to commit
  return ToStatus(err, "kafka commit");
}

absl::Status Consumer::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  return ToStatus(rd_kafka_consumer_close(rk_.get()), "kafka consumer close");
}

std::vector<TopicPartition> Consumer::Assignment() const {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_.get(), &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  PartitionListPtr owned(list);
  return ToVector(list);
}

absl::StatusOr<std::vector<TopicPartition>> Consumer::Committed(const std::vector<TopicPartition>& partitions,
                                                                std::chrono::milliseconds timeout) {
  auto list = ToList(partitions);
  auto err = rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count()));
  if (err) return ToStatus(err, "kafka committed");
  return ToVector(list.get());
}

absl::Status Consumer::Seek(const TopicPartition& tp, std::chrono::milliseconds timeout) {
  auto list = ToList({tp});
  ErrorPtr e(rd_kafka_seek_partitions(rk_.get(), list.get(), static_cast<int>(timeout.count())));
  if (e) return absl::InternalError(absl::StrCat("kafka seek: ", rd_kafka_error_string(e.get())));
  return ToStatus(list->elems[0].err, "kafka seek");
}

namespace {
// The call's own error, else the first partition's.
absl::Status PartitionsResult(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t& list, std::string_view what) {
  if (err) return ToStatus(err, what);
  for (int i = 0; i < list.cnt; ++i) {
    if (list.elems[i].err) return ToStatus(list.elems[i].err, what);
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  auto list = ToList(partitions);
  return PartitionsResult(rd_kafka_pause_partitions(rk_.get(), list.get()), *list, "kafka pause");
}

absl::Status Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  auto list = ToList(partitions);
  return PartitionsResult(rd_kafka_resume_partitions(rk_.get(), list.get()), *list, "kafka resume");
}

std::optional<int64_t> Consumer::HighWatermark(const char* topic, int32_t partition) const {
  int64_t lo = 0, hi = -1;
  if (rd_kafka_get_watermark_offsets(rk_.get(), topic, partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      hi < 0) {
    return std::nullopt;
  }
  return hi;
}

absl::StatusOr<std::pair<int64_t, int64_t>> Consumer::QueryWatermarks(const std::string& topic, int32_t partition,
                                                                        std::chrono::milliseconds timeout) {
  int64_t lo = 0, hi = 0;
  auto err = rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), partition, &lo, &hi,
                                              static_cast<int>(timeout.count()));
  if (err) return ToStatus(err, "kafka watermarks of " + topic);
  return std::make_pair(lo, hi);
}

int64_t Consumer::Lag() const {
  auto assigned = Assignment();
  if (assigned.empty()) return 0;
  auto list = ToList(assigned);
  rd_kafka_position(rk_.get(), list.get());
  int64_t lag = 0;
  for (int i = 0; i < list->cnt; ++i) {
    int64_t lo = 0, hi = 0;
    auto& e = list->elems[i];
    if (rd_kafka_get_watermark_offsets(rk_.get(), e.topic, e.partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (hi < 0) continue;
    int64_t pos = e.offset >= 0 ? e.offset : lo;
    if (hi > pos) lag += hi - pos;
  }
  return lag;
}

}  // namespace concord::kafka
