#pragma once
// Reloads the playbook file when it changes, without a restart. A new version that does not
// validate is refused (logged with its line-numbered problems) and the old one stays in force.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "services/alignment/engine/playbook.h"

namespace concord::alignment {

class PlaybookWatcher {
 public:
  using Apply = std::function<void(engine::Playbook)>;
  PlaybookWatcher(std::string path, uint64_t loaded_version, std::chrono::milliseconds interval, Apply apply);
  ~PlaybookWatcher();

  void Start();
  void Stop();
  // Checks the file once; true if a new version was installed.
  bool CheckNow();
  uint64_t version() const { return version_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  std::string path_;
  std::chrono::milliseconds interval_;
  Apply apply_;
  std::filesystem::file_time_type mtime_{};
  std::string content_hash_;
  std::atomic<uint64_t> version_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace concord::alignment
