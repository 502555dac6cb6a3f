// interpose/client.h — the shim's process-wide state: devices, contexts, handles, allocations.
//
// Contract:
// - init() runs once per process (cuInit): reads Config, connects to every server (one device
//   per server, numbered in RGPU_SERVER order), caches each DeviceProps. Its CUresult is kept
//   and returned by every later cuInit; before a successful init, state() is null and device
//   calls return CUDA_ERROR_NOT_INITIALIZED.
// - Handles are client-made (DESIGN contract 6): CUcontext/CUstream/CUevent are pointers to the
//   objects below (modules, libraries, kernels and functions: interpose/modules.h); every handle
//   passed in is checked against the live set under `mu` (a stale or foreign handle is
//   CUDA_ERROR_INVALID_HANDLE, never a crash).
// - Each thread has its own current-context stack. A primary context's handle exists from init
//   on (CUDART_INTERFACE[2] hands it out unretained) and stays the same across resets.
// - After fork() the child's state is unusable: in_forked_child() is true and every remote or
//   device call returns CUDA_ERROR_NOT_INITIALIZED; the parent's sockets are never touched.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "interpose/cls.h"
#include "interpose/cuda_api.h"
#include "interpose/lane.h"
#include "interpose/mem_pools.h"
#include "protocol/device_props.h"
#include "protocol/va_allocator.h"

namespace rgpu {

inline constexpr int kDriverVersion = CUDA_VERSION;  // what cuDriverGetVersion reports
inline constexpr uint64_t kVaStride = 1ull << 40;

struct Context {
  int device = 0;
  bool primary = false;
  unsigned flags = 0;
  int refcount = 0;  // primary: retains since the last reset; created: 1 until destroyed
  uint64_t id = 0;
  size_t limits[16] = {};
  CUfunc_cache cache_config = CU_FUNC_CACHE_PREFER_NONE;
};

struct Device {
  int ordinal = 0;
  DeviceProps props{};
  uint64_t vram_limit = 0;
  uint32_t protocol = 0;  // the version negotiated with this device's server (protocol/version.h)
  uint64_t rtt_ns = 0;    // the kernel's TCP round-trip estimate at connect (0: Unix socket)
  // Whether to offer module images by digest (protocol 9): until the server says it keeps none.
  std::atomic<bool> image_cache_seen{true};
  std::string server;
  std::unique_ptr<LaneSet> lane;  // this device's lanes (one per thread; interpose/lane.h)
  Context* primary = nullptr;
  unsigned primary_flags = 0;
  MemPool* default_pool = nullptr;  // interpose/mem_pools.h (made on first use)
  MemPool* current_pool = nullptr;  // cuDeviceSetMemPool; null: the default pool
  // cuMemAlloc placed by this process (protocol 11, ops.def MemAllocAt): ranges of the window's
  // upper half (an 11 server places nothing of its own there: server/backend/va_window.h), and
  // the bytes of this device's live allocations this process knows of (cuMemAlloc, pool blocks,
  // mappings) rounded to kVmmGranularity: placement stops at half the cap, above which the
  // server answers each cuMemAlloc (and an out-of-memory error is the call's own).
  // Guarded by Client::mu.
  VaAllocator placed;
  uint64_t alloc_bytes = 0;
};

struct Stream {
  uint64_t wire = 0;
  Context* ctx = nullptr;
  unsigned flags = 0;
  int priority = 0;
};

struct Event {
  uint64_t wire = 0;
  Context* ctx = nullptr;
  unsigned flags = 0;
};

struct HostAlloc {
  size_t size = 0;
  unsigned flags = 0;
  bool registered = false;  // cuMemHostRegister (memory not ours to free)
  bool mapped = false;      // CU_MEMHOSTALLOC_DEVICEMAP: managed memory (managed.h) at this
                            // address, which is its device pointer too
};

struct DevAlloc {
  size_t size = 0;
  int device = 0;
  bool placed = false;  // placed by this process (Device::placed)
};

class Client {
 public:
  std::vector<std::unique_ptr<Device>> devices;
  ClsStore cls;

  std::shared_mutex mu;  // guards everything below (handle lookups take it shared)
  std::unordered_set<const void*> contexts, streams, events;
  std::map<uintptr_t, HostAlloc> host_allocs;
  std::map<uint64_t, DevAlloc> dev_allocs;
  std::unordered_set<const void*> mem_pools;  // every live MemPool (interpose/mem_pools.h)
  std::map<uint64_t, MemPool*> pool_blocks;   // live stream-ordered allocations -> their pool
  std::unordered_set<std::string> images_on_device;
  bool client_placement = true;  // Config::client_placement
  bool client_layout = true;     // Config::client_layout

  uint64_t new_wire() { return next_wire_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t new_ctx_id() { return next_ctx_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> next_wire_{16};
  std::atomic<uint64_t> next_ctx_id_{1};
};

inline uint64_t granule_bytes(uint64_t n) {
  return n > UINT64_MAX - kVmmGranularity
             ? UINT64_MAX
             : (n + kVmmGranularity - 1) / kVmmGranularity * kVmmGranularity;
}
// Records a live device allocation (cuMemAlloc, a pool block, a mapping) in Client::dev_allocs
// and its device's alloc_bytes; Client::mu held.
void add_dev_alloc(Client& c, uint64_t dptr, const DevAlloc& a);
// Forgets one (Client::mu held); false when dptr starts none. A placed range stays taken in
// Device::placed: the caller gives it back once the free is on the wire.
bool erase_dev_alloc(Client& c, uint64_t dptr, DevAlloc* was = nullptr);

// Runs cuInit's work once; later calls return the first result.
CUresult init(unsigned flags);
// The state after a successful init (and not in a forked child), else null.
Client* state();
// CUDA_SUCCESS when state() is usable, else the error to return.
CUresult check_init();

bool in_forked_child();
CUresult forked_child_error(const char* entry);
// A NULL output parameter (spec P_OUT): CUDA_ERROR_INVALID_VALUE, traced under RGPU_LOG=debug.
CUresult null_output_error(const char* entry, const char* param);
// Maps the exception being handled to a CUresult and logs it (used by the entry wrappers).
CUresult exception_to_result(const char* entry);

// Per-thread current-context stack.
Context* current_context();
void set_current_context(Context* c);  // replaces the top (or pushes onto an empty stack)
void push_context(Context* c);
Context* pop_context();  // null when empty
// Removes a destroyed context from the calling thread's stack.
void forget_context_in_this_thread(Context* c);

// Handle checks (take Client::mu).
bool valid_context(Client& c, const void* h);
// ctx null -> current; CUDA_ERROR_INVALID_CONTEXT when there is none.
CUresult resolve_context(CUcontext in, Context** out);
// The device and context calls on the current context address.
CUresult current_device(Device** dev, Context** ctx = nullptr);

// Stream handle -> wire id and device. NULL is the legacy stream (0), or the per-thread stream
// (2) when per_thread; CU_STREAM_LEGACY / CU_STREAM_PER_THREAD map to 1 / 2.
CUresult resolve_stream(CUstream s, bool per_thread, uint64_t* wire, Device** dev);

// The device whose address window holds [ptr, ptr+len), or null.
Device* device_of_pointer(uint64_t ptr, uint64_t len = 1);

// Runs CLS destructors and forgets a context's handles (destroy / primary reset).
void teardown_context_state(Context* ctx);

}  // namespace rgpu
