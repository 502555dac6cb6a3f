#include "protocol/image/kernel_table.h"

#include <string>

#include "protocol/image/cubin.h"
#include "protocol/image/elf.h"
#include "protocol/image/image_span.h"
#include "protocol/image/ptx.h"

namespace rgpu::image {

namespace {

using R = Result<ModuleInfo>;

// Best entry of `kind` with sm <= limit (highest such), or -1.
int best_at_most(const std::vector<FatbinEntry>& e, FatbinEntryKind kind, int limit) {
  int best = -1;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i].kind != kind || static_cast<int64_t>(e[i].sm_version) > limit) continue;
    if (best < 0 || e[i].sm_version > e[best].sm_version) best = static_cast<int>(i);
  }
  return best;
}

int lowest(const std::vector<FatbinEntry>& e, FatbinEntryKind kind) {
  int best = -1;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i].kind != kind) continue;
    if (best < 0 || e[i].sm_version < e[best].sm_version) best = static_cast<int>(i);
  }
  return best;
}

R parse_single(const uint8_t* data, size_t size) {
  if (looks_like_elf(data, size)) return parse_cubin(data, size);
  return parse_ptx(reinterpret_cast<const char*>(data), size);
}

}  // namespace

int choose_fatbin_entry(const std::vector<FatbinEntry>& entries, int sm, bool* compatible) {
  *compatible = true;
  if (int i = best_at_most(entries, FatbinEntryKind::kElf, sm); i >= 0) return i;
  if (int i = best_at_most(entries, FatbinEntryKind::kPtx, sm); i >= 0) return i;
  *compatible = false;
  if (int i = lowest(entries, FatbinEntryKind::kElf); i >= 0) return i;
  return lowest(entries, FatbinEntryKind::kPtx);
}

Result<ModuleInfo> parse_kernels(const uint8_t* data, size_t size, int sm) {
  if (data == nullptr || size == 0) return R::fail("image: empty");
  std::optional<ImageSpan> span = locate_image_in(data, size);
  if (!span) {
    return R::fail("image: not a fatbin, ELF cubin or PTX text (or truncated; " +
                   std::to_string(size) + " bytes)");
  }
  if (span->kind == ImageKind::kElf) return parse_cubin(span->data, span->size);
  if (span->kind == ImageKind::kPtx) {
    return parse_ptx(reinterpret_cast<const char*>(span->data), span->size);
  }
  Result<std::vector<FatbinEntry>> entries = list_fatbin_entries(span->data, span->size);
  if (!entries) return R::fail(entries.error());
  bool compatible = true;
  const int pick = choose_fatbin_entry(*entries, sm, &compatible);
  if (pick < 0) return R::fail("fatbin: no entries");
  const FatbinEntry& entry = (*entries)[pick];
  Result<std::vector<uint8_t>> contents = entry_contents(entry);
  if (!contents) return R::fail(contents.error());
  R mod = parse_single(contents->data(), contents->size());
  if (!mod) {
    return R::fail(std::string("fatbin ") + (entry.is_ptx() ? "PTX" : "ELF") + " entry sm_" +
                   std::to_string(entry.sm_version) + ": " + mod.error());
  }
  mod->sm_compatible = compatible;
  if (mod->sm_version == 0) mod->sm_version = entry.sm_version;
  return mod;
}

}  // namespace rgpu::image
