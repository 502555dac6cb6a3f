// tests/e2e/device_printf.cu — device printf through rgpu: the kernels' lines reach this
// program's stdout by the next synchronizing call, after what the host printed before the
// launch, as on a GPU.
//
// Usage: device_printf     exits 0 after checking, when stdout is a regular file (as the e2e
//                          runner makes it), that the six device lines are in it once
//                          cudaDeviceSynchronize returns, and after the "host before" line.
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "e2e_check.h"

__global__ void hello(int n, const char* tag) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n) return;
  int r = printf("dev %s t=%d sq=%d half=%.2f hex=%#x\n", tag, t, t * t, t * 0.5f, t + 250);
  if (r != 5) printf("dev bad printf return %d\n", r);
}

int main() {
  std::printf("host before\n");
  const char tag[] = "ptx";
  char* dtag = nullptr;
  CHECK_CUDA(cudaMalloc(&dtag, sizeof tag));
  CHECK_CUDA(cudaMemcpy(dtag, tag, sizeof tag, cudaMemcpyHostToDevice));
  hello<<<2, 4>>>(6, dtag);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  std::fflush(stdout);
  struct stat st {};
  if (fstat(1, &st) == 0 && S_ISREG(st.st_mode)) {
    std::ifstream in("/proc/self/fd/1");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string out = ss.str();
    const size_t before = out.find("host before\n");
    EXPECT_TRUE(before != std::string::npos, "stdout lacks the host's first line");
    for (int t = 0; t < 6; ++t) {
      char line[96];
      std::snprintf(line, sizeof line, "dev ptx t=%d sq=%d half=%.2f hex=%#x\n", t, t * t, t * 0.5,
                    t + 250);
      const size_t at = out.find(line);
      EXPECT_TRUE(at != std::string::npos && at > before,
                  "after cudaDeviceSynchronize stdout lacks (or has before the host's line) %s",
                  line);
      EXPECT_TRUE(out.find(line, at + 1) == std::string::npos, "printed twice: %s", line);
    }
    EXPECT_TRUE(out.find("bad printf return") == std::string::npos, "printf's return value");
  }
  CHECK_CUDA(cudaFree(dtag));
  e2e_pass("device_printf");
  return 0;
}
