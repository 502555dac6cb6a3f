// tests/sim/ptx_fixture.h — a sim backend (--sim-exec ptx) with one nvcc-built PTX module
// loaded, and helpers to move data and launch its kernels by name (ptx_*_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/backend/sim_backend.h"
#include "server/backend/va_window.h"

namespace rgpu::server {

inline std::string read_text(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Packs kernel arguments with their natural alignment, as the shim does from the layout.
struct Args {
  std::vector<uint8_t> bytes;
  template <typename T>
  Args& add(T v) {
    const size_t a = alignof(T);
    bytes.resize((bytes.size() + a - 1) / a * a);
    const size_t at = bytes.size();
    bytes.resize(at + sizeof v);
    std::memcpy(bytes.data() + at, &v, sizeof v);
    return *this;
  }
};

class PtxFixture : public ::testing::Test {
 protected:
  explicit PtxFixture(const char* ptx_path) : backend(nullptr, 0, SimExec::kPtx) {
    Status st = backend.open({0x300000000000ull, kDefaultVaSize, 256ull << 20});
    EXPECT_TRUE(st.ok()) << st.text;
    const std::string text = read_text(ptx_path);
    EXPECT_FALSE(text.empty());
    st = backend.module_load(1, reinterpret_cast<const uint8_t*>(text.c_str()), text.size() + 1);
    EXPECT_TRUE(st.ok()) << st.text;
  }
  template <typename T>
  uint64_t upload(const std::vector<T>& v) {
    uint64_t d = 0;
    EXPECT_TRUE(backend.mem_alloc(std::max<size_t>(1, v.size() * sizeof(T)), 0, &d).ok());
    if (!v.empty()) {
      EXPECT_TRUE(backend.memcpy_htod(d, v.data(), v.size() * sizeof(T), 0).ok());
    }
    return d;
  }
  template <typename T>
  std::vector<T> download(uint64_t d, size_t n) {
    std::vector<T> v(n);
    Status st = backend.memcpy_dtoh(v.data(), d, n * sizeof(T), 0);
    EXPECT_TRUE(st.ok()) << st.text;
    return v;
  }
  Status launch(const char* name, const Args& a, uint32_t grid, uint32_t block, uint32_t shared = 0,
                uint32_t gy = 1, uint32_t gz = 1, uint32_t by = 1, uint32_t bz = 1) {
    const uint64_t fn = next_fn++;
    FunctionInfo info;
    Status st = backend.module_get_function(1, fn, name, &info);
    if (!st.ok()) return st;
    if (shared > 48 * 1024) backend.func_set_attribute(fn, 8, static_cast<int32_t>(shared));
    LaunchConfig c;
    c.function = fn;
    c.grid[0] = grid;
    c.grid[1] = gy;
    c.grid[2] = gz;
    c.block[0] = block;
    c.block[1] = by;
    c.block[2] = bz;
    c.shared_mem = shared;
    c.params = a.bytes.data();
    c.param_bytes = static_cast<uint32_t>(a.bytes.size());
    return backend.launch(c);
  }
  SimBackend backend;
  uint64_t next_fn = 100;
};

}  // namespace rgpu::server
