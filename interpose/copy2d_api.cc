// interpose/copy2d_api.cc — 2-D and 3-D copies and memsets, and pitched allocations.
//
// A copy is resolved to two sides (host or device memory: CU_MEMORYTYPE_UNIFIED is looked up
// among this process's allocations; arrays are not served, CUDA_ERROR_NOT_SUPPORTED) and done
// slice by slice:
// - a slice whose rows are contiguous on both sides is one 1-D copy (the bulk path when large);
// - rows of kWideRowBytes or more go one by one through the 1-D path;
// - narrower rows travel packed, in ops of whole rows
//   (kMax2DHtoDBytes / kMax2DDtoHBytes: Memcpy2DHtoD packs them straight into the batch;
//   Memcpy2DDtoH's reply is unpacked into the pitched host rows; Memcpy2DDtoD moves nothing over
//   the wire);
// - a server at protocol 5 or older has no 2-D ops: every row is its own 1-D copy.
// Host-to-host rows are copied here. Copies and memsets keep the 1-D rules: host-to-device is
// async (the bytes are in the batch when the call returns), device-to-host waits.
#include <algorithm>
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"

namespace rgpu::api {
namespace {

constexpr uint32_t kFirst2DProtocol = 6;
constexpr size_t kPitchAlignment = 512;  // cuMemAllocPitch's row alignment

struct Side {
  bool device = false;
  uint8_t* host = nullptr;  // host side: first byte of the region
  uint64_t dev = 0;         // device side: its address
  size_t pitch = 0;         // bytes between rows
  size_t slice = 0;         // bytes between slices (pitch * height of the allocation)
};

struct Box {
  size_t width, height, depth;
};

// Resolves one side of a copy. `x`, `y`, `z` are the region's offsets in bytes, rows, slices.
CUresult resolve_side(CUmemorytype type, const void* host, CUdeviceptr dev, CUarray array,
                      size_t pitch, size_t height, size_t x, size_t y, size_t z, Side* out) {
  if (type == CU_MEMORYTYPE_UNIFIED) {
    // cuda.h: the pointer is in srcDevice/dstDevice and may be host or device memory.
    type = device_of_pointer(dev) ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
    host = reinterpret_cast<const void*>(dev);
  }
  if (type == CU_MEMORYTYPE_ARRAY || array) return CUDA_ERROR_NOT_SUPPORTED;  // no CUDA arrays
  const size_t offset = x + y * pitch + z * pitch * height;
  out->pitch = pitch;
  out->slice = pitch * height;
  if (type == CU_MEMORYTYPE_DEVICE) {
    if (!dev) return CUDA_ERROR_INVALID_VALUE;
    out->device = true;
    out->dev = dev + offset;
    return CUDA_SUCCESS;
  }
  if (type != CU_MEMORYTYPE_HOST || !host) return CUDA_ERROR_INVALID_VALUE;
  out->host = const_cast<uint8_t*>(static_cast<const uint8_t*>(host)) + offset;
  return CUDA_SUCCESS;
}

// The extent of `rows` rows from `base` on a side: (rows - 1) * pitch + width bytes.
size_t span(const Side& s, size_t width, size_t rows) {
  return rows ? (rows - 1) * s.pitch + width : 0;
}

// One slice of `rows` rows from src to dst on device d's lanes.
CUresult copy_rows(Device* d, const Side& dst, const Side& src, size_t width, size_t rows,
                   uint64_t wire) {
  const bool packed_ops = d->protocol >= kFirst2DProtocol && width < kWideRowBytes;
  if (dst.device && src.device) {
    if (d->protocol >= kFirst2DProtocol) {
      op::Memcpy2DDtoD::Args a{dst.dev, dst.pitch, src.dev, src.pitch, width, rows, wire};
      return d->lane->enqueue<op::Memcpy2DDtoD>(a);
    }
    for (size_t r = 0; r < rows; ++r) {
      op::MemcpyDtoD::Args a{dst.dev + r * dst.pitch, src.dev + r * src.pitch, width, wire};
      CUresult e = d->lane->enqueue<op::MemcpyDtoD>(a);
      if (e != CUDA_SUCCESS) return e;
    }
    return CUDA_SUCCESS;
  }
  if (dst.device) {  // host to device
    if (!packed_ops) {
      for (size_t r = 0; r < rows; ++r) {
        CUresult e = d->lane->htod(dst.dev + r * dst.pitch, src.host + r * src.pitch, width, wire);
        if (e != CUDA_SUCCESS) return e;
      }
      return CUDA_SUCCESS;
    }
    struct Pack {
      const uint8_t* src;
      size_t pitch, width, rows;
    };
    const size_t per_op = std::max<size_t>(1, kMax2DHtoDBytes / width);
    for (size_t r0 = 0; r0 < rows; r0 += per_op) {
      const size_t n = std::min(per_op, rows - r0);
      Pack p{src.host + r0 * src.pitch, src.pitch, width, n};
      op::Memcpy2DHtoD::Args a{dst.dev + r0 * dst.pitch, dst.pitch, width, n, wire};
      CUresult e = d->lane->enqueue_fill<op::Memcpy2DHtoD>(
          a, n * width,
          [](const void* ctx, uint8_t* out) {
            const auto& q = *static_cast<const Pack*>(ctx);
            for (size_t i = 0; i < q.rows; ++i)
              std::memcpy(out + i * q.width, q.src + i * q.pitch, q.width);
          },
          &p);
      if (e != CUDA_SUCCESS) return e;
    }
    return CUDA_SUCCESS;
  }
  // device to host
  if (!packed_ops) {
    for (size_t r = 0; r < rows; ++r) {
      CUresult e = d->lane->dtoh(dst.host + r * dst.pitch, src.dev + r * src.pitch, width, wire);
      if (e != CUDA_SUCCESS) return e;
    }
    return CUDA_SUCCESS;
  }
  std::vector<uint8_t> packed;
  const size_t per_op = std::max<size_t>(1, kMax2DDtoHBytes / width);
  for (size_t r0 = 0; r0 < rows; r0 += per_op) {
    const size_t n = std::min(per_op, rows - r0);
    op::Memcpy2DDtoH::Args a{src.dev + r0 * src.pitch, src.pitch, width, n, wire};
    packed.clear();
    CUresult e = d->lane->call<op::Memcpy2DDtoH>(a, nullptr, nullptr, 0, nullptr, 0, &packed);
    if (e != CUDA_SUCCESS) return e;
    if (packed.size() != n * width) return CUDA_ERROR_UNKNOWN;  // the server broke the op's rule
    for (size_t i = 0; i < n; ++i)
      std::memcpy(dst.host + (r0 + i) * dst.pitch, packed.data() + i * width, width);
  }
  return CUDA_SUCCESS;
}

CUresult copy_box(const Side& dst, const Side& src, const Box& box, CUstream s, bool pt) {
  if (box.width == 0 || box.height == 0 || box.depth == 0) return CUDA_SUCCESS;
  if ((box.height > 1 || box.depth > 1) && ((dst.pitch < box.width) || (src.pitch < box.width)))
    return CUDA_ERROR_INVALID_VALUE;
  if (box.depth > 1 && (dst.slice < span(dst, box.width, box.height) ||
                        src.slice < span(src, box.width, box.height)))
    return CUDA_ERROR_INVALID_VALUE;  // slices would overlap
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  // Every device side must lie in this device's allocations, whole (the server checks it too).
  for (const Side* side : {&dst, &src}) {
    if (!side->device) continue;
    const size_t extent = (box.depth - 1) * side->slice + span(*side, box.width, box.height);
    if (device_of_pointer(side->dev, extent) != d) return CUDA_ERROR_INVALID_VALUE;
  }
  for (size_t z = 0; z < box.depth; ++z) {
    Side ds = dst, ss = src;
    ds.dev += z * dst.slice;
    ss.dev += z * src.slice;
    if (!dst.device) ds.host += z * dst.slice;
    if (!src.device) ss.host += z * src.slice;
    if (!ds.device && !ss.device) {
      for (size_t y = 0; y < box.height; ++y)
        std::memmove(ds.host + y * ds.pitch, ss.host + y * ss.pitch, box.width);
      continue;
    }
    const bool contiguous = box.height == 1 || (ds.pitch == box.width && ss.pitch == box.width);
    if (contiguous) {  // one 1-D copy
      const size_t n = box.width * box.height;
      if (ds.device && ss.device) {
        op::MemcpyDtoD::Args a{ds.dev, ss.dev, n, wire};
        r = d->lane->enqueue<op::MemcpyDtoD>(a);
      } else if (ds.device) {
        r = d->lane->htod(ds.dev, ss.host, n, wire);
      } else {
        r = d->lane->dtoh(ds.host, ss.dev, n, wire);
      }
    } else {
      r = copy_rows(d, ds, ss, box.width, box.height, wire);
    }
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}

CUresult copy2d(const CUDA_MEMCPY2D* p, CUstream s, bool pt) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  Side src, dst;
  CUresult r = resolve_side(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcPitch,
                            p->Height, p->srcXInBytes, p->srcY, 0, &src);
  if (r == CUDA_SUCCESS)
    r = resolve_side(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstPitch,
                     p->Height, p->dstXInBytes, p->dstY, 0, &dst);
  if (r != CUDA_SUCCESS) return r;
  return copy_box(dst, src, Box{p->WidthInBytes, p->Height, 1}, s, pt);
}

CUresult copy3d(const CUDA_MEMCPY3D* p, CUstream s, bool pt) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  if (p->reserved0 || p->reserved1 || p->srcLOD || p->dstLOD) return CUDA_ERROR_INVALID_VALUE;
  Side src, dst;
  // srcHeight/dstHeight may be 0 when Depth is 1 (cuda.h).
  const size_t sh = p->Depth > 1 ? p->srcHeight : std::max(p->srcHeight, p->Height);
  const size_t dh = p->Depth > 1 ? p->dstHeight : std::max(p->dstHeight, p->Height);
  CUresult r = resolve_side(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcPitch,
                            sh, p->srcXInBytes, p->srcY, p->srcZ, &src);
  if (r == CUDA_SUCCESS)
    r = resolve_side(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstPitch, dh,
                     p->dstXInBytes, p->dstY, p->dstZ, &dst);
  if (r != CUDA_SUCCESS) return r;
  return copy_box(dst, src, Box{p->WidthInBytes, p->Height, p->Depth}, s, pt);
}

CUresult memset2d(CUdeviceptr dst, size_t pitch, uint32_t value, uint32_t elem, size_t width,
                  size_t height, CUstream s, bool pt) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (width == 0 || height == 0) return CUDA_SUCCESS;
  const size_t row_bytes = width * elem;
  if (width > SIZE_MAX / elem || dst % elem || pitch % elem || (height > 1 && pitch < row_bytes))
    return CUDA_ERROR_INVALID_VALUE;
  if (device_of_pointer(dst, (height - 1) * pitch + row_bytes) != d)
    return CUDA_ERROR_INVALID_VALUE;
  if (height == 1 || pitch == row_bytes) {
    op::Memset::Args a{dst, width * height, value, elem, wire};
    return d->lane->enqueue<op::Memset>(a);
  }
  if (d->protocol >= kFirst2DProtocol) {
    op::Memset2D::Args a{dst, pitch, width, height, value, elem, wire};
    return d->lane->enqueue<op::Memset2D>(a);
  }
  for (size_t y = 0; y < height; ++y) {
    op::Memset::Args a{dst + y * pitch, width, value, elem, wire};
    r = d->lane->enqueue<op::Memset>(a);
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}

}  // namespace

