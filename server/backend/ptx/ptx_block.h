// server/backend/ptx/ptx_block.h — one thread block of a PTX launch: the interpreter's state
// and its parts (internal to server/backend/ptx/; see ptx_exec.h for the contract).
//
// Block::run() executes one block to completion: each warp runs until its lanes reach a
// barrier, a warp collective, exit or a fault; the lanes of a warp that agree (same function,
// call depth and pc) execute each instruction together. The parts live in separate files:
// ptx_exec.cc (run, calls, memory checks, atomics), ptx_step.cc (step_warp: a warp's
// control flow, lanes that agree together), ptx_semantics.cc (each_lane: what an instruction does),
// ptx_warp.cc (warp collectives: shfl, vote, activemask, mma, ldmatrix). Every memory access goes
// through resolve(), which checks it against the space it is in and fails the launch otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/backend/ptx/ptx_exec.h"
#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx::detail {

inline constexpr uint64_t kMaxBlockState = 512ull << 20;  // registers + local frames of a block
inline constexpr uint32_t kMaxCallDepth = 64;             // nested calls per thread (recursion)
inline constexpr uint64_t kScratchBase = 1ull << 31;      // param addresses from here: call scratch

enum State : uint8_t { kRunning, kAtBarrier, kAtWarpOp, kDone };

std::string hex(uint64_t v);
const char* space_name(Space s);

class Block {
 public:
  Block(const Kernel& k, const LaunchShape& shape, const uint8_t* params, uint32_t param_bytes,
        const LaunchMemory& mem)
      : k_(k), shape_(shape), params_(params), param_bytes_(param_bytes), mem_(mem) {
    threads_ = shape.block[0] * shape.block[1] * shape.block[2];
    dyn_base_ = (k.shared_bytes + 15) / 16 * 16;
    shared_total_ = dyn_base_ + shape.dynamic_shared;
    if (shape.dynamic_shared == 0) shared_total_ = k.shared_bytes;
  }

  uint64_t state_bytes() const {
    return static_cast<uint64_t>(threads_) * (static_cast<uint64_t>(k_.slots) * 8 + k_.local_bytes);
  }

  Status run(const uint32_t ctaid[3], uint64_t* executed);

 private:
  // A call in progress: the callee's registers and frames; the caller resumes at return_pc + 1.
  struct Frame {
    const Kernel* fn;
    const CallSite* site;
    uint32_t return_pc;
    std::vector<uint64_t> regs;
    std::vector<uint8_t> params, scratch, local;
  };
  // What thread t runs now: the kernel, or the innermost callee.
  const Kernel& fn(uint32_t t) const { return stacks_[t].empty() ? k_ : *stacks_[t].back().fn; }
  uint64_t* R(uint32_t t) {
    // data() + offset: a kernel may have no registers at all (then regs_ is empty).
    return stacks_[t].empty() ? regs_.data() + static_cast<size_t>(t) * k_.slots
                              : stacks_[t].back().regs.data();
  }
  // Local memory of frame `depth` (0: the kernel's) of thread t, and its size.
  uint8_t* local_at(uint32_t t, size_t depth, uint32_t* size) {
    if (depth == 0) {
      *size = k_.local_bytes;
      return local_.data() + static_cast<size_t>(t) * k_.local_bytes;
    }
    Frame& f = stacks_[t][depth - 1];
    *size = static_cast<uint32_t>(f.local.size());
    return f.local.data();
  }
  const std::vector<uint64_t>& symbol_addrs(uint32_t t) const {
    return stacks_[t].empty() ? mem_.symbol_addr
                              : (*mem_.function_symbol_addr)[static_cast<size_t>(
                                    stacks_[t].back().fn - mem_.functions->data())];
  }

  // Enters the callee of call site `site` (false: the stack is too deep).
  bool enter(uint32_t t, uint32_t pc, const CallSite& site);
  // Leaves the innermost callee, its return copied to the caller; the caller's next pc.
  uint32_t leave(uint32_t t);
  uint8_t* scratch_of(uint32_t t) {
    return stacks_[t].empty() ? scratch_.data() + static_cast<size_t>(t) * k_.scratch_bytes
                              : stacks_[t].back().scratch.data();
  }

  uint32_t tid(uint32_t t, int d) const {
    if (d == 0) return t % shape_.block[0];
    if (d == 1) return (t / shape_.block[0]) % shape_.block[1];
    return t / (shape_.block[0] * shape_.block[1]);
  }

  uint64_t special(Special s, uint32_t t) const;

