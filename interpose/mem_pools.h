// interpose/mem_pools.h — stream-ordered memory pools (cuMemAllocAsync and friends), kept in the
// client so that most stream-ordered allocations and frees cost no round trip.
//
// Contract:
// - Each device has a default pool (CUmemoryPool handles are MemPool*); cuDeviceSetMemPool picks
//   the device's current one, which cuMemAllocAsync uses. A pool's blocks are ordinary device
//   allocations of the session (MemAlloc), so the server's checks and the vGPU's cap apply.
// - cuMemFreeAsync returns a block to its pool, tagged with the stream it was freed on. CUDA's
//   reuse rules, conservatively: a later allocation on the same stream may take it at once
//   (stream order makes it safe); an allocation on another stream only once a synchronizing call
//   covered the free (cuCtxSynchronize, or cuStreamSynchronize of that stream: after_sync()).
// - Cached memory is released down to the pool's CU_MEMPOOL_ATTR_RELEASE_THRESHOLD (default 0)
//   at those synchronizing calls, and by cuMemPoolTrimTo, with MemFreeAsync records (no round
//   trip); a block still in flight is released in its stream's order. The USED/RESERVED
//   attributes count the pool's live and total bytes.
// - Against a server older than protocol 6 (no MemFreeAsync) nothing is cached: cuMemFreeAsync
//   waits for its stream, then frees.
// - Thread-safe: every pool is guarded by the client's mutex.
#pragma once

#include <cstdint>
#include <map>

#include "interpose/cuda_api.h"

namespace rgpu {

struct Device;

struct PoolBlock {
  uint64_t dptr = 0;
  uint64_t size = 0;
  uint64_t freed_on = 0;    // the stream (wire handle) the block was freed on
  bool after_sync = false;  // a synchronizing call covered its free: any stream may reuse it
};

struct MemPool {
  Device* device = nullptr;
  bool is_default = false;
  bool destroyed = false;          // cuMemPoolDestroy came; freed when `live` empties
  uint64_t max_size = 0;           // CUmemPoolProps.maxSize (0: no limit but the vGPU's)
  uint64_t release_threshold = 0;  // CU_MEMPOOL_ATTR_RELEASE_THRESHOLD
  int reuse_follow_events = 1, reuse_opportunistic = 1, reuse_internal = 1;
  uint64_t reserved = 0, reserved_high = 0;   // bytes held from the device (live + cached)
  uint64_t used = 0, used_high = 0;           // bytes handed out
  std::multimap<uint64_t, PoolBlock> cached;  // free blocks by size
  std::map<uint64_t, uint64_t> live;          // dptr -> block size
};

namespace pools {
// The device's default pool (made on first use).
MemPool* default_pool(Device* d);
// After a synchronizing call succeeded: every block freed before it on `stream` (or on any
// stream when whole_device) may be reused anywhere; cached bytes above each pool's threshold
// are released.
void after_sync(Device* d, bool whole_device, uint64_t stream);
// Whether dptr is a live stream-ordered allocation (cuMemFree of one frees it on the legacy
// stream).
bool owns(uint64_t dptr);
// Whether dptr is a block a pool holds freed (a second free of it is an error, not a free).
bool cached(uint64_t dptr);
}  // namespace pools

}  // namespace rgpu
