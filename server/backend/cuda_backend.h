// server/backend/cuda_backend.h — the real GPU, through the NVIDIA driver loaded by path.
//
// Contract (beyond backend.h):
// - open() loads the driver (cuda_driver.h), initialises it, makes the primary context of GPU
//   `gpu_index` current on the worker thread, fills DeviceProps from the card (total_mem is the
//   session's cap) and reserves the session's VA window with cuMemAddressReserve at va_base; it
//   fails cleanly (a Status naming what failed) when any step does.
// - Allocations are cuMemCreate'd and cuMemMap'ped at addresses inside the window, rounded to
//   the allocation granularity; the rounded size counts against the cap. A freed allocation is
//   memset to zero and synchronised before its memory is released.
// - Launches pass the packed parameter buffer with CU_LAUNCH_PARAM_BUFFER_POINTER and, when the
//   request carries launch attributes, go through cuLaunchKernelEx.
// - Busy time is measured with a pair of events around each launch and copy, harvested at
//   synchronising calls.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/backend/backend.h"
#include "server/backend/cuda_driver.h"
#include "server/backend/va_window.h"

namespace rgpu::server {

class CudaBackend final : public Backend {
 public:
  // any_driver: driver_path may be any libcuda.so.1 (--cuda-driver), rgpu's own included.
  CudaBackend(std::string driver_path, uint32_t gpu_index, bool any_driver = false);
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
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
  // One cuMemcpy2DAsync / cuMemsetD2D*Async each (the driver's own 2-D paths).
  Status memcpy2d_htod(uint64_t dst, uint64_t dst_pitch, const uint8_t* src, uint64_t width,
                       uint64_t rows, uint64_t stream) override;
  Status memcpy2d_dtoh(uint8_t* dst, uint64_t src, uint64_t src_pitch, uint64_t width,
                       uint64_t rows, uint64_t stream) override;
  Status memcpy2d_dtod(uint64_t dst, uint64_t dst_pitch, uint64_t src, uint64_t src_pitch,
                       uint64_t width, uint64_t rows, uint64_t stream) override;
  Status memset2d(uint64_t dst, uint64_t pitch, uint32_t value, uint32_t elem_size, uint64_t width,
                  uint64_t rows, uint64_t stream) override;

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
  uint64_t busy_ns() override;
  Status take_async_error() override;
  void attach_thread() override;
  void* staging_alloc(uint64_t bytes) override;
  void staging_free(void* p, uint64_t bytes) override;
  Status staged_htod(uint64_t dst, const void* staged, uint64_t bytes, uint64_t stream) override;
  Status staged_dtoh(void* staged, uint64_t src, uint64_t bytes, uint64_t stream) override;
  Status staged_wait(const void* staged) override;

 private:
  struct Alloc {
    uint64_t size = 0;
    CUmemGenericAllocationHandle handle = 0;
  };
  struct Timing {
    CUevent start = nullptr, end = nullptr;
  };

  Status err(CUresult rc, const std::string& what) const;
  CUstream stream_of(uint64_t stream, Status* st) const;
  Status timed_begin(CUstream s, Timing* t);
  void timed_end(CUstream s, Timing& t);
  void harvest(bool wait);

  std::string driver_path_;
  bool any_driver_ = false;
  uint32_t gpu_index_;
  CudaDriver drv_;
  bool opened_ = false;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  SessionWindow window_{};
  DeviceProps props_{};
  CUdeviceptr reserved_ = 0;
  WindowAllocator va_;  // own placements below the middle, the client's above
  std::map<uint64_t, Alloc> allocs_;
  uint64_t used_ = 0;
  std::map<uint64_t, CUstream> streams_;
  std::map<uint64_t, CUevent> events_;
  struct Module {
    CUlibrary lib;
    uint64_t global_bytes;  // its __device__/__constant__ variables, counted in used_
  };
  std::map<uint64_t, Module> modules_;
  struct Func {
    uint64_t module;
    CUfunction fn;
  };
  std::map<uint64_t, Func> functions_;
  std::vector<Timing> pending_, spare_;
  // Per staging buffer: an event recorded after its last staged copy (lanes on several threads
  // allocate and wait on their own buffers; staging_mu_ guards the map itself).
  struct Staging {
    CUevent done = nullptr;
    bool in_flight = false;
  };
  std::mutex staging_mu_;
  std::map<const void*, Staging> staging_;
  Status mark_staged(CUstream s, const void* staged);
  // Enqueues one copy between host memory and the device on `s`, timed for the meter.
  Status copy_on(CUstream s, void* host, uint64_t dev, uint64_t bytes, bool to_host);
  uint64_t busy_ns_ = 0;
  // An error a timing query met (harvest): a driver that reports errors late (rgpu's own shim,
  // chained) may answer one there; it is the session's, not the query's (take_async_error).
  Status async_error_;
};

}  // namespace rgpu::server
