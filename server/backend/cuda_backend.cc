// server/backend/cuda_backend.cc — see cuda_backend.h.
#include "server/backend/cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "protocol/image/kernel_table.h"
#include "protocol/launch_record.h"

namespace rgpu::server {
CudaBackend::CudaBackend(std::string driver_path, uint32_t gpu_index, bool any_driver)
    : driver_path_(std::move(driver_path)), any_driver_(any_driver), gpu_index_(gpu_index) {}

CudaBackend::~CudaBackend() {
  if (!opened_) return;
  drv_.cuCtxSynchronize();
  for (auto& t : pending_) spare_.push_back(t);
  for (auto& t : spare_) {
    drv_.cuEventDestroy(t.start);
    drv_.cuEventDestroy(t.end);
  }
  for (auto& [id, e] : events_) drv_.cuEventDestroy(e);
  for (auto& [p, st] : staging_) {
    if (st.done) drv_.cuEventDestroy(st.done);
    drv_.cuMemFreeHost(const_cast<void*>(p));
  }
  for (auto& [id, s] : streams_) drv_.cuStreamDestroy(s);
  for (auto& [id, m] : modules_) drv_.cuLibraryUnload(m.lib);
  for (auto& [va, a] : allocs_) {
    drv_.cuMemsetD8(va, 0, a.size);
    drv_.cuCtxSynchronize();
    drv_.cuMemUnmap(va, a.size);
    drv_.cuMemRelease(a.handle);
  }
  if (reserved_) drv_.cuMemAddressFree(reserved_, window_.va_size);
  drv_.cuDevicePrimaryCtxRelease(dev_);
}

Status CudaBackend::err(CUresult rc, const std::string& what) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (drv_.cuGetErrorName) drv_.cuGetErrorName(rc, &name);
  if (drv_.cuGetErrorString) drv_.cuGetErrorString(rc, &text);
  return Status::Err(rc, what + ": " + (name ? name : cu_result_name(rc)) +
                             (text ? std::string(" (") + text + ")" : ""));
}

#define CU_TRY(call, what)                          \
  do {                                              \
    CUresult rc_ = (call);                          \
    if (rc_ != CUDA_SUCCESS) return err(rc_, what); \
  } while (0)