CUresult cuMemAllocPitch_v2(CUdeviceptr_v2* dptr, size_t* pPitch, size_t WidthInBytes,
                            size_t Height, unsigned int ElementSizeBytes) {
  if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)
    return CUDA_ERROR_INVALID_VALUE;
  if (WidthInBytes == 0 || Height == 0 || WidthInBytes > SIZE_MAX - kPitchAlignment)
    return CUDA_ERROR_INVALID_VALUE;
  const size_t pitch = (WidthInBytes + kPitchAlignment - 1) / kPitchAlignment * kPitchAlignment;
  if (Height > SIZE_MAX / pitch) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = cuMemAlloc_v2(dptr, pitch * Height);
  if (r == CUDA_SUCCESS) *pPitch = pitch;
  return r;
}

CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D* pCopy) {
  return copy2d(pCopy, nullptr, false);
}
CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D* pCopy) {
  return copy2d(pCopy, nullptr, true);
}
CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D* pCopy) {
  return copy2d(pCopy, nullptr, false);
}
CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D* pCopy) {
  return copy2d(pCopy, nullptr, true);
}
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* pCopy, CUstream hStream) {
  return copy2d(pCopy, hStream, false);
}
CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D* pCopy, CUstream hStream) {
  return copy2d(pCopy, hStream, true);
}
CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D* pCopy) {
  return copy3d(pCopy, nullptr, false);
}
CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D* pCopy) {
  return copy3d(pCopy, nullptr, true);
}
CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D* pCopy, CUstream hStream) {
  return copy3d(pCopy, hStream, false);
}
CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D* pCopy, CUstream hStream) {
  return copy3d(pCopy, hStream, true);
}

