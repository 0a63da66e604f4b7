#pragma once
// Keeps the engine on the playbook version in force. The versions live in Redis (the API's
// UpdatePlaybook installs them, so every instance and every client sees one history); the
// --playbook file is a way to install one too. Every `interval`:
//   * if the file's content changed, it is validated and installed as a new version
//     (a bad file is refused, logged with its line-numbered problems; the old version stays);
//   * if Redis holds a newer version than the engine runs (installed through the API, by this
//     or another instance), the engine switches to it.

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <absl/status/statusor.h>

#include "services/alignment/engine/playbook.h"

namespace concord::alignment {

struct PlaybookSource {
  // Installs YAML as the next version; returns that version.
  std::function<absl::StatusOr<uint64_t>(const std::string& yaml, const std::string& source)> install;
  // The version in force in Redis and its YAML (nullopt: none installed).
  std::function<absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>>()> current;
  // Switches the engine.
  std::function<void(engine::Playbook)> apply;
};

class PlaybookWatcher {
 public:
  PlaybookWatcher(std::string path, std::chrono::milliseconds interval, PlaybookSource source);
  ~PlaybookWatcher();

  // Brings the engine to the version in force, installing the file first if it differs from it.
  absl::Status Sync();
  void Start();
  void Stop();
  uint64_t version() const { return version_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  bool CheckFile();    // installs a changed, valid file
  bool CheckStored();  // applies a newer stored version

  std::string path_;
  std::chrono::milliseconds interval_;
  PlaybookSource source_;
  std::string file_content_;
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace concord::alignment
