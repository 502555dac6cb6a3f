// server/backend/backend.h — what a session worker asks of a device, whatever the device is.
//
// Contract:
// - One Backend object serves one session in one worker process. open() is called once, before
//   anything else, with the session's VA window and memory cap; props() is valid after open().
// - Every call returns a Status: CUDA_SUCCESS or a CUresult with a text saying what was wrong.
//   Calls never throw and never crash on bad arguments; the worker's Session validates handles,
//   ranges and sizes first (server/worker/session.h), but a backend still refuses what it
//   cannot do.
// - Handles (streams, events, modules, functions) are the client's numbers (DESIGN contract 6);
//   the backend maps them to its own objects. Stream 0 is the legacy default stream, 1 and 2
//   CU_STREAM_LEGACY / CU_STREAM_PER_THREAD; they exist without being created.
// - Device pointers are the addresses the client sees (contract 5): mem_alloc() places every
//   allocation inside [va_base, va_base + va_size) and never over the cap; given an address
//   (`at`, the client's choice: ops.def MemAllocAt) it places it exactly there or refuses.
// - Memory a session frees is zeroed before anything else can get it (sim: fresh pages from the
//   kernel; cuda: a memset before release).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/device_props.h"
#include "protocol/image/param_layout.h"

namespace rgpu::server {

struct Status {
  CUresult code = CUDA_SUCCESS;
  std::string text;

  bool ok() const { return code == CUDA_SUCCESS; }
  static Status Ok() { return {}; }
  static Status Err(CUresult c, std::string t) { return {c, std::move(t)}; }
};

// Names a CUresult for logs and error texts ("CUDA_ERROR_OUT_OF_MEMORY").
const char* cu_result_name(CUresult r);

struct SessionWindow {
  uint64_t va_base = 0;
  uint64_t va_size = 0;
  uint64_t vram_cap = 0;  // bytes this session may allocate
};

struct LaunchConfig {
  uint64_t function = 0;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t shared_mem = 0;
  uint64_t stream = 0;
  const uint8_t* params = nullptr;  // packed parameter bytes
  uint32_t param_bytes = 0;
  const uint8_t* attrs = nullptr;  // num_attrs CUlaunchAttribute records (72 bytes each)
  uint32_t num_attrs = 0;
};

// What a module load found: its kernels' layouts come with module_get_function.
struct FunctionInfo {
  image::ParamLayout layout;
  bool layout_known = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  virtual Status open(const SessionWindow& window) = 0;
  virtual const DeviceProps& props() const = 0;

  // Memory.
  // at = 0: anywhere in the window; otherwise exactly at `at` (free, aligned) or an error.
  virtual Status mem_alloc(uint64_t bytes, uint64_t at, uint64_t* dptr) = 0;
  virtual Status mem_free(uint64_t dptr) = 0;
  // Frees dptr once the work before this call on `stream` is done. Default: waits for the stream,
  // then mem_free (a backend that can defer the free overrides it).
  // 2-D copies and memsets (ops.def Memcpy2D*, Memset2D; the session checked every row): `rows`
  // rows of `width` bytes (memset: elements), row r at base + r * pitch; the host side is packed
  // (pitch = width). Default: one 1-D call per row.
  virtual Status memcpy2d_htod(uint64_t dst, uint64_t dst_pitch, const uint8_t* src, uint64_t width,
                               uint64_t rows, uint64_t stream);
  virtual Status memcpy2d_dtoh(uint8_t* dst, uint64_t src, uint64_t src_pitch, uint64_t width,
                               uint64_t rows, uint64_t stream);
  virtual Status memcpy2d_dtod(uint64_t dst, uint64_t dst_pitch, uint64_t src, uint64_t src_pitch,
                               uint64_t width, uint64_t rows, uint64_t stream);
  virtual Status memset2d(uint64_t dst, uint64_t pitch, uint32_t value, uint32_t elem_size,
                          uint64_t width, uint64_t rows, uint64_t stream);

  // Virtual memory management (ops.def MemCreate ... MemUnmap; the session has checked
  // handles, sizes, ranges and overlaps). Physical memory counts against the cap from create
  // until it is released and unmapped. Default: not served.
  virtual Status vmm_create(uint64_t handle, uint64_t bytes);
  virtual Status vmm_release(uint64_t handle);
  virtual Status vmm_reserve(uint64_t bytes, uint64_t alignment, uint64_t hint, uint64_t* va);
  virtual Status vmm_free(uint64_t va, uint64_t bytes);
  virtual Status vmm_map(uint64_t va, uint64_t bytes, uint64_t offset, uint64_t handle);
  virtual Status vmm_unmap(uint64_t va, uint64_t bytes);
  virtual Status mem_free_async(uint64_t dptr, uint64_t stream) {
    Status st = stream_synchronize(stream);
    return st.ok() ? mem_free(dptr) : st;
  }
  virtual uint64_t mem_used() const = 0;  // bytes counted against the cap
  virtual Status memcpy_htod(uint64_t dst, const void* src, uint64_t bytes, uint64_t stream) = 0;
  virtual Status memcpy_dtoh(void* dst, uint64_t src, uint64_t bytes, uint64_t stream) = 0;
  virtual Status memcpy_dtod(uint64_t dst, uint64_t src, uint64_t bytes, uint64_t stream) = 0;
  virtual Status memset(uint64_t dst, uint32_t value, uint32_t elem_size, uint64_t count,
                        uint64_t stream) = 0;