#define RGPU_MEMSET2D(Name, Type, Elem)                                                            \
  CUresult Name##_v2(CUdeviceptr_v2 dst, size_t pitch, Type v, size_t w, size_t h) {               \
    return memset2d(dst, pitch, v, Elem, w, h, nullptr, false);                                    \
  }                                                                                                \
  CUresult Name##_v2_ptds(CUdeviceptr_v2 dst, size_t pitch, Type v, size_t w, size_t h) {          \
    return memset2d(dst, pitch, v, Elem, w, h, nullptr, true);                                     \
  }                                                                                                \
  CUresult Name##Async(CUdeviceptr_v2 dst, size_t pitch, Type v, size_t w, size_t h, CUstream s) { \
    return memset2d(dst, pitch, v, Elem, w, h, s, false);                                          \
  }                                                                                                \
  CUresult Name##Async_ptsz(CUdeviceptr_v2 dst, size_t pitch, Type v, size_t w, size_t h,          \
                            CUstream s) {                                                          \
    return memset2d(dst, pitch, v, Elem, w, h, s, true);                                           \
  }
RGPU_MEMSET2D(cuMemsetD2D8, unsigned char, 1)
RGPU_MEMSET2D(cuMemsetD2D16, unsigned short, 2)
RGPU_MEMSET2D(cuMemsetD2D32, unsigned int, 4)
#undef RGPU_MEMSET2D

}  // namespace rgpu::api
