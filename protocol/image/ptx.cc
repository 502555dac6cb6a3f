#include "protocol/image/ptx.h"

#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/image/elf.h"

namespace rgpu::image {

namespace {

using R = Result<ModuleInfo>;

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '$' || c == '%';
}

// The module-scope tokens of a PTX text, 8 bytes each (offset and length into the text, which
// is at most kMaxImageBytes < 4 GiB). Only module scope matters here (entry signatures,
// globals), so the tokenizer keeps of a body `{ ... }` only its braces and of an initializer
// `= ...` only the '=': real PTX is almost all bodies, and no input costs more than 8 bytes per
// token it keeps (at most 8x its size, whatever it holds).
class Tokens {
 public:
  explicit Tokens(std::string_view text) : text_(text) {}
  std::string_view operator[](size_t i) const {
    return text_.substr(toks_[i].first, toks_[i].second);
  }
  size_t size() const { return toks_.size(); }
  void push(size_t offset, size_t len) {
    toks_.emplace_back(static_cast<uint32_t>(offset), static_cast<uint32_t>(len));
  }

 private:
  std::string_view text_;
  std::vector<std::pair<uint32_t, uint32_t>> toks_;
};

// Words (directives, names, numbers), quoted strings and single punctuation characters.
// Comments vanish. An unterminated comment or string ends the text.
Tokens tokenize(std::string_view s) {
  Tokens out(s);
  size_t i = 0;
  const size_t n = s.size();
  int body_depth = 0;    // > 0: inside a body, only braces are kept
  bool in_init = false;  // after a module-scope '=', until its ';': nothing is kept
  int init_depth = 0;
  while (i < n) {
    const char c = s[i];
    size_t start = i, len = 0;
    if (c == '/' && i + 1 < n && s[i + 1] == '/') {
      while (i < n && s[i] != '\n') ++i;
      continue;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
      continue;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < n && s[j] != '"') j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
      len = std::min(j + 1, n) - i;
      i = j + 1;
    } else if (is_word_char(c)) {
      size_t j = i;
      while (j < n && is_word_char(s[j])) ++j;
      len = j - i;
      i = j;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
      continue;
    } else {
      len = 1;
      ++i;
    }
    if (body_depth > 0) {
      if (c == '{') ++body_depth;
      if (c == '}' && --body_depth == 0) out.push(start, 1);
      continue;
    }
    if (in_init) {
      if (c == '{') ++init_depth;
      if (c == '}') --init_depth;
      if (c == ';' && init_depth <= 0) {
        in_init = false;
        out.push(start, 1);
      }
      continue;
    }
    if (len == 1 && c == '=') {
      in_init = true;
      init_depth = 0;
    } else if (len == 1 && c == '{') {
      body_depth = 1;
    }
    out.push(start, len);
  }
  return out;
}

std::optional<uint64_t> parse_uint(std::string_view t) {
  uint64_t v = 0;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    t.remove_prefix(2);
    base = 16;
  }
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

// Size in bytes of a PTX fundamental type directive, 0 when not a type.
uint32_t type_size(std::string_view t) {
  static constexpr struct {
    std::string_view name;
    uint32_t size;
  } kTypes[] = {
      {".b8", 1},     {".s8", 1},         {".u8", 1},      {".b16", 2},    {".s16", 2},
      {".u16", 2},    {".f16", 2},        {".bf16", 2},    {".b32", 4},    {".s32", 4},
      {".u32", 4},    {".f32", 4},        {".f16x2", 4},   {".bf16x2", 4}, {".tf32", 4},
      {".b64", 8},    {".s64", 8},        {".u64", 8},     {".f64", 8},    {".b128", 16},
      {".texref", 8}, {".samplerref", 8}, {".surfref", 8}, {".e4m3x2", 2}, {".e5m2x2", 2},
  };
  for (const auto& t2 : kTypes) {
    if (t2.name == t) return t2.size;
  }
  return 0;
}

struct Declarator {
  uint32_t align = 0;  // explicit .align, 0 = natural
  uint32_t elem = 0;   // element size (type x vector width)
  uint64_t count = 1;
  bool unsized = false;
  std::string_view name;
};

