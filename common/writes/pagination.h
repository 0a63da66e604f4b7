#pragma once
// Listing entities from a Store index, newest first, with filters applied after reading.
//
// page_size: CheckPageSize (validation.h): 0 -> 50, 1..500, otherwise INVALID_ARGUMENT.
// page_token: the Store's opaque token, passed through; a token the store cannot parse is
// INVALID_ARGUMENT ("page_token: ..."). Filters are applied to the stored entities; the helper
// keeps reading the index (in steps of the number of items still missing, so the returned
// token is exact) until the page is full, the index ends, or `max_scan` ids were read, in which
// case the page may be short but next_page_token is set. An empty next token = last page.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "common/outbox/store.h"
#include "common/writes/proto_bytes.h"
#include "common/writes/status.h"

namespace concord::writes {

struct PageRequest {
  std::string index_key;  // Store::IndexKey(name)
  std::string page_token;
  int page_size = 50;     // already checked with CheckPageSize
  int max_scan = 5000;    // ids read at most per call
  std::optional<std::chrono::system_clock::time_point> deadline;
};

template <typename Entity>
struct EntityPage {
  std::vector<Entity> items;
  std::string next_page_token;
  int scanned = 0;  // index entries read
};

template <typename Entity>
absl::StatusOr<EntityPage<Entity>> ListEntities(outbox::Store& store, std::string_view entity_type,
                                                const PageRequest& p,
                                                const std::function<bool(const Entity&)>& keep = nullptr) {
  EntityPage<Entity> out;
  std::string token = p.page_token;
  int scanned = 0;
  while (true) {
    if (p.deadline && std::chrono::system_clock::now() >= *p.deadline) {
      return absl::DeadlineExceededError("deadline exceeded while listing");
    }
    int need = p.page_size - static_cast<int>(out.items.size());
    auto page = store.List(p.index_key, token, need);
    if (!page.ok()) {
      if (page.status().code() == absl::StatusCode::kInvalidArgument) return page.status();
      return StorageError(page.status());
    }
    std::vector<std::string> keys;
    keys.reserve(page->ids.size());
    for (const auto& id : page->ids) keys.push_back(store.EntityKey(entity_type, id));
    if (!keys.empty()) {
      auto got = store.GetMany(keys);
      if (!got.ok()) return StorageError(got.status());
      for (auto& v : *got) {
        if (!v) continue;  // indexed but gone
        Entity e;
        if (!e.ParseFromString(v->data)) continue;
        SetVersion(e, v->version);
        if (!keep || keep(e)) out.items.push_back(std::move(e));
      }
    }
    scanned += static_cast<int>(page->ids.size());
    token = page->next_token;
    if (token.empty() || static_cast<int>(out.items.size()) >= p.page_size || scanned >= p.max_scan) break;
  }
  out.next_page_token = token;
  out.scanned = scanned;
  return out;
}

}  // namespace concord::writes
