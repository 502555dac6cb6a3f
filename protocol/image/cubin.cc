#include "protocol/image/cubin.h"

#include <elf.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

#include "protocol/image/byte_reader.h"
#include "protocol/image/elf.h"

namespace rgpu::image {

namespace {

using R = Result<ModuleInfo>;

constexpr uint8_t kFmtSval = 0x04;
constexpr uint8_t kAttrMaxThreads = 0x05;
constexpr uint8_t kAttrParamCbank = 0x0a;
constexpr uint8_t kAttrReqNtid = 0x10;
constexpr uint8_t kAttrFrameSize = 0x11;
constexpr uint8_t kAttrKparamInfo = 0x17;
constexpr uint8_t kAttrCbankParamSize = 0x19;
constexpr uint8_t kAttrRegCount = 0x2f;
constexpr uint8_t kStoCudaEntry = 0x10;
constexpr uint32_t kReservedSharedWindow = 1024;

struct Record {
  uint8_t format = 0;
  uint8_t attribute = 0;
  uint16_t value = 0;        // non-SVAL formats
  std::string_view payload;  // SVAL format
};

// Splits an .nv.info section into records; false when a record runs past the end.
bool split_records(std::string_view bytes, std::vector<Record>* out) {
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t pos = 0;
  while (pos < n) {
    if (!in_bounds(n, pos, 4)) return false;
    Record r;
    r.format = d[pos];
    r.attribute = d[pos + 1];
    const uint16_t v = load_le<uint16_t>(d + pos + 2);
    pos += 4;
    if (r.format == kFmtSval) {
      if (!in_bounds(n, pos, v)) return false;
      r.payload = bytes.substr(pos, v);
      pos += v;
    } else {
      r.value = v;
    }
    out->push_back(r);
  }
  return true;
}

uint32_t u32_at(std::string_view s, size_t off) {
  return load_le<uint32_t>(reinterpret_cast<const uint8_t*>(s.data()) + off);
}
uint16_t u16_at(std::string_view s, size_t off) {
  return load_le<uint16_t>(reinterpret_cast<const uint8_t*>(s.data()) + off);
}

std::optional<uint32_t> thread_product(std::string_view payload) {
  if (payload.size() < 12) return std::nullopt;
  uint64_t p = 1;
  for (size_t off : {0, 4, 8}) {
    p *= u32_at(payload, off);  // each factor < 2^32 and p <= 2^32: no overflow
    if (p == 0 || p > UINT32_MAX) return std::nullopt;
  }
  return static_cast<uint32_t>(p);
}

struct PerSymbol {
  std::optional<uint32_t> regs;
  std::optional<uint32_t> frame;
};

std::string fail_kernel(std::string_view name, const std::string& why) {
  return "cubin: kernel " + std::string(name) + ": " + why;
}

// Fills layout and attributes of one kernel from its .nv.info.<name> records.
std::string parse_kernel_info(std::string_view name, std::string_view info, KernelInfo* k) {
  std::vector<Record> records;
  if (!split_records(info, &records)) return fail_kernel(name, "truncated .nv.info record");
  struct Param {
    uint16_t ordinal, offset;
    uint32_t size;
  };
  std::vector<Param> params;
  std::optional<uint32_t> total;
  for (const Record& r : records) {
    switch (r.attribute) {
      case kAttrKparamInfo:
        if (r.format != kFmtSval || r.payload.size() < 12) {
          return fail_kernel(name, "malformed EIATTR_KPARAM_INFO");
        }
        params.push_back(
            {u16_at(r.payload, 4), u16_at(r.payload, 6), (u32_at(r.payload, 8) >> 18) & 0x3fff});
        break;
      case kAttrParamCbank:
        if (r.format == kFmtSval && r.payload.size() >= 8) total = u16_at(r.payload, 6);
        break;
      case kAttrCbankParamSize:
        if (r.format != kFmtSval && !total) total = r.value;
        break;
      case kAttrMaxThreads:
        if (r.format == kFmtSval) k->attributes.max_threads = thread_product(r.payload);
        break;
      case kAttrReqNtid:
        if (r.format == kFmtSval && !k->attributes.max_threads) {
          k->attributes.max_threads = thread_product(r.payload);
        }
        break;
      case kAttrRegCount:
        if (r.format == kFmtSval && r.payload.size() >= 8) {
          k->attributes.num_regs = u32_at(r.payload, 4);
        }
        break;
      default:
        break;
    }
  }
  std::sort(params.begin(), params.end(),
            [](const Param& a, const Param& b) { return a.ordinal < b.ordinal; });
  k->layout.params.clear();
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].ordinal != i) {
      return fail_kernel(name, "parameter ordinals are not 0..n-1 (got " +
                                   std::to_string(params[i].ordinal) + " at position " +
                                   std::to_string(i) + ")");
    }
    k->layout.params.push_back({params[i].offset, params[i].size});
  }
  uint32_t end = 0;
  if (!params.empty()) end = k->layout.params.back().offset + k->layout.params.back().size;
  if (params.empty() && total.value_or(0) != 0) {
    return fail_kernel(name, "has a " + std::to_string(*total) +
                                 "-byte parameter bank but no EIATTR_KPARAM_INFO records");
  }
  k->layout.param_bytes = total.value_or(end);
  if (std::string err = validate_param_layout(k->layout); !err.empty()) {
    return fail_kernel(name, err);
  }
  return {};
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

}  // namespace

