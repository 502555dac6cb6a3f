// parse_kernels() on every image kind nvcc produces from kernels.cu.
#include "protocol/image/kernel_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "artifacts.h"
#include "protocol/image/cubin.h"
#include "protocol/image/fatbin.h"
#include "protocol/image/ptx.h"

namespace rgpu::image::test {
namespace {

struct PtxasFacts {
  uint32_t regs = 0, stack_frame = 0, smem = 0;
};

// Parses "ptxas -v" output: per entry function, registers, stack frame and smem.
std::map<std::string, PtxasFacts> read_ptxas_report() {
  std::ifstream in(std::string(RGPU_IMAGE_ARTIFACTS) + "/ptxas_v.txt");
  std::map<std::string, PtxasFacts> out;
  std::string line, current;
  const std::regex entry("Compiling entry function '([^']+)'");
  const std::regex frame("([0-9]+) bytes stack frame");
  const std::regex regs("Used ([0-9]+) registers");
  const std::regex smem("([0-9]+) bytes smem");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, entry)) current = m[1];
    if (current.empty()) continue;
    if (std::regex_search(line, m, frame)) out[current].stack_frame = std::stoul(m[1]);
    if (std::regex_search(line, m, regs)) out[current].regs = std::stoul(m[1]);
    if (std::regex_search(line, m, smem)) out[current].smem = std::stoul(m[1]);
  }
  return out;
}

class EveryImage : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryImage, LayoutsAndGlobals) {
  std::vector<uint8_t> bytes = load_image(GetParam());
  ASSERT_FALSE(bytes.empty());
  const int sm = artifact_sm(GetParam());
  Result<ModuleInfo> mod = parse_kernels(bytes.data(), bytes.size(), sm);
  ASSERT_TRUE(mod.ok()) << mod.error();
  EXPECT_EQ(mod->kernels.size(), 2u);
  EXPECT_TRUE(mod->sm_compatible);
  EXPECT_EQ(mod->sm_version, static_cast<uint32_t>(sm));
  EXPECT_EQ(mod->parsed_kind, is_ptx_name(GetParam()) || GetParam() == "kernels_ptx_only.fatbin"
                                  ? ImageKind::kPtx
                                  : ImageKind::kElf);

  const KernelInfo* va = mod->find_kernel("vectorAdd");
  ASSERT_NE(va, nullptr);
  EXPECT_EQ(va->layout, vector_add_layout());
  const KernelInfo* mixed = mod->find_kernel(kMixedName);
  ASSERT_NE(mixed, nullptr);
  EXPECT_EQ(mixed->layout, mixed_layout());
  EXPECT_EQ(mixed->attributes.max_threads, 128u);
  EXPECT_FALSE(va->attributes.max_threads.has_value());