Status CudaBackend::open(const SessionWindow& asked) {
  SessionWindow window = asked;
  if (any_driver_) {
    // Chained through rgpu's own shim (--cuda-driver): that shim must ask its server for the
    // addresses this session's client sees, and its server needs address space of its own for
    // module variables, in its own placements' half (va_window.h), so this session keeps the
    // lowest quarter of the window.
    char base[32];
    std::snprintf(base, sizeof base, "0x%llx", static_cast<unsigned long long>(window.va_base));
    ::setenv("RGPU_VA_BASE", base, 1);
    window.va_size = asked.va_size / 4;
  }
  std::string e = check_window(window.va_base, window.va_size);
  if (!e.empty()) return Status::Err(CUDA_ERROR_INVALID_VALUE, e);
  e = drv_.load(driver_path_, any_driver_);
  if (!e.empty()) return Status::Err(CUDA_ERROR_NO_DEVICE, e);
  CU_TRY(drv_.cuInit(0), "cuInit");
  int count = 0;
  CU_TRY(drv_.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (gpu_index_ >= static_cast<uint32_t>(count))
    return Status::Err(CUDA_ERROR_INVALID_DEVICE, "--gpu " + std::to_string(gpu_index_) +
                                                      " but the driver sees " +
                                                      std::to_string(count) + " GPU(s)");
  CU_TRY(drv_.cuDeviceGet(&dev_, static_cast<int>(gpu_index_)), "cuDeviceGet");
  CU_TRY(drv_.cuDevicePrimaryCtxRetain(&ctx_, dev_), "cuDevicePrimaryCtxRetain");
  opened_ = true;
  CU_TRY(drv_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");

  std::memset(&props_, 0, sizeof props_);
  CU_TRY(drv_.cuDeviceGetName(props_.name, sizeof props_.name - 1, dev_), "cuDeviceGetName");
  CUuuid uuid;
  CU_TRY(drv_.cuDeviceGetUuid(&uuid, dev_), "cuDeviceGetUuid");
  std::memcpy(props_.uuid, uuid.bytes, 16);
  size_t total = 0;
  CU_TRY(drv_.cuDeviceTotalMem(&total, dev_), "cuDeviceTotalMem");
  CU_TRY(drv_.cuDriverGetVersion(&props_.driver_version), "cuDriverGetVersion");
  for (int a = 1; a < CU_DEVICE_ATTRIBUTE_MAX && a < kMaxDeviceAttributes; ++a) {
    int v = 0;
    if (drv_.cuDeviceGetAttribute(&v, static_cast<CUdevice_attribute>(a), dev_) == CUDA_SUCCESS)
      props_.attrs[a] = v;
  }
  props_.cc_major = props_.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
  props_.cc_minor = props_.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
  // This backend does not serve the virtual memory ops to clients yet (Backend::vmm_*), whatever
  // the GPU can do: a client library must not take the cuMem* path.
  props_.attrs[CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = 0;
  window_ = window;
  if (window_.vram_cap == 0 || window_.vram_cap > total) window_.vram_cap = total;
  props_.total_mem = window_.vram_cap;
  props_.va_base = window.va_base;
  props_.va_size = window.va_size;

  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev_;
  size_t gran = 0;
  CU_TRY(drv_.cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM),
         "cuMemGetAllocationGranularity");
  CU_TRY(drv_.cuMemAddressReserve(&reserved_, window.va_size, gran, window.va_base, 0),
         "cuMemAddressReserve of the session's window");
  if (reserved_ != window.va_base)
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "the driver placed the session's address window elsewhere than asked "
                       "(another mapping is in the way)");
  va_.reset(window.va_base, window.va_size, gran);
  return Status::Ok();
}

Status CudaBackend::mem_alloc(uint64_t bytes, uint64_t at_addr, uint64_t* dptr) {
  if (bytes == 0) return Status::Err(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc of 0 bytes");
  uint64_t need = va_.rounded(bytes);
  if (need == 0 || need > window_.vram_cap - std::min(used_, window_.vram_cap))
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "allocation of " + std::to_string(bytes) + " bytes exceeds the vGPU's " +
                           std::to_string(window_.vram_cap) + "-byte memory cap");
  std::string why;
  const std::optional<uint64_t> at = va_.place(bytes, at_addr, &why);
  if (!at) return Status::Err(at_addr ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY, why);
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev_;
  CUmemGenericAllocationHandle h = 0;
  CUresult rc = drv_.cuMemCreate(&h, need, &prop, 0);
  if (rc != CUDA_SUCCESS) {
    va_.release(*at);
    return err(rc, "cuMemCreate");
  }
  rc = drv_.cuMemMap(*at, need, 0, h, 0);
  if (rc == CUDA_SUCCESS) {
    CUmemAccessDesc acc{};
    acc.location = prop.location;
    acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    rc = drv_.cuMemSetAccess(*at, need, &acc, 1);
    if (rc != CUDA_SUCCESS) drv_.cuMemUnmap(*at, need);
  }
  if (rc != CUDA_SUCCESS) {
    drv_.cuMemRelease(h);
    va_.release(*at);
    return err(rc, "mapping device memory");
  }
  allocs_[*at] = {need, h};
  used_ += need;
  *dptr = *at;
  return Status::Ok();
}

Status CudaBackend::mem_free(uint64_t dptr) {
  auto it = allocs_.find(dptr);
  if (it == allocs_.end())
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "cuMemFree of an address that is not an "
                       "allocation's start");
  // cuMemFree synchronises; so do we, then scrub before the memory goes back.
  CU_TRY(drv_.cuCtxSynchronize(), "cuCtxSynchronize before free");
  CU_TRY(drv_.cuMemsetD8(dptr, 0, it->second.size), "scrubbing freed memory");
  CU_TRY(drv_.cuCtxSynchronize(), "cuCtxSynchronize after scrub");
  drv_.cuMemUnmap(dptr, it->second.size);
  drv_.cuMemRelease(it->second.handle);
  used_ -= it->second.size;
  va_.release(dptr);
  allocs_.erase(it);
  return Status::Ok();
}

CUstream CudaBackend::stream_of(uint64_t stream, Status* st) const {
  if (stream == 0) return nullptr;
  if (stream == 1) return CU_STREAM_LEGACY;
  if (stream == 2) return CU_STREAM_PER_THREAD;
  auto it = streams_.find(stream);
  if (it == streams_.end()) {
    *st = Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown stream " + std::to_string(stream));
    return nullptr;
  }
  return it->second;
}

