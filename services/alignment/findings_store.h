#pragma once
// Findings in Redis: the record the API serves and the memory that keeps a finding from being
// published twice across restarts and replays.
//   concord:alignment:f:<id>         the Finding (its current version), compressed with a
//                                    dictionary or serialized as it is (dictionary_codec.h)
//   concord:alignment:fdict:<id>     a dictionary findings are compressed with; :fdict:current
//                                    names the one writers use
//   concord:alignment:fx:all         sorted set of ids by detection time (ms)
//   concord:alignment:fx:c:<key>     the same per customer
//   concord:alignment:feed           stream of {kind: raised|status, id[, version]}: the order in
//                                    which findings and status changes happened; its ids are the
//                                    cursors of WatchFindings (capped at about 1M entries)
//   concord:alignment:freq:<rid>     status-change request record (idempotency, 24 h)
//   concord:alignment:fout           hash event id -> FindingEvent bytes not yet confirmed on
//                                    Kafka (status-change outbox)
//   concord:alignment:fout:due       sorted set event id -> ms when the relay may publish it

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "common/redis/redis.h"
#include "concord/alignment/v1/alignment.pb.h"
#include "services/alignment/dictionary_codec.h"

namespace concord::alignment {

// A feed entry id "ms-seq". "0-0" is before everything.
struct FeedId {
  uint64_t ms = 0, seq = 0;
  static std::optional<FeedId> Parse(const std::string& s);
  std::string ToString() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  auto operator<=>(const FeedId&) const = default;
};

struct FeedEntry {
  std::string cursor;  // the stream entry id
  std::string kind;    // "raised" or "status"
  std::string finding_id;
  uint64_t version = 1;  // the finding's version after this entry
};

// Keyset position inside a time index, newest first: the last item returned.
struct IndexPosition {
  int64_t ms = 0;
  std::string id;
};

struct IndexScan {
  std::vector<std::pair<int64_t, std::string>> items;  // (ms, id), newest first
  bool exhausted = false;
};

class FindingsStore {
 public:
  explicit FindingsStore(std::string prefix = "concord:alignment")
      : prefix_(std::move(prefix)), dictionaries_(std::make_shared<Dictionaries>(DictionaryPrefix())) {}

  std::string FindingKey(std::string_view id) const { return Key(":f:", id); }
  std::string AllIndexKey() const { return prefix_ + ":fx:all"; }
  std::string CustomerIndexKey(std::string_view customer) const { return Key(":fx:c:", customer); }
  std::string FeedKey() const { return prefix_ + ":feed"; }
  std::string RequestKey(const std::string& request_id) const { return prefix_ + ":freq:" + request_id; }
  std::string OutboxKey() const { return prefix_ + ":fout"; }
  std::string OutboxDueKey() const { return prefix_ + ":fout:due"; }
  const std::string& prefix() const { return prefix_; }
  // Where the dictionaries of finding records are (DictionaryKey, CurrentDictionaryKey).
  std::string DictionaryPrefix() const { return prefix_ + ":fdict"; }

  // Finding `id`'s stored bytes (either form) into *out: DATA_LOSS naming it when they do not
  // decode; a storage error when its dictionary cannot be read.
  absl::Status Parse(redis::Connection& conn, std::string_view id, std::string_view stored, v1::Finding* out) const;
  // Which of these ids are already stored.
  absl::StatusOr<std::vector<bool>> Exists(redis::Connection& conn, const std::vector<std::string>& ids) const;
  // A new finding to store, already serialized (the processor serializes each one once).
  struct ToSave {
    std::string_view id, customer_key;
    int64_t detected_ms = 0;
    std::string bytes;  // moved into the command
  };
  // The commands that store new findings, for one MULTI/EXEC: one MSET of their stored bytes
  // (the caller compresses them, or not), one ZADD
  // of the time index, one ZADD per customer, and an XADD each to the feed, in this order.
  // Redis' cost is mostly per command: a replay's epoch of thousands of findings takes ~1.3
  // commands per finding instead of four (SET, two ZADD, XADD).
  std::vector<std::vector<std::string>> SaveCommands(std::vector<ToSave> findings) const;
  // The same for one finding.
  std::vector<std::vector<std::string>> SaveCommands(const v1::Finding& f) const;
  absl::StatusOr<std::optional<v1::Finding>> Get(redis::Connection& conn, const std::string& id) const;
  // Several at once (MGET); missing or unparsable ones are nullopt.
  absl::StatusOr<std::vector<std::optional<v1::Finding>>> GetMany(redis::Connection& conn,
                                                                 const std::vector<std::string>& ids) const;

  // Up to `count` (ms, id) of an index, newest first, with detection time in [min_ms, max_ms]
  // and strictly after `after` in that order (keyset pagination: ties on ms are ordered by id
  // descending, as Redis orders them).
  absl::StatusOr<IndexScan> ScanIndex(redis::Connection& conn, const std::string& index_key, int64_t min_ms,
                                      int64_t max_ms, const std::optional<IndexPosition>& after, int count) const;

  // The id of the last feed entry, "0-0" when the feed is empty.
  absl::StatusOr<std::string> FeedLastId(redis::Connection& conn) const;
  // Whether entries after `cursor` may have been trimmed (the cursor is older than the
  // retained history).
  absl::StatusOr<bool> FeedCursorExpired(redis::Connection& conn, const FeedId& cursor) const;
  // Entries after `cursor`; block_ms > 0 waits that long for new ones (XREAD BLOCK).
  absl::StatusOr<std::vector<FeedEntry>> ReadFeed(redis::Connection& conn, const std::string& cursor, int count,
                                                  int block_ms) const;

  // Result of a compare-and-set status change.
  enum class CasResult { kApplied, kConflict };
  // Atomically (Lua): if the stored bytes still equal `old_bytes`, stores `updated` (in their
  // form: compressed with the same dictionary, or serialized), appends
  // {kind: status, id, version} to the feed, records the request (`request_record`, 24 h) and
  // puts the status event in the outbox. Returns the feed entry id when applied.
  absl::StatusOr<std::optional<std::string>> CompareAndSetStatus(redis::Connection& conn, const std::string& old_bytes,
                                                                 const v1::Finding& updated,
                                                                 const std::string& request_id,
                                                                 const std::string& request_record,
                                                                 const std::string& event_id,
                                                                 const std::string& event_bytes,
                                                                 int64_t relay_due_ms) const;

  // The finding as it was at `version` (1 = as raised), rebuilt from its status history.
  // nullopt when the finding never had that version.
  static std::optional<v1::Finding> AtVersion(const v1::Finding& current, uint64_t version);

 private:
  std::string Key(std::string_view kind, std::string_view name) const {
    std::string k;
    k.reserve(prefix_.size() + kind.size() + name.size());
    return k.append(prefix_).append(kind).append(name);
  }
  std::string prefix_;
  std::shared_ptr<Dictionaries> dictionaries_;  // shared by copies: loaded once
};

}  // namespace concord::alignment
