// server/worker/host_memory.h — a session worker's host-memory limit.
//
// Contract: limit_host_memory(bytes) caps this process's data memory (heap, private writable
// mappings: the sim device's allocations, staging buffers, payloads being received) at `bytes`
// with RLIMIT_DATA's soft limit, so one session cannot take the provider's machine: past it,
// allocations fail (std::bad_alloc in the worker ends the session with a reason naming the
// limit; a sim device allocation fails with CUDA_ERROR_OUT_OF_MEMORY). The hard limit is left
// alone so the worker can raise its own cap once the lease says how large the session is.
// The worker sets `allowance` before the Hello, then allowance + the vGPU's memory on a sim
// device (its device memory is host memory) or allowance alone on a real one. 0: no limit.
// Where the supervisor placed the worker in a cgroup v2 leaf (server/worker_cgroup.h), the
// same call also sets that leaf's memory.max (to cgroup_memory_max(bytes), above RLIMIT_DATA).
#pragma once

#include <cstdint>
#include <string>

namespace rgpu::server {

// False in AddressSanitizer builds: ASan's shadow and allocator mappings count against
// RLIMIT_DATA (terabytes of reserved address space), so there the limit is not set at all.
bool host_memory_limit_supported();
// The worker's cgroup v2 leaf ("" for none), from the supervisor.
void set_host_memory_cgroup(const std::string& leaf);
// "" or why the limit could not be set; RLIMIT_DATA is left alone when
// !host_memory_limit_supported() (the cgroup limit still applies).
std::string limit_host_memory(uint64_t bytes);
uint64_t host_memory_limit();  // the soft limit now (UINT64_MAX: none)

}  // namespace rgpu::server
