// bench/driver_loop.cc — rgpu_driver_loop: the driver-API training-like loop (shim_driver.h
// train_steps) as a program of its own, so that figure 6 (bench/figure6.sh) runs it over
// emulated links as it runs the cudart train_loop.
//
//   rgpu_driver_loop [--steps N] [--shim PATH] [--fatbin PATH]
//
// The server comes from the environment, as for any program on the shim (RGPU_SERVER, ...).
// Exit status 0 when every call succeeded, 2 naming the call that failed, 1 on usage errors.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/shim_driver.h"

int main(int argc, char** argv) {
  std::string shim = RGPU_BENCH_BUILD_DIR "/lib/rgpu/libcuda.so.1";
  std::string fatbin = RGPU_BENCH_FATBIN;
  int steps = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--steps" && has_value) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end || v < 0 || v > 1000000) {
        std::fprintf(stderr, "rgpu_driver_loop: --steps takes 0..1000000, not '%s'\n", argv[i]);
        return 1;
      }
      steps = static_cast<int>(v);
    } else if (a == "--shim" && has_value) {
      shim = argv[++i];
    } else if (a == "--fatbin" && has_value) {
      fatbin = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: rgpu_driver_loop [--steps N] [--shim PATH] [--fatbin PATH]\n"
          "Runs the driver-API training-like loop through the shim (server from "
          "RGPU_SERVER).\n");
      return 0;
    } else {
      std::fprintf(stderr, "rgpu_driver_loop: unknown or incomplete argument '%s' (see --help)\n",
                   a.c_str());
      return 1;
    }
  }
  std::ifstream in(fatbin, std::ios::binary);
  std::stringstream image;
  image << in.rdbuf();
  if (!in || image.str().empty()) {
    std::fprintf(stderr, "rgpu_driver_loop: cannot read %s\n", fatbin.c_str());
    return 1;
  }
  rgpu::bench::ShimDriver d;
  std::string err;
  if (!d.load(shim, &err)) {
    std::fprintf(stderr, "rgpu_driver_loop: %s\n", err.c_str());
    return 1;
  }
  CK(d.Init(0));
  CUdevice dev;
  CK(d.DeviceGet(&dev, 0));
  CUcontext ctx;
  CK(d.PrimaryCtxRetain(&ctx, dev));
  CK(d.CtxSetCurrent(ctx));
  rgpu::bench::train_steps(d, image.str(), steps);
  std::printf("rgpu_driver_loop: %d steps\n", steps);
  return 0;
}
