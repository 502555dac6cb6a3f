// server/backend/ptx/ptx_exec.cc — see ptx_exec.h.
#include "server/backend/ptx/ptx_exec.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx {

namespace {

std::mutex narrow_atomics_;
constexpr uint64_t kMaxBlockState = 512ull << 20;  // registers + local frames of one block
constexpr uint32_t kMaxCallDepth = 64;             // nested calls per thread (recursion)
constexpr uint64_t kScratchBase = 1ull << 31;      // param addresses from here: call scratch

enum State : uint8_t { kRunning, kAtBarrier, kAtWarpOp, kDone };

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}
const char* space_name(Space s) {
  switch (s) {
    case Space::kGlobal:
      return "global";
    case Space::kShared:
      return "shared";
    case Space::kLocal:
      return "local";
    case Space::kParam:
      return "param";
    case Space::kConst:
      return "const";
    default:
      return "generic";
  }
}

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

  Status run(const uint32_t ctaid[3], uint64_t* executed) {
    std::memcpy(ctaid_, ctaid, sizeof ctaid_);
    regs_.assign(static_cast<size_t>(threads_) * k_.slots, 0);
    local_.assign(static_cast<size_t>(threads_) * k_.local_bytes, 0);
    scratch_.assign(static_cast<size_t>(threads_) * k_.scratch_bytes, 0);
    stacks_.assign(threads_, {});
    frame_bytes_ = 0;
    shared_.assign(shared_total_, 0);
    pc_.assign(threads_, 0);
    state_.assign(threads_, kRunning);
    const uint32_t warps = (threads_ + 31) / 32;
    for (;;) {
      for (uint32_t w = 0; w < warps; ++w) {
        for (;;) {
          const uint32_t lo = w * 32, hi = std::min(threads_, lo + 32);
          for (uint32_t t = lo; t < hi; ++t)
            if (state_[t] == kRunning && !step(t)) return fault_;
          // A warp collective runs once every live lane of the warp is at the same one.
          int64_t at = -1;
          const Kernel* at_fn = nullptr;
          bool waiting = false, barrier = false;
          for (uint32_t t = lo; t < hi; ++t) {
            if (state_[t] == kAtWarpOp) {
              if (at >= 0 && (at != pc_[t] || at_fn != &fn(t)))
                return unsupported(t, "lanes of one warp at different warp collectives (lines " +
                                          std::to_string(at_fn->code[at].line) + " and " +
                                          std::to_string(fn(t).code[pc_[t]].line) + ")");
              at = pc_[t];
              at_fn = &fn(t);
              waiting = true;
            }
            barrier |= state_[t] == kAtBarrier;
          }
          if (!waiting) break;
          if (barrier)
            return unsupported(lo,
                               "a warp collective while other lanes of its warp wait at a "
                               "barrier");
          if (!warp_op(lo, hi, static_cast<uint32_t>(at))) return fault_;
        }
      }
      // bar.red: every waiting thread gets the reduction of their predicates.
      for (uint32_t t = 0; t < threads_; ++t) {
        if (state_[t] != kAtBarrier) continue;
        const Inst& in = fn(t).code[pc_[t]];
        if (!in.reduce) break;
        uint64_t count = 0, all = 1, some = 0;
        for (uint32_t u = 0; u < threads_; ++u) {
          if (state_[u] != kAtBarrier) continue;
          if (pc_[u] != pc_[t] || &fn(u) != &fn(t))
            return unsupported(u, "threads at different barriers (bar.red)");
          const uint64_t p = value(in.ops[2], u) & 1;
          count += p;
          all &= p;
          some |= p;
        }
        const uint64_t r = in.atom == AtomOp::kAdd ? count : in.atom == AtomOp::kAnd ? all : some;
        for (uint32_t u = 0; u < threads_; ++u)
          if (state_[u] == kAtBarrier) set(in.ops[0], u, r, in.type);
        break;
      }
      bool any = false;
      for (uint32_t t = 0; t < threads_; ++t)
        if (state_[t] == kAtBarrier) {
          state_[t] = kRunning;
          ++pc_[t];
          any = true;
        }
      if (!any) break;
    }
    *executed += executed_;
    executed_ = 0;
    return Status::Ok();
  }

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
    return stacks_[t].empty() ? &regs_[static_cast<size_t>(t) * k_.slots]
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
  bool enter(uint32_t t, uint32_t pc, const CallSite& site) {
    const Kernel& callee = (*mem_.functions)[static_cast<size_t>(site.callee)];
    if (stacks_[t].size() >= kMaxCallDepth)
      return fail(t, CUDA_ERROR_LAUNCH_FAILED,
                  "call stack overflow: deeper than " + std::to_string(kMaxCallDepth) +
                      " calls (the session's context is lost, as on a GPU)");
    const uint64_t bytes = static_cast<uint64_t>(callee.slots) * 8 + callee.param_bytes +
                           callee.scratch_bytes + callee.local_bytes;
    if (frame_bytes_ + bytes > kMaxBlockState)
      return fail(t, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "call frames exceed the sim's limit");
    uint8_t* from = scratch_of(t);
    Frame f{&callee,
            &site,
            pc,
            std::vector<uint64_t>(callee.slots),
            std::vector<uint8_t>(callee.param_bytes),
            std::vector<uint8_t>(callee.scratch_bytes),
            std::vector<uint8_t>(callee.local_bytes)};
    for (size_t i = 0; i < site.arg_offsets.size() && i < callee.params.size(); ++i) {
      const Param& p = callee.params[i];
      std::memcpy(f.params.data() + p.offset, from + site.arg_offsets[i],
                  std::min(p.size, site.arg_bytes[i]));
    }
    frame_bytes_ += bytes;
    stacks_[t].push_back(std::move(f));
    pc_[t] = 0;
    return true;
  }
  // Leaves the innermost callee, its return copied to the caller; the caller's next pc.
  uint32_t leave(uint32_t t) {
    Frame& f = stacks_[t].back();
    const uint32_t back_to = f.return_pc + 1;
    const CallSite& site = *f.site;
    if (site.ret_offset >= 0 && !f.fn->returns.empty()) {
      const Param& r = f.fn->returns[0];
      const size_t depth = stacks_[t].size();  // the caller's scratch: its frame's, or the kernel's
      uint8_t* to = depth >= 2 ? stacks_[t][depth - 2].scratch.data()
                               : scratch_.data() + static_cast<size_t>(t) * k_.scratch_bytes;
      std::memcpy(to + site.ret_offset, f.params.data() + r.offset,
                  std::min(r.size, site.ret_bytes));
    }
    frame_bytes_ -= static_cast<uint64_t>(f.fn->slots) * 8 + f.params.size() + f.scratch.size() +
                    f.local.size();
    stacks_[t].pop_back();
    return back_to;
  }
  uint8_t* scratch_of(uint32_t t) {
    return stacks_[t].empty() ? scratch_.data() + static_cast<size_t>(t) * k_.scratch_bytes
                              : stacks_[t].back().scratch.data();
  }

  uint32_t tid(uint32_t t, int d) const {
    if (d == 0) return t % shape_.block[0];
    if (d == 1) return (t / shape_.block[0]) % shape_.block[1];
    return t / (shape_.block[0] * shape_.block[1]);
  }

  uint64_t special(Special s, uint32_t t) const {
    const uint32_t lane = t % 32;
    switch (s) {
      case Special::kTidX:
        return tid(t, 0);
      case Special::kTidY:
        return tid(t, 1);
      case Special::kTidZ:
        return tid(t, 2);
      case Special::kNtidX:
        return shape_.block[0];
      case Special::kNtidY:
        return shape_.block[1];
      case Special::kNtidZ:
        return shape_.block[2];
      case Special::kCtaidX:
        return ctaid_[0];
      case Special::kCtaidY:
        return ctaid_[1];
      case Special::kCtaidZ:
        return ctaid_[2];
      case Special::kNctaidX:
        return shape_.grid[0];
      case Special::kNctaidY:
        return shape_.grid[1];
      case Special::kNctaidZ:
        return shape_.grid[2];
      case Special::kLaneid:
        return lane;
      case Special::kWarpid:
        return t / 32;
      case Special::kNwarpid:
        return 64;
      case Special::kSmid:
        return 0;
      case Special::kNsmid:
        return mem_.sm_count;
      case Special::kGridid:
        return 1;
      case Special::kWarpsize:
        return 32;
      case Special::kClock:
      case Special::kClock64:
      case Special::kGlobaltimer:
        return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
      case Special::kLanemaskEq:
        return 1u << lane;
      case Special::kLanemaskLt:
        return (1u << lane) - 1;
      case Special::kLanemaskLe:
        return lane == 31 ? 0xffffffffu : (2u << lane) - 1;
      case Special::kLanemaskGt:
        return lane == 31 ? 0u : ~((2u << lane) - 1);
      case Special::kLanemaskGe:
        return ~((1u << lane) - 1);
      case Special::kDynamicSmemSize:
        return shape_.dynamic_shared;
      case Special::kTotalSmemSize:
        return shared_total_;
    }
    return 0;
  }

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

  bool fail(uint32_t t, CUresult code, const std::string& what) {
    const Kernel& f = fn(t);
    const Inst& in = f.code[std::min<size_t>(pc_[t], f.code.size() - 1)];
    fault_ = Status::Err(
        code, (f.is_func ? "function " + f.name + " (called from kernel " + k_.name + ")"
                         : "kernel " + k_.name) +
                  ", PTX line " + std::to_string(in.line) + " (" + op_name(in.op) + "): " + what);
    return false;
  }
  Status unsupported(uint32_t t, const std::string& what) {
    fail(t, CUDA_ERROR_NOT_SUPPORTED, what + " is not supported by the sim executor yet");
    return fault_;
  }

  // Checks an access of `bytes` at `addr` in `space` and returns where it lives on the host.
  uint8_t* resolve(uint32_t t, Space space, uint64_t addr, uint32_t bytes) {
    if (space == Space::kGeneric) {
      if (addr - kSharedWindow < kWindowSize) {
        space = Space::kShared;
        addr -= kSharedWindow;
      } else if (addr - kLocalWindow < kWindowSize) {
        space = Space::kLocal;
        addr -= kLocalWindow;
      } else if (addr - kParamWindow < kWindowSize) {
        space = Space::kParam;
        addr -= kParamWindow;
      } else {
        space = Space::kGlobal;
      }
    }
    if (bytes > 1 && addr % bytes != 0) {
      fail(t, CUDA_ERROR_MISALIGNED_ADDRESS,
           std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
               hex(addr) + " is misaligned");
      return nullptr;
    }
    auto outside = [&](uint64_t limit) {
      fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
           std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
               hex(addr) + " is outside its " + std::to_string(limit) +
               " bytes (an illegal address: the session's context is lost, as on a GPU)");
      return nullptr;
    };
    switch (space) {
      case Space::kShared:
        if (addr > shared_total_ || bytes > shared_total_ - addr) return outside(shared_total_);
        return shared_.data() + addr;
      case Space::kLocal: {
        const size_t depth = addr >> 32;
        const uint64_t off = addr & 0xffffffffu;
        if (depth > stacks_[t].size()) {
          fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
               "local access at " + hex(addr) + " names a frame that has returned");
          return nullptr;
        }
        uint32_t size = 0;
        uint8_t* base = local_at(t, depth, &size);
        if (off > size || bytes > size - off) return outside(size);
        return base + off;
      }
      case Space::kParam: {
        if (addr >= kScratchBase) {  // a call site's .param variable
          const uint64_t off = addr - kScratchBase;
          const uint64_t size =
              stacks_[t].empty() ? k_.scratch_bytes : stacks_[t].back().scratch.size();
          if (off > size || bytes > size - off) return outside(size);
          return scratch_of(t) + off;
        }
        if (!stacks_[t].empty()) {  // a callee's parameters and returns
          std::vector<uint8_t>& pf = stacks_[t].back().params;
          if (addr > pf.size() || bytes > pf.size() - addr) return outside(pf.size());
          return pf.data() + addr;
        }
        if (addr > param_bytes_ || bytes > param_bytes_ - addr) return outside(param_bytes_);
        return const_cast<uint8_t*>(params_) + addr;
      }
      default: {
        if (addr - hit_lo_ < hit_size_ && bytes <= hit_size_ - (addr - hit_lo_))
          return reinterpret_cast<uint8_t*>(addr);
        auto it = mem_.allocs->upper_bound(addr);
        if (it != mem_.allocs->begin()) {
          --it;
          if (addr - it->first < it->second && bytes <= it->second - (addr - it->first)) {
            hit_lo_ = it->first;
            hit_size_ = it->second;
            return reinterpret_cast<uint8_t*>(addr);
          }
        }
        fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
             std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
                 hex(addr) +
                 " is outside the session's memory (an illegal address: the session's context "
                 "is lost, as on a GPU)");
        return nullptr;
      }
    }
  }

  uint64_t address(const Operand& o, uint32_t t) {
    uint64_t base = 0;
    if (o.reg >= 0)
      base = R(t)[o.reg];
    else if (o.symbol >= 0)
      base = symbol_value(t, o.symbol);
    return base + o.imm;
  }

  bool load_store(const Inst& in, uint32_t t) {
    const bool load = in.op == Op::kLd;
    const Operand& data = load ? in.ops[0] : in.ops[1];
    const Operand& where = load ? in.ops[1] : in.ops[0];
    const uint32_t eb = in.type.bits == 1 ? 1 : in.type.bytes();
    const uint32_t n = in.vec;
    uint8_t* p = resolve(t, in.space, address(where, t), eb * n);
    if (p == nullptr) return false;
    for (uint32_t i = 0; i < n; ++i) {
      const int32_t slot = data.kind == Operand::kVec ? data.vec[i] : data.reg;
      if (load) {
        uint64_t v = 0;
        std::memcpy(&v, p + i * eb, eb);
        if (slot >= 0 && data.kind != Operand::kSink) R(t)[slot] = store(v, in.type);
      } else {
        uint64_t v = data.kind == Operand::kVec ? (slot >= 0 ? R(t)[slot] : 0) : value(data, t);
        std::memcpy(p + i * eb, &v, eb);
      }
    }
    return true;
  }

  static uint64_t atomic_result(AtomOp op, Type ty, uint64_t old, uint64_t b, uint64_t c) {
    switch (op) {
      case AtomOp::kAdd:
        return ty.is_float() ? (ty.bits == 64 ? f64_bits(as_f64(old) + as_f64(b))
                                              : f32_bits(as_f32(old) + as_f32(b)))
                             : old + b;
      case AtomOp::kMin:
      case AtomOp::kMax: {
        const bool lt = compare(Cmp::kLt, b, old, ty);
        return (op == AtomOp::kMin) == lt ? b : old;
      }
      case AtomOp::kInc:
        return (old & mask_of(ty.bits)) >= (b & mask_of(ty.bits)) ? 0 : old + 1;
      case AtomOp::kDec:
        return (old & mask_of(ty.bits)) == 0 || (old & mask_of(ty.bits)) > (b & mask_of(ty.bits))
                   ? b
                   : old - 1;
      case AtomOp::kAnd:
        return old & b;
      case AtomOp::kOr:
        return old | b;
      case AtomOp::kXor:
        return old ^ b;
      case AtomOp::kExch:
        return b;
      case AtomOp::kCas:
        return (old & mask_of(ty.bits)) == (b & mask_of(ty.bits)) ? c : old;
    }
    return old;
  }

  // Shared memory belongs to this block (one host thread); global memory is shared with the
  // blocks other host threads run, so there the update is a compare-and-swap loop.
  bool atomic(const Inst& in, uint32_t t) {
    const bool red = in.op == Op::kRed;
    const Operand& where = red ? in.ops[0] : in.ops[1];
    const uint32_t nb = in.type.bytes();
    const uint64_t addr = address(where, t);
    uint8_t* p = resolve(t, in.space, addr, nb);
    if (p == nullptr) return false;
    const uint64_t b = value(red ? in.ops[1] : in.ops[2], t);
    const uint64_t c = !red && in.nops > 3 ? value(in.ops[3], t) : 0;
    const bool shared = p >= shared_.data() && p < shared_.data() + shared_.size();
    uint64_t old = 0;
    if (shared || (nb != 4 && nb != 8)) {
      std::lock_guard<std::mutex> lk(narrow_atomics_);  // 2-byte CAS: rare, kept simple
      std::memcpy(&old, p, nb);
      const uint64_t nv = atomic_result(in.atom, in.type, old, b, c);
      std::memcpy(p, &nv, nb);
    } else if (nb == 4) {
      auto* w = reinterpret_cast<uint32_t*>(p);
      uint32_t o = __atomic_load_n(w, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(
          w, &o, static_cast<uint32_t>(atomic_result(in.atom, in.type, o, b, c)), true,
          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      }
      old = o;
    } else {
      auto* w = reinterpret_cast<uint64_t*>(p);
      uint64_t o = __atomic_load_n(w, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(w, &o, atomic_result(in.atom, in.type, o, b, c), true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      }
      old = o;
    }
    if (!red) set(in.ops[0], t, old, in.type);
    return true;
  }

  bool warp_op(uint32_t lo, uint32_t hi, uint32_t pc) {
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

  // Runs thread t until it blocks (barrier, warp collective), exits or faults (false).
  bool step(uint32_t t);

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

#include "server/backend/ptx/ptx_step.inc"

}  // namespace

Status execute(const Kernel& k, const LaunchShape& shape, const uint8_t* params,
               uint32_t param_bytes, const LaunchMemory& mem, uint64_t* executed) {
  if (param_bytes < k.param_bytes)
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "launch of " + k.name + " passes " + std::to_string(param_bytes) +
                           " parameter bytes, the kernel takes " + std::to_string(k.param_bytes));
  if (mem.symbol_addr.size() != k.symbols.size() || mem.allocs == nullptr)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "launch of " + k.name + " without its module");
  {
    Block probe(k, shape, params, param_bytes, mem);
    if (probe.state_bytes() > kMaxBlockState)
      return Status::Err(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
                         "launch of " + k.name + ": " + std::to_string(k.slots) +
                             " registers and " + std::to_string(k.local_bytes) +
                             " local bytes per thread are too many for its block on the sim");
  }
  const uint64_t blocks =
      static_cast<uint64_t>(shape.grid[0]) * shape.grid[1] * static_cast<uint64_t>(shape.grid[2]);
  const uint32_t workers =
      static_cast<uint32_t>(std::min<uint64_t>(std::max<uint32_t>(mem.threads, 1), blocks));
  // Blocks are handed out in order from one counter; the first fault stops every runner and
  // is the one reported.
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  uint64_t total = 0;
  auto runner = [&] {
    Block b(k, shape, params, param_bytes, mem);
    uint64_t mine = 0;
    for (;;) {
      const uint64_t i = next.fetch_add(1);
      if (i >= blocks || failed.load(std::memory_order_relaxed)) break;
      const uint32_t ctaid[3] = {static_cast<uint32_t>(i % shape.grid[0]),
                                 static_cast<uint32_t>(i / shape.grid[0] % shape.grid[1]),
                                 static_cast<uint32_t>(i / shape.grid[0] / shape.grid[1])};
      Status st = b.run(ctaid, &mine);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lk(mu);
        if (!failed.exchange(true)) first = st;
        break;
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    total += mine;
  };
  if (workers <= 1) {
    runner();
  } else {
    std::vector<std::thread> pool;
    for (uint32_t w = 1; w < workers; ++w) pool.emplace_back(runner);
    runner();
    for (auto& th : pool) th.join();
  }
  *executed += total;
  return failed ? first : Status::Ok();
}

}  // namespace rgpu::server::ptx
