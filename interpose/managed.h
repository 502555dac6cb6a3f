// interpose/managed.h — managed memory (cuMemAllocManaged): one pointer the program uses from
// the host and from kernels, kept coherent at CUDA's synchronization points.
//
// Contract (the model of a device without concurrent managed access, which the shim reports:
// CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS = 0, so the host may touch managed memory only
// while no device work is pending):
// - An allocation is device memory at address A on the server and, in this process, a host
//   shadow mapped at the same address A (so the pointer means the same on both sides).
// - Before device work is issued (any op a lane sends) the host's writes since the last
//   exchange go to the device: each allocation is hashed in 64 KiB chunks and the changed
//   chunks are copied (flush()).
// - After a synchronizing call returns (context, stream or event synchronize, a device-to-host
//   copy) and device work was issued since the last exchange, every managed allocation is
//   copied back into its shadow (fetch()).
// - Cost: one hash pass over managed memory before device work, and a full copy back after each
//   synchronizing call that follows device work: managed memory is for convenience, not speed.
// - cuMemPrefetchAsync and cuMemAdvise are accepted (there is nothing to move early);
//   cuMemFree of a managed pointer unmaps the shadow too.
#pragma once

#include <atomic>
#include <cstdint>

#include "interpose/cuda_api.h"

namespace rgpu {

class LaneSet;

namespace managed {

extern std::atomic<int> g_count;  // live managed allocations
inline bool any() {
  return g_count.load(std::memory_order_relaxed) != 0;
}
// Before an op goes to the device behind `lanes`: host writes are flushed; device_writes says
// whether the op may change device memory (async work, copies into the device), which makes
// the next synchronizing call fetch.
void before_device_work(LaneSet* lanes, bool device_writes);
// After a synchronizing call on `lanes` succeeded.
void after_sync(LaneSet* lanes);
// A host-to-device copy into managed memory also lands in the host shadow at once (a host read
// right after a synchronous cudaMemcpy sees it without waiting for a fetch).
void after_htod(uint64_t dst, const void* src, size_t n);
// A device-to-host copy whose destination is managed memory: the bytes go to the device copy
// too, so the fetch after it keeps them.
void after_dtoh(LaneSet* lanes, const void* dst, size_t n);
// Whether dptr is the start of a managed allocation; release() frees it (shadow and device).
bool owns(uint64_t dptr);
bool contains(uint64_t ptr);
CUresult release(uint64_t dptr);

}  // namespace managed
}  // namespace rgpu
