// server/backend/ptx/ptx_step.cc — Block::step_warp() and run_lanes() (ptx_block.h): the
// lanes of one warp that agree run each instruction together; this file moves them (guards,
// branches, calls, returns, barriers, collectives), ptx_semantics.cc does each instruction.
#include <algorithm>
#include <string>

#include "server/backend/ptx/ptx_block.h"

namespace rgpu::server::ptx::detail {

// The group: the warp's running lanes in the same function, at the same call depth and pc.
// Chosen deepest call first, then lowest pc, so lanes that branched apart meet again where
// their paths join (the lanes behind catch up) and callees return before their callers go on.
bool Block::step_warp(uint32_t lo, uint32_t hi) {
  uint32_t lanes[32];
  for (;;) {
    uint32_t lead = hi;
    for (uint32_t t = lo; t < hi; ++t) {
      if (state_[t] != kRunning) continue;
      if (lead == hi || stacks_[t].size() > stacks_[lead].size() ||
          (stacks_[t].size() == stacks_[lead].size() && pc_[t] < pc_[lead]))
        lead = t;
    }
    if (lead == hi) return true;
    const Kernel* K = &fn(lead);
    const size_t depth = stacks_[lead].size();
    // The group, and where it next meets lanes waiting further on in the same function.
    uint32_t n = 0, join = UINT32_MAX;
    for (uint32_t t = lo; t < hi; ++t) {
      if (state_[t] != kRunning || stacks_[t].size() != depth || &fn(t) != K) continue;
      if (pc_[t] == pc_[lead])
        lanes[n++] = t;
      else
        join = std::min(join, pc_[t]);
    }
    if (!run_lanes(lanes, n, join)) return false;
  }
}

bool Block::run_lanes(const uint32_t* lanes, uint32_t n, uint32_t join) {
  const Kernel& K = fn(lanes[0]);
  const uint32_t size = static_cast<uint32_t>(K.code.size());
  uint64_t* regs[32];
  for (uint32_t i = 0; i < n; ++i) regs[i] = R(lanes[i]);
  uint32_t act[32];  // the lanes whose guard predicate holds, and their registers
  uint64_t* aregs[32];
  uint32_t pc = pc_[lanes[0]];
  uint64_t count = 0;
  // The group parts here: every lane at `next` (the active ones are then moved on).
  auto park = [&](uint32_t next) {
    for (uint32_t i = 0; i < n; ++i) pc_[lanes[i]] = next;
    executed_ += count;
  };
  for (;;) {
    if (pc >= join) {  // other lanes wait here (or it jumped past them): regroup
      park(pc);
      return true;
    }
    if (pc >= size) {  // fell off the function's end: a return
      park(pc);
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t t = lanes[i];
        if (!stacks_[t].empty())
          pc_[t] = leave(t);
        else
          state_[t] = kDone;
      }
      return true;
    }
    const Inst& in = K.code[pc];
    count += n;
    uint32_t na = 0;
    if (in.pred < 0) {
      std::copy(lanes, lanes + n, act);
      std::copy(regs, regs + n, aregs);
      na = n;
    } else {
      const uint64_t skip = in.pred_negate ? 1 : 0;
      for (uint32_t i = 0; i < n; ++i)
        if ((regs[i][in.pred] & 1) != skip) {
          act[na] = lanes[i];
          aregs[na++] = regs[i];
        }
    }
    if (na == 0) {
      ++pc;
      continue;
    }
    // Control: the group moves at once (and parts where its lanes disagree).
    switch (in.op) {
      case Op::kBra: {
        if (mem_.max_block_instructions && executed_ + count > mem_.max_block_instructions) {
          park(pc);
          fail(act[0], CUDA_ERROR_LAUNCH_TIMEOUT,
               "the block ran past " + std::to_string(mem_.max_block_instructions) +
                   " thread-instructions");
          return false;
        }
        const uint32_t to = static_cast<uint32_t>(in.ops[0].imm);
        if (na == n) {
          pc = to;
          continue;
        }
        park(pc + 1);
        for (uint32_t i = 0; i < na; ++i) pc_[act[i]] = to;
        return true;
      }
      case Op::kCall:
        if (K.calls[static_cast<size_t>(in.ops[0].imm)].callee == kCalleeVprintf) break;
        [[fallthrough]];
      case Op::kRet:
      case Op::kExit:
      case Op::kBar:
      case Op::kShfl:
      case Op::kVote:
      case Op::kActivemask:
      case Op::kMatch:
      case Op::kRedux:
      case Op::kElect:
      case Op::kMma:
      case Op::kLdmatrix:
        park(pc + 1);  // lanes whose guard failed go on
        for (uint32_t i = 0; i < na; ++i) {
          const uint32_t t = act[i];
          pc_[t] = pc;
          if (in.op == Op::kCall) {
            if (!enter(t, pc, K.calls[static_cast<size_t>(in.ops[0].imm)])) return false;
          } else if (in.op == Op::kRet) {
            if (!stacks_[t].empty())
              pc_[t] = leave(t);
            else
              state_[t] = kDone;
          } else if (in.op == Op::kExit) {
            stacks_[t].clear();
            state_[t] = kDone;
          } else if (in.op == Op::kBar && !in.warp) {
            state_[t] = kAtBarrier;
          } else {
            state_[t] = kAtWarpOp;  // a collective (bar.warp.sync: one that moves no data)
          }
        }
        return true;
      case Op::kTrap:
        park(pc);
        fail(act[0], CUDA_ERROR_LAUNCH_FAILED, "trap (the session's context is lost, as on a GPU)");
        return false;
      default:
        break;
    }
    // The rest: what the instruction does, each active lane in turn (ptx_semantics.cc).
    if (!each_lane(K, in, act, aregs, na, pc)) {
      executed_ += count;
      return false;
    }
    ++pc;
  }
}

}  // namespace rgpu::server::ptx::detail
