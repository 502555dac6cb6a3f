// server/worker/handles.h — the handles one session has made, by kind, and the one way to ask.
//
// Contract: clients make handles (DESIGN contract 6) and the worker only keeps which ones this
// session created. Every op that names a handle goes through owned() (the handle must exist in
// this session: else CUDA_ERROR_INVALID_HANDLE "<kind> N does not belong to this session") or
// fresh() (a create must not reuse a live one: else CUDA_ERROR_INVALID_VALUE "<kind> handle N is
// already in use"), so a foreign or stale handle is refused with the same words for every op.
// A HandleTable<T> keeps a T per handle (HandleTable<Empty> when nothing is kept).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "server/backend/backend.h"

namespace rgpu::server {

struct NoState {};

template <typename T = NoState>
class HandleTable {
 public:
  // `kind` names the handles in errors ("stream", "event", "module", "function").
  explicit HandleTable(const char* kind) : kind_(kind) {}

  // The handle's state when this session made it; else nullptr and *why says so.
  T* owned(uint64_t h, Status* why) {
    auto it = items_.find(h);
    if (it != items_.end()) return &it->second;
    *why = foreign(h);
    return nullptr;
  }
  const T* owned(uint64_t h, Status* why) const {
    auto it = items_.find(h);
    if (it != items_.end()) return &it->second;
    *why = foreign(h);
    return nullptr;
  }
  Status owned(uint64_t h) const { return items_.count(h) ? Status::Ok() : foreign(h); }
  // Ok when h may name a new one.
  Status fresh(uint64_t h) const {
    if (!items_.count(h)) return Status::Ok();
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       std::string(kind_) + " handle " + std::to_string(h) + " is already in use");
  }
  T& add(uint64_t h, T v = T{}) { return items_[h] = std::move(v); }
  void erase(uint64_t h) { items_.erase(h); }
  // Removes every handle whose state matches pred (e.g. a module's functions).
  template <typename Pred>
  void erase_if(Pred pred) {
    for (auto it = items_.begin(); it != items_.end();)
      it = pred(it->second) ? items_.erase(it) : std::next(it);
  }

 private:
  Status foreign(uint64_t h) const {
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, std::string(kind_) + " " + std::to_string(h) +
                                                      " does not belong to this session");
  }

  const char* kind_;
  std::map<uint64_t, T> items_;
};

}  // namespace rgpu::server
