// interpose/entry_class.h — the three classes an entry point can have (spec/entry_points.def).
#pragma once

namespace rgpu {

// kLocal: answered in-process. kSync: one request, waits for its reply (flushes the batch
// first). kAsync: appended to the lane's batch; errors surface at the next sync call.
enum class EntryClass { kLocal, kSync, kAsync };

inline const char* entry_class_name(EntryClass c) {
  return c == EntryClass::kLocal ? "local" : c == EntryClass::kSync ? "sync" : "async";
}

}  // namespace rgpu