  // The address a symbol names in its own space (global address, shared/local offset).
  uint64_t symbol_value(uint32_t t, int32_t i) const {
    const Symbol& s = fn(t).symbols[static_cast<size_t>(i)];
    if (s.space == Space::kShared) return s.offset;
    // A local address names its frame (the call depth, above bit 32): callees get pointers
    // into their callers' frames.
    if (s.space == Space::kLocal)
      return (static_cast<uint64_t>(stacks_[t].size()) << 32) + s.offset;
    if (s.space == Space::kParam) return kScratchBase + s.offset;
    return symbol_addrs(t)[static_cast<size_t>(i)];
  }

  uint64_t value(const Operand& o, uint32_t t) {
    switch (o.kind) {
      case Operand::kReg: {
        uint64_t v = R(t)[o.reg];
        return o.negate_pred ? (~v & 1) : v;
      }
      case Operand::kImm:
        return o.imm;
      case Operand::kSpecial:
        return special(o.special, t);
      case Operand::kSymbol:
        return symbol_value(t, o.symbol);
      default:
        return 0;
    }
  }
  void set(const Operand& o, uint32_t t, uint64_t v, Type ty) {
    if (o.kind == Operand::kReg) R(t)[o.reg] = store(v, ty);
  }

  bool fail(uint32_t t, CUresult code, const std::string& what);
  Status unsupported(uint32_t t, const std::string& what);

  // Checks an access of `bytes` at `addr` in `space` and returns where it lives on the host.
  // `align`: the alignment required (0: `bytes`, natural alignment).
  uint8_t* resolve(uint32_t t, Space space, uint64_t addr, uint32_t bytes, uint32_t align = 0);

  uint64_t address(const Operand& o, uint32_t t) {
    uint64_t base = 0;
    if (o.reg >= 0)
      base = R(t)[o.reg];
    else if (o.symbol >= 0)
      base = symbol_value(t, o.symbol);
    return base + o.imm;
  }

  bool load_store(const Inst& in, uint32_t t);

  static uint64_t atomic_result(AtomOp op, Type ty, uint64_t old, uint64_t b, uint64_t c);

  // Shared memory belongs to this block (one host thread); global memory is shared with the
  // blocks other host threads run, so there the update is a compare-and-swap loop.
  bool atomic(const Inst& in, uint32_t t);

  bool warp_op(uint32_t lo, uint32_t hi, uint32_t pc);

  // Runs the lanes [lo, hi) of one warp until none is running: each has blocked (barrier,
  // warp collective) or exited; false on a fault. Lanes that agree (same function, call depth
  // and pc) execute each instruction together (ptx_step.cc).
  bool step_warp(uint32_t lo, uint32_t hi);
  // Runs `lanes` (n of them, all at one pc of one function) together until they part (a
  // branch they disagree on), block, call, return, exit or reach `join`, the lowest pc where
  // other lanes of the warp wait in the same function (they then go on as one group); false
  // on a fault.
  bool run_lanes(const uint32_t* lanes, uint32_t n, uint32_t join);
  // What instruction `in` (at `pc` of K) does, for each of the `na` active lanes `act` (with
  // their registers `aregs`) in turn; false on a fault (ptx_semantics.cc).
  bool each_lane(const Kernel& K, const Inst& in, const uint32_t* act, uint64_t* const* aregs,
                 uint32_t na, uint32_t pc);
  // Warp collectives (ptx_warp.cc).
  bool mma(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived);
  void collective(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived);
  bool ldmatrix(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived);
  bool copy_async(const Inst& in, uint32_t t);
  // vprintf(format, args) at call site `site` (ptx_printf.cc).
  bool device_printf(uint32_t t, const CallSite& site);

  const Kernel& k_;
  const LaunchShape& shape_;
  const uint8_t* params_;
  uint32_t param_bytes_;
  const LaunchMemory& mem_;
  uint32_t threads_ = 0, dyn_base_ = 0, shared_total_ = 0;
  uint32_t ctaid_[3] = {};
  std::vector<uint64_t> regs_;
  std::vector<uint8_t> local_, shared_, scratch_;
  std::vector<std::vector<Frame>> stacks_;  // per thread: the calls in progress
  uint64_t frame_bytes_ = 0;
  std::vector<uint32_t> pc_;
  std::vector<uint8_t> state_;
  uint64_t hit_lo_ = 0, hit_size_ = 0;  // the allocation the last global access was in
  uint64_t executed_ = 0;
  Status fault_;
};

}  // namespace rgpu::server::ptx::detail
