// interpose/cls.cc — see cls.h.
#include "interpose/cls.h"

namespace rgpu {

void ClsStore::put(void* ctx, void* key, void* value, ClsDtor dtor) {
  std::lock_guard<std::mutex> g(mu_);
  map_[{ctx, key}] = Entry{ctx, key, value, dtor};
}

bool ClsStore::get(void* ctx, void* key, void** value) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = map_.find({ctx, key});
  if (it == map_.end()) return false;
  *value = it->second.value;
  return true;
}

bool ClsStore::erase(void* ctx, void* key) {
  std::lock_guard<std::mutex> g(mu_);
  return map_.erase({ctx, key}) > 0;
}

std::vector<ClsStore::Entry> ClsStore::take(void* ctx) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Entry> out;
  auto it = map_.lower_bound({ctx, nullptr});
  while (it != map_.end() && it->first.first == ctx) {
    out.push_back(it->second);
    it = map_.erase(it);
  }
  return out;
}

void ClsStore::destroy_context(void* ctx) {
  for (const Entry& e : take(ctx)) {
    if (e.dtor) e.dtor(e.ctx, e.key, e.value);
  }
}

}  // namespace rgpu