#define CU_STREAM(var, id)             \
  Status sst_;                         \
  CUstream var = stream_of(id, &sst_); \
  if (!sst_.ok()) return sst_;

Status CudaBackend::timed_begin(CUstream s, Timing* t) {
  if (!spare_.empty()) {
    *t = spare_.back();
    spare_.pop_back();
  } else {
    CU_TRY(drv_.cuEventCreate(&t->start, CU_EVENT_DEFAULT), "cuEventCreate");
    CUresult rc = drv_.cuEventCreate(&t->end, CU_EVENT_DEFAULT);
    if (rc != CUDA_SUCCESS) {
      drv_.cuEventDestroy(t->start);
      return err(rc, "cuEventCreate");
    }
  }
  drv_.cuEventRecord(t->start, s);
  return Status::Ok();
}

void CudaBackend::timed_end(CUstream s, Timing& t) {
  drv_.cuEventRecord(t.end, s);
  pending_.push_back(t);
  if (pending_.size() > 256) harvest(false);
}

void CudaBackend::harvest(bool wait) {
  std::vector<Timing> left;
  for (auto& t : pending_) {
    if (wait) drv_.cuEventSynchronize(t.end);
    const CUresult q = drv_.cuEventQuery(t.end);
    if (q != CUDA_SUCCESS) {
      // Not done yet, or an error that belongs to the session's work (kept for its next sync).
      if (q != CUDA_ERROR_NOT_READY && async_error_.ok()) async_error_ = err(q, "device work");
      left.push_back(t);
      continue;
    }
    float ms = 0;
    if (drv_.cuEventElapsedTime(&ms, t.start, t.end) == CUDA_SUCCESS && ms > 0)
      busy_ns_ += static_cast<uint64_t>(ms * 1e6);
    spare_.push_back(t);
  }
  pending_.swap(left);
}

uint64_t CudaBackend::busy_ns() {
  if (opened_) harvest(false);
  return busy_ns_;
}

Status CudaBackend::take_async_error() {
  Status st = std::move(async_error_);
  async_error_ = Status::Ok();
  return st;
}

Status CudaBackend::copy_on(CUstream s, void* host, uint64_t dev, uint64_t bytes, bool to_host) {
  Timing t;
  Status st = timed_begin(s, &t);
  if (!st.ok()) return st;
  // From pageable memory the driver stages the bytes before an HtoD returns, so `host` may go
  // away; from page-locked memory (staging) it is read later (staged_wait).
  CUresult rc = to_host ? drv_.cuMemcpyDtoHAsync(host, dev, bytes, s)
                        : drv_.cuMemcpyHtoDAsync(dev, host, bytes, s);
  timed_end(s, t);
  if (rc != CUDA_SUCCESS) return err(rc, to_host ? "cuMemcpyDtoHAsync" : "cuMemcpyHtoDAsync");
  return Status::Ok();
}

Status CudaBackend::memcpy_htod(uint64_t dst, const void* src, uint64_t bytes, uint64_t stream) {
  CU_STREAM(s, stream);
  return copy_on(s, const_cast<void*>(src), dst, bytes, false);
}

Status CudaBackend::memcpy_dtoh(void* dst, uint64_t src, uint64_t bytes, uint64_t stream) {
  CU_STREAM(s, stream);
  Status st = copy_on(s, dst, src, bytes, true);
  if (!st.ok()) return st;
  CU_TRY(drv_.cuStreamSynchronize(s), "cuStreamSynchronize after DtoH");
  return Status::Ok();
}

void CudaBackend::attach_thread() {
  if (opened_) drv_.cuCtxSetCurrent(ctx_);
}

