// tests/server/sim_session_fixture.h — a Session on a SimBackend in-process, with two host kernels
// (vec_add, fail_kernel) and helpers that send one op as a lane would. Shared by the session's
// tests (sim_session_test.cc) and the image cache's (image_cache_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "server/backend/sim_backend.h"
#include "server/backend/va_window.h"
#include "server/worker/session.h"
#include "tests/server/test_client.h"

namespace rgpu::server {

inline constexpr uint64_t kBase = 0x300000000000ull;
inline constexpr uint64_t kCap = 64ull << 20;

inline int host_vec_add(const rgpu_sim_launch* l) {
  const float *a, *b;
  float* c;
  int n;
  std::memcpy(&a, l->params + 0, 8);
  std::memcpy(&b, l->params + 8, 8);
  std::memcpy(&c, l->params + 16, 8);
  std::memcpy(&n, l->params + 24, 4);
  for (int i = 0; i < n; ++i) c[i] = a[i] + b[i];
  return 0;
}
inline int host_fail(const rgpu_sim_launch*) {
  return 7;
}

class SimSession : public ::testing::Test {
 protected:
  SimSession() : backend(&registry, 0), session(backend, meter) {
    registry.add("vec_add", host_vec_add);
    registry.add("fail_kernel", host_fail);
    Status st = backend.open({kBase, kDefaultVaSize, kCap});
    EXPECT_TRUE(st.ok()) << st.text;
  }
  template <typename O>
  OpReply sync(const typename O::Args& a, const void* payload = nullptr, uint64_t len = 0) {
    return session.sync(static_cast<uint16_t>(O::kCode), reinterpret_cast<const uint8_t*>(&a),
                        sizeof a, static_cast<const uint8_t*>(payload), len);
  }
  template <typename O>
  void async(const typename O::Args& a, const void* payload = nullptr, uint64_t len = 0) {
    session.async(static_cast<uint16_t>(O::kCode), reinterpret_cast<const uint8_t*>(&a), sizeof a,
                  static_cast<const uint8_t*>(payload), len);
  }
  uint64_t alloc(uint64_t n) {
    OpReply r = sync<op::MemAlloc>({n});
    EXPECT_TRUE(r.status.ok()) << r.status.text;
    op::MemAlloc::Result res{};
    std::memcpy(&res, r.result.data(), sizeof res);
    return res.dptr;
  }
  template <typename R>
  static R result(const OpReply& r) {
    R out{};
    EXPECT_EQ(r.result.size(), sizeof out);
    if (r.result.size() == sizeof out) std::memcpy(&out, r.result.data(), sizeof out);
    return out;
  }
  std::vector<uint8_t> dtoh(uint64_t src, uint64_t n) {
    OpReply r = sync<op::MemcpyDtoH>({src, n, 0, 0});
    EXPECT_TRUE(r.status.ok()) << r.status.text;
    return r.payload;
  }
  uint64_t load_module(uint64_t id, const std::string& path) {
    auto img = test::read_file(path);
    EXPECT_FALSE(img.empty()) << path;
    OpReply r = sync<op::ModuleLoad>({id, 0}, img.data(), img.size());
    EXPECT_TRUE(r.status.ok()) << r.status.text;
    return id;
  }
  OpReply get_function(uint64_t module, uint64_t fn, const char* name) {
    return sync<op::ModuleGetFunction>({module, fn}, name, std::strlen(name) + 1);
  }

  SimKernelRegistry registry;
  SimBackend backend;
  SessionMeter meter;
  Session session;
};

}  // namespace rgpu::server
