// server/backend/ptx/ptx_parse.cc — see ptx_parse.h. Module and function structure here;
// instructions are decoded by ptx_decode.cc.
#include "server/backend/ptx/ptx_parse.h"

#include <cstdlib>
#include <cstring>
#include <set>

#include "server/backend/ptx/ptx_decode.h"
#include "server/backend/ptx/ptx_lex.h"

namespace rgpu::server::ptx {

namespace {

constexpr uint64_t kMaxVariableBytes = 1ull << 32;
constexpr uint32_t kMaxRegistersPerKernel = 1u << 20;

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 24) return false;
  std::string t(s);
  char* end = nullptr;
  errno = 0;
  const bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
  *out = std::strtoull(t.c_str(), &end, hex ? 16 : 10);
  if (end != t.c_str() + t.size() && (*end == 'U' || *end == 'u') &&
      end + 1 == t.c_str() + t.size())
    return errno == 0;
  return errno == 0 && end == t.c_str() + t.size();
}

// Bit size of a type directive (.b32, .u8, .f64, .pred ...), 0 when it is not one.
uint32_t type_bits(std::string_view d) {
  static const struct {
    const char* name;
    uint32_t bits;
  } kTypes[] = {{".b8", 8},   {".b16", 16},  {".b32", 32},   {".b64", 64},    {".u8", 8},
                {".u16", 16}, {".u32", 32},  {".u64", 64},   {".s8", 8},      {".s16", 16},
                {".s32", 32}, {".s64", 64},  {".f16", 16},   {".f32", 32},    {".f64", 64},
                {".pred", 1}, {".bf16", 16}, {".f16x2", 32}, {".bf16x2", 32}, {".b128", 128}};
  for (const auto& t : kTypes)
    if (d == t.name) return t.bits;
  return 0;
}

class Parser {
 public:
  Parser(std::string_view text, PtxModule* out) : toks_(lex_ptx(text)), mod_(out) {}

  std::string run() {
    while (peek().k != Tok::kEnd) {
      const Tok& t = peek();
      if (t.k != Tok::kIdent || t.s.empty() || t.s[0] != '.')
        return at(t, "unexpected '" + std::string(t.s) + "' at module scope");
      if (t.is(".version")) {
        next();
        const Tok& v = next();
        const std::string s(v.s);
        mod_->version_major = static_cast<uint32_t>(std::atoi(s.c_str()));
        auto dot = s.find('.');
        mod_->version_minor = dot == std::string::npos ? 0 : std::atoi(s.c_str() + dot + 1);
      } else if (t.is(".target")) {
        const uint32_t line = next().line;
        while (peek().line == line && peek().k != Tok::kEnd) {
          const Tok& x = next();
          if (x.k == Tok::kIdent && x.s.substr(0, 3) == "sm_" && mod_->target_sm == 0)
            mod_->target_sm = std::atoi(std::string(x.s.substr(3)).c_str());
        }
      } else if (t.is(".address_size")) {
        next();
        if (next().s != "64") return at(t, "only .address_size 64 is supported");
      } else if (t.is(".file") || t.is(".loc") || t.is(".section")) {
        skip_line();
      } else if (t.is(".pragma")) {
        skip_statement();
      } else if (t.is(".visible") || t.is(".weak") || t.is(".extern") || t.is(".common")) {
        extern_ = t.is(".extern");
        next();
        continue;
      } else if (t.is(".entry") || t.is(".func")) {
        next();
        if (std::string e = function(t.is(".func")); !e.empty()) return e;
      } else if (t.is(".global") || t.is(".const") || t.is(".shared")) {
        Symbol s;
        if (std::string e = variable(&s); !e.empty()) return e;
        if (s.space == Space::kShared) {
          module_shared_.push_back(std::move(s));
        } else {
          mod_->globals.push_back(std::move(s));
        }
      } else {
        return at(t, "unexpected directive " + std::string(t.s));
      }
      extern_ = false;
    }
    return decode_all();
  }

 private:
  // A body waits for the whole module (calls may name functions defined further down).
  struct Pending {
    bool is_func;
    size_t index;
    DecodeContext cx;
    std::vector<RawInst> raw;
  };