  // Streams and events.
  virtual Status ctx_synchronize() = 0;
  virtual Status stream_create(uint64_t stream, uint32_t flags, int32_t priority) = 0;
  virtual Status stream_destroy(uint64_t stream) = 0;
  virtual Status stream_synchronize(uint64_t stream) = 0;
  virtual Status stream_query(uint64_t stream) = 0;
  virtual Status stream_wait_event(uint64_t stream, uint64_t event, uint32_t flags) = 0;
  virtual Status event_create(uint64_t event, uint32_t flags) = 0;
  virtual Status event_destroy(uint64_t event) = 0;
  virtual Status event_record(uint64_t event, uint64_t stream) = 0;
  virtual Status event_synchronize(uint64_t event) = 0;
  virtual Status event_query(uint64_t event) = 0;
  virtual Status event_elapsed(uint64_t start, uint64_t end, float* ms) = 0;

  // Modules and launches.
  virtual Status module_load(uint64_t module, const uint8_t* image, uint64_t size) = 0;
  virtual Status module_unload(uint64_t module) = 0;
  virtual Status module_get_function(uint64_t module, uint64_t function, const std::string& name,
                                     FunctionInfo* info) = 0;
  // A global's range; the session adds it to the ranges copies may touch.
  virtual Status module_get_global(uint64_t module, const std::string& name, uint64_t* dptr,
                                   uint64_t* bytes) = 0;
  virtual Status func_get_attribute(uint64_t function, int32_t attribute, int32_t* value) = 0;
  virtual Status func_set_attribute(uint64_t function, int32_t attribute, int32_t value) = 0;
  virtual Status launch(const LaunchConfig& cfg) = 0;
  virtual Status occupancy_max_active_blocks(uint64_t function, int32_t block_size, uint32_t flags,
                                             uint64_t dynamic_smem, int32_t* blocks) = 0;

  // Text the session's kernels printed (device printf) since the last call, taken out; a
  // device that prints nothing itself returns "" (the real driver writes to the worker's
  // stdout, which the worker does not forward yet).
  virtual std::string take_device_output() { return {}; }

  // An error the backend met where no call could return it (its own bookkeeping, e.g. timing
  // event queries), taken out; the session returns it at its next sync call, as CUDA reports
  // an async error. Default: none.
  virtual Status take_async_error() { return Status::Ok(); }

  // Device time spent on this session's work so far (kernels and copies), in nanoseconds.
  virtual uint64_t busy_ns() = 0;
  // Host memory that *is* the device range [dptr, dptr+bytes) (sim: device memory is host
  // memory), so a worker can receive or send copy bytes in place; null when the device has no
  // such view (cuda), and then copies go through memcpy_htod / memcpy_dtoh.
  virtual void* host_view(uint64_t dptr, uint64_t bytes) {
    (void)dptr;
    (void)bytes;
    return nullptr;
  }

  // Called once by every worker thread that will call this backend (each lane runs on its own
  // thread): cuda makes the session's context current there. Default: nothing.
  virtual void attach_thread() {}

  // Staged copies: without a host view a worker moves a bulk copy through a few staging buffers,
  // piece by piece, so the device copy of one piece overlaps the network transfer of the next
  // (server/worker/staging.h). Lanes on other threads may use their own buffers at the same
  // time; these calls are safe for that.
  // - staging_alloc(bytes): host memory the device can copy from and to asynchronously (cuda:
  //   page-locked); null when there is none. staging_free() gives it back once staged_wait()
  //   said its last copy completed.
  // - staged_htod / staged_dtoh: enqueue a copy between the staging buffer `staged` (the start
  //   of one from staging_alloc) and the device on `stream`; the buffer's bytes must stay
  //   untouched until staged_wait(staged) returned. Defaults: the synchronous memcpy_htod /
  //   memcpy_dtoh.
  // - staged_wait(staged): blocks until the buffer's last staged copy has completed; that
  //   copy's error if it failed. A buffer with no copy in flight is complete.
  virtual void* staging_alloc(uint64_t bytes);
  virtual void staging_free(void* p, uint64_t bytes);
  virtual Status staged_htod(uint64_t dst, const void* staged, uint64_t bytes, uint64_t stream) {
    return memcpy_htod(dst, staged, bytes, stream);
  }
  virtual Status staged_dtoh(void* staged, uint64_t src, uint64_t bytes, uint64_t stream) {
    return memcpy_dtoh(staged, src, bytes, stream);
  }
  virtual Status staged_wait(const void* staged) {
    (void)staged;
    return Status::Ok();
  }
};

}  // namespace rgpu::server