void* CudaBackend::staging_alloc(uint64_t bytes) {
  if (!opened_) return nullptr;
  void* p = nullptr;
  // Page-locked, so cuMemcpy*Async really is asynchronous and runs at the link's full rate.
  if (drv_.cuMemHostAlloc(&p, bytes, 0) != CUDA_SUCCESS) return nullptr;
  CUevent e = nullptr;
  if (drv_.cuEventCreate(&e, CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
    drv_.cuMemFreeHost(p);
    return nullptr;
  }
  std::lock_guard<std::mutex> g(staging_mu_);
  staging_[p] = Staging{e, false};
  return p;
}

void CudaBackend::staging_free(void* p, uint64_t bytes) {
  (void)bytes;
  if (!p) return;
  Staging st;
  {
    std::lock_guard<std::mutex> g(staging_mu_);
    auto it = staging_.find(p);
    if (it == staging_.end()) return;
    st = it->second;
    staging_.erase(it);
  }
  if (st.in_flight) drv_.cuEventSynchronize(st.done);
  drv_.cuEventDestroy(st.done);
  drv_.cuMemFreeHost(p);
}

Status CudaBackend::mark_staged(CUstream s, const void* staged) {
  std::lock_guard<std::mutex> g(staging_mu_);
  auto it = staging_.find(staged);
  if (it == staging_.end())
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "not a staging buffer of this session");
  CU_TRY(drv_.cuEventRecord(it->second.done, s), "cuEventRecord (staging)");
  it->second.in_flight = true;
  return Status::Ok();
}

Status CudaBackend::staged_htod(uint64_t dst, const void* staged, uint64_t bytes, uint64_t stream) {
  CU_STREAM(s, stream);
  Status st = copy_on(s, const_cast<void*>(staged), dst, bytes, false);
  return st.ok() ? mark_staged(s, staged) : st;
}

Status CudaBackend::staged_dtoh(void* staged, uint64_t src, uint64_t bytes, uint64_t stream) {
  CU_STREAM(s, stream);
  Status st = copy_on(s, staged, src, bytes, true);
  return st.ok() ? mark_staged(s, staged) : st;
}

Status CudaBackend::staged_wait(const void* staged) {
  CUevent e = nullptr;
  {
    std::lock_guard<std::mutex> g(staging_mu_);
    auto it = staging_.find(staged);
    if (it == staging_.end() || !it->second.in_flight) return Status::Ok();
    it->second.in_flight = false;
    e = it->second.done;
  }
  CU_TRY(drv_.cuEventSynchronize(e), "waiting for a staged copy");
  return Status::Ok();
}

Status CudaBackend::memcpy_dtod(uint64_t dst, uint64_t src, uint64_t bytes, uint64_t stream) {
  CU_STREAM(s, stream);
  Timing t;
  Status st = timed_begin(s, &t);
  if (!st.ok()) return st;
  CUresult rc = drv_.cuMemcpyDtoDAsync(dst, src, bytes, s);
  timed_end(s, t);
  if (rc != CUDA_SUCCESS) return err(rc, "cuMemcpyDtoDAsync");
  return Status::Ok();
}

namespace {
CUDA_MEMCPY2D copy2d(uint64_t width, uint64_t rows) {
  CUDA_MEMCPY2D c{};
  c.WidthInBytes = width;
  c.Height = rows;
  return c;
}
}  // namespace

Status CudaBackend::memcpy2d_htod(uint64_t dst, uint64_t dst_pitch, const uint8_t* src,
                                  uint64_t width, uint64_t rows, uint64_t stream) {
  CU_STREAM(s, stream);
  CUDA_MEMCPY2D c = copy2d(width, rows);
  c.srcMemoryType = CU_MEMORYTYPE_HOST;
  c.srcHost = src;
  c.srcPitch = width;
  c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  c.dstDevice = dst;
  c.dstPitch = dst_pitch;
  CUresult rc = drv_.cuMemcpy2DAsync(&c, s);
  // The rows are the request's payload, gone when the op returns: wait for the copy.
  if (rc == CUDA_SUCCESS) rc = drv_.cuStreamSynchronize(s);
  return rc == CUDA_SUCCESS ? Status::Ok() : err(rc, "cuMemcpy2DAsync (HtoD)");
}

Status CudaBackend::memcpy2d_dtoh(uint8_t* dst, uint64_t src, uint64_t src_pitch, uint64_t width,
                                  uint64_t rows, uint64_t stream) {
  CU_STREAM(s, stream);
  CUDA_MEMCPY2D c = copy2d(width, rows);
  c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  c.srcDevice = src;
  c.srcPitch = src_pitch;
  c.dstMemoryType = CU_MEMORYTYPE_HOST;
  c.dstHost = dst;
  c.dstPitch = width;
  CUresult rc = drv_.cuMemcpy2DAsync(&c, s);
  if (rc == CUDA_SUCCESS) rc = drv_.cuStreamSynchronize(s);
  return rc == CUDA_SUCCESS ? Status::Ok() : err(rc, "cuMemcpy2DAsync (DtoH)");
}

