// interpose/entry_class.h — the three classes an entry point can have (spec/entry_points.def),
// and the rule that keeps kLocal honest.
//
// Contract: the generated wrapper of a kLocal entry opens a LocalEntryScope for the call; while
// it is open on a thread, every way to reach the server (LaneSet::call/enqueue/htod/dtoh and
// their async forms) refuses with local_entry_went_remote(): CUDA_ERROR_NOT_SUPPORTED and an
// error naming the entry and the op, so a Class column that says kLocal for an entry that talks
// to the server fails every test that calls it instead of hiding a round trip (or a call from a
// forked child). A wrapper of a kSync/kAsync entry opens a scope with no name, so a callback
// into the driver from inside a local entry (an occupancy callback) is judged by its own class.
#pragma once

namespace rgpu {

// kLocal: answered in-process. kSync: one request, waits for its reply (flushes the batch
// first). kAsync: appended to the lane's batch; errors surface at the next sync call.
enum class EntryClass { kLocal, kSync, kAsync };

inline const char* entry_class_name(EntryClass c) {
  return c == EntryClass::kLocal ? "local" : c == EntryClass::kSync ? "sync" : "async";
}

// The kLocal entry this thread is inside, or nullptr.
inline thread_local const char* t_local_entry = nullptr;

class LocalEntryScope {
 public:
  explicit LocalEntryScope(const char* local_entry) : saved_(t_local_entry) {
    t_local_entry = local_entry;
  }
  ~LocalEntryScope() { t_local_entry = saved_; }
  LocalEntryScope(const LocalEntryScope&) = delete;
  LocalEntryScope& operator=(const LocalEntryScope&) = delete;

 private:
  const char* saved_;
};

// Logs (once per entry) and returns the error for a server call from a kLocal entry.
int local_entry_went_remote(const char* entry, const char* op);

}  // namespace rgpu
