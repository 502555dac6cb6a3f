// server/backend/ptx/ptx_exec.h — runs one launch of a decoded PTX kernel on the CPU.
//
// Contract: execute() runs the grid's blocks on LaunchMemory::threads host threads (each block
// wholly on one; the calling thread is one of them) and every thread of a block with CUDA's
// semantics for what ptx_decode.cc accepts:
//   * Threads of a block run until a barrier, a warp collective, exit or a fault; the lanes of
//     a warp in the same function at the same pc execute each instruction together (the
//     lowest pc first, so lanes that branched apart rejoin where their paths meet); a barrier
//     releases when every thread that has not exited reached it; a warp collective (shfl,
//     vote, activemask) runs once every live lane of the warp reached the same one.
//   * Every access is checked before it is made: global and const against the session's
//     allocations (LaunchMemory::allocs, which holds module variables too), shared against the
//     block's static + dynamic size, local against the thread's frame, param against the
//     kernel's parameter bytes; natural alignment is required. A bad one stops the launch
//     with CUDA_ERROR_ILLEGAL_ADDRESS or CUDA_ERROR_MISALIGNED_ADDRESS naming the kernel,
//     the PTX line, the space, the address and its size. `trap` is CUDA_ERROR_LAUNCH_FAILED.
//     The worker never dereferences an address it did not check. Global atomics are host
//     atomics (blocks on other threads see them); the first fault stops the launch.
//   * Generic addresses: global addresses are themselves; shared, local and param addresses
//     made generic by cvta live in windows above the 47-bit user space (kSharedWindow...); a
//     local address (generic or not) carries its frame's call depth above bit 32.
//   * Calls (.func, the .param convention): each call gets a frame (registers, parameters and
//     returns, its call sites' .param variables, local memory), at most 64 deep; deeper is
//     CUDA_ERROR_LAUNCH_FAILED ("call stack overflow").
//   * Device printf (vprintf): each call formats its text at once (the format string and the
//     argument buffer are read through the same checks) and appends it whole to
//     LaunchMemory::device_output (ptx_printf.cc).
// Thread-instructions executed are added to *executed.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/backend/backend.h"
#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

inline constexpr uint64_t kSharedWindow = 0x7000000000000000ull;
inline constexpr uint64_t kLocalWindow = 0x7100000000000000ull;
inline constexpr uint64_t kParamWindow = 0x7200000000000000ull;
inline constexpr uint64_t kWindowSize = 1ull << 40;

// Where device printf text goes: appended whole per call, from any of a launch's host threads,
// up to `limit` bytes (CUDA's printf FIFO is 1 MiB by default); what does not fit is counted
// in `dropped` and said once when taken.
struct DeviceOutput {
  std::mutex mu;
  std::string text;
  uint64_t dropped = 0;
  uint64_t limit = 1ull << 20;
  void append(const std::string& s) {
    std::lock_guard<std::mutex> g(mu);
    if (text.size() + s.size() > limit) {
      dropped += s.size();
      return;
    }
    text += s;
  }
  std::string take() {
    std::lock_guard<std::mutex> g(mu);
    std::string out = std::move(text);
    text.clear();
    if (dropped) {
      out += "[rgpu: " + std::to_string(dropped) +
             " bytes of device printf output dropped: over the 1 MiB buffer]\n";
      dropped = 0;
    }
    return out;
  }
};

struct LaunchMemory {
  const std::map<uint64_t, uint64_t>* allocs = nullptr;  // device start -> bytes
  std::vector<uint64_t> symbol_addr;  // per Kernel::symbols entry: global/const address
  // The module's device functions (calls) and their symbols' addresses, likewise.
  const std::vector<Kernel>* functions = nullptr;
  const std::vector<std::vector<uint64_t>>* function_symbol_addr = nullptr;
  uint32_t sm_count = 132;
  uint32_t threads = 1;  // host threads running blocks at once (blocks are independent)
  // Thread-instructions one block may run before the launch fails with
  // CUDA_ERROR_LAUNCH_TIMEOUT (checked at branches and calls); 0: no limit.
  uint64_t max_block_instructions = 0;
  DeviceOutput* device_output = nullptr;  // vprintf's text; null: printf prints nothing
};

struct LaunchShape {
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t dynamic_shared = 0;
};

Status execute(const Kernel& k, const LaunchShape& shape, const uint8_t* params,
               uint32_t param_bytes, const LaunchMemory& mem, uint64_t* executed);

}  // namespace rgpu::server::ptx
