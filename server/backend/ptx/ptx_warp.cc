// server/backend/ptx/ptx_warp.cc — the warp collectives of a Block (ptx_block.h): shfl, vote,
// activemask, and the tensor-core mma / ldmatrix. Each runs once every live lane of the warp
// has reached it (Block::run), with every lane's registers at hand.
#include <cstring>

#include "server/backend/ptx/ptx_block.h"
#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx::detail {

bool Block::warp_op(uint32_t lo, uint32_t hi, uint32_t pc) {
  const Inst& in = fn(lo).code[pc];
  uint32_t live = 0;
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] != kDone) live |= 1u << (t - lo);
  uint32_t arrived = 0;
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] == kAtWarpOp) arrived |= 1u << (t - lo);
  if (in.op == Op::kShfl) {
    const size_t a = in.pair ? 2 : 1;
    uint64_t src[32] = {};
    for (uint32_t t = lo; t < hi; ++t)
      if (arrived >> (t - lo) & 1) src[t - lo] = value(in.ops[a], t);
    for (uint32_t t = lo; t < hi; ++t) {
      if (!(arrived >> (t - lo) & 1)) continue;
      const uint32_t lane = t - lo;
      const uint32_t b = static_cast<uint32_t>(value(in.ops[a + 1], t));
      const uint32_t c = static_cast<uint32_t>(value(in.ops[a + 2], t));
      const uint32_t clamp = c & 0x1f, seg = (c >> 8) & 0x1f;
      const uint32_t max_lane = (lane & seg) | (clamp & ~seg), min_lane = lane & seg;
      int64_t j = lane;
      bool ok = false;
      switch (in.shfl) {
        case ShflMode::kUp:
          j = static_cast<int64_t>(lane) - b;
          ok = j >= max_lane;
          break;
        case ShflMode::kDown:
          j = lane + b;
          ok = j <= max_lane;
          break;
        case ShflMode::kBfly:
          j = lane ^ b;
          ok = j <= max_lane;
          break;
        case ShflMode::kIdx:
          j = min_lane | (b & ~seg);
          ok = j <= max_lane;
          break;
      }
      if (!ok || j < 0 || j > 31 || !(arrived >> j & 1)) j = lane;
      set(in.ops[0], t, src[j], Type{Kind::kB, 32});
      if (in.pair) set(in.ops[1], t, ok, Type{Kind::kPred, 1});
    }
  } else if (in.op == Op::kVote) {
    uint32_t ballot = 0;
    for (uint32_t t = lo; t < hi; ++t)
      if ((arrived >> (t - lo) & 1) && (value(in.ops[1], t) & 1)) ballot |= 1u << (t - lo);
    for (uint32_t t = lo; t < hi; ++t) {
      if (!(arrived >> (t - lo) & 1)) continue;
      uint64_t r = 0;
      switch (in.vote) {
        case VoteMode::kAll:
          r = ballot == arrived;
          break;
        case VoteMode::kAny:
          r = ballot != 0;
          break;
        case VoteMode::kUni:
          r = ballot == 0 || ballot == arrived;
          break;
        case VoteMode::kBallot:
          r = ballot;
          break;
      }
      set(in.ops[0], t, r,
          in.vote == VoteMode::kBallot ? Type{Kind::kB, 32} : Type{Kind::kPred, 1});
    }
  } else if (in.op == Op::kActivemask) {
    for (uint32_t t = lo; t < hi; ++t)
      if (arrived >> (t - lo) & 1) set(in.ops[0], t, live, Type{Kind::kB, 32});
  }
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] == kAtWarpOp) {
      state_[t] = kRunning;
      ++pc_[t];
    }
  return true;
}

}  // namespace rgpu::server::ptx::detail
