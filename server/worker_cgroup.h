// server/worker_cgroup.h — each session's worker in its own cgroup v2 leaf with memory.max.
//
// Contract: RLIMIT_DATA (server/worker/host_memory.h) caps a worker's data mappings and fails
// allocations with a clear reason; a cgroup's memory.max caps everything the kernel charges to
// the worker (heap, page cache, shared and driver mappings, kernel memory) and the kernel kills
// the worker past it. rgpu-server uses both where cgroup v2 is delegated to it.
//   * WorkerCgroups::open(spec): spec "" is off; "auto" uses this process's own cgroup v2 only
//     when it is delegated (memory in cgroup.controllers, this process alone in it, writable),
//     else off with the reason in why_off(); a directory must be such a cgroup (an error
//     otherwise). Opening moves this process into <dir>/supervisor (once controllers are
//     enabled below a cgroup, processes may live only in its leaves) and writes +memory to
//     <dir>/cgroup.subtree_control.
//   * prepare(session, limit) makes <dir>/worker-<session> with memory.max set to
//     cgroup_memory_max(limit) before the worker is spawned; place(pid, leaf) moves the spawned
//     worker into it (what the worker allocated before that stays charged to the supervisor's
//     leaf: only its start-up). The worker raises its own memory.max through
//     set_host_memory_cgroup() once its lease says how large the session is.
//   * finish(leaf) after the worker is reaped: true when memory.events counts an oom_kill (the
//     kernel killed it for its limit); the leaf is removed either way.
// Errors are sentences naming the file and what to do; nothing here throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

namespace rgpu::server {

// memory.max for a worker whose RLIMIT_DATA is `limit`: above it, so RLIMIT_DATA's clear error
// comes first and the cgroup is the backstop for what RLIMIT_DATA does not count.
uint64_t cgroup_memory_max(uint64_t limit);

// Writes `value` to an existing cgroup control file (never creates one): "" or why not.
std::string write_cgroup_control(const std::string& path, const std::string& value);

class WorkerCgroups {
 public:
  // nullptr with *error set when `spec` names a directory that cannot be used; an object that
  // is off (enabled() false, why_off() saying why) for "" and for an "auto" that does not fit.
  // require_cgroupfs=false accepts any directory (tests, with the control files made by hand).
  static std::unique_ptr<WorkerCgroups> open(const std::string& spec, std::string* error,
                                             bool require_cgroupfs = true);

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  const std::string& why_off() const { return why_off_; }

  // The leaf's path, or "" with *error set (the worker then runs with RLIMIT_DATA alone).
  std::string prepare(uint64_t session, uint64_t limit, std::string* error) const;
  bool place(pid_t pid, const std::string& leaf, std::string* error) const;
  bool finish(const std::string& leaf) const;

 private:
  std::string dir_;
  std::string why_off_;
};

}  // namespace rgpu::server
