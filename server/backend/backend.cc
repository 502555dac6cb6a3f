// server/backend/backend.cc — CUresult names for logs (the sim has no cuGetErrorName).
#include "server/backend/backend.h"

#include <new>

namespace rgpu::server {

const char* cu_result_name(CUresult r) {
  switch (r) {
#define RGPU_CU(x) \
  case x:          \
    return #x;
    RGPU_CU(CUDA_SUCCESS)
    RGPU_CU(CUDA_ERROR_INVALID_VALUE)
    RGPU_CU(CUDA_ERROR_OUT_OF_MEMORY)
    RGPU_CU(CUDA_ERROR_NOT_INITIALIZED)
    RGPU_CU(CUDA_ERROR_DEINITIALIZED)
    RGPU_CU(CUDA_ERROR_NO_DEVICE)
    RGPU_CU(CUDA_ERROR_INVALID_DEVICE)
    RGPU_CU(CUDA_ERROR_INVALID_IMAGE)
    RGPU_CU(CUDA_ERROR_INVALID_CONTEXT)
    RGPU_CU(CUDA_ERROR_NO_BINARY_FOR_GPU)
    RGPU_CU(CUDA_ERROR_INVALID_PTX)
    RGPU_CU(CUDA_ERROR_INVALID_SOURCE)
    RGPU_CU(CUDA_ERROR_FILE_NOT_FOUND)
    RGPU_CU(CUDA_ERROR_INVALID_HANDLE)
    RGPU_CU(CUDA_ERROR_ILLEGAL_STATE)
    RGPU_CU(CUDA_ERROR_NOT_FOUND)
    RGPU_CU(CUDA_ERROR_NOT_READY)
    RGPU_CU(CUDA_ERROR_ILLEGAL_ADDRESS)
    RGPU_CU(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)
    RGPU_CU(CUDA_ERROR_LAUNCH_TIMEOUT)
    RGPU_CU(CUDA_ERROR_LAUNCH_FAILED)
    RGPU_CU(CUDA_ERROR_NOT_PERMITTED)
    RGPU_CU(CUDA_ERROR_NOT_SUPPORTED)
    RGPU_CU(CUDA_ERROR_SYSTEM_NOT_READY)
    RGPU_CU(CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
    RGPU_CU(CUDA_ERROR_UNKNOWN)
#undef RGPU_CU
    default:
      return "CUDA_ERROR_OTHER";
  }
}

namespace {
Status vmm_not_served(const char* what) {
  return Status::Err(CUDA_ERROR_NOT_SUPPORTED,
                     std::string(what) + ": this backend does not serve virtual memory management");
}
}  // namespace

Status Backend::memcpy2d_htod(uint64_t dst, uint64_t dst_pitch, const uint8_t* src, uint64_t width,
                              uint64_t rows, uint64_t stream) {
  for (uint64_t r = 0; r < rows; ++r) {
    Status st = memcpy_htod(dst + r * dst_pitch, src + r * width, width, stream);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}
Status Backend::memcpy2d_dtoh(uint8_t* dst, uint64_t src, uint64_t src_pitch, uint64_t width,
                              uint64_t rows, uint64_t stream) {
  for (uint64_t r = 0; r < rows; ++r) {
    Status st = memcpy_dtoh(dst + r * width, src + r * src_pitch, width, stream);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}
Status Backend::memcpy2d_dtod(uint64_t dst, uint64_t dst_pitch, uint64_t src, uint64_t src_pitch,
                              uint64_t width, uint64_t rows, uint64_t stream) {
  for (uint64_t r = 0; r < rows; ++r) {
    Status st = memcpy_dtod(dst + r * dst_pitch, src + r * src_pitch, width, stream);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}
Status Backend::memset2d(uint64_t dst, uint64_t pitch, uint32_t value, uint32_t elem_size,
                         uint64_t width, uint64_t rows, uint64_t stream) {
  for (uint64_t r = 0; r < rows; ++r) {
    Status st = memset(dst + r * pitch, value, elem_size, width, stream);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status Backend::vmm_create(uint64_t, uint64_t) {
  return vmm_not_served("cuMemCreate");
}
Status Backend::vmm_release(uint64_t) {
  return vmm_not_served("cuMemRelease");
}
Status Backend::vmm_reserve(uint64_t, uint64_t, uint64_t, uint64_t*) {
  return vmm_not_served("cuMemAddressReserve");
}
Status Backend::vmm_free(uint64_t, uint64_t) {
  return vmm_not_served("cuMemAddressFree");
}
Status Backend::vmm_map(uint64_t, uint64_t, uint64_t, uint64_t) {
  return vmm_not_served("cuMemMap");
}
Status Backend::vmm_unmap(uint64_t, uint64_t) {
  return vmm_not_served("cuMemUnmap");
}

void* Backend::staging_alloc(uint64_t bytes) {
  return ::operator new (static_cast<size_t>(bytes), std::align_val_t{4096}, std::nothrow);
}

void Backend::staging_free(void* p, uint64_t bytes) {
  (void)bytes;
  ::operator delete (p, std::align_val_t{4096}, std::nothrow);
}

}  // namespace rgpu::server
