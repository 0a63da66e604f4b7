#pragma once
// RAII over librdkafka's C handles, and the pieces producer and consumer share.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <librdkafka/rdkafka.h>

namespace concord::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;

using Properties = std::vector<std::pair<std::string, std::string>>;

struct Header {
  std::string key;
  std::string value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;
// Headers read in place (valid while the record they came from lives): decoding a consumed
// record needs no copies of them.
struct HeaderView {
  std::string_view key;
  std::string_view value;
};
using HeaderViews = std::vector<HeaderView>;
HeaderViews Views(const Headers& headers);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = RD_KAFKA_OFFSET_INVALID;
  bool operator==(const TopicPartition&) const = default;
};

class ConnectionMonitor;

// Builds a configuration; the error names the property and librdkafka's reason.
absl::StatusOr<ConfPtr> MakeConf(const Properties& props);

// Creates a handle from the properties, watched by `monitor` (see security.h), which becomes
// the handle's opaque and must outlive it. `customize` may add callbacks before creation.
absl::StatusOr<KafkaPtr> NewHandle(rd_kafka_type_t type, const Properties& props, ConnectionMonitor* monitor,
                                   const std::function<void(rd_kafka_conf_t*)>& customize = {});

// Whether a failed produce or request may succeed if tried again later.
bool IsRetryable(rd_kafka_resp_err_t err);

// Maps a librdkafka error to a Status with the error name and text.
absl::Status ToStatus(rd_kafka_resp_err_t err, std::string_view context);

// Asks the cluster for its metadata: proves that at least one broker answers. When it does
// not and the handle's monitor saw an authentication or TLS failure, the status names it.
absl::Status PingCluster(rd_kafka_t* rk, std::chrono::milliseconds timeout);

}  // namespace concord::kafka