Status CudaBackend::memcpy2d_dtod(uint64_t dst, uint64_t dst_pitch, uint64_t src,
                                  uint64_t src_pitch, uint64_t width, uint64_t rows,
                                  uint64_t stream) {
  CU_STREAM(s, stream);
  CUDA_MEMCPY2D c = copy2d(width, rows);
  c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  c.srcDevice = src;
  c.srcPitch = src_pitch;
  c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  c.dstDevice = dst;
  c.dstPitch = dst_pitch;
  CUresult rc = drv_.cuMemcpy2DAsync(&c, s);
  return rc == CUDA_SUCCESS ? Status::Ok() : err(rc, "cuMemcpy2DAsync (DtoD)");
}

Status CudaBackend::memset2d(uint64_t dst, uint64_t pitch, uint32_t value, uint32_t elem_size,
                             uint64_t width, uint64_t rows, uint64_t stream) {
  CU_STREAM(s, stream);
  CUresult rc;
  if (elem_size == 1)
    rc = drv_.cuMemsetD2D8Async(dst, pitch, static_cast<unsigned char>(value), width, rows, s);
  else if (elem_size == 2)
    rc = drv_.cuMemsetD2D16Async(dst, pitch, static_cast<unsigned short>(value), width, rows, s);
  else if (elem_size == 4)
    rc = drv_.cuMemsetD2D32Async(dst, pitch, value, width, rows, s);
  else
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "memset element size is not 1, 2 or 4");
  return rc == CUDA_SUCCESS ? Status::Ok() : err(rc, "cuMemsetD2DAsync");
}

Status CudaBackend::memset(uint64_t dst, uint32_t value, uint32_t elem_size, uint64_t count,
                           uint64_t stream) {
  CU_STREAM(s, stream);
  CUresult rc;
  if (elem_size == 1)
    rc = drv_.cuMemsetD8Async(dst, static_cast<unsigned char>(value), count, s);
  else if (elem_size == 2)
    rc = drv_.cuMemsetD16Async(dst, static_cast<unsigned short>(value), count, s);
  else if (elem_size == 4)
    rc = drv_.cuMemsetD32Async(dst, value, count, s);
  else
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "memset element size is not 1, 2 or 4");
  if (rc != CUDA_SUCCESS) return err(rc, "cuMemsetAsync");
  return Status::Ok();
}

Status CudaBackend::ctx_synchronize() {
  CU_TRY(drv_.cuCtxSynchronize(), "cuCtxSynchronize");
  harvest(false);
  return Status::Ok();
}

Status CudaBackend::stream_create(uint64_t stream, uint32_t flags, int32_t priority) {
  if (stream <= 2 || streams_.count(stream))
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "stream handle already in use");
  CUstream s = nullptr;
  CU_TRY(drv_.cuStreamCreateWithPriority(&s, flags, priority), "cuStreamCreateWithPriority");
  streams_[stream] = s;
  return Status::Ok();
}

Status CudaBackend::stream_destroy(uint64_t stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown stream");
  CUresult rc = drv_.cuStreamDestroy(it->second);
  streams_.erase(it);
  if (rc != CUDA_SUCCESS) return err(rc, "cuStreamDestroy");
  return Status::Ok();
}

Status CudaBackend::stream_synchronize(uint64_t stream) {
  CU_STREAM(s, stream);
  CU_TRY(drv_.cuStreamSynchronize(s), "cuStreamSynchronize");
  harvest(false);
  return Status::Ok();
}

Status CudaBackend::stream_query(uint64_t stream) {
  CU_STREAM(s, stream);
  CUresult rc = drv_.cuStreamQuery(s);
  if (rc == CUDA_ERROR_NOT_READY) return Status::Err(rc, "");
  if (rc != CUDA_SUCCESS) return err(rc, "cuStreamQuery");
  return Status::Ok();
}

