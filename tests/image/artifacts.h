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

// PTX as the driver receives it: NUL-terminated.
inline std::vector<uint8_t> load_ptx_cstring() {
  std::vector<uint8_t> v = load_artifact("kernels.ptx");
  v.push_back(0);
  return v;
}

inline const char* const kMixedName = "_Z11mixedParamscsd3BigPfx";

inline const std::vector<std::string>& all_artifacts() {
  static const std::vector<std::string> names = {
      "kernels.cubin",           "kernels.ptx",
      "kernels.fatbin",          "kernels_compress_all.fatbin",
      "kernels_ptx_only.fatbin", "kernels_no_compress.fatbin",
      "kernels_multi.fatbin",
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
