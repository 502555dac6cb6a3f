// server/backend/ptx/ptx_opcodes.cc — see ptx_opcodes.h.
#include "server/backend/ptx/ptx_opcodes.h"

#include <cstdlib>
#include <cstring>

namespace rgpu::server::ptx {

const char* op_name(Op op) {
  static const char* kNames[] = {"mov",
                                 "ld",
                                 "st",
                                 "cvta",
                                 "cvta.to",
                                 "cvt",
                                 "add",
                                 "sub",
                                 "mul",
                                 "mad",
                                 "fma",
                                 "div",
                                 "rem",
                                 "min",
                                 "max",
                                 "abs",
                                 "neg",
                                 "and",
                                 "or",
                                 "xor",
                                 "not",
                                 "cnot",
                                 "shl",
                                 "shr",
                                 "setp",
                                 "selp",
                                 "bra",
                                 "ret",
                                 "exit",
                                 "bar",
                                 "trap",
                                 "rcp",
                                 "sqrt",
                                 "rsqrt",
                                 "ex2",
                                 "lg2",
                                 "sin",
                                 "cos",
                                 "popc",
                                 "clz",
                                 "brev",
                                 "atom",
                                 "red",
                                 "fence",
                                 "shfl",
                                 "vote",
                                 "activemask",
                                 "bfe",
                                 "bfi",
                                 "prmt",
                                 "lop3",
                                 "shf",
                                 "copysign",
                                 "mul.hi",
                                 "mul.wide",
                                 "mad.hi",
                                 "mad.wide",
                                 "sad",
                                 "nanosleep",
                                 "testp",
                                 "call",
                                 "set",
                                 "cp.async",
                                 "cp.async group",
                                 "mma",
                                 "ldmatrix",
                                 "dp4a",
                                 "dp2a",
                                 "tanh",
                                 "bfind",
                                 "griddepcontrol",
                                 "match",
                                 "redux",
                                 "elect"};
  const size_t i = static_cast<size_t>(op);
  return i < sizeof kNames / sizeof kNames[0] ? kNames[i] : "?";
}

namespace {

struct Special2 {
  const char* name;
  Special s;
};
const Special2 kSpecials[] = {
    {"%tid.x", Special::kTidX},
    {"%tid.y", Special::kTidY},
    {"%tid.z", Special::kTidZ},
    {"%ntid.x", Special::kNtidX},
    {"%ntid.y", Special::kNtidY},
    {"%ntid.z", Special::kNtidZ},
    {"%ctaid.x", Special::kCtaidX},
    {"%ctaid.y", Special::kCtaidY},
    {"%ctaid.z", Special::kCtaidZ},
    {"%nctaid.x", Special::kNctaidX},
    {"%nctaid.y", Special::kNctaidY},
    {"%nctaid.z", Special::kNctaidZ},
    {"%laneid", Special::kLaneid},
    {"%warpid", Special::kWarpid},
    {"%nwarpid", Special::kNwarpid},
    {"%smid", Special::kSmid},
    {"%nsmid", Special::kNsmid},
    {"%gridid", Special::kGridid},
    {"%clock", Special::kClock},
    {"%clock64", Special::kClock64},
    {"%globaltimer", Special::kGlobaltimer},
    {"%lanemask_eq", Special::kLanemaskEq},
    {"%lanemask_lt", Special::kLanemaskLt},
    {"%lanemask_le", Special::kLanemaskLe},
    {"%lanemask_gt", Special::kLanemaskGt},
    {"%lanemask_ge", Special::kLanemaskGe},
    {"%dynamic_smem_size", Special::kDynamicSmemSize},
    {"%total_smem_size", Special::kTotalSmemSize},
    {"WARP_SZ", Special::kWarpsize},
};

struct OpName {
  const char* name;
  Op op;
};
const OpName kOps[] = {
    {"mov", Op::kMov},
    {"ld", Op::kLd},
    {"ldu", Op::kLd},
    {"st", Op::kSt},
    {"cvta", Op::kCvta},
    {"cvt", Op::kCvt},
    {"add", Op::kAdd},
    {"sub", Op::kSub},
    {"mul", Op::kMul},
    {"mad", Op::kMad},
    {"fma", Op::kFma},
    {"div", Op::kDiv},
    {"rem", Op::kRem},
    {"min", Op::kMin},
    {"max", Op::kMax},
    {"abs", Op::kAbs},
    {"neg", Op::kNeg},
    {"and", Op::kAnd},
    {"or", Op::kOr},
    {"xor", Op::kXor},
    {"not", Op::kNot},
    {"cnot", Op::kCnot},
    {"shl", Op::kShl},
    {"shr", Op::kShr},
    {"setp", Op::kSetp},
    {"set", Op::kSet},
    {"tanh", Op::kTanh},
    {"bfind", Op::kBfind},
    {"dp4a", Op::kDp4a},
    {"dp2a", Op::kDp2a},
    {"griddepcontrol", Op::kGridDep},
    {"cp", Op::kCpAsync},
    {"mma", Op::kMma},
    {"ldmatrix", Op::kLdmatrix},
    {"match", Op::kMatch},
    {"redux", Op::kRedux},
    {"elect", Op::kElect},
    {"selp", Op::kSelp},
    {"bra", Op::kBra},
    {"ret", Op::kRet},
    {"exit", Op::kExit},
    {"bar", Op::kBar},
    {"barrier", Op::kBar},
    {"trap", Op::kTrap},
    {"rcp", Op::kRcp},
    {"sqrt", Op::kSqrt},
    {"rsqrt", Op::kRsqrt},
    {"ex2", Op::kEx2},
    {"lg2", Op::kLg2},
    {"sin", Op::kSin},
    {"cos", Op::kCos},
    {"popc", Op::kPopc},
    {"clz", Op::kClz},
    {"brev", Op::kBrev},
    {"atom", Op::kAtom},
    {"red", Op::kRed},
    {"membar", Op::kFence},
    {"fence", Op::kFence},
    {"shfl", Op::kShfl},
    {"vote", Op::kVote},
    {"activemask", Op::kActivemask},
    {"bfe", Op::kBfe},
    {"bfi", Op::kBfi},
    {"prmt", Op::kPrmt},
    {"lop3", Op::kLop3},
    {"shf", Op::kShf},
    {"copysign", Op::kCopysign},
    {"sad", Op::kSad},
    {"nanosleep", Op::kNanosleep},
    {"testp", Op::kTestp},
    {"call", Op::kCall},
};

}  // namespace

std::string type_name(Type t) {
  const char* base = t.kind == Kind::kH ? "f16" : t.kind == Kind::kBf ? "bf16" : "tf32";
  return std::string(base) + (t.lanes == 2 ? "x2" : "");
}

Type parse_type(std::string_view m) {
  if (m.size() < 2) return {};
  Kind k = m[0] == 'u'   ? Kind::kU
           : m[0] == 's' ? Kind::kS
           : m[0] == 'b' ? Kind::kB
           : m[0] == 'f' ? Kind::kF
                         : Kind::kNone;
  if (m == "pred") return {Kind::kPred, 1};
  if (m == "f16") return {Kind::kH, 16};
  if (m == "bf16") return {Kind::kBf, 16};
  if (m == "f16x2") return {Kind::kH, 32, 2};
  if (m == "bf16x2") return {Kind::kBf, 32, 2};
  if (m == "tf32") return {Kind::kTf32, 32};
  if (k == Kind::kNone || (k == Kind::kF && m != "f32" && m != "f64")) return {};
  std::string_view n = m.substr(1);
  if (n == "8") return {k, 8};
  if (n == "16") return {k, 16};
  if (n == "32") return {k, 32};
  if (n == "64") return {k, 64};
  return {};
}

bool is_ignored_modifier(std::string_view m) {
  static const char* kIgnored[] = {
      "approx", "full", "volatile", "relaxed", "acquire", "release", "acq_rel", "weak", "sc",
      "mmio",   "cta",  "gpu",      "sys",     "cluster", "ca",      "cg",      "cs",   "lu",
      "cv",     "wb",   "wt",       "nc",      "aligned", "sync",    "gl",      "noftz"};
  for (const char* i : kIgnored)
    if (m == i) return true;
  // Cache and eviction hints: L1::evict_last, L2::cache_hint, L2::64B ...
  return m.substr(0, 4) == "L1::" || m.substr(0, 4) == "L2::";
}

// Float operand positions (sources and destination) for immediates.
bool float_operand(const Inst& in, size_t i) {
  switch (in.op) {
    case Op::kCvt:
      return i == 0 ? in.type.is_float() : in.type2.is_float();
    case Op::kSetp:
      return (in.pair ? i >= 2 && i <= 3 : i >= 1 && i <= 2) && in.type.is_float();
    case Op::kSet:
      return i >= 1 && i <= 2 && in.type.is_float();
    case Op::kSelp:
      return i <= 2 ? in.type.is_float() : false;
    case Op::kShfl:
    case Op::kVote:
    case Op::kMatch:
    case Op::kRedux:
    case Op::kElect:
    case Op::kBfe:
    case Op::kBfi:
    case Op::kShl:
    case Op::kShr:
      return false;
    default:
      return in.type.is_float();
  }
}

std::string imm_bits(std::string_view text, bool negative, bool as_float, Type t, uint64_t* out) {
  std::string v(text);
  const bool f32lit = v.size() == 10 && (v[1] == 'f' || v[1] == 'F') && v[0] == '0';
  const bool f64lit = v.size() == 18 && (v[1] == 'd' || v[1] == 'D') && v[0] == '0';
  if (f32lit || f64lit) {
    if (!as_float) return "a float literal " + v + " where an integer is wanted";
    double d;
    if (f32lit) {
      uint32_t b = static_cast<uint32_t>(std::strtoul(v.c_str() + 2, nullptr, 16));
      float f;
      std::memcpy(&f, &b, 4);
      d = f;
      if (t.bits == 32) {
        *out = b ^ (negative ? 0x80000000u : 0u);
        return "";
      }
    } else {
      uint64_t b = std::strtoull(v.c_str() + 2, nullptr, 16);
      std::memcpy(&d, &b, 8);
      if (t.bits == 64) {
        *out = b ^ (negative ? 1ull << 63 : 0);
        return "";
      }
    }
    if (negative) d = -d;
    float f = static_cast<float>(d);
    uint32_t b;
    std::memcpy(&b, &f, 4);
    *out = b;
    return "";
  }
  char* end = nullptr;
  const bool hex = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
  const bool fp = !hex && v.find_first_of(".eE") != std::string::npos;
  if (fp) {
    double d = std::strtod(v.c_str(), &end);
    if (*end != 0) return "bad number " + v;
    if (!as_float) return "a float literal " + v + " where an integer is wanted";
    if (negative) d = -d;
    if (t.bits == 64) {
      std::memcpy(out, &d, 8);
    } else {
      float f = static_cast<float>(d);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      *out = b;
    }
    return "";
  }
  const bool octal = !hex && v.size() > 1 && v[0] == '0';
  uint64_t n = std::strtoull(v.c_str(), &end, hex ? 16 : octal ? 8 : 10);
  if (*end == 'U' || *end == 'u') ++end;
  if (*end != 0) return "bad number " + v;
  if (as_float) {
    double d = negative ? -static_cast<double>(n) : static_cast<double>(n);
    if (t.bits == 64) {
      std::memcpy(out, &d, 8);
    } else {
      float f = static_cast<float>(d);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      *out = b;
    }
    return "";
  }
  *out = negative ? ~n + 1 : n;
  return "";
}

bool lookup_op(std::string_view name, Op* op) {
  for (const OpName& o : kOps)
    if (name == o.name) {
      *op = o.op;
      return true;
    }
  return false;
}

bool lookup_special(std::string_view name, Special* s) {
  for (const Special2& sp : kSpecials)
    if (name == sp.name) {
      *s = sp.s;
      return true;
    }
  return false;
}

}  // namespace rgpu::server::ptx
