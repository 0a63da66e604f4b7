#include "services/alignment/playbook_watcher.h"

#include <fstream>
#include <sstream>

#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::alignment {

namespace {
std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

PlaybookWatcher::PlaybookWatcher(std::string path, std::chrono::milliseconds interval, PlaybookSource source)
    : path_(std::move(path)), interval_(interval), source_(std::move(source)) {}

PlaybookWatcher::~PlaybookWatcher() { Stop(); }

absl::Status PlaybookWatcher::Sync() {
  auto stored = source_.current();
  if (!stored.ok()) return stored.status();
  auto file = ReadFile(path_);
  if (file) file_content_ = *file;
  // A file that differs from the version in force is a new version (edited, or a new deploy).
  if (file && (!stored->has_value() || (*stored)->second != *file)) {
    if (CheckFile()) return absl::OkStatus();
  }
  CheckStored();
  return absl::OkStatus();
}

void PlaybookWatcher::Start() {
  thread_ = std::thread([this] {
    thread::SetName("playbook-watch");
    while (!stop_) {
      for (auto waited = std::chrono::milliseconds(0); waited < interval_ && !stop_; waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (stop_) break;
      auto file = ReadFile(path_);
      if (file && *file != file_content_) {
        file_content_ = *file;
        CheckFile();
      }
      CheckStored();
    }
  });
}

void PlaybookWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool PlaybookWatcher::CheckFile() {
  auto load = engine::LoadPlaybook(file_content_, 0);
  if (!load.ok()) {
    refused_++;
    log::Error("playbook file refused; the version in force stays",
               {{"path", path_}, {"version_in_force", version_.load()}, {"problems", load.ErrorText()}});
    return false;
  }
  auto installed = source_.install(file_content_, "file:" + path_);
  if (!installed.ok()) {
    log::Warn("playbook file not installed (will retry)", {{"path", path_}, {"error", installed.status().ToString()}});
    file_content_.clear();  // try again next round
    return false;
  }
  load.playbook->version = *installed;
  std::string declared = load.playbook->declared_version;
  source_.apply(std::move(*load.playbook));
  version_ = *installed;
  log::Info("playbook installed from file", {{"path", path_}, {"version", *installed}, {"declared_version", declared}});
  return true;
}

bool PlaybookWatcher::CheckStored() {
  auto stored = source_.current();
  if (!stored.ok() || !stored->has_value() || (*stored)->first <= version_.load()) return false;
  auto [version, yaml] = **stored;
  auto load = engine::LoadPlaybook(yaml, version);
  if (!load.ok()) {
    log::Error("stored playbook does not load", {{"version", version}, {"problems", load.ErrorText()}});
    return false;
  }
  source_.apply(std::move(*load.playbook));
  version_ = version;
  log::Info("playbook switched to the version in force", {{"version", version}});
  return true;
}

}  // namespace concord::alignment
