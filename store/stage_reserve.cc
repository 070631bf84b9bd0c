// Stage files named ahead of need; see stage_reserve.h.
#include "store/stage_reserve.h"

#include <utility>

#include "store/fs.h"

namespace cubby::store {

std::optional<StageFile> StageReserve::take(const std::string& partition) {
  std::lock_guard lock(mutex_);
  auto it = shelves_.find(partition);
  if (it == shelves_.end() || it->second.ready.empty()) return std::nullopt;
  StageFile f = std::move(it->second.ready.front());
  it->second.ready.pop_front();
  return f;
}

std::optional<StageReserve::Refill> StageReserve::plan(const std::string& partition,
                                                       const std::string& root) {
  if (batch_ == 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  Shelf& shelf = shelves_[partition];
  if (shelf.refilling || shelf.ready.size() >= low_water()) return std::nullopt;
  shelf.refilling = true;
  return Refill{partition, root, batch_, {}, std::nullopt};
}

void StageReserve::run(Refill& refill) {
  refill.files.reserve(refill.count);
  for (size_t i = 0; i < refill.count; ++i) {
    auto f = StageFile::create(refill.root, refill.partition);
    if (!f.ok()) {
      refill.error = f.error();
      return;
    }
    refill.files.push_back(std::move(f.value()));
  }
  refill.error = fsync_dir(stage_dir(refill.root));
}

void StageReserve::finish(Refill refill) {
  std::deque<StageFile> dropped;  // removed outside the lock
  {
    std::lock_guard lock(mutex_);
    Shelf& shelf = shelves_[refill.partition];
    shelf.refilling = false;
    if (refill.error) {
      dropped.swap(shelf.ready);
    } else {
      for (auto& f : refill.files) {
        f.name_made_durable();
        shelf.ready.push_back(std::move(f));
      }
      refill.files.clear();
    }
  }
}

size_t StageReserve::ready(const std::string& partition) {
  std::lock_guard lock(mutex_);
  auto it = shelves_.find(partition);
  return it == shelves_.end() ? 0 : it->second.ready.size();
}

}  // namespace cubby::store