Status CudaBackend::stream_wait_event(uint64_t stream, uint64_t event, uint32_t flags) {
  CU_STREAM(s, stream);
  auto it = events_.find(event);
  if (it == events_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CU_TRY(drv_.cuStreamWaitEvent(s, it->second, flags), "cuStreamWaitEvent");
  return Status::Ok();
}

Status CudaBackend::event_create(uint64_t event, uint32_t flags) {
  if (events_.count(event))
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "event handle already in use");
  CUevent e = nullptr;
  CU_TRY(drv_.cuEventCreate(&e, flags), "cuEventCreate");
  events_[event] = e;
  return Status::Ok();
}

Status CudaBackend::event_destroy(uint64_t event) {
  auto it = events_.find(event);
  if (it == events_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CUresult rc = drv_.cuEventDestroy(it->second);
  events_.erase(it);
  if (rc != CUDA_SUCCESS) return err(rc, "cuEventDestroy");
  return Status::Ok();
}

Status CudaBackend::event_record(uint64_t event, uint64_t stream) {
  CU_STREAM(s, stream);
  auto it = events_.find(event);
  if (it == events_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CU_TRY(drv_.cuEventRecord(it->second, s), "cuEventRecord");
  return Status::Ok();
}

Status CudaBackend::event_synchronize(uint64_t event) {
  auto it = events_.find(event);
  if (it == events_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CU_TRY(drv_.cuEventSynchronize(it->second), "cuEventSynchronize");
  return Status::Ok();
}

Status CudaBackend::event_query(uint64_t event) {
  auto it = events_.find(event);
  if (it == events_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CUresult rc = drv_.cuEventQuery(it->second);
  if (rc == CUDA_ERROR_NOT_READY) return Status::Err(rc, "");
  if (rc != CUDA_SUCCESS) return err(rc, "cuEventQuery");
  return Status::Ok();
}

Status CudaBackend::event_elapsed(uint64_t start, uint64_t end, float* ms) {
  auto a = events_.find(start), b = events_.find(end);
  if (a == events_.end() || b == events_.end())
    return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown event");
  CU_TRY(drv_.cuEventElapsedTime(ms, a->second, b->second), "cuEventElapsedTime");
  return Status::Ok();
}

Status CudaBackend::module_load(uint64_t module, const uint8_t* image, uint64_t size) {
  if (modules_.count(module))
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "module handle already in use");
  // The module's variables are device memory the driver allocates at load: they count
  // against the vGPU's cap (and so in the session's memory meter) like allocations do.
  uint64_t global_bytes = 0;
  if (auto parsed = image::parse_kernels(image, size, props_.cc_major * 10 + props_.cc_minor);
      parsed.ok()) {
    for (const auto& g : parsed->globals) global_bytes += va_.rounded(g.size ? g.size : 1);
  }
  if (global_bytes > window_.vram_cap - std::min(used_, window_.vram_cap))
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "the module's variables (" + std::to_string(global_bytes) +
                           " bytes) exceed what is left of the vGPU's " +
                           std::to_string(window_.vram_cap) + "-byte memory cap");
  // The driver wants PTX NUL-terminated and reads fatbins/cubins by their own headers; the
  // bytes are ours for the whole call.
  CUlibrary lib = nullptr;
  CU_TRY(drv_.cuLibraryLoadData(&lib, image, nullptr, nullptr, 0, nullptr, nullptr, 0),
         "cuLibraryLoadData");
  modules_[module] = {lib, global_bytes};
  used_ += global_bytes;
  return Status::Ok();
}

Status CudaBackend::module_unload(uint64_t module) {
  auto it = modules_.find(module);
  if (it == modules_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module");
  for (auto f = functions_.begin(); f != functions_.end();)
    f = f->second.module == module ? functions_.erase(f) : std::next(f);
  CUresult rc = drv_.cuLibraryUnload(it->second.lib);
  used_ -= it->second.global_bytes;
  modules_.erase(it);
  if (rc != CUDA_SUCCESS) return err(rc, "cuLibraryUnload");
  return Status::Ok();
}

Status CudaBackend::module_get_function(uint64_t module, uint64_t function, const std::string& name,
                                        FunctionInfo* info) {
  auto it = modules_.find(module);
  if (it == modules_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module");
  if (functions_.count(function))
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "function handle already in use");
  CUkernel k = nullptr;
  CU_TRY(drv_.cuLibraryGetKernel(&k, it->second.lib, name.c_str()), "cuLibraryGetKernel " + name);
  CUfunction f = nullptr;
  CU_TRY(drv_.cuKernelGetFunction(&f, k), "cuKernelGetFunction " + name);
  info->layout = {};
  for (size_t i = 0; i < image::kMaxWireParams; ++i) {
    size_t off = 0, sz = 0;
    if (drv_.cuFuncGetParamInfo(f, i, &off, &sz) != CUDA_SUCCESS) break;
    info->layout.params.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(sz)});
    info->layout.param_bytes = std::max(info->layout.param_bytes, static_cast<uint32_t>(off + sz));
  }
  info->layout_known = true;
  functions_[function] = {module, f};
  return Status::Ok();
}

Status CudaBackend::module_get_global(uint64_t module, const std::string& name, uint64_t* dptr,
                                      uint64_t* bytes) {
  auto it = modules_.find(module);
  if (it == modules_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown module");
  CUdeviceptr p = 0;
  size_t n = 0;
  CU_TRY(drv_.cuLibraryGetGlobal(&p, &n, it->second.lib, name.c_str()),
         "cuLibraryGetGlobal " + name);
  *dptr = p;
  *bytes = n;
  return Status::Ok();
}

Status CudaBackend::func_get_attribute(uint64_t function, int32_t attribute, int32_t* value) {
  auto it = functions_.find(function);
  if (it == functions_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function");
  int v = 0;
  CU_TRY(drv_.cuFuncGetAttribute(&v, static_cast<CUfunction_attribute>(attribute), it->second.fn),
         "cuFuncGetAttribute");
  *value = v;
  return Status::Ok();
}

Status CudaBackend::func_set_attribute(uint64_t function, int32_t attribute, int32_t value) {
  auto it = functions_.find(function);
  if (it == functions_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function");
  CU_TRY(
      drv_.cuFuncSetAttribute(it->second.fn, static_cast<CUfunction_attribute>(attribute), value),
      "cuFuncSetAttribute");
  return Status::Ok();
}

Status CudaBackend::launch(const LaunchConfig& cfg) {
  CU_STREAM(s, cfg.stream);
  auto it = functions_.find(cfg.function);
  if (it == functions_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function");
  std::vector<uint8_t> params(cfg.params, cfg.params + cfg.param_bytes);
  size_t psize = params.size();
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, params.data(), CU_LAUNCH_PARAM_BUFFER_SIZE,
                   &psize, CU_LAUNCH_PARAM_END};
  Timing t;
  Status st = timed_begin(s, &t);
  if (!st.ok()) return st;
  CUresult rc;
  if (cfg.num_attrs == 0) {
    rc = drv_.cuLaunchKernel(it->second.fn, cfg.grid[0], cfg.grid[1], cfg.grid[2], cfg.block[0],
                             cfg.block[1], cfg.block[2], cfg.shared_mem, s, nullptr, extra);
  } else {
    std::vector<CUlaunchAttribute> attrs(cfg.num_attrs);
    decode_launch_attrs(cfg.attrs, cfg.num_attrs, attrs.data());
    CUlaunchConfig lc{};
    lc.gridDimX = cfg.grid[0];
    lc.gridDimY = cfg.grid[1];
    lc.gridDimZ = cfg.grid[2];
    lc.blockDimX = cfg.block[0];
    lc.blockDimY = cfg.block[1];
    lc.blockDimZ = cfg.block[2];
    lc.sharedMemBytes = cfg.shared_mem;
    lc.hStream = s;
    lc.attrs = attrs.data();
    lc.numAttrs = cfg.num_attrs;
    rc = drv_.cuLaunchKernelEx(&lc, it->second.fn, nullptr, extra);
  }
  timed_end(s, t);
  if (rc != CUDA_SUCCESS) return err(rc, "launch");
  return Status::Ok();
}

Status CudaBackend::occupancy_max_active_blocks(uint64_t function, int32_t block_size,
                                                uint32_t flags, uint64_t dynamic_smem,
                                                int32_t* blocks) {
  auto it = functions_.find(function);
  if (it == functions_.end()) return Status::Err(CUDA_ERROR_INVALID_HANDLE, "unknown function");
  int n = 0;
  CU_TRY(drv_.cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&n, it->second.fn, block_size,
                                                                   dynamic_smem, flags),
         "cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags");
  *blocks = n;
  return Status::Ok();
}

}  // namespace rgpu::server