// Parses `[.align N] [.vN] .type [.ptr [.space] [.align N]] name [ [N] ... ]` (already without
// the leading state space), stopping at '=' or the end. Unknown directives are skipped.
std::string parse_declarator(const Tokens& t, size_t i, size_t end, Declarator* d) {
  uint32_t vec = 1;
  bool after_ptr = false;
  for (; i < end; ++i) {
    std::string_view tok = t[i];
    if (tok == "=") break;
    if (tok == ".align") {
      if (i + 1 >= end) return "'.align' without a value";
      auto v = parse_uint(t[++i]);
      if (!v || *v == 0 || *v > 4096 || (*v & (*v - 1)) != 0) return "bad .align value";
      if (!after_ptr) d->align = static_cast<uint32_t>(*v);
    } else if (tok == ".ptr") {
      after_ptr = true;
    } else if (tok == ".v2" || tok == ".v4" || tok == ".v8") {
      vec = static_cast<uint32_t>(tok[2] - '0');
    } else if (tok == ".attribute") {
      // .attribute( ... )
      while (i < end && t[i] != ")") ++i;
    } else if (uint32_t sz = type_size(tok); sz != 0) {
      d->elem = sz * vec;
    } else if (tok == "[") {
      if (i + 1 < end && t[i + 1] == "]") {
        d->unsized = true;
        ++i;
        continue;
      }
      if (i + 2 >= end || t[i + 2] != "]") return "malformed array extent";
      auto v = parse_uint(t[i + 1]);
      if (!v || *v >= (uint64_t{1} << 32)) return "bad array extent";
      d->count *= *v;
      if (d->count > (uint64_t{1} << 32)) return "array too large";
      i += 2;
    } else if (tok[0] == '.' && d->name.empty()) {
      continue;  // a state space after .ptr or another qualifier: no effect on the layout
    } else if (tok[0] != '.' && d->name.empty()) {
      d->name = tok;
    } else {
      return "unexpected token '" + std::string(tok) + "'";
    }
  }
  if (d->elem == 0) return "no type";
  if (d->name.empty()) return "no name";
  return {};
}

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

// `.entry name ( params ) directives`; t[i] is the token after ".entry".
std::string parse_entry(const Tokens& t, size_t i, size_t end, KernelInfo* k) {
  if (i >= end || t[i][0] == '.' || t[i] == "(") return "entry without a name";
  k->name = std::string(t[i++]);
  uint64_t cursor = 0;
  if (i < end && t[i] == "(") {
    ++i;
    size_t close = i;
    while (close < end && t[close] != ")") ++close;
    if (close >= end) return "entry " + k->name + ": unbalanced parameter list";
    size_t start = i;
    while (start < close) {
      size_t stop = start;
      while (stop < close && t[stop] != ",") ++stop;
      if (stop == start || t[start] != ".param") {
        return "entry " + k->name + ": parameter " + std::to_string(k->layout.params.size()) +
               " is not a .param";
      }
      Declarator d;
      if (std::string err = parse_declarator(t, start + 1, stop, &d); !err.empty()) {
        return "entry " + k->name + ": parameter " + std::to_string(k->layout.params.size()) +
               ": " + err;
      }
      if (d.unsized) return "entry " + k->name + ": unsized parameter array";
      const uint64_t align = d.align ? d.align : d.elem;
      const uint64_t offset = align_up(cursor, align);
      const uint64_t size = d.elem * d.count;
      if (offset + size > kMaxParamSpace) return "entry " + k->name + ": parameters too large";
      k->layout.params.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
      cursor = offset + size;
      start = stop + 1;
    }
    i = close + 1;
  }
  k->layout.param_bytes = static_cast<uint32_t>(cursor);
  // Performance directives up to the body.
  std::optional<uint32_t> maxntid, reqntid;
  while (i < end) {
    std::string_view tok = t[i++];
    if (tok != ".maxntid" && tok != ".reqntid") continue;
    uint64_t product = 1;
    while (i < end) {
      auto v = parse_uint(t[i]);
      if (!v) break;
      if (*v > UINT32_MAX) return "entry " + k->name + ": thread bound too large";
      product *= *v;
      if (product > UINT32_MAX) return "entry " + k->name + ": thread bound too large";
      ++i;
      if (i < end && t[i] == ",") ++i;
    }
    (tok == ".maxntid" ? maxntid : reqntid) = static_cast<uint32_t>(product);
  }
  k->attributes.max_threads = maxntid ? maxntid : reqntid;
  return {};
}

