// server/backend/sim_vmm.cc — the sim's virtual memory management (sim_backend.h): memfd-backed
// physical allocations mapped MAP_SHARED at the addresses the session reserved in its window.
// The session has checked handles, sizes, reservations and overlaps (session_vmm.cc); this file
// checks again what would touch host memory (a mapping only where nothing is mapped).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol/ops.h"
#include "server/backend/sim_backend.h"

namespace rgpu::server {
namespace {

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

SimBackend::Phys::~Phys() {
  if (fd >= 0) ::close(fd);
}

Status SimBackend::vmm_create(uint64_t handle, uint64_t bytes) {
  if (phys_.count(handle)) return Status::Err(CUDA_ERROR_INVALID_VALUE, "allocation handle in use");
  if (bytes == 0 || bytes > window_.vram_cap - std::min(used_, window_.vram_cap))
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "cuMemCreate of " + std::to_string(bytes) + " bytes exceeds the vGPU's " +
                           std::to_string(window_.vram_cap) + "-byte memory cap (" +
                           std::to_string(used_) + " bytes in use)");
  auto p = std::make_shared<Phys>();
  p->fd = ::memfd_create("rgpu-sim-vmm", MFD_CLOEXEC);
  if (p->fd < 0 || ::ftruncate(p->fd, static_cast<off_t>(bytes)) != 0)
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       std::string("cannot make sim physical memory: ") + std::strerror(errno));
  p->bytes = bytes;
  used_ += bytes;
  phys_[handle] = std::move(p);
  return Status::Ok();
}

Status SimBackend::vmm_release(uint64_t handle) {
  auto it = phys_.find(handle);
  if (it == phys_.end()) return Status::Err(CUDA_ERROR_INVALID_VALUE, "unknown allocation handle");
  it->second->released = true;
  if (it->second->maps == 0) used_ -= it->second->bytes;  // else freed at its last unmap
  phys_.erase(it);
  return Status::Ok();
}

Status SimBackend::vmm_reserve(uint64_t bytes, uint64_t alignment, uint64_t hint, uint64_t* va) {
  auto at = va_.allocate(bytes, std::max<uint64_t>(alignment, kVmmGranularity), hint);
  if (!at)
    return Status::Err(CUDA_ERROR_OUT_OF_MEMORY,
                       "no " + std::to_string(bytes) + "-byte range is free in the device window");
  *va = *at;
  return Status::Ok();
}

Status SimBackend::vmm_free(uint64_t va, uint64_t bytes) {
  auto m = vmm_maps_.lower_bound(va);
  if (m != vmm_maps_.end() && m->first < va + bytes)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "reservation still mapped at " + hex(m->first));
  if (va_.release(va) == 0)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "no reservation at " + hex(va));
  return Status::Ok();
}

Status SimBackend::vmm_map(uint64_t va, uint64_t bytes, uint64_t offset, uint64_t handle) {
  auto it = phys_.find(handle);
  if (it == phys_.end()) return Status::Err(CUDA_ERROR_INVALID_VALUE, "unknown allocation handle");
  std::shared_ptr<Phys> p = it->second;
  if (offset > p->bytes || bytes > p->bytes - offset)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "mapping past the allocation's end");
  void* want = reinterpret_cast<void*>(va);
  // MAP_FIXED_NOREPLACE: never over anything (an allocation, a module variable, the worker).
  void* got = ::mmap(want, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, p->fd,
                     static_cast<off_t>(offset));
  if (got != want) {
    int e = errno;
    if (got != MAP_FAILED) ::munmap(got, bytes);
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "cannot map sim memory at " + hex(va) + ": " + std::strerror(e));
  }
  p->maps++;
  allocs_[va] = bytes;  // kernels and copies may use it (the PTX executor checks allocs_)
  vmm_maps_[va] = VmmMapping{bytes, std::move(p)};
  return Status::Ok();
}

Status SimBackend::vmm_unmap(uint64_t va, uint64_t bytes) {
  for (uint64_t at = va; at < va + bytes;) {
    auto m = vmm_maps_.find(at);
    if (m == vmm_maps_.end())
      return Status::Err(CUDA_ERROR_INVALID_VALUE, "nothing is mapped at " + hex(at));
    at += m->second.bytes;
  }
  for (uint64_t at = va; at < va + bytes;) {
    auto m = vmm_maps_.find(at);
    const uint64_t len = m->second.bytes;
    ::munmap(reinterpret_cast<void*>(at), len);
    allocs_.erase(at);
    Phys& p = *m->second.phys;
    if (--p.maps == 0 && p.released) used_ -= p.bytes;
    vmm_maps_.erase(m);
    at += len;
  }
  return Status::Ok();
}

}  // namespace rgpu::server