  std::string decode_all() {
    std::map<std::string_view, int32_t> functions;
    for (size_t i = 0; i < mod_->functions.size(); ++i)
      functions[mod_->functions[i].name] = static_cast<int32_t>(i);
    for (Pending& p : pending_) {
      Kernel& k = p.is_func ? mod_->functions[p.index] : mod_->kernels[p.index];
      p.cx.kernel = &k;
      p.cx.functions = &functions;
      p.cx.declared = &declared_;
      p.cx.calls = &k.calls;
      k.code.resize(p.raw.size());
      for (size_t i = 0; i < p.raw.size(); ++i) {
        if (std::string e = decode_inst(p.raw[i], p.cx, &k.code[i]); !e.empty())
          return std::string(p.is_func ? "function " : "kernel ") + k.name + ", PTX line " +
                 std::to_string(p.raw[i].line) + ": " + e;
      }
    }
    return "";
  }

  // One `.param` declaration after the directive: `[.align N] .type name[count]`; fills the
  // name, size and alignment (not the offset) and points *name_tok at the name.
  std::string param_decl(const std::string& owner, Param* prm, const Tok** name_tok) {
    uint32_t bits = 0;
    while (peek().k == Tok::kIdent && peek().s[0] == '.') {
      const Tok& m = next();
      if (m.is(".align")) {
        uint64_t a = 0;
        if (!parse_u64(next().s, &a) || a == 0 || a > 256 || (a & (a - 1)))
          return at(m, "bad .align");
        prm->align = static_cast<uint32_t>(a);
      } else if (uint32_t b = type_bits(m.s)) {
        bits = b;
      } else if (m.is(".ptr") || m.is(".global") || m.is(".const") || m.is(".shared") ||
                 m.is(".local")) {
      } else {
        return at(m, "unsupported parameter modifier " + std::string(m.s));
      }
    }
    const Tok& pn = next();
    *name_tok = &pn;
    if (pn.k != Tok::kIdent || bits < 8) return at(pn, "bad parameter in " + owner);
    prm->name = std::string(pn.s);
    uint64_t count = 1;
    if (peek().is('[')) {
      next();
      if (!parse_u64(next().s, &count) || count > 32768 || !next().is(']'))
        return at(pn, "bad parameter array " + prm->name);
    }
    prm->size = static_cast<uint32_t>(count * (bits / 8));
    if (prm->align < bits / 8) prm->align = bits / 8;
    return "";
  }

  // `(.param .b32 a, .param .align 8 .b8 b[16])` into *out, laid out from *bytes on.
  std::string param_list(const std::string& owner, std::vector<Param>* out, uint32_t* bytes) {
    if (!next().is('(')) return at(peek(), "expected '(' in " + owner);
    while (!peek().is(')')) {
      const Tok& p = next();
      if (!p.is(".param") && !p.is(".reg"))
        return at(p, "expected .param in the parameters of " + owner);
      if (p.is(".reg")) return at(p, ".reg parameters of " + owner + " are not supported");
      Param prm;
      const Tok* pn = nullptr;
      if (std::string e = param_decl(owner, &prm, &pn); !e.empty()) return e;
      *bytes = (*bytes + prm.align - 1) / prm.align * prm.align;
      prm.offset = *bytes;
      *bytes += prm.size;
      if (*bytes > 32768) return at(*pn, "parameters of " + owner + " exceed 32 KiB");
      out->push_back(prm);
      if (peek().is(',')) next();
      if (peek().k == Tok::kEnd) return at(*pn, "unterminated parameter list of " + owner);
    }
    next();  // ')'
    return "";
  }

