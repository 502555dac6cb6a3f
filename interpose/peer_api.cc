// interpose/peer_api.cc — cuMemcpyPeer(Async): copies between the memory of two contexts.
//
// Each pointer must lie in its context's device memory. Within one device it is an ordinary
// DtoD copy; across devices (two servers) it goes through the host (peer_copy.h).
#include <algorithm>
#include <vector>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/peer_copy.h"

namespace rgpu {

CUresult copy_across_devices(Device* dst_dev, uint64_t dst, Device* src_dev, uint64_t src, size_t n,
                             uint64_t stream, Device* stream_dev) {
  constexpr size_t kStagingBytes = size_t{8} << 20;
  const uint64_t src_stream = stream_dev == src_dev ? stream : 0;
  const uint64_t dst_stream = stream_dev == dst_dev ? stream : 0;
  std::vector<uint8_t> staging(std::min(n, kStagingBytes));
  for (size_t done = 0; done < n;) {
    const size_t chunk = std::min(n - done, staging.size());
    CUresult r = src_dev->lane->dtoh(staging.data(), src + done, chunk, src_stream);
    if (r != CUDA_SUCCESS) return r;
    r = dst_dev->lane->htod(dst + done, staging.data(), chunk, dst_stream);
    if (r != CUDA_SUCCESS) return r;
    done += chunk;
  }
  return CUDA_SUCCESS;
}

namespace api {
namespace {

CUresult device_of_context(CUcontext h, Device** out) {
  Context* ctx = nullptr;
  CUresult r = resolve_context(h, &ctx);
  if (r != CUDA_SUCCESS) return r;
  *out = state()->devices[static_cast<size_t>(ctx->device)].get();
  return CUDA_SUCCESS;
}

CUresult copy_peer(uint64_t dst, CUcontext dst_ctx, uint64_t src, CUcontext src_ctx, size_t n,
                   CUstream s, bool per_thread) {
  uint64_t wire = 0;
  Device* stream_dev = nullptr;
  CUresult r = resolve_stream(s, per_thread, &wire, &stream_dev);
  if (r != CUDA_SUCCESS) return r;
  Device *dd = nullptr, *sd = nullptr;
  if ((r = device_of_context(dst_ctx, &dd)) != CUDA_SUCCESS) return r;
  if ((r = device_of_context(src_ctx, &sd)) != CUDA_SUCCESS) return r;
  if (n == 0) return CUDA_SUCCESS;
  if (device_of_pointer(dst, n) != dd || device_of_pointer(src, n) != sd)
    return CUDA_ERROR_INVALID_VALUE;
  if (dd != sd) return copy_across_devices(dd, dst, sd, src, n, wire, stream_dev);
  op::MemcpyDtoD::Args a{dst, src, n, stream_dev == dd ? wire : 0};
  return dd->lane->enqueue<op::MemcpyDtoD>(a);
}

}  // namespace

CUresult cuMemcpyPeer(CUdeviceptr_v2 dstDevice, CUcontext dstContext, CUdeviceptr_v2 srcDevice,
                      CUcontext srcContext, size_t ByteCount) {
  return copy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, nullptr, false);
}

CUresult cuMemcpyPeer_ptds(CUdeviceptr_v2 dstDevice, CUcontext dstContext, CUdeviceptr_v2 srcDevice,
                           CUcontext srcContext, size_t ByteCount) {
  return copy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, nullptr, true);
}

CUresult cuMemcpyPeerAsync(CUdeviceptr_v2 dstDevice, CUcontext dstContext, CUdeviceptr_v2 srcDevice,
                           CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  return copy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, false);
}

CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr_v2 dstDevice, CUcontext dstContext,
                                CUdeviceptr_v2 srcDevice, CUcontext srcContext, size_t ByteCount,
                                CUstream hStream) {
  return copy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, true);
}

}  // namespace api
}  // namespace rgpu