Result<ModuleInfo> parse_cubin(const uint8_t* data, size_t size) {
  Result<ElfView> opened = ElfView::open(data, size);
  if (!opened) return R::fail(opened.error());
  const ElfView& elf = *opened;
  ModuleInfo mod;
  mod.parsed_kind = ImageKind::kElf;
  mod.sm_version = elf.sm_version();
  const auto& syms = elf.symbols();

  // Global .nv.info: per-symbol register counts and frame sizes.
  std::map<std::string_view, PerSymbol> per_symbol;
  if (int gi = elf.find_section(".nv.info"); gi >= 0) {
    std::vector<Record> records;
    if (!split_records(elf.section_data(elf.sections()[gi]), &records)) {
      return R::fail("cubin: truncated record in .nv.info");
    }
    for (const Record& r : records) {
      if ((r.attribute != kAttrRegCount && r.attribute != kAttrFrameSize) || r.format != kFmtSval ||
          r.payload.size() < 8) {
        continue;
      }
      const uint32_t sym = u32_at(r.payload, 0);
      if (sym >= syms.size()) return R::fail("cubin: .nv.info names symbol " + std::to_string(sym));
      PerSymbol& ps = per_symbol[syms[sym].name];
      (r.attribute == kAttrRegCount ? ps.regs : ps.frame) = u32_at(r.payload, 4);
    }
  }

  // Kernel names: .nv.info.<name> sections, then entry-marked function symbols.
  std::vector<std::string_view> names;
  std::unordered_set<std::string_view> seen;
  for (const ElfSection& s : elf.sections()) {
    if (starts_with(s.name, ".nv.info.")) {
      std::string_view name = s.name.substr(9);
      if (!name.empty() && elf.find_section(".text." + std::string(name)) >= 0) {
        if (seen.insert(name).second) names.push_back(name);
      }
    }
  }
  for (const ElfSymbol& sym : syms) {
    if (sym.type == STT_FUNC && (sym.other & kStoCudaEntry) && !sym.name.empty() &&
        !seen.count(sym.name) && elf.find_section(".text." + std::string(sym.name)) >= 0) {
      seen.insert(sym.name);
      names.push_back(sym.name);
    }
  }

  // Linked sm_90+ cubins start each kernel's shared section with the 1 KiB reserved window
  // (marked by a .nv.shared.reserved.0 section, or in -G builds only by a reference to
  // .nv.reservedSmem.offset0); relocatable cubins and older SMs do not.
  bool reserved_symbol = false;
  for (const ElfSymbol& sym : syms) reserved_symbol |= sym.name == ".nv.reservedSmem.offset0";
  const bool has_reserved_window =
      elf.elf_type() == ET_EXEC && mod.sm_version >= 90 &&
      (elf.find_section(".nv.shared.reserved.0") >= 0 || reserved_symbol);
  std::optional<uint32_t> const_bytes;
  if (int ci = elf.find_section(".nv.constant3"); ci >= 0) {
    const_bytes = static_cast<uint32_t>(std::min<uint64_t>(elf.sections()[ci].size, UINT32_MAX));
  }

  for (std::string_view name : names) {
    KernelInfo k;
    k.name = std::string(name);
    if (int ii = elf.find_section(".nv.info." + k.name); ii >= 0) {
      std::string err = parse_kernel_info(name, elf.section_data(elf.sections()[ii]), &k);
      if (!err.empty()) return R::fail(err);
    }
    KernelAttributes& a = k.attributes;
    if (auto it = per_symbol.find(name); it != per_symbol.end()) {
      if (it->second.regs) a.num_regs = it->second.regs;
      a.local_bytes = it->second.frame;
    }
    if (int si = elf.find_section(".nv.shared." + k.name); si >= 0) {
      const uint64_t s = std::min<uint64_t>(elf.sections()[si].size, UINT32_MAX);
      a.shared_section_bytes = static_cast<uint32_t>(s);
      a.static_shared_bytes = static_cast<uint32_t>(
          has_reserved_window && s >= kReservedSharedWindow ? s - kReservedSharedWindow : s);
    } else {
      a.shared_section_bytes = 0;
      a.static_shared_bytes = 0;
    }
    a.const_bytes = const_bytes.value_or(0);
    a.binary_version = mod.sm_version;
    mod.kernels.push_back(std::move(k));
  }

  // Globals. Legitimate symbols do not overlap, so their names and initial bytes together
  // are at most the image; many symbols naming one whole section (or suffixes of one long
  // name) would copy it once each, so the copy is bounded by a small multiple of the input.
  const uint64_t copy_budget = 2 * static_cast<uint64_t>(size) + 4096;
  uint64_t copied = 0;
  for (const ElfSymbol& sym : syms) {
    // STT_LOPROC (13) is the CUDA object type of relocatable cubins.
    if ((sym.type != STT_OBJECT && sym.type != STT_LOPROC) || sym.section == 0 ||
        sym.name.empty() || sym.section >= elf.sections().size()) {
      continue;
    }
    const ElfSection& sec = elf.sections()[sym.section];
    const bool is_global = starts_with(sec.name, ".nv.global");
    const bool is_const =
        starts_with(sec.name, ".nv.constant") && !starts_with(sec.name, ".nv.constant0");
    if (!is_global && !is_const) continue;
    const bool copies_init = section_has_file_data(sec.type);
    copied += sym.name.size() + (copies_init ? std::min(sym.size, copy_budget + 1) : 0);
    if (copied > copy_budget) {
      return R::fail(
          "cubin: its globals' names and initial bytes come to more than twice the "
          "image's " +
          std::to_string(size) + " bytes (symbols overlap)");
    }
    GlobalVar g;
    g.name = std::string(sym.name);
    g.size = sym.size;
    g.is_constant = is_const;
    if (copies_init) {
      std::string_view bytes = elf.section_data(sec);
      if (!in_bounds(bytes.size(), sym.value, sym.size)) {
        return R::fail("cubin: global " + g.name + " lies outside its section " +
                       std::string(sec.name));
      }
      g.init.assign(bytes.begin() + sym.value, bytes.begin() + sym.value + sym.size);
    }
    mod.globals.push_back(std::move(g));
  }
  return mod;
}

}  // namespace rgpu::image
