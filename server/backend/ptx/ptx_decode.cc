// server/backend/ptx/ptx_decode.cc — see ptx_decode.h.
#include "server/backend/ptx/ptx_decode.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "server/backend/ptx/ptx_half.h"
#include "server/backend/ptx/ptx_opcodes.h"

namespace rgpu::server::ptx {

int32_t DecodeContext::slot(std::string_view name) const {
  if (auto it = regs.find(name); it != regs.end()) return it->second;
  for (const Range& r : ranges) {
    if (name.size() <= r.prefix.size() || name.substr(0, r.prefix.size()) != r.prefix) continue;
    std::string_view digits = name.substr(r.prefix.size());
    if (digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) continue;
    uint32_t n = 0;
    bool ok = true;
    for (char c : digits) {
      ok &= c >= '0' && c <= '9';
      n = n * 10 + static_cast<uint32_t>(c - '0');
    }
    if (ok && n < r.count) return static_cast<int32_t>(r.first + n);
  }
  return -1;
}

namespace {
int32_t find_symbol(const Kernel& k, std::string_view name) {
  for (size_t i = k.symbols.size(); i-- > 0;)
    if (k.symbols[i].name == name) return static_cast<int32_t>(i);
  return -1;
}
const Param* find_param(const Kernel& k, std::string_view name) {
  for (const Param& p : k.params)
    if (p.name == name) return &p;
  for (const Param& p : k.returns)
    if (p.name == name) return &p;
  return nullptr;
}

// call (rets), f, (args): each argument and return is a .param variable of the caller's.
std::string decode_call(const RawInst& raw, const DecodeContext& cx, Inst* in) {
  const std::string target(raw.call_target);
  if (!raw.call_prototype.empty() || raw.call_target.substr(0, 1) == "%")
    return "an indirect call (through " + target + ") is not supported by the sim executor yet";
  auto f = cx.functions->find(raw.call_target);
  const bool vprintf =
      f == cx.functions->end() && target == "vprintf" && cx.declared->count(raw.call_target) != 0;
  if (vprintf && (raw.call_args.size() != 2 || raw.call_rets.size() > 1))
    return "call to vprintf with " + std::to_string(raw.call_args.size()) +
           " arguments (it takes a format and an argument buffer)";
  if (f == cx.functions->end() && !vprintf) {
    if (cx.declared->count(raw.call_target))
      return "call to " + target + ", which has no body in the module (an external function)";
    return "call to unknown function " + target;
  }
  CallSite site;
  site.callee = vprintf ? kCalleeVprintf : f->second;
  auto scratch = [&](std::string_view name, int32_t hint, uint32_t* off, uint32_t* bytes) -> bool {
    const int32_t i = hint >= 0 ? hint : find_symbol(*cx.kernel, name);
    if (i < 0 || cx.kernel->symbols[static_cast<size_t>(i)].space != Space::kParam) return false;
    const Symbol& s = cx.kernel->symbols[static_cast<size_t>(i)];
    *off = static_cast<uint32_t>(s.offset);
    *bytes = static_cast<uint32_t>(s.size);
    return true;
  };
  for (size_t n = 0; n < raw.call_args.size(); ++n) {
    const std::string_view a = raw.call_args[n];
    uint32_t off = 0, bytes = 0;
    if (!scratch(a, raw.call_arg_syms[n], &off, &bytes))
      return "call argument " + std::string(a) + " is not a .param variable of the caller";
    site.arg_offsets.push_back(off);
    site.arg_bytes.push_back(bytes);
  }
  if (raw.call_rets.size() > 1) return "a call with several returns is not supported";
  if (!raw.call_rets.empty()) {
    uint32_t off = 0, bytes = 0;
    if (!scratch(raw.call_rets[0], raw.call_ret_syms[0], &off, &bytes))
      return "call return " + std::string(raw.call_rets[0]) + " is not a .param variable";
    site.ret_offset = off;
    site.ret_bytes = bytes;
  }
  in->op = Op::kCall;
  in->nops = 1;
  in->ops[0].kind = Operand::kImm;
  in->ops[0].imm = cx.calls->size();
  cx.calls->push_back(std::move(site));
  return "";
}

}  // namespace

std::string decode_inst(const RawInst& raw, const DecodeContext& cx, Inst* out) {
  Inst in;
  in.line = raw.line;
  const Kernel& k = *cx.kernel;
  // Opcode and modifiers.
  std::vector<std::string_view> parts;
  for (size_t i = 0, j; i <= raw.opcode.size(); i = j + 1) {
    j = raw.opcode.find('.', i);
    if (j == std::string_view::npos) j = raw.opcode.size();
    parts.push_back(raw.opcode.substr(i, j - i));
  }
  const std::string opcode(raw.opcode);
  if (!lookup_op(parts[0], &in.op)) return opcode + " is not supported by the sim executor";
  if (in.op == Op::kCall) {
    if (!raw.pred.empty()) return "a predicated call is not supported by the sim executor yet";
    std::string e = decode_call(raw, cx, &in);
    *out = in;
    return e;
  }
  if (in.op == Op::kCpAsync && (parts.size() < 3 || parts[1] != "async"))
    return opcode + " is not supported by the sim executor";
  std::vector<Type> types;
  bool cache_hint = false;  // .L2::cache_hint: a last operand holds the cache policy
  int layouts = 0;          // mma: .row then .col seen
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view m = parts[i];
    if (m == "L2::cache_hint") cache_hint = true;
    if (in.op == Op::kCpAsync || in.op == Op::kAsyncGroup) {
      if (i == 1) continue;  // .async
      if (m == "commit_group" || m == "wait_group" || m == "wait_all") {
        in.op = Op::kAsyncGroup;
        continue;
      }
      if (m == "global") continue;  // the source; the destination's space is .shared
      if (m != "ca" && m != "cg" && m != "shared" && m != "shared::cta" && m.substr(0, 4) != "L2::")
        return opcode + " is not supported by the sim executor yet";
    }
    if (in.op == Op::kGridDep) {
      if (m != "wait" && m != "launch_dependents") return opcode + " is not supported";
      continue;
    }
    if (in.op == Op::kMma) {
      if (m == "m16n8k16" || m == "m16n8k8") {
        in.mma_shape = m == "m16n8k16" ? 16 : 8;
        continue;
      }
      if ((m == "row" && layouts == 0) || (m == "col" && layouts == 1)) {
        ++layouts;
        continue;
      }
      if (m != "sync" && m != "aligned" && parse_type(m).kind == Kind::kNone)
        return opcode + " is not supported by the sim executor yet";
    }
    if (in.op == Op::kLdmatrix) {
      if (m == "m8n8" || m == "b16") continue;
      if (m == "x1" || m == "x2" || m == "x4") {
        in.mma_shape = static_cast<uint8_t>(m[1] - '0');
        continue;
      }
      if (m == "trans") {
        in.trans = true;
        continue;
      }
      if (m != "sync" && m != "aligned" && m != "shared" && m != "shared::cta")
        return opcode + " is not supported by the sim executor yet";
    }
    if ((in.op == Op::kMin || in.op == Op::kMax) && m == "NaN") {
      in.nan = true;
      continue;
    }
    if (in.op == Op::kBfind && m == "shiftamt") {
      in.shiftamt = true;
      continue;
    }
    if (in.op == Op::kDp2a && (m == "lo" || m == "hi")) {
      in.hi = m == "hi";
      continue;
    }
    Type t = parse_type(m);
    if (t.kind != Kind::kNone) {
      types.push_back(t);
      continue;
    }
    if (m == "b128" || m == "e4m3" || m == "e5m2" || m == "e4m3x2" || m == "e5m2x2" ||
        m == "e2m1x2" || m == "e3m2x2" || m == "e2m3x2" || m == "ue8m0x2")
      return opcode + ": the ." + std::string(m) + " type is not supported by the sim executor yet";
    if (m == "global")
      in.space = Space::kGlobal;
    else if (m == "shared" || m == "shared::cta")
      in.space = Space::kShared;
    else if (m == "local")
      in.space = Space::kLocal;
    else if (m == "param")
      in.space = Space::kParam;
    else if (m == "const")
      in.space = Space::kConst;
    else if (m == "to")
      in.to = true;
    else if (m == "v2")
      in.vec = 2;
    else if (m == "v4")
      in.vec = 4;
    else if (m == "sat")
      in.sat = true;
    else if (m == "ftz")
      in.ftz = true;
    else if (m == "uni")
      in.uni = true;
    else if (m == "rn")
      in.round = Round::kRn;
    else if (m == "rz")
      in.round = Round::kRz;
    else if (m == "rm")
      in.round = Round::kRm;
    else if (m == "rp")
      in.round = Round::kRp;
    else if (m == "rna")
      in.round = Round::kRna;
    else if (m == "rni")
      in.round = Round::kRni;
    else if (m == "rzi")
      in.round = Round::kRzi;
    else if (m == "rmi")
      in.round = Round::kRmi;
    else if (m == "rpi")
      in.round = Round::kRpi;
    else if ((in.op == Op::kMul || in.op == Op::kMad) && m == "hi")
      in.hi = true;
    else if ((in.op == Op::kMul || in.op == Op::kMad) && m == "lo") {
    }  // .lo is the default
    else if ((in.op == Op::kMul || in.op == Op::kMad) && m == "wide")
      in.wide = true;
    else if ((in.op == Op::kSetp || in.op == Op::kSet) && (m == "and" || m == "or" || m == "xor"))
      in.bool_op = m == "and" ? BoolOp::kAnd : m == "or" ? BoolOp::kOr : BoolOp::kXor;
    else if (in.op == Op::kMatch && (m == "any" || m == "all"))
      in.vote = m == "any" ? VoteMode::kAny : VoteMode::kAll;
    else if (in.op == Op::kTestp && (m == "finite" || m == "infinite" || m == "number" ||
                                     m == "notanumber" || m == "normal" || m == "subnormal"))
      in.testp = m == "finite"       ? 0
                 : m == "infinite"   ? 1
                 : m == "number"     ? 2
                 : m == "notanumber" ? 3
                 : m == "normal"     ? 4
                                     : 5;
    else if (in.op == Op::kRedux &&
             (m == "add" || m == "min" || m == "max" || m == "and" || m == "or" || m == "xor"))
      in.atom = m == "add"   ? AtomOp::kAdd
                : m == "min" ? AtomOp::kMin
                : m == "max" ? AtomOp::kMax
                : m == "and" ? AtomOp::kAnd
                : m == "or"  ? AtomOp::kOr
                             : AtomOp::kXor;
    else if ((in.op == Op::kAtom || in.op == Op::kRed) &&
             (m == "add" || m == "min" || m == "max" || m == "inc" || m == "dec" || m == "and" ||
              m == "or" || m == "xor" || m == "exch" || m == "cas"))
      in.atom = m == "add"    ? AtomOp::kAdd
                : m == "min"  ? AtomOp::kMin
                : m == "max"  ? AtomOp::kMax
                : m == "inc"  ? AtomOp::kInc
                : m == "dec"  ? AtomOp::kDec
                : m == "and"  ? AtomOp::kAnd
                : m == "or"   ? AtomOp::kOr
                : m == "xor"  ? AtomOp::kXor
                : m == "exch" ? AtomOp::kExch
                              : AtomOp::kCas;
    else if (in.op == Op::kShfl && (m == "up" || m == "down" || m == "bfly" || m == "idx"))
      in.shfl = m == "up"     ? ShflMode::kUp
                : m == "down" ? ShflMode::kDown
                : m == "bfly" ? ShflMode::kBfly
                              : ShflMode::kIdx;
    else if (in.op == Op::kVote && (m == "all" || m == "any" || m == "uni" || m == "ballot"))
      in.vote = m == "all"   ? VoteMode::kAll
                : m == "any" ? VoteMode::kAny
                : m == "uni" ? VoteMode::kUni
                             : VoteMode::kBallot;
    else if (in.op == Op::kShf && (m == "l" || m == "r"))
      in.shift_left = m == "l";
    else if (in.op == Op::kShf && (m == "wrap" || m == "clamp"))
      in.clamp = m == "clamp";
    else if (in.op == Op::kSetp || in.op == Op::kSet) {
      static const char* kCmps[] = {"eq", "ne",  "lt",  "le",  "gt",  "ge",  "lo",  "ls",  "hi",
                                    "hs", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
      bool found = false;
      for (size_t c = 0; c < sizeof kCmps / sizeof kCmps[0]; ++c)
        if (m == kCmps[c]) {
          in.cmp = static_cast<Cmp>(c);
          found = true;
        }
      if (!found) return opcode + ": modifier ." + std::string(m) + " is not supported";
    } else if (in.op == Op::kBar && m == "warp") {
      in.warp = true;
    } else if (in.op == Op::kBar && m == "sync") {
    } else if (in.op == Op::kBar && m == "red") {
      in.reduce = true;
    } else if (in.op == Op::kBar && in.reduce && (m == "popc" || m == "and" || m == "or")) {
      in.atom = m == "popc" ? AtomOp::kAdd : m == "and" ? AtomOp::kAnd : AtomOp::kOr;
    } else if (in.op == Op::kBar && m == "arrive")
      return opcode + " is not supported by the sim executor yet";
    else if (in.op == Op::kVote && m == "sync") {
    } else if (!is_ignored_modifier(m))
      return opcode + ": modifier ." + std::string(m) + " is not supported by the sim executor";
  }
  if (!types.empty()) in.type = types[0];
  if (types.size() > 1) in.type2 = types[1];
  if (in.op == Op::kCvta && in.to) in.op = Op::kCvtaTo;
  if ((in.op == Op::kMul || in.op == Op::kMad) && in.type.is_float() && (in.hi || in.wide))
    return opcode + " is not valid PTX";
  if (in.op == Op::kMul && in.hi) in.op = Op::kMulHi;
  if (in.op == Op::kMul && in.wide) in.op = Op::kMulWide;
  if (in.op == Op::kMad && in.hi) in.op = Op::kMadHi;
  if (in.op == Op::kMad && in.wide) in.op = Op::kMadWide;
  if (in.op == Op::kCvt && types.size() != 2) return opcode + " needs two types";
  if (in.op == Op::kMma) {  // mma.sync.aligned.shape.row.col.dtype.atype.btype.ctype
    if (types.size() != 4 || in.mma_shape == 0 || layouts != 2)
      return opcode + " is not supported by the sim executor yet";
    const Type d = types[0], a = types[1], b = types[2], c = types[3];
    const bool acc_ok = (d.kind == Kind::kF && d.bits == 32) || d.kind == Kind::kH;
    const bool cacc_ok = (c.kind == Kind::kF && c.bits == 32) || c.kind == Kind::kH;
    const bool ab_ok =
        a.kind == b.kind && (a.is_half() || (a.kind == Kind::kTf32 && in.mma_shape == 8));
    const bool f16_acc = d.kind == Kind::kH || c.kind == Kind::kH;
    if (!acc_ok || !cacc_ok || !ab_ok || (f16_acc && a.kind != Kind::kH))
      return opcode + " is not supported by the sim executor yet";
    in.type = Type{d.kind, static_cast<uint8_t>(d.kind == Kind::kH ? 32 : 32),
                   static_cast<uint8_t>(d.kind == Kind::kH ? 2 : 1)};
    in.type2 = Type{a.kind, 32, static_cast<uint8_t>(a.is_half() ? 2 : 1)};
    in.type3 = Type{c.kind, 32, static_cast<uint8_t>(c.kind == Kind::kH ? 2 : 1)};
    types.clear();
  }
  if (in.nan && !in.type.is_float()) return opcode + " is not supported by the sim executor yet";
  if (in.op == Op::kLdmatrix && in.mma_shape == 0) return opcode + " needs .x1, .x2 or .x4";
  if (in.op == Op::kSet) {  // set.cmp.dtype.stype: compare as stype (in.type), write dtype
    if (types.size() != 2) return opcode + " needs two types";
    std::swap(in.type, in.type2);
    if (in.type.lanes != in.type2.lanes) return opcode + ": the types' element counts differ";
  }
  for (const Type& t : types) {  // what the 16-bit and tf32 formats are served for
    if (!t.is_float16ish()) continue;
    const bool served =
        in.op == Op::kCvt || in.op == Op::kLd || in.op == Op::kSt || in.op == Op::kMov ||
        in.op == Op::kSelp || in.op == Op::kMma ||
        (t.is_half() && (is_half_arith(in.op) || in.op == Op::kSetp || in.op == Op::kSet)) ||
        (t.is_half() && (in.op == Op::kAtom || in.op == Op::kRed) &&
         (in.atom == AtomOp::kAdd || in.atom == AtomOp::kMin || in.atom == AtomOp::kMax ||
          in.atom == AtomOp::kExch));
    if (!served)
      return opcode + ": the ." + type_name(t) + " type is not supported by the sim executor yet";
    if (in.op == Op::kCvt && t.lanes == 2 && &t != &types[0])
      return opcode + ": a packed source is not supported by the sim executor yet";
    if (in.op == Op::kCvt && in.round == Round::kRna && in.type.kind != Kind::kTf32)
      return opcode + " is not valid PTX (.rna is for .tf32)";
  }
  if (in.op == Op::kSetp && in.type.lanes == 2 && !raw.pair)
    return opcode + " needs two destination predicates (p|q)";
  if (in.vec > 1 && in.op != Op::kLd && in.op != Op::kSt && in.op != Op::kMov)
    return opcode + ": vectors are supported in ld/st only";

  for (const RawOperand& r : raw.ops)
    if (r.complex) return opcode + ": this address form is not supported by the sim executor";
  in.pair = raw.pair;
  if (in.pair && in.op != Op::kSetp && in.op != Op::kShfl && in.op != Op::kMatch &&
      in.op != Op::kElect)
    return opcode + ": a second destination is supported on setp, shfl, match and elect only";
  // Predicate guard.
  if (!raw.pred.empty()) {
    in.pred = cx.slot(raw.pred);
    if (in.pred < 0) return "unknown predicate " + std::string(raw.pred);
    in.pred_negate = raw.pred_negate;
  }
  // Operands.
  in.nops = static_cast<uint8_t>(raw.ops.size());
  for (size_t i = 0; i < raw.ops.size(); ++i) {
    const RawOperand& r = raw.ops[i];
    Operand& o = in.ops[i];
    switch (r.kind) {
      case RawOperand::kSink:
        o.kind = Operand::kSink;
        break;
      case RawOperand::kImm: {
        o.kind = Operand::kImm;
        const bool fl = float_operand(in, i);
        Type t = in.op == Op::kCvt && i > 0 ? in.type2 : in.type;
        if (std::string e = imm_bits(r.imm, r.imm_negative, fl, t, &o.imm); !e.empty())
          return opcode + ": " + e;
        break;
      }
      case RawOperand::kVec:
        o.kind = Operand::kVec;
        o.nvec = static_cast<uint8_t>(r.vec.size());
        for (size_t v = 0; v < r.vec.size(); ++v) {
          if (r.vec[v] == "_") continue;
          o.vec[v] = cx.slot(r.vec[v]);
          if (o.vec[v] < 0) return opcode + ": unknown register " + std::string(r.vec[v]);
        }
        break;
      case RawOperand::kAddr: {
        o.kind = Operand::kAddr;
        o.imm = static_cast<uint64_t>(r.offset);
        if (r.name.empty()) break;
        if (r.name[0] == '%' || cx.slot(r.name) >= 0) {
          o.reg = cx.slot(r.name);
          if (o.reg < 0) return opcode + ": unknown register " + std::string(r.name);
        } else if (const Param* p = find_param(k, r.name)) {
          if (in.space != Space::kParam)
            return opcode + ": a kernel parameter addressed outside .param space";
          o.imm += p->offset;
        } else {
          o.symbol = r.scoped >= 0 ? r.scoped : find_symbol(k, r.name);
          if (o.symbol < 0) return opcode + ": unknown variable " + std::string(r.name);
        }
        break;
      }
      case RawOperand::kName: {
        o.negate_pred = r.negate;
        if (r.name[0] == '%' || r.name == "WARP_SZ" || cx.slot(r.name) >= 0) {
          int32_t s = cx.slot(r.name);
          if (s >= 0) {
            o.kind = Operand::kReg;
            o.reg = s;
            break;
          }
          const bool found = lookup_special(r.name, &o.special);
          if (found) o.kind = Operand::kSpecial;
          if (!found) {
            if (r.name.substr(0, 7) == "%envreg" || r.name.substr(0, 4) == "%pm")
              return opcode + ": special register " + std::string(r.name) +
                     " is not supported by the sim executor";
            return opcode + ": unknown register " + std::string(r.name);
          }
          break;
        }
        if (in.op == Op::kBra) {
          auto it = cx.labels.find(r.name);
          if (it == cx.labels.end()) return "bra to unknown label " + std::string(r.name);
          o.kind = Operand::kLabel;
          o.imm = it->second;
          break;
        }
        if (const Param* p = find_param(k, r.name)) {
          o.kind = Operand::kImm;  // a parameter's address in .param space
          o.imm = p->offset;
          break;
        }
        o.symbol = r.scoped >= 0 ? r.scoped : find_symbol(k, r.name);
        if (o.symbol < 0) return opcode + ": unknown name " + std::string(r.name);
        o.kind = Operand::kSymbol;
        break;
      }
    }
  }
  // Shapes the executor relies on.
  auto dst_ok = [&](size_t i) {
    return in.nops > i && (in.ops[i].kind == Operand::kReg || in.ops[i].kind == Operand::kSink ||
                           in.ops[i].kind == Operand::kVec);
  };
  switch (in.op) {
    case Op::kBra:
      if (in.nops != 1 || in.ops[0].kind != Operand::kLabel) return "bra needs one label";
      break;
    case Op::kRet:
    case Op::kExit:
    case Op::kTrap:
    case Op::kFence:
      break;
    case Op::kBar:
      if (in.warp) break;
      if (in.reduce) {
        if (in.nops < 3 || !dst_ok(0) || in.ops[1].kind != Operand::kImm || in.ops[1].imm != 0 ||
            in.nops > 3)
          return opcode + " is supported with barrier 0 and no thread count only";
        break;
      }
      if (in.nops > 0 && in.ops[0].kind == Operand::kImm && in.ops[0].imm != 0)
        return opcode + " with barrier " + std::to_string(in.ops[0].imm) +
               " (named barriers) is not supported by the sim executor yet";
      if (in.nops > 1)
        return opcode + " with a thread count is not supported by the sim executor yet";
      break;
    case Op::kSt:
      if (in.nops != 2 || in.ops[0].kind != Operand::kAddr) return "st needs [address], value";
      break;
    case Op::kLd:
      if (in.nops != 2 || !dst_ok(0) || in.ops[1].kind != Operand::kAddr)
        return "ld needs a register and [address]";
      break;
    case Op::kAtom:
      if (in.nops < 3 || !dst_ok(0) || in.ops[1].kind != Operand::kAddr)
        return opcode + " needs a register, [address] and a value";
      break;
    case Op::kRed:
      if (in.nops != 2 || in.ops[0].kind != Operand::kAddr)
        return opcode + " needs [address], value";
      break;
    case Op::kSetp:
      if (in.nops < 3 || !dst_ok(0)) return "setp needs a predicate and two values";
      break;
    case Op::kActivemask:
      if (in.nops != 1 || !dst_ok(0)) return "activemask needs a register";
      break;
    case Op::kNanosleep:
    case Op::kGridDep:
    case Op::kAsyncGroup:
      break;
    case Op::kMma: {
      // D, A, B, C: registers per lane by shape and type (ptx_warp.cc).
      const uint32_t nd = in.type.kind == Kind::kH ? 2 : 4;
      const uint32_t nc = in.type3.kind == Kind::kH ? 2 : 4;
      const bool tf32 = in.type2.kind == Kind::kTf32;
      const uint32_t na = in.mma_shape == 16 || tf32 ? 4 : 2;
      const uint32_t nb = in.mma_shape == 16 || tf32 ? 2 : 1;
      auto count = [&](size_t i) {
        return in.ops[i].kind == Operand::kVec   ? in.ops[i].nvec
               : in.ops[i].kind == Operand::kReg ? 1u
                                                 : 0u;
      };
      if (in.nops != 4 || count(0) != nd || count(1) != na || count(2) != nb || count(3) != nc)
        return opcode + " needs {d}, {a}, {b}, {c} with " + std::to_string(nd) + ", " +
               std::to_string(na) + ", " + std::to_string(nb) + " and " + std::to_string(nc) +
               " registers";
      for (int i = 0; i < 4; ++i)
        if (in.ops[i].kind == Operand::kVec)
          for (int v = 0; v < in.ops[i].nvec; ++v)
            if (in.ops[i].vec[v] < 0) return opcode + ": a sink in an mma operand";
      break;
    }
    case Op::kLdmatrix:
      if (in.nops != 2 || in.ops[1].kind != Operand::kAddr ||
          !(in.ops[0].kind == Operand::kVec ? in.ops[0].nvec == in.mma_shape
                                            : in.ops[0].kind == Operand::kReg && in.mma_shape == 1))
        return opcode + " needs {" + std::to_string(in.mma_shape) + " registers}, [address]";
      if (in.space != Space::kShared && in.space != Space::kGeneric)
        return opcode + ": the matrices must be in shared memory";
      break;
    case Op::kCpAsync: {
      const size_t data = in.nops - (cache_hint ? 1 : 0);
      if (data < 3 || data > 4 || in.ops[0].kind != Operand::kAddr ||
          in.ops[1].kind != Operand::kAddr || in.ops[2].kind != Operand::kImm)
        return opcode + " needs [dst], [src], cp-size[, src-size]";
      const uint64_t n = in.ops[2].imm;
      if (n != 4 && n != 8 && n != 16) return opcode + ": cp-size must be 4, 8 or 16";
      if (in.space != Space::kShared) return opcode + ": the destination must be .shared";
      if (data == 4)
        in.cp_src = in.ops[3].kind == Operand::kReg && cx.is_pred(in.ops[3].reg) ? 2 : 1;
      break;
    }
    case Op::kShfl:
      if (in.nops != (in.pair ? 6 : 5)) return opcode + " needs d[|p], a, b, c, membermask";
      break;
    case Op::kMatch:
      if (in.nops != (in.pair ? 4 : 3) || (in.pair && in.vote != VoteMode::kAll))
        return opcode + " needs d, a, membermask (match.all: d[|p])";
      break;
    case Op::kRedux:
      if (in.nops != 3 || !dst_ok(0) || in.type.is_float() || in.type.is_float16ish())
        return opcode + " is supported on 32-bit integers: d, a, membermask";
      break;
    case Op::kElect:
      if (!in.pair || in.nops != 3) return opcode + " needs d|p, membermask";
      break;
    case Op::kTestp:
      if (in.nops != 2 || !dst_ok(0) || !in.type.is_float())
        return opcode + " needs a predicate and an .f32/.f64 value";
      break;
    default:
      if (in.nops < 2 || !dst_ok(0)) return opcode + " needs a destination register";
  }
  *out = in;
  return "";
}

}  // namespace rgpu::server::ptx