  const Tok& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  const Tok& next() {
    const Tok& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  static std::string at(const Tok& t, const std::string& what) {
    return "PTX line " + std::to_string(t.line) + ": " + what;
  }
  void skip_line() {
    const uint32_t line = next().line;
    while (peek().k != Tok::kEnd && peek().line == line) next();
  }
  void skip_statement() {
    while (peek().k != Tok::kEnd && !peek().is(';')) next();
    next();
  }
  // `.global|.const|.shared|.local [.align N] [.vN] .type name[dims]... [= init];`
  std::string variable(Symbol* s) {
    const Tok& d = next();
    s->space = d.is(".global")   ? Space::kGlobal
               : d.is(".const")  ? Space::kConst
               : d.is(".shared") ? Space::kShared
                                 : Space::kLocal;
    s->extern_shared = extern_ && s->space == Space::kShared;
    uint32_t elem_bits = 0, vec = 1;
    while (peek().k == Tok::kIdent && peek().s[0] == '.') {
      const Tok& m = next();
      if (m.is(".align")) {
        uint64_t a = 0;
        if (!parse_u64(next().s, &a) || a == 0 || a > 4096 || (a & (a - 1)))
          return at(m, "bad .align");
        s->align = static_cast<uint32_t>(a);
      } else if (m.is(".v2") || m.is(".v4") || m.is(".v8")) {
        vec = m.s[2] - '0';
      } else if (uint32_t b = type_bits(m.s)) {
        elem_bits = b;
      } else if (m.is(".ptr") || m.is(".weak") || m.is(".visible")) {
      } else {
        return at(m, "unsupported variable modifier " + std::string(m.s));
      }
    }
    if (elem_bits == 0 || elem_bits == 1) return at(d, "variable without a storage type");
    const Tok& name = next();
    if (name.k != Tok::kIdent) return at(name, "variable without a name");
    s->name = std::string(name.s);
    uint64_t count = vec;
    bool unsized = false;
    while (peek().is('[')) {
      next();
      if (peek().is(']')) {
        unsized = true;
      } else {
        uint64_t n = 0;
        if (!parse_u64(next().s, &n)) return at(name, "bad array size for " + s->name);
        if (n != 0 && count > kMaxVariableBytes / n) return at(name, s->name + " is too large");
        count *= n;
      }
      if (!next().is(']')) return at(name, "expected ']' after the size of " + s->name);
    }
    const uint32_t elem_bytes = elem_bits / 8;
    s->size = unsized ? 0 : count * elem_bytes;
    if (s->size > kMaxVariableBytes) return at(name, s->name + " is too large");
    if (s->align < elem_bytes) s->align = elem_bytes;
    if (peek().is('=')) {
      next();
      if (s->space != Space::kGlobal && s->space != Space::kConst)
        return at(name, "initialiser on a " + std::string(d.s) + " variable");
      if (std::string e = initialiser(s, elem_bits); !e.empty()) return e;
    }
    if (!next().is(';')) return at(name, "expected ';' after " + s->name);
    return "";
  }

  // `{1, 2, 0f3F800000, ...}` (nested braces flattened) or one value.
  std::string initialiser(Symbol* s, uint32_t elem_bits) {
    const uint32_t nb = elem_bits / 8;
    auto put = [&](const Tok& t, bool neg) -> std::string {
      uint64_t bits = 0;
      std::string v(t.s);
      if (v.size() == 10 && (v.rfind("0f", 0) == 0 || v.rfind("0F", 0) == 0)) {
        uint32_t f = static_cast<uint32_t>(std::strtoul(v.c_str() + 2, nullptr, 16));
        if (elem_bits == 64) {
          float x;
          std::memcpy(&x, &f, 4);
          double dd = neg ? -static_cast<double>(x) : x;
          std::memcpy(&bits, &dd, 8);
        } else {
          bits = f ^ (neg ? 0x80000000u : 0);
        }
      } else if (v.size() == 18 && (v.rfind("0d", 0) == 0 || v.rfind("0D", 0) == 0)) {
        bits = std::strtoull(v.c_str() + 2, nullptr, 16) ^ (neg ? 1ull << 63 : 0);
      } else {
        uint64_t n = 0;
        if (!parse_u64(t.s, &n)) return at(t, "unsupported initialiser " + v + " of " + s->name);
        bits = neg ? ~n + 1 : n;
      }
      if (s->init.size() + nb > s->size) return at(t, "too many initialisers for " + s->name);
      for (uint32_t i = 0; i < nb; ++i) s->init.push_back(static_cast<uint8_t>(bits >> (8 * i)));
      return "";
    };
    int depth = 0;
    do {
      const Tok& t = next();
      if (t.is('{')) {
        ++depth;
      } else if (t.is('}')) {
        --depth;
      } else if (t.is(',')) {
      } else if (t.is('-') && peek().k == Tok::kNum) {
        if (std::string e = put(next(), true); !e.empty()) return e;
      } else if (t.k == Tok::kNum) {
        if (std::string e = put(t, false); !e.empty()) return e;
      } else {
        return at(t, "unsupported initialiser '" + std::string(t.s) + "' of " + s->name +
                         " (addresses of variables are not supported yet)");
      }
    } while (depth > 0 && peek().k != Tok::kEnd);
    return "";
  }

  // `.entry name(params) [directives] { body }`, or `.func [(returns)] name[(params)]
  // [directives] ({ body } | ;)`. A function's frame holds its parameters, then its returns.
  std::string function(bool is_func) {
    Kernel k;
    k.is_func = is_func;
    std::vector<Param> returns;
    uint32_t return_bytes = 0;
    if (is_func && peek().is('(')) {
      if (std::string e = param_list("a function's returns", &returns, &return_bytes); !e.empty())
        return e;
    }
    const Tok& name = next();
    if (name.k != Tok::kIdent) return at(name, "function without a name");
    k.name = std::string(name.s);
    k.first_line = name.line;
    for (const Symbol& g : mod_->globals) k.symbols.push_back(g);
    if (peek().is('(') || !is_func) {
      if (std::string e = param_list(k.name, &k.params, &k.param_bytes); !e.empty()) return e;
    }
    for (Param r : returns) {
      k.param_bytes = (k.param_bytes + r.align - 1) / r.align * r.align;
      r.offset = k.param_bytes;
      k.param_bytes += r.size;
      k.returns.push_back(r);
    }
    // Performance directives before the body.
    while (peek().k == Tok::kIdent && peek().s[0] == '.') {
      const Tok& d = next();
      std::vector<uint64_t> nums;
      while (peek().k == Tok::kNum || peek().is(',')) {
        const Tok& x = next();
        uint64_t v = 0;
        if (x.k == Tok::kNum && parse_u64(x.s, &v)) nums.push_back(v);
      }
      if ((d.is(".maxntid") || d.is(".reqntid")) && !nums.empty()) {
        uint64_t prod = 1;
        for (uint64_t v : nums) prod *= std::max<uint64_t>(v, 1);
        k.max_threads = static_cast<uint32_t>(std::min<uint64_t>(prod, 1u << 20));
      }
    }
    if (is_func && peek().is(';')) {  // a declaration (a prototype, or .extern vprintf)
      next();
      declared_.insert(name.s);
      return "";
    }
    if (!next().is('{')) return at(name, "expected the body of " + k.name);
    return body(std::move(k));
  }

  std::string body(Kernel k) {
    DecodeContext cx;
    std::vector<RawInst> raw;
    uint32_t slots = 0;
    uint64_t shared = 0, local = 0, scratch = 0;
    // Module-scope shared variables first, at the same offsets for every kernel and function.
    for (Symbol s : module_shared_) {
      if (!s.extern_shared) {
        shared = (shared + s.align - 1) / s.align * s.align;
        s.offset = shared;
        shared += s.size;
      }
      k.symbols.push_back(std::move(s));
    }
    int depth = 1;
    while (depth > 0) {
      const Tok& t = peek();
      if (t.k == Tok::kEnd) return at(t, "unterminated body of " + k.name);
      if (t.is('{')) {
        next();
        ++depth;
        scopes_.emplace_back();
      } else if (t.is('}')) {
        next();
        --depth;
        if (!scopes_.empty()) scopes_.pop_back();
      } else if (t.is(".reg")) {
        next();
        while (peek().k == Tok::kIdent && peek().s[0] == '.' && peek().s[1] != '\0' &&
               type_bits(peek().s) == 0 && !peek().is(".v2") && !peek().is(".v4")) {
          return at(peek(), "unsupported register modifier " + std::string(peek().s));
        }
        uint32_t width = 1;
        bool pred = false;
        while (peek().k == Tok::kIdent && peek().s[0] == '.' && peek().s.size() > 1 &&
               (type_bits(peek().s) || peek().is(".v2") || peek().is(".v4"))) {
          if (peek().is(".v2") || peek().is(".v4")) width = peek().s[2] - '0';
          pred |= peek().is(".pred");
          next();
        }
        do {
          const Tok& r = next();
          if (r.k != Tok::kIdent) return at(r, "bad register declaration");
          uint64_t n = 1;
          bool range = false;
          if (peek().is('<')) {
            next();
            if (!parse_u64(next().s, &n) || !next().is('>') || n > kMaxRegistersPerKernel)
              return at(r, "bad register range");
            range = true;
          }
          if (slots + n * width > kMaxRegistersPerKernel) return at(r, "too many registers");
          if (width != 1) return at(r, "vector registers are not supported");
          if (range) {
            // `%r<4>` declares %r0..%r3, resolved by DecodeContext::slot() (no names made).
            cx.ranges.push_back({r.s, slots, static_cast<uint32_t>(n)});
          } else {
            cx.regs[r.s] = static_cast<int32_t>(slots);
          }
          if (pred) cx.pred_slots.push_back({slots, static_cast<uint32_t>(n)});
          slots += static_cast<uint32_t>(n);
        } while (peek().is(',') && next().is(','));
        if (!next().is(';')) return at(t, "expected ';' after a register declaration");
      } else if (t.is(".shared") || t.is(".local") || t.is(".extern")) {
        if (t.is(".extern")) {
          next();
          extern_ = true;
        }
        Symbol s;
        if (std::string e = variable(&s); !e.empty()) return e;
        extern_ = false;
        uint64_t& top = s.space == Space::kShared ? shared : local;
        if (s.space == Space::kShared || s.space == Space::kLocal) {
          top = (top + s.align - 1) / s.align * s.align;
          s.offset = top;
          top += s.size;
        }
        k.symbols.push_back(std::move(s));
      } else if (t.is(".param")) {  // a call site's argument or return (callseq blocks)
        next();
        Param prm;
        const Tok* pn = nullptr;
        if (std::string e = param_decl(k.name, &prm, &pn); !e.empty()) return e;
        Symbol s;
        s.space = Space::kParam;
        s.name = prm.name;
        s.size = prm.size;
        s.align = prm.align;
        scratch = (scratch + s.align - 1) / s.align * s.align;
        s.offset = scratch;
        scratch += s.size;
        if (scratch > (1u << 20)) return at(*pn, "call parameters of " + k.name + " exceed 1 MiB");
        if (!scopes_.empty()) scopes_.back()[pn->s] = static_cast<int32_t>(k.symbols.size());
        k.symbols.push_back(std::move(s));
        if (!next().is(';')) return at(*pn, "expected ';' after .param " + prm.name);
      } else if (t.is(".pragma")) {
        skip_statement();
      } else if (t.is(".loc") || t.is(".file")) {
        skip_line();
      } else if (t.k == Tok::kIdent && peek(1).is(':')) {
        cx.labels[t.s] = static_cast<uint32_t>(raw.size());
        next();
        next();
      } else {
        RawInst ri;
        if (std::string e = instruction(&ri); !e.empty()) return e;
        raw.push_back(std::move(ri));
      }
    }
    if (shared > (1u << 20) || local > (1u << 20))
      return at(peek(), "shared or local memory of " + k.name + " exceeds 1 MiB");
    k.shared_bytes = static_cast<uint32_t>(shared);
    k.local_bytes = static_cast<uint32_t>(local);
    const uint32_t dyn_base = (k.shared_bytes + 15) / 16 * 16;
    for (Symbol& s : k.symbols)
      if (s.extern_shared) s.offset = dyn_base;
    k.slots = slots;
    k.scratch_bytes = static_cast<uint32_t>(scratch);
    Pending p;
    p.is_func = k.is_func;
    p.cx = std::move(cx);
    p.raw = std::move(raw);
    if (k.is_func) {
      p.index = mod_->functions.size();
      mod_->functions.push_back(std::move(k));
    } else {
      p.index = mod_->kernels.size();
      mod_->kernels.push_back(std::move(k));
    }
    pending_.push_back(std::move(p));
    return "";
  }

  std::string instruction(RawInst* ri) {
    const Tok& first = peek();
    ri->line = first.line;
    if (first.is('@')) {
      next();
      if (peek().is('!')) {
        next();
        ri->pred_negate = true;
      }
      ri->pred = next().s;
    }
    const Tok& opc = next();
    if (opc.k != Tok::kIdent)
      return at(opc, "expected an instruction, not '" + std::string(opc.s) + "'");
    ri->opcode = opc.s;
    if (opc.s.substr(0, 4) == "call" && (opc.s.size() == 4 || opc.s[4] == '.')) {
      // call[.uni] [(ret),] func[, (args)][, prototype];
      auto names = [&](std::vector<std::string_view>* out) -> bool {
        next();  // '('
        while (!peek().is(')')) {
          const Tok& x = next();
          if (x.k == Tok::kEnd) return false;
          if (!x.is(',')) out->push_back(x.s);
        }
        next();
        return true;
      };
      auto scoped_all = [&](const std::vector<std::string_view>& in, std::vector<int32_t>* out) {
        for (std::string_view n : in) out->push_back(scoped(n));
      };
      if (peek().is('(') && !names(&ri->call_rets)) return at(opc, "bad call");
      if (peek().is(',')) next();
      const Tok& f = next();
      if (f.k != Tok::kIdent) return at(opc, "bad call target");
      ri->call_target = f.s;
      if (peek().is(',')) next();
      if (peek().is('(') && !names(&ri->call_args)) return at(opc, "bad call arguments");
      if (peek().is(',')) {  // an indirect call's prototype
        next();
        ri->call_prototype = next().s;
      }
      scoped_all(ri->call_rets, &ri->call_ret_syms);
      scoped_all(ri->call_args, &ri->call_arg_syms);
      if (!next().is(';')) return at(opc, "expected ';' after call");
      return "";
    }
    while (!peek().is(';')) {
      if (peek().k == Tok::kEnd) return at(opc, "unterminated instruction");
      RawOperand o;
      const Tok& t = next();
      if (t.is('!')) {
        o.negate = true;
        o.name = next().s;
      } else if (t.is('-') && peek().k == Tok::kNum) {
        o.kind = RawOperand::kImm;
        o.imm = next().s;
        o.imm_negative = true;
      } else if (t.k == Tok::kNum) {
        o.kind = RawOperand::kImm;
        o.imm = t.s;
      } else if (t.is('[')) {
        o.kind = RawOperand::kAddr;
        if (peek().k == Tok::kIdent) {
          o.name = next().s;
          o.scoped = scoped(o.name);
        }
        if (peek().k == Tok::kNum && o.name.empty()) {
          uint64_t v = 0;
          if (!parse_u64(next().s, &v)) return at(t, "bad address");
          o.offset = static_cast<int64_t>(v);
        }
        if (peek().is('+') || peek().is('-')) {
          const bool neg = next().is('-');
          bool neg2 = false;
          if (peek().is('-')) {
            next();
            neg2 = true;
          }
          uint64_t v = 0;
          if (!parse_u64(next().s, &v)) return at(t, "bad address offset");
          o.offset = (neg != neg2) ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        }
        if (!peek().is(']')) {  // e.g. a texture's [tex, {coords}]: kept for the decoder
          o.complex = true;
          int depth = 1;
          while (depth > 0 && peek().k != Tok::kEnd) {
            const Tok& x = next();
            depth += x.is('[') - x.is(']');
          }
        } else {
          next();
        }
      } else if (t.is('{')) {
        o.kind = RawOperand::kVec;
        while (!peek().is('}')) {
          const Tok& v = next();
          if (v.k == Tok::kEnd) return at(t, "unterminated vector operand");
          if (!v.is(',')) o.vec.push_back(v.s);
        }
        next();
        if (o.vec.empty() || o.vec.size() > 4) return at(t, "bad vector operand");
      } else if (t.is("_")) {
        o.kind = RawOperand::kSink;
      } else if (t.k == Tok::kIdent) {
        o.name = t.s;
        o.scoped = scoped(o.name);
      } else {
        return at(t, "unexpected '" + std::string(t.s) + "' in an operand");
      }
      ri->ops.push_back(std::move(o));
      if (peek().is(',')) next();
      if (peek().is('|')) {  // a second destination: `%p1|%p2`, `%r1|%p1`
        next();
        ri->pair = true;
        RawOperand q;
        q.name = next().s;
        ri->ops.push_back(std::move(q));
        if (peek().is(',')) next();
      }
    }
    next();  // ';'
    if (ri->ops.size() > 6) return at(opc, "too many operands");
    return "";
  }

  std::vector<Tok> toks_;
  size_t pos_ = 0;
  PtxModule* mod_;
  bool extern_ = false;
  std::vector<Symbol> module_shared_;
  std::vector<Pending> pending_;
  // Call-site .param variables by name, innermost block last (callseq blocks reuse names).
  std::vector<std::map<std::string_view, int32_t>> scopes_;
  int32_t scoped(std::string_view name) const {
    for (size_t i = scopes_.size(); i-- > 0;)
      if (auto it = scopes_[i].find(name); it != scopes_[i].end()) return it->second;
    return -1;
  }
  std::set<std::string_view> declared_;  // functions declared without a body (so far)
};

}  // namespace

std::string parse_ptx_module(const char* text, size_t size, PtxModule* out) {
  *out = PtxModule{};
  Parser p(std::string_view(text, size), out);
  return p.run();
}

}  // namespace rgpu::server::ptx
