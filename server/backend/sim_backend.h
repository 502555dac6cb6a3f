// server/backend/sim_backend.h — a host-memory device with real CUDA semantics, for tests.
//
// Contract (beyond backend.h):
// - Memory: every allocation is an anonymous mapping placed with MAP_FIXED_NOREPLACE at its
//   device address inside the session's window, so host kernels dereference device pointers
//   directly. Freeing unmaps it; the kernel hands out zero pages next time (the scrub).
//   Allocations past the cap fail with CUDA_ERROR_OUT_OF_MEMORY.
// - Streams run in order, synchronously on the worker thread: by the time a call returns its
//   work is done, so queries answer CUDA_SUCCESS and events carry the time their stream got
//   there (event timing is wall-clock time between the two records).
// - Modules are parsed with rgpu_image (parse_kernels); globals get device memory in the window
//   with the image's initial bytes. Their PTX (the image itself, or the fatbin's newest PTX
//   entry the device's compute capability runs) is decoded at load (ptx/ptx_parse.h) and a
//   launch executes it (ptx/ptx_exec.h: every access checked), or runs the kernel's host twin
//   from the SimKernelRegistry (SimExec). PTX the executor cannot run fails the load under
//   kPtx, and under kAuto the launch of a kernel without a twin, naming opcode and line; a host
//   kernel returning non-zero fails with CUDA_ERROR_LAUNCH_FAILED.
// - Copies: the worker reads and writes device memory in place (host_view). With
//   RGPU_SIM_STAGED=1 in the server's environment the sim behaves like a discrete GPU for copies
//   instead, so tests run the staged path the cuda backend takes: no host view, and staged copies
//   complete late the way asynchronous ones do — a staged DtoH fills its buffer only at
//   staged_wait(), and staged_wait() after an HtoD fails with CUDA_ERROR_ILLEGAL_STATE when the
//   buffer was written before the copy was waited for.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/backend/backend.h"
#include "server/backend/ptx/ptx_exec.h"
#include "server/backend/sim_plugins.h"
#include "server/backend/sim_props.h"
#include "server/backend/va_window.h"

namespace rgpu::server {

// How kernels run (--sim-exec): kAuto a registered host twin when there is one, else the
// module's PTX; kPtx always the PTX (twins are ignored); kPlugin twins only (the old sim).
enum class SimExec : uint8_t { kAuto, kPtx, kPlugin };

class SimBackend final : public Backend {
 public:
  SimBackend(const SimKernelRegistry* kernels, uint32_t gpu_index, SimExec exec = SimExec::kAuto);
  ~SimBackend() override;

  const char* name() const override { return "sim"; }
  Status open(const SessionWindow& window) override;
  const DeviceProps& props() const override { return props_; }

  Status mem_alloc(uint64_t bytes, uint64_t at, uint64_t* dptr) override;
  Status mem_free(uint64_t dptr) override;
  uint64_t mem_used() const override { return used_; }
  Status memcpy_htod(uint64_t dst, const void* src, uint64_t bytes, uint64_t stream) override;
  Status memcpy_dtoh(void* dst, uint64_t src, uint64_t bytes, uint64_t stream) override;
  Status memcpy_dtod(uint64_t dst, uint64_t src, uint64_t bytes, uint64_t stream) override;
  Status memset(uint64_t dst, uint32_t value, uint32_t elem_size, uint64_t count,
                uint64_t stream) override;

  Status ctx_synchronize() override;
  Status stream_create(uint64_t stream, uint32_t flags, int32_t priority) override;
  Status stream_destroy(uint64_t stream) override;
  Status stream_synchronize(uint64_t stream) override;
  Status stream_query(uint64_t stream) override;
  Status stream_wait_event(uint64_t stream, uint64_t event, uint32_t flags) override;
  Status event_create(uint64_t event, uint32_t flags) override;
  Status event_destroy(uint64_t event) override;
  Status event_record(uint64_t event, uint64_t stream) override;
  Status event_synchronize(uint64_t event) override;
  Status event_query(uint64_t event) override;
  Status event_elapsed(uint64_t start, uint64_t end, float* ms) override;

