// Truncated, bit-flipped and random inputs: every parser returns (an error or a result) and
// never reads out of bounds. Run under -DRGPU_SANITIZE=ON to make out-of-bounds reads fail.
#include <gtest/gtest.h>

#include <elf.h>

#include <cstring>
#include <random>

#include "artifacts.h"
#include "protocol/image/cubin.h"
#include "protocol/image/fatbin.h"
#include "protocol/image/image_span.h"
#include "protocol/image/kernel_table.h"
#include "protocol/image/ptx.h"

namespace rgpu::image::test {
namespace {

// Each call gets its own exactly-sized heap copy so ASan catches a read one past the end.
Result<ModuleInfo> parse_copy(const std::vector<uint8_t>& src, size_t n) {
  std::vector<uint8_t> copy(src.begin(), src.begin() + n);
  copy.shrink_to_fit();
  // Exercise every entry point on the same bytes.
  (void)locate_image_in(copy.data(), copy.size());
  if (auto e = list_fatbin_entries(copy.data(), copy.size()); e.ok()) {
    for (const FatbinEntry& x : *e) (void)entry_contents(x);
  }
  (void)parse_cubin(copy.data(), copy.size());
  (void)parse_ptx(reinterpret_cast<const char*>(copy.data()), copy.size());
  return parse_kernels(copy.data(), copy.size());
}

std::vector<size_t> cut_points(size_t size) {
  std::vector<size_t> cuts;
  for (size_t n = 0; n < std::min<size_t>(size, 300); ++n) cuts.push_back(n);
  for (size_t n = 300; n < size; n += std::max<size_t>(1, size / 300)) cuts.push_back(n);
  cuts.push_back(size - 1);
  return cuts;
}

class Damaged : public ::testing::TestWithParam<std::string> {};

// A PTX prefix can be valid PTX, so this runs on the binary kinds only.
TEST_P(Damaged, TruncatedBinariesAreErrors) {
  std::vector<uint8_t> bytes = load_artifact(GetParam());
  ASSERT_TRUE(parse_kernels(bytes.data(), bytes.size()).ok());
  for (size_t n : cut_points(bytes.size())) {
    Result<ModuleInfo> r = parse_copy(bytes, n);
    EXPECT_FALSE(r.ok()) << "truncated to " << n << " of " << bytes.size();
    if (!r.ok()) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST(Robustness, TruncatedPtxNeverCrashes) {
  std::vector<uint8_t> bytes = load_artifact("kernels.ptx");
  size_t complete = 0;
  for (size_t n : cut_points(bytes.size())) {
    Result<ModuleInfo> r = parse_copy(bytes, n);
    if (r.ok() && r->kernels.size() == 2) ++complete;
  }
  // Only cuts after the last kernel's signature can still see both kernels.
  EXPECT_LT(complete, cut_points(bytes.size()).size() / 2);
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

std::vector<std::string> binary_artifacts() {
  std::vector<std::string> out;
  for (const std::string& n : all_artifacts()) {
    if (!is_ptx_name(n)) out.push_back(n);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Artifacts, Damaged, ::testing::ValuesIn(binary_artifacts()), test_name);

class Flipped : public ::testing::TestWithParam<std::string> {};

TEST_P(Flipped, FlippedBytesNeverCrash) {
  std::vector<uint8_t> bytes = load_artifact(GetParam());
  const size_t step = bytes.size() > 4000 ? 3 : 1;
  size_t errors = 0;
  for (size_t i = 0; i < bytes.size(); i += step) {
    std::vector<uint8_t> v = bytes;
    v[i] ^= 0xff;
    if (!parse_copy(v, v.size()).ok()) ++errors;
  }
  // Flipping the magic at least must be noticed.
  EXPECT_GT(errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(Artifacts, Flipped, ::testing::ValuesIn(all_artifacts()), test_name);

TEST(Robustness, RandomBytesBehindEachMagic) {
  std::mt19937 rng(1234);
  const std::vector<std::vector<uint8_t>> prefixes = {
      {0x50, 0xed, 0x55, 0xba, 0x01, 0x00, 0x10, 0x00},  // fatbin header
      {0x7f, 'E', 'L', 'F', 2, 1, 1, 0x41},              // ELF64 LE
      {'.', 'v', 'e', 'r', 's', 'i', 'o', 'n'},          // PTX
      {}};
  for (const auto& prefix : prefixes) {
    for (int iter = 0; iter < 300; ++iter) {
      std::vector<uint8_t> v = prefix;
      const size_t n = rng() % 2048;
      for (size_t i = 0; i < n; ++i) v.push_back(static_cast<uint8_t>(rng()));
      if (prefix.empty() || prefix[0] != '.') {
        EXPECT_FALSE(parse_copy(v, v.size()).ok());
      } else {
        (void)parse_copy(v, v.size());
      }
    }
  }
}

TEST(Robustness, ElfWithHostileTables) {
  std::vector<uint8_t> cubin = load_artifact("kernels.cubin");
  // Point the section name string table, the symbol table link and every section offset at
  // the end of the buffer, one section at a time.
  uint64_t shoff;
  uint16_t shnum;
  std::memcpy(&shoff, cubin.data() + 40, 8);
  std::memcpy(&shnum, cubin.data() + 60, 2);
  for (uint16_t s = 0; s < shnum; ++s) {
    for (size_t field : {24u, 32u, 40u, 56u}) {  // sh_offset, sh_size, sh_link, sh_entsize
      std::vector<uint8_t> v = cubin;
      const uint64_t huge = v.size() - 1;
      std::memcpy(v.data() + shoff + s * 64 + field, &huge, field == 40 ? 4 : 8);
      (void)parse_copy(v, v.size());
    }
  }
  std::vector<uint8_t> v = cubin;
  const uint16_t bad_index = 0xfff0;
  std::memcpy(v.data() + 62, &bad_index, 2);  // e_shstrndx out of range
  Result<ModuleInfo> r = parse_copy(v, v.size());
  // Without section names there are no kernels, but also no crash.
  if (r.ok()) {
    EXPECT_TRUE(r->kernels.empty());
  }
}

// A cubin whose many symbols all name one whole initialised section: a parser copying each
// global's initial bytes would allocate symbols x section (here 20,000 x 64 KiB = 1.3 GB from
// a 544 KiB image). Globals are bounded by a small multiple of the image instead.
std::vector<uint8_t> overlapping_globals_cubin(uint32_t symbols, uint32_t section_bytes) {
  const std::string shstr = std::string("\0.shstrtab\0.strtab\0.symtab\0.nv.global.init\0", 43);
  const std::string str("\0g\0", 3);
  std::vector<Elf64_Sym> syms(symbols + 1);
  for (uint32_t i = 1; i <= symbols; ++i) {
    syms[i].st_name = 1;
    syms[i].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
    syms[i].st_shndx = 4;
    syms[i].st_size = section_bytes;
  }
  std::vector<uint8_t> out(sizeof(Elf64_Ehdr));
  auto append = [&](const void* p, size_t n) {
    const size_t at = out.size();
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return at;
  };
  const size_t shstr_at = append(shstr.data(), shstr.size());
  const size_t str_at = append(str.data(), str.size());
  const size_t sym_at = append(syms.data(), syms.size() * sizeof(Elf64_Sym));
  const std::vector<uint8_t> init(section_bytes, 0xab);
  const size_t init_at = append(init.data(), init.size());
  Elf64_Shdr sh[5] = {};
  sh[1] = {1, SHT_STRTAB, 0, 0, shstr_at, shstr.size(), 0, 0, 1, 0};
  sh[2] = {11, SHT_STRTAB, 0, 0, str_at, str.size(), 0, 0, 1, 0};
  sh[3] = {19, SHT_SYMTAB,       0, 0, sym_at, syms.size() * sizeof(Elf64_Sym), 2, 1,
           8,  sizeof(Elf64_Sym)};
  sh[4] = {27, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, 0, init_at, section_bytes, 0, 0, 8, 0};
  const size_t sh_at = append(sh, sizeof sh);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = 190;  // EM_CUDA
  eh.e_version = EV_CURRENT;
  eh.e_flags = 90;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shoff = sh_at;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 5;
  eh.e_shstrndx = 1;
  std::memcpy(out.data(), &eh, sizeof eh);
  return out;
}

TEST(Robustness, OverlappingGlobalsAreBoundedByTheImage) {
  // One global naming the section is an ordinary module...
  std::vector<uint8_t> one = overlapping_globals_cubin(1, 64 << 10);
  Result<ModuleInfo> ok = parse_cubin(one.data(), one.size());
  ASSERT_TRUE(ok.ok()) << ok.error();
  ASSERT_EQ(ok->globals.size(), 1u);
  EXPECT_EQ(ok->globals[0].init.size(), 64u << 10);
  EXPECT_EQ(ok->globals[0].init[100], 0xab);
  // ...20,000 of them are refused before their copies are made.
  std::vector<uint8_t> many = overlapping_globals_cubin(20000, 64 << 10);
  Result<ModuleInfo> r = parse_cubin(many.data(), many.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("more than twice the image"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace rgpu::image::test
