/* tests/e2e/nvml_client.c — an NVML client as monitoring tools and PyTorch are: dlopen
 * libnvidia-ml.so.1 (rgpu's, found through LD_LIBRARY_PATH beside the shim) and ask about the
 * devices. Checks: the device count equals CUDA's; names, UUIDs and PCI ids agree with CUDA's
 * and find their handles again; total memory is the vGPU's cap and used memory grows by what
 * this process allocates; this process is listed with that memory; what a vGPU cannot report
 * is NVML_ERROR_NOT_SUPPORTED; versions are CUDA's. Prints "PASS nvml". */
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;
typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
typedef struct {
  unsigned int gpu, memory;
} nvmlUtilization_t;

#define FAIL(...)                                      \
  do {                                                 \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                      \
    fprintf(stderr, "\n");                             \
    exit(1);                                           \
  } while (0)
#define CHECK(expr, ...) \
  do {                   \
    if (!(expr)) FAIL(__VA_ARGS__); \
  } while (0)

static void* sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) FAIL("libnvidia-ml.so.1 does not export %s", name);
  return p;
}

int main(void) {
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW);
  CHECK(nvml, "dlopen libnvidia-ml.so.1: %s", dlerror());
  void* cuda = dlopen("libcuda.so.1", RTLD_NOW);
  CHECK(cuda, "dlopen libcuda.so.1: %s", dlerror());
  int (*Init)(void) = sym(nvml, "nvmlInit_v2");
  int (*Shutdown)(void) = sym(nvml, "nvmlShutdown");
  int (*Count)(unsigned*) = sym(nvml, "nvmlDeviceGetCount_v2");
  int (*ByIndex)(unsigned, nvmlDevice_t*) = sym(nvml, "nvmlDeviceGetHandleByIndex_v2");
  int (*ByUuid)(const char*, nvmlDevice_t*) = sym(nvml, "nvmlDeviceGetHandleByUUID");
  int (*ByPci)(const char*, nvmlDevice_t*) = sym(nvml, "nvmlDeviceGetHandleByPciBusId_v2");
  int (*Name)(nvmlDevice_t, char*, unsigned) = sym(nvml, "nvmlDeviceGetName");
  int (*Uuid)(nvmlDevice_t, char*, unsigned) = sym(nvml, "nvmlDeviceGetUUID");
  int (*Pci)(nvmlDevice_t, nvmlPciInfo_t*) = sym(nvml, "nvmlDeviceGetPciInfo_v3");
  int (*Mem)(nvmlDevice_t, nvmlMemory_t*) = sym(nvml, "nvmlDeviceGetMemoryInfo");
  int (*Procs)(nvmlDevice_t, unsigned*, nvmlProcessInfo_t*) =
      sym(nvml, "nvmlDeviceGetComputeRunningProcesses_v3");
  int (*Util)(nvmlDevice_t, nvmlUtilization_t*) = sym(nvml, "nvmlDeviceGetUtilizationRates");
  int (*CudaVersion)(int*) = sym(nvml, "nvmlSystemGetCudaDriverVersion_v2");
  int (*P2P)(nvmlDevice_t, nvmlDevice_t, int, int*) = sym(nvml, "nvmlDeviceGetP2PStatus");
  CUresult (*cuInit_)(unsigned) = sym(cuda, "cuInit");
  CUresult (*cuCount)(int*) = sym(cuda, "cuDeviceGetCount");
  CUresult (*cuName)(char*, int, CUdevice) = sym(cuda, "cuDeviceGetName");
  CUresult (*cuTotal)(size_t*, CUdevice) = sym(cuda, "cuDeviceTotalMem_v2");
  CUresult (*cuVersion)(int*) = sym(cuda, "cuDriverGetVersion");
  CUresult (*cuRetain)(CUcontext*, CUdevice) = sym(cuda, "cuDevicePrimaryCtxRetain");
  CUresult (*cuSetCurrent)(CUcontext) = sym(cuda, "cuCtxSetCurrent");
  CUresult (*cuAlloc)(CUdeviceptr*, size_t) = sym(cuda, "cuMemAlloc_v2");

  CHECK(Init() == 0, "nvmlInit_v2 failed");
  CHECK(cuInit_(0) == CUDA_SUCCESS, "cuInit failed");
  int n = 0;
  unsigned count = 0;
  CHECK(cuCount(&n) == CUDA_SUCCESS && Count(&count) == 0, "device counts");
  CHECK(n >= 1 && count == (unsigned)n, "NVML sees %u devices, CUDA %d", count, n);
  int v = 0, cv = 0;
  CHECK(CudaVersion(&v) == 0 && cuVersion(&cv) == CUDA_SUCCESS && v == cv, "CUDA versions %d %d", v,
        cv);
  for (unsigned i = 0; i < count; ++i) {
    nvmlDevice_t d, again;
    CHECK(ByIndex(i, &d) == 0, "handle %u", i);
    char name[256], cname[256], uuid[96];
    CHECK(Name(d, name, sizeof name) == 0 && cuName(cname, sizeof cname, (CUdevice)i) == 0 &&
              strcmp(name, cname) == 0,
          "device %u is named '%s' by NVML and '%s' by CUDA", i, name, cname);
    CHECK(Uuid(d, uuid, sizeof uuid) == 0 && strncmp(uuid, "GPU-", 4) == 0 && strlen(uuid) == 40,
          "UUID '%s'", uuid);
    CHECK(ByUuid(uuid, &again) == 0 && again == d, "the UUID does not find its device");
    nvmlPciInfo_t pci;
    CHECK(Pci(d, &pci) == 0 && ByPci(pci.busId, &again) == 0 && again == d,
          "the PCI id %s does not find its device", pci.busId);
    nvmlMemory_t m0, m1;
    size_t total = 0;
    CHECK(Mem(d, &m0) == 0 && cuTotal(&total, (CUdevice)i) == 0 && m0.total == total,
          "memory total %llu, the vGPU's cap %zu", m0.total, total);
    CUcontext ctx;
    CHECK(cuRetain(&ctx, (CUdevice)i) == 0 && cuSetCurrent(ctx) == 0, "context");
    CUdeviceptr p;
    CHECK(cuAlloc(&p, 64u << 20) == CUDA_SUCCESS, "cuMemAlloc");
    CHECK(Mem(d, &m1) == 0 && m1.used >= m0.used + (64u << 20) && m1.free + m1.used == m1.total,
          "used %llu -> %llu after a 64 MiB allocation", m0.used, m1.used);
    nvmlProcessInfo_t procs[4];
    unsigned np = 4;
    CHECK(Procs(d, &np, procs) == 0 && np == 1 && procs[0].pid == (unsigned)getpid() &&
              procs[0].usedGpuMemory == m1.used,
          "processes: %u, pid %u", np, np ? procs[0].pid : 0);
    nvmlUtilization_t u;
    CHECK(Util(d, &u) == 3, "utilization must be NOT_SUPPORTED, not a made-up number");
    int st = -1;
    CHECK(P2P(d, d, 0, &st) == 0 && st == 0, "P2P with itself");
  }
  CHECK(Shutdown() == 0, "nvmlShutdown");
  printf("PASS nvml\n");
  return 0;
}