  const GlobalVar* scale = mod->find_global("gScale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->size, 64u);
  EXPECT_FALSE(scale->is_constant);
  const GlobalVar* table = mod->find_global("cTable");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->size, 32u);
  EXPECT_TRUE(table->is_constant);
  if (mod->parsed_kind == ImageKind::kElf) {
    ASSERT_EQ(scale->init.size(), 64u);  // initialised in kernels.cu
    float one;
    std::memcpy(&one, scale->init.data(), 4);
    EXPECT_EQ(one, 1.0f);
  }
  EXPECT_EQ(mod->find_global("nope"), nullptr);
  EXPECT_EQ(mod->find_kernel("nope"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Artifacts, EveryImage, ::testing::ValuesIn(all_artifacts()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(KernelTable, CubinAttributesMatchPtxas) {
  auto facts = read_ptxas_report();
  ASSERT_EQ(facts.size(), 2u) << "ptxas_v.txt did not list both kernels";
  std::vector<uint8_t> bytes = load_artifact("kernels.cubin");
  Result<ModuleInfo> mod = parse_kernels(bytes.data(), bytes.size());
  ASSERT_TRUE(mod.ok()) << mod.error();
  EXPECT_EQ(mod->parsed_kind, ImageKind::kElf);
  for (const KernelInfo& k : mod->kernels) {
    SCOPED_TRACE(k.name);
    ASSERT_TRUE(facts.count(k.name));
    const PtxasFacts& f = facts[k.name];
    EXPECT_EQ(k.attributes.num_regs, f.regs);
    EXPECT_EQ(k.attributes.local_bytes, f.stack_frame);
    EXPECT_EQ(k.attributes.static_shared_bytes, f.smem);
    EXPECT_EQ(k.attributes.binary_version, 90u);
    EXPECT_EQ(k.attributes.const_bytes, 32u);  // cTable
  }
  // mixedParams has a shared tile, vectorAdd none.
  EXPECT_GT(mod->find_kernel(kMixedName)->attributes.static_shared_bytes.value_or(0), 0u);
  EXPECT_EQ(mod->find_kernel("vectorAdd")->attributes.static_shared_bytes, 0u);
}

TEST(KernelTable, CubinGlobalInitialValues) {
  std::vector<uint8_t> bytes = load_artifact("kernels.cubin");
  Result<ModuleInfo> mod = parse_cubin(bytes.data(), bytes.size());
  ASSERT_TRUE(mod.ok()) << mod.error();
  const GlobalVar* scale = mod->find_global("gScale");
  ASSERT_NE(scale, nullptr);
  ASSERT_EQ(scale->init.size(), 64u);
  float first[3];
  std::memcpy(first, scale->init.data(), sizeof first);
  EXPECT_EQ(first[0], 1.0f);
  EXPECT_EQ(first[1], 2.0f);
  EXPECT_EQ(first[2], 3.0f);
  for (size_t i = 12; i < 64; ++i) EXPECT_EQ(scale->init[i], 0) << i;
}

TEST(KernelTable, PtxAttributesAreUnknownNotInvented) {
  std::vector<uint8_t> bytes = load_ptx_cstring();
  Result<ModuleInfo> mod = parse_kernels(bytes.data(), bytes.size());
  ASSERT_TRUE(mod.ok()) << mod.error();
  EXPECT_EQ(mod->parsed_kind, ImageKind::kPtx);
  for (const KernelInfo& k : mod->kernels) {
    EXPECT_FALSE(k.attributes.num_regs.has_value());
    EXPECT_FALSE(k.attributes.static_shared_bytes.has_value());
  }
}

TEST(KernelTable, BlackwellFatbinEntries) {
  std::vector<uint8_t> bytes = load_artifact("kernels_sm100_120.fatbin");
  Result<std::vector<FatbinEntry>> entries = list_fatbin_entries(bytes.data(), bytes.size());
  ASSERT_TRUE(entries.ok()) << entries.error();
  int elves = 0;
  for (const FatbinEntry& e : *entries) {
    if (!e.is_elf()) continue;
    ++elves;
    EXPECT_TRUE(e.sm_version == 100 || e.sm_version == 120) << e.sm_version;
    uint32_t header_size;
    std::memcpy(&header_size, bytes.data() + e.offset + 4, 4);
    EXPECT_GE(header_size, 64u);
  }
  EXPECT_EQ(elves, 2);
  Result<ModuleInfo> m100 = parse_kernels(bytes.data(), bytes.size(), 103);
  ASSERT_TRUE(m100.ok()) << m100.error();
  EXPECT_EQ(m100->sm_version, 100u);
  EXPECT_TRUE(m100->sm_compatible);
  // Nothing there runs on sm_90, but the layouts are still known.
  Result<ModuleInfo> m90 = parse_kernels(bytes.data(), bytes.size(), 90);
  ASSERT_TRUE(m90.ok()) << m90.error();
  EXPECT_FALSE(m90->sm_compatible);
  EXPECT_EQ(m90->find_kernel(kMixedName)->layout, mixed_layout());
}

TEST(KernelTable, FatbinPicksEntryBySm) {
  std::vector<uint8_t> bytes = load_artifact("kernels_multi.fatbin");
  Result<std::vector<FatbinEntry>> entries = list_fatbin_entries(bytes.data(), bytes.size());
  ASSERT_TRUE(entries.ok()) << entries.error();
  auto pick = [&](int sm, bool* compatible) {
    int i = choose_fatbin_entry(*entries, sm, compatible);
    EXPECT_GE(i, 0);
    return (*entries)[i];
  };
  bool compatible = false;
  FatbinEntry e = pick(90, &compatible);
  EXPECT_TRUE(e.is_elf());
  EXPECT_EQ(e.sm_version, 90u);
  EXPECT_TRUE(compatible);
  e = pick(86, &compatible);
  EXPECT_TRUE(e.is_elf());
  EXPECT_EQ(e.sm_version, 80u);
  EXPECT_TRUE(compatible);
  e = pick(120, &compatible);
  EXPECT_TRUE(e.is_elf());
  EXPECT_EQ(e.sm_version, 90u);
  e = pick(75, &compatible);
  EXPECT_FALSE(compatible);
  EXPECT_EQ(e.sm_version, 80u);

  Result<ModuleInfo> m86 = parse_kernels(bytes.data(), bytes.size(), 86);
  ASSERT_TRUE(m86.ok()) << m86.error();
  EXPECT_EQ(m86->sm_version, 80u);
  EXPECT_EQ(m86->parsed_kind, ImageKind::kElf);
  EXPECT_EQ(m86->find_kernel("vectorAdd")->layout, vector_add_layout());
  Result<ModuleInfo> m75 = parse_kernels(bytes.data(), bytes.size(), 75);
  ASSERT_TRUE(m75.ok()) << m75.error();
  EXPECT_FALSE(m75->sm_compatible);
}

TEST(KernelTable, PtxOnlyFatbinUsesPtx) {
  std::vector<uint8_t> bytes = load_artifact("kernels_ptx_only.fatbin");
  Result<ModuleInfo> mod = parse_kernels(bytes.data(), bytes.size(), 90);
  ASSERT_TRUE(mod.ok()) << mod.error();
  EXPECT_EQ(mod->parsed_kind, ImageKind::kPtx);
  EXPECT_EQ(mod->find_kernel(kMixedName)->layout, mixed_layout());
}

TEST(KernelTable, RejectsNonImages) {
  const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_FALSE(parse_kernels(junk, sizeof junk).ok());
  EXPECT_FALSE(parse_kernels(nullptr, 0).ok());
  EXPECT_FALSE(parse_kernels(junk, 0).ok());
  const char text[] = "hello world";
  Result<ModuleInfo> r = parse_kernels(reinterpret_cast<const uint8_t*>(text), sizeof text);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not a fatbin"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace rgpu::image::test
