#include "common/kafka/admin.h"

#include <thread>

#include <absl/strings/str_cat.h>

#include "common/kafka/security.h"

namespace concord::kafka {
namespace {

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct DeleteTopicDeleter {
  void operator()(rd_kafka_DeleteTopic_t* t) const { rd_kafka_DeleteTopic_destroy(t); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

absl::Status TopicResult(const rd_kafka_topic_result_t* r, bool exists_ok) {
  auto err = rd_kafka_topic_result_error(r);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  if (exists_ok && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return absl::OkStatus();
  const char* msg = rd_kafka_topic_result_error_string(r);
  return ToStatus(err, absl::StrCat("topic ", rd_kafka_topic_result_name(r), msg ? absl::StrCat(" (", msg, ")") : ""));
}

EventPtr WaitFor(rd_kafka_queue_t* q, rd_kafka_event_type_t type, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    EventPtr ev(rd_kafka_queue_poll(q, 100));
    if (ev && rd_kafka_event_type(ev.get()) == type) return ev;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(const std::string& brokers, const Properties& properties) {
  Properties props = {{"bootstrap.servers", brokers}};
  props.insert(props.end(), properties.begin(), properties.end());
  auto a = std::make_unique<Admin>();
  a->monitor_ = std::make_unique<ConnectionMonitor>("admin", props);
  auto rk = NewHandle(RD_KAFKA_PRODUCER, props, a->monitor_.get());
  if (!rk.ok()) return absl::Status(rk.status().code(), absl::StrCat("kafka admin: ", rk.status().message()));
  a->rk_ = std::move(*rk);
  return a;
}

absl::Status Admin::CreateTopic(const std::string& name, int partitions, int replication_factor,
                                std::chrono::milliseconds timeout) {
  rd_kafka_poll(rk_.get(), 0);  // serves the monitor's error callbacks
  char err[512];
  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> topic(
      rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, err, sizeof err));
  if (!topic) return absl::InvalidArgumentError(absl::StrCat("topic ", name, ": ", err));
  QueuePtr q(rd_kafka_queue_new(rk_.get()));
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> opts(
      rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(opts.get(), static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(rk_.get(), topics, 1, opts.get(), q.get());
  auto ev = WaitFor(q.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout + std::chrono::seconds(1));
  if (!ev) return absl::DeadlineExceededError(absl::StrCat("create topic ", name, ": no answer"));
  if (auto e = rd_kafka_event_error(ev.get()); e) return ToStatus(e, absl::StrCat("create topic ", name));
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto s = TopicResult(results[i], true); !s.ok()) return s;
  }
  // Metadata propagates asynchronously: wait until the topic is visible with its leaders.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto count = PartitionCount(name);
    if (count.ok() && *count > 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("topic ", name, " created but not visible in metadata"));
}

absl::Status Admin::DeleteTopic(const std::string& name, std::chrono::milliseconds timeout) {
  rd_kafka_poll(rk_.get(), 0);
  char err[512];
  std::unique_ptr<rd_kafka_DeleteTopic_t, DeleteTopicDeleter> topic(rd_kafka_DeleteTopic_new(name.c_str()));
  QueuePtr q(rd_kafka_queue_new(rk_.get()));
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> opts(
      rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(opts.get(), static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_DeleteTopic_t* topics[] = {topic.get()};
  rd_kafka_DeleteTopics(rk_.get(), topics, 1, opts.get(), q.get());
  auto ev = WaitFor(q.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout + std::chrono::seconds(1));
  if (!ev) return absl::DeadlineExceededError(absl::StrCat("delete topic ", name, ": no answer"));
  if (auto e = rd_kafka_event_error(ev.get()); e) return ToStatus(e, absl::StrCat("delete topic ", name));
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto s = TopicResult(results[i], false); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Admin::PartitionCount(const std::string& name, std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk_.get(), 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err) return ToStatus(err, absl::StrCat("metadata for ", name));
  int count = -1;
  rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (md->topic_cnt == 1) {
    terr = md->topics[0].err;
    count = md->topics[0].partition_cnt;
    for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
      if (md->topics[0].partitions[i].leader < 0) count = 0;  // leaders not elected yet
    }
  }
  rd_kafka_metadata_destroy(md);
  if (terr) return ToStatus(terr, absl::StrCat("topic ", name));
  if (count < 0) return absl::NotFoundError(absl::StrCat("topic ", name));
  return count;
}

}  // namespace concord::kafka
