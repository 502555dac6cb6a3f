// interpose/cls.h — context-local storage behind the CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 table.
//
// Contract: a thread-safe map (context, key) -> (value, destructor). cudart keeps its
// per-context runtime state here: it puts once per context and gets before every runtime call.
// get() of a missing entry is CUDA_ERROR_INVALID_HANDLE (what cudart expects before its first
// put). take(ctx) removes every entry of a context and returns them so the caller runs the
// destructors (dtor(ctx, key, value)) when the context is destroyed or the primary context is
// reset, outside any lock.
#pragma once

#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace rgpu {

using ClsDtor = void (*)(void* ctx, void* key, void* value);

class ClsStore {
 public:
  struct Entry {
    void* ctx;
    void* key;
    void* value;
    ClsDtor dtor;
  };
  void put(void* ctx, void* key, void* value, ClsDtor dtor);
  bool get(void* ctx, void* key, void** value) const;
  bool erase(void* ctx, void* key);
  std::vector<Entry> take(void* ctx);
  // Runs the destructors of every entry of ctx (after removing them).
  void destroy_context(void* ctx);

 private:
  mutable std::mutex mu_;
  std::map<std::pair<void*, void*>, Entry> map_;
};

}  // namespace rgpu
