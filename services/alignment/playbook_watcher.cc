#include "services/alignment/playbook_watcher.h"

#include <fstream>
#include <sstream>

#include "common/logging/log.h"

namespace concord::alignment {

namespace {
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

PlaybookWatcher::PlaybookWatcher(std::string path, uint64_t loaded_version, std::chrono::milliseconds interval, Apply apply)
    : path_(std::move(path)), interval_(interval), apply_(std::move(apply)), version_(loaded_version) {
  std::error_code ec;
  mtime_ = std::filesystem::last_write_time(path_, ec);
  content_hash_ = ReadFile(path_);
}

PlaybookWatcher::~PlaybookWatcher() { Stop(); }

void PlaybookWatcher::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      for (auto waited = std::chrono::milliseconds(0); waited < interval_ && !stop_; waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!stop_) CheckNow();
    }
  });
}

void PlaybookWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool PlaybookWatcher::CheckNow() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path_, ec);
  if (ec || mtime == mtime_) return false;
  mtime_ = mtime;
  std::string content = ReadFile(path_);
  if (content == content_hash_) return false;  // touched, not changed
  content_hash_ = content;
  auto load = engine::LoadPlaybook(content, version_.load() + 1);
  if (!load.ok()) {
    refused_++;
    log::Error("new playbook refused; the previous version stays in force",
               {{"path", path_}, {"version_in_force", version_.load()}, {"problems", load.ErrorText()}});
    return false;
  }
  uint64_t v = load.playbook->version;
  std::string declared = load.playbook->declared_version;
  apply_(std::move(*load.playbook));
  version_ = v;
  log::Info("playbook reloaded", {{"path", path_}, {"version", v}, {"declared_version", declared}});
  return true;
}

}  // namespace concord::alignment
