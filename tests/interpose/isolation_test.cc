// Contract 7: libcuda.so.1 loads into a process that has its own libstdc++, OpenSSL and LZ4
// loaded, and neither side's copies leak into the other. Built against the system's shared
// libraries on purpose; meaningful for the self-contained (RGPU_STATIC_DEPS) shim only.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <lz4.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

using InitFn = int (*)(unsigned);
using VersionFn = int (*)(int*);

std::string library_of(void* addr) {
  Dl_info info{};
  if (dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "?";
  return info.dli_fname;
}

std::string sha256_hex(const std::string& s) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  std::ostringstream out;
  for (unsigned i = 0; i < n; ++i) out << std::hex << (md[i] >> 4) << (md[i] & 15);
  return out.str();
}

void host_libraries_work() {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string text(4096, 'r');
  std::vector<char> packed(LZ4_compressBound(static_cast<int>(text.size())));
  int n = LZ4_compress_default(text.data(), packed.data(), static_cast<int>(text.size()),
                               static_cast<int>(packed.size()));
  ASSERT_GT(n, 0);
  std::string back(text.size(), '\0');
  EXPECT_EQ(LZ4_decompress_safe(packed.data(), back.data(), n, static_cast<int>(back.size())),
            static_cast<int>(text.size()));
  EXPECT_EQ(back, text);
}

TEST(Isolation, ShimAndHostKeepTheirOwnLibraries) {
#if !RGPU_TEST_STATIC_DEPS
  GTEST_SKIP() << "only the self-contained (RGPU_STATIC_DEPS=ON) shim hides its dependencies";
#endif
  host_libraries_work();
  unsetenv("RGPU_SERVER");
  unsetenv("RGPU_POOL");
  void* shim = dlopen(RGPU_SHIM_PATH, RTLD_NOW);  // as cudart opens it
  ASSERT_NE(shim, nullptr) << dlerror();
  // The shim works: driver version is local, cuInit fails cleanly without a server.
  auto version = reinterpret_cast<VersionFn>(dlsym(shim, "cuDriverGetVersion"));
  ASSERT_NE(version, nullptr);
  int v = 0;
  EXPECT_EQ(version(&v), 0);
  EXPECT_GE(v, 13000);
  auto init = reinterpret_cast<InitFn>(dlsym(shim, "cuInit"));
  ASSERT_NE(init, nullptr);
  EXPECT_NE(init(0), 0);
  // The shim offers none of its private copies, even through its own lookup scope.
  for (const char* name : {"EVP_sha256", "SSL_new", "LZ4_compress_default", "ZSTD_decompress",
                           "_ZN2kj9ExceptionD1Ev", "_ZNSt6chrono3_V212steady_clock3nowEv"}) {
    void* p = dlsym(shim, name);
    EXPECT_EQ(p, nullptr) << name << " resolves inside libcuda.so.1's scope to "
                          << (p ? library_of(p) : "");
  }
  // The host's symbols still come from the host's libraries.
  EXPECT_NE(library_of(reinterpret_cast<void*>(&EVP_sha256)).find("libcrypto"), std::string::npos);
  EXPECT_NE(library_of(reinterpret_cast<void*>(&LZ4_compress_default)).find("liblz4"),
            std::string::npos);
  host_libraries_work();
}

}  // namespace