// Module-scope `.global`/`.const` definition; t[i] is the state space token.
void parse_variable(const Tokens& t, size_t i, size_t end, ModuleInfo* mod) {
  const bool is_const = t[i] == ".const";
  for (size_t j = i + 1; j < end && t[j] != "="; ++j) {
    if (t[j] == ".texref" || t[j] == ".samplerref" || t[j] == ".surfref") return;  // opaque
  }
  Declarator d;
  if (!parse_declarator(t, i + 1, end, &d).empty() || d.unsized) return;  // incomplete
  GlobalVar g;
  g.name = std::string(d.name);
  g.size = uint64_t{d.elem} * d.count;
  g.is_constant = is_const;
  mod->globals.push_back(std::move(g));
}

// Directives that end without ';' take a fixed shape; returns the index after them.
size_t skip_unterminated(const Tokens& t, size_t i) {
  std::string_view tok = t[i];
  if (tok == ".version" || tok == ".address_size") return std::min(i + 2, t.size());
  if (tok == ".target" || tok == ".file") {
    ++i;
    if (tok == ".file" && i < t.size()) ++i;  // file number
    if (i < t.size()) ++i;                    // first target / file name
    while (i + 1 < t.size() && t[i] == ",") i += 2;
    return i;
  }
  return i;
}

}  // namespace

Result<ModuleInfo> parse_ptx(const char* text, size_t size) {
  if (text == nullptr) return R::fail("PTX: null text");
  if (const void* nul = std::memchr(text, 0, size)) size = static_cast<const char*>(nul) - text;
  if (size > kMaxImageBytes)
    return R::fail("PTX: text larger than " + std::to_string(kMaxImageBytes) + " bytes");
  const Tokens t = tokenize(std::string_view(text, size));
  ModuleInfo mod;
  mod.parsed_kind = ImageKind::kPtx;

  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == ".target" && i + 1 < t.size() && t[i + 1].substr(0, 3) == "sm_") {
      std::string_view digits = t[i + 1].substr(3);
      size_t n = 0;
      while (n < digits.size() && digits[n] >= '0' && digits[n] <= '9') ++n;
      if (auto v = parse_uint(digits.substr(0, n))) mod.sm_version = static_cast<uint32_t>(*v);
    }
    if (size_t j = skip_unterminated(t, i); j != i) {
      i = j;
      continue;
    }
    // One module-scope statement: tokens up to ';' or up to a body '{' (a '{' after '=' is an
    // initializer and belongs to the statement).
    size_t start = i;
    bool has_init = false;
    int brace = 0;
    while (i < t.size()) {
      if (t[i] == "=") has_init = true;
      if (t[i] == "{") {
        if (!has_init) break;
        ++brace;
      } else if (t[i] == "}") {
        --brace;
      } else if (t[i] == ";" && brace <= 0) {
        break;
      }
      ++i;
    }
    const size_t stmt_end = i;
    if (i < t.size() && t[i] == "{") {
      int depth = 0;
      for (; i < t.size(); ++i) {
        if (t[i] == "{") ++depth;
        if (t[i] == "}" && --depth == 0) break;
      }
      if (depth != 0) return R::fail("PTX: unbalanced braces");
    }
    ++i;  // past ';' or '}'

    size_t s = start;
    bool is_extern = false;
    while (s < stmt_end &&
           (t[s] == ".visible" || t[s] == ".extern" || t[s] == ".weak" || t[s] == ".common")) {
      is_extern |= t[s] == ".extern";
      ++s;
    }
    if (s >= stmt_end || is_extern) continue;
    if (t[s] == ".entry") {
      KernelInfo k;
      if (std::string err = parse_entry(t, s + 1, stmt_end, &k); !err.empty()) {
        return R::fail("PTX: " + err);
      }
      mod.kernels.push_back(std::move(k));
    } else if (t[s] == ".global" || t[s] == ".const") {
      if (s + 1 < stmt_end) parse_variable(t, s, stmt_end, &mod);
    }
  }
  return mod;
}

}  // namespace rgpu::image