  Status module_load(uint64_t module, const uint8_t* image, uint64_t size) override;
  Status module_unload(uint64_t module) override;
  Status module_get_function(uint64_t module, uint64_t function, const std::string& name,
                             FunctionInfo* info) override;
  Status module_get_global(uint64_t module, const std::string& name, uint64_t* dptr,
                           uint64_t* bytes) override;
  Status func_get_attribute(uint64_t function, int32_t attribute, int32_t* value) override;
  Status func_set_attribute(uint64_t function, int32_t attribute, int32_t value) override;
  Status launch(const LaunchConfig& cfg) override;
  Status occupancy_max_active_blocks(uint64_t function, int32_t block_size, uint32_t flags,
                                     uint64_t dynamic_smem, int32_t* blocks) override;
  uint64_t busy_ns() override { return busy_ns_; }
  std::string take_device_output() override { return device_output_.take(); }
  uint64_t ptx_instructions() const { return ptx_instructions_; }  // thread-instructions run
  // Host threads a PTX launch runs its blocks on (default: every core; --sim-threads).
  void set_exec_threads(uint32_t n) { exec_threads_ = n ? n : exec_threads_; }
  // The compute capability the device reports (--sim-arch); set before open().
  void set_arch(SimArch a) { arch_ = a; }
  void* host_view(uint64_t dptr, uint64_t bytes) override {
    return !staged_ && inside(dptr, bytes) ? reinterpret_cast<void*>(dptr) : nullptr;
  }
  Status staged_htod(uint64_t dst, const void* staged, uint64_t bytes, uint64_t stream) override;
  Status staged_dtoh(void* staged, uint64_t src, uint64_t bytes, uint64_t stream) override;
  Status staged_wait(const void* staged) override;

  // Virtual memory (sim_vmm.cc): physical memory is a memfd, a mapping maps it MAP_SHARED at
  // its address (two mappings of one allocation alias, as on a GPU), a reservation is address
  // space of the window that nothing else is placed in.
  Status vmm_create(uint64_t handle, uint64_t bytes) override;
  Status vmm_release(uint64_t handle) override;
  Status vmm_reserve(uint64_t bytes, uint64_t alignment, uint64_t hint, uint64_t* va) override;
  Status vmm_free(uint64_t va, uint64_t bytes) override;
  Status vmm_map(uint64_t va, uint64_t bytes, uint64_t offset, uint64_t handle) override;
  Status vmm_unmap(uint64_t va, uint64_t bytes) override;

 private:
  struct Phys {
    int fd = -1;
    uint64_t bytes = 0;
    bool released = false;
    int maps = 0;
    ~Phys();
  };
  struct VmmMapping {
    uint64_t bytes = 0;
    std::shared_ptr<Phys> phys;
  };
  std::map<uint64_t, std::shared_ptr<Phys>> phys_;  // live physical allocations by handle
  std::map<uint64_t, VmmMapping> vmm_maps_;         // start -> mapping (also in allocs_)

  struct Kernel;
  struct Module;
  struct Function;
  struct Event {
    uint32_t flags = 0;
    bool recorded = false;
    std::chrono::steady_clock::time_point at;
  };

  Status map_range(uint64_t bytes, uint64_t at, uint64_t* dptr);  // at: as mem_alloc's
  Status check_launch_attributes(const LaunchConfig& cfg, const std::string& kernel);
  Status load_ptx(const uint8_t* data, uint64_t size, Module* m);
  Status launch_ptx(const Function& f, const LaunchConfig& cfg);
  void unmap(uint64_t dptr);
  bool inside(uint64_t addr, uint64_t bytes) const;
  bool stream_ok(uint64_t stream) const;
  void add_busy(std::chrono::steady_clock::time_point since);

  const SimKernelRegistry* kernels_;
  uint32_t gpu_index_;
  SimExec exec_;
  uint64_t ptx_instructions_ = 0;    // thread-instructions the PTX executor ran
  ptx::DeviceOutput device_output_;  // what kernels printed (vprintf), until taken
  uint32_t exec_threads_ = 1;
  SimArch arch_ = kSimDefaultArch;
  SessionWindow window_{};
  DeviceProps props_{};
  WindowAllocator va_;                       // own placements below the middle, the client's above
  std::map<uint64_t, uint64_t> allocs_;      // start -> rounded bytes (user and module globals)
  std::map<uint64_t, uint64_t> mapped_len_;  // start -> bytes mapped, where more than allocs_'
  uint64_t used_ = 0;
  uint64_t busy_ns_ = 0;
  std::set<uint64_t> streams_;
  std::map<uint64_t, Event> events_;
  std::map<uint64_t, std::unique_ptr<Module>> modules_;
  std::map<uint64_t, std::unique_ptr<Function>> functions_;

  // RGPU_SIM_STAGED: copies in flight per staging buffer (lanes on several threads).
  struct StagedCopy {
    bool to_host = false;
    uint64_t device = 0, bytes = 0, stream = 0;
    uint64_t digest = 0;  // HtoD: the staged bytes when the copy was issued
  };
  bool staged_ = false;
  std::mutex staged_mu_;
  std::map<const void*, StagedCopy> in_flight_;
};

}  // namespace rgpu::server
