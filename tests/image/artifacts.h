// tests/image/artifacts.h: loads the nvcc-built test modules (see CMakeLists.txt).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "protocol/image/module_info.h"

namespace rgpu::image::test {

inline std::vector<uint8_t> load_artifact(const std::string& name) {
  std::ifstream in(std::string(RGPU_IMAGE_ARTIFACTS) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing artifact " << name;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline bool is_ptx_name(const std::string& name) {
  return name.ends_with(".ptx");
}

// The image as the driver receives it: PTX NUL-terminated, binaries as written.
inline std::vector<uint8_t> load_image(const std::string& name) {
  std::vector<uint8_t> v = load_artifact(name);
  if (is_ptx_name(name)) v.push_back(0);
  return v;
}

inline std::vector<uint8_t> load_ptx_cstring() {
  return load_image("kernels.ptx");
}

// The SM to ask parse_kernels() for, which is also the SM of the entry it must pick.
inline int artifact_sm(const std::string& name) {
  return name.find("sm100_120") != std::string::npos ? 120 : 90;
}

inline const char* const kMixedName = "_Z11mixedParamscsd3BigPfx";

inline const std::vector<std::string>& all_artifacts() {
  static const std::vector<std::string> names = {
      "kernels.cubin",           "kernels.ptx",
      "kernels.fatbin",          "kernels_compress_all.fatbin",
      "kernels_ptx_only.fatbin", "kernels_no_compress.fatbin",
      "kernels_multi.fatbin",    "kernels_sm100_120.fatbin",
      "kernels_rdc.cubin",       "kernels_debug.ptx",
  };
  return names;
}

inline ParamLayout vector_add_layout() {
  return {{{0, 8}, {8, 8}, {16, 8}, {24, 4}}, 28};
}
inline ParamLayout mixed_layout() {
  return {{{0, 1}, {2, 2}, {8, 8}, {16, 32}, {48, 8}, {56, 8}}, 64};
}

}  // namespace rgpu::image::test
