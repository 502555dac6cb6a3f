/* interpose/nvml/nvml_shim.c — libnvidia-ml.so.1: NVML for rgpu's vGPUs.
 *
 * Contract:
 * - Answers NVML from the CUDA driver API of the libcuda.so.1 in this library's own directory
 *   (rgpu's shim; dlopen of that path in a process that already uses it shares its session):
 *   device count = cuDeviceGetCount, handles by index, UUID and PCI bus id, name, UUID, PCI
 *   info, memory (total = the vGPU's cap, used = this session's, from cuMemGetInfo under the
 *   device's primary context, pushed and popped so the caller's current context is untouched),
 *   driver and CUDA versions, this process as the device's one compute process, P2P status
 *   (only a device with itself: each vGPU is another server).
 * - What a vGPU cannot report (utilization, temperature, power, clocks, fan, NvLink) is
 *   NVML_ERROR_NOT_SUPPORTED, never a made-up number. An NVML function not written here is not
 *   exported (a caller resolving it finds it missing).
 * - Plain C and libc/libdl only; exports nvml* symbols only (nvml_exports.map).
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NVML_API __attribute__((visibility("default")))

typedef enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_LIBRARY_NOT_FOUND = 12,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

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
  unsigned int version;
  unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct {
  unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef enum { NVML_P2P_STATUS_OK = 0, NVML_P2P_STATUS_NOT_SUPPORTED = 5 } nvmlGpuP2PStatus_t;

/* The CUDA driver entry points NVML needs, from the shim beside this library. */
static struct {
  void* lib;
  CUresult (*Init)(unsigned);
  CUresult (*DriverGetVersion)(int*);
  CUresult (*DeviceGetCount)(int*);
  CUresult (*DeviceGet)(CUdevice*, int);
  CUresult (*DeviceGetName)(char*, int, CUdevice);
  CUresult (*DeviceGetUuid)(CUuuid*, CUdevice);
  CUresult (*DeviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
  CUresult (*DeviceTotalMem)(size_t*, CUdevice);
  CUresult (*PrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*CtxPushCurrent)(CUcontext);
  CUresult (*CtxPopCurrent)(CUcontext*);
  CUresult (*MemGetInfo)(size_t*, size_t*);
} cu;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_inits = 0; /* nvmlInit calls not yet matched by nvmlShutdown */
static int g_count = 0;
static CUcontext g_ctx[64];
/* Handles are pointers into this array; device i is g_handles + i. */
static char g_handles[64];

static nvmlReturn_t load(void) {
  if (cu.lib) return NVML_SUCCESS;
  Dl_info info;
  char path[4096];
  if (!dladdr((void*)&load, &info) || !info.dli_fname) return NVML_ERROR_LIBRARY_NOT_FOUND;
  const char* slash = strrchr(info.dli_fname, '/');
  int dir = slash ? (int)(slash - info.dli_fname) : 0;
  if (snprintf(path, sizeof path, "%.*s%slibcuda.so.1", dir, info.dli_fname, slash ? "/" : "") >=
      (int)sizeof path)
    return NVML_ERROR_LIBRARY_NOT_FOUND;
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "rgpu nvml: cannot load %s: %s\n", path, dlerror());
    return NVML_ERROR_LIBRARY_NOT_FOUND;
  }
#define RESOLVE(field, name)                                   \
  *(void**)(&cu.field) = dlsym(lib, name);                     \
  if (!cu.field) {                                             \
    fprintf(stderr, "rgpu nvml: %s lacks %s\n", path, name);   \
    dlclose(lib);                                              \
    return NVML_ERROR_FUNCTION_NOT_FOUND;                      \
  }
  RESOLVE(Init, "cuInit");
  RESOLVE(DriverGetVersion, "cuDriverGetVersion");
  RESOLVE(DeviceGetCount, "cuDeviceGetCount");
  RESOLVE(DeviceGet, "cuDeviceGet");
  RESOLVE(DeviceGetName, "cuDeviceGetName");
  RESOLVE(DeviceGetUuid, "cuDeviceGetUuid_v2");
  RESOLVE(DeviceGetAttribute, "cuDeviceGetAttribute");
  RESOLVE(DeviceTotalMem, "cuDeviceTotalMem_v2");
  RESOLVE(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  RESOLVE(CtxPushCurrent, "cuCtxPushCurrent_v2");
  RESOLVE(CtxPopCurrent, "cuCtxPopCurrent_v2");
  RESOLVE(MemGetInfo, "cuMemGetInfo_v2");
#undef RESOLVE
  cu.lib = lib;
  return NVML_SUCCESS;
}

static int index_of(nvmlDevice_t d) {
  const char* p = (const char*)d;
  if (p < g_handles || p >= g_handles + g_count) return -1;
  return (int)(p - g_handles);
}

#define DEVICE_OR_RETURN(d, i)                            \
  int i;                                                  \
  do {                                                    \
    if (!g_inits) return NVML_ERROR_UNINITIALIZED;        \
    i = index_of(d);                                      \
    if (i < 0) return NVML_ERROR_INVALID_ARGUMENT;        \
  } while (0)

NVML_API nvmlReturn_t nvmlInit_v2(void) {
  pthread_mutex_lock(&g_mu);
  nvmlReturn_t r = load();
  if (r == NVML_SUCCESS && !g_inits) {
    int n = 0;
    if (cu.Init(0) != CUDA_SUCCESS || cu.DeviceGetCount(&n) != CUDA_SUCCESS)
      r = NVML_ERROR_DRIVER_NOT_LOADED;
    else
      g_count = n < 64 ? n : 64;
  }
  if (r == NVML_SUCCESS) g_inits++;
  pthread_mutex_unlock(&g_mu);
  return r;
}
NVML_API nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
NVML_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
  (void)flags;
  return nvmlInit_v2();
}
NVML_API nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&g_mu);
  nvmlReturn_t r = g_inits ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
  if (g_inits) g_inits--;
  pthread_mutex_unlock(&g_mu);
  return r;
}

NVML_API const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    default: return "Unknown Error";
  }
}

NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (!g_inits) return NVML_ERROR_UNINITIALIZED;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = (unsigned)g_count;
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) { return nvmlDeviceGetCount_v2(count); }

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (!g_inits) return NVML_ERROR_UNINITIALIZED;
  if (!device || index >= (unsigned)g_count) return NVML_ERROR_INVALID_ARGUMENT;
  *device = (nvmlDevice_t)(g_handles + index);
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int* index) {
  DEVICE_OR_RETURN(device, i);
  if (!index) return NVML_ERROR_INVALID_ARGUMENT;
  *index = (unsigned)i;
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor) {
  return nvmlDeviceGetIndex(device, minor);
}

NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  DEVICE_OR_RETURN(device, i);
  if (!name || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
  char buf[256];
  CUdevice d;
  if (cu.DeviceGet(&d, i) != CUDA_SUCCESS || cu.DeviceGetName(buf, sizeof buf, d) != CUDA_SUCCESS)
    return NVML_ERROR_UNKNOWN;
  if (strlen(buf) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(name, buf, strlen(buf) + 1);
  return NVML_SUCCESS;
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi prints it. */
static int uuid_text(int i, char* out, size_t n) {
  CUdevice d;
  CUuuid u;
  if (cu.DeviceGet(&d, i) != CUDA_SUCCESS || cu.DeviceGetUuid(&u, d) != CUDA_SUCCESS) return -1;
  const unsigned char* b = (const unsigned char*)u.bytes;
  return snprintf(out, n,
                  "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
}

NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  DEVICE_OR_RETURN(device, i);
  if (!uuid) return NVML_ERROR_INVALID_ARGUMENT;
  char buf[96];
  int n = uuid_text(i, buf, sizeof buf);
  if (n < 0) return NVML_ERROR_UNKNOWN;
  if ((unsigned)n + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(uuid, buf, (size_t)n + 1);
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* device) {
  if (!g_inits) return NVML_ERROR_UNINITIALIZED;
  if (!uuid || !device) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < g_count; ++i) {
    char buf[96];
    if (uuid_text(i, buf, sizeof buf) > 0 && strcmp(buf, uuid) == 0) {
      *device = (nvmlDevice_t)(g_handles + i);
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

static nvmlReturn_t pci_of(int i, nvmlPciInfo_t* pci) {
  CUdevice d;
  int dom = 0, bus = 0, dev = 0;
  if (cu.DeviceGet(&d, i) != CUDA_SUCCESS ||
      cu.DeviceGetAttribute(&dom, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, d) != CUDA_SUCCESS ||
      cu.DeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, d) != CUDA_SUCCESS ||
      cu.DeviceGetAttribute(&dev, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, d) != CUDA_SUCCESS)
    return NVML_ERROR_UNKNOWN;
  memset(pci, 0, sizeof *pci);
  pci->domain = (unsigned)dom;
  pci->bus = (unsigned)bus;
  pci->device = (unsigned)dev;
  pci->pciDeviceId = 0x10de; /* NVIDIA's vendor id; the device id is the provider's secret */
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", dom & 0xffff, bus, dev);
  snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", (unsigned)dom, bus, dev);
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  DEVICE_OR_RETURN(device, i);
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  return pci_of(i, pci);
}
NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  return nvmlDeviceGetPciInfo_v3(device, pci);
}
NVML_API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  return nvmlDeviceGetPciInfo_v3(device, pci);
}

/* "dddd:bb:dd.f" or "dddddddd:bb:dd.f", any case, domain optional. */
NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char* id, nvmlDevice_t* device) {
  if (!g_inits) return NVML_ERROR_UNINITIALIZED;
  if (!id || !device) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned dom = 0, bus = 0, dev = 0, fn = 0;
  if (sscanf(id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
    dom = 0;
    if (sscanf(id, "%x:%x.%x", &bus, &dev, &fn) != 3) return NVML_ERROR_INVALID_ARGUMENT;
  }
  for (int i = 0; i < g_count; ++i) {
    nvmlPciInfo_t p;
    if (pci_of(i, &p) == NVML_SUCCESS && p.domain == dom && p.bus == bus && p.device == dev) {
      *device = (nvmlDevice_t)(g_handles + i);
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}
NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char* id, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByPciBusId_v2(id, device);
}

static nvmlReturn_t memory_of(int i, unsigned long long* total, unsigned long long* free_b) {
  CUdevice d;
  if (cu.DeviceGet(&d, i) != CUDA_SUCCESS) return NVML_ERROR_UNKNOWN;
  pthread_mutex_lock(&g_mu);
  CUresult r = g_ctx[i] ? CUDA_SUCCESS : cu.PrimaryCtxRetain(&g_ctx[i], d);
  pthread_mutex_unlock(&g_mu);
  if (r != CUDA_SUCCESS) return NVML_ERROR_UNKNOWN;
  size_t f = 0, t = 0;
  CUcontext popped;
  if (cu.CtxPushCurrent(g_ctx[i]) != CUDA_SUCCESS) return NVML_ERROR_UNKNOWN;
  r = cu.MemGetInfo(&f, &t);
  cu.CtxPopCurrent(&popped);
  if (r != CUDA_SUCCESS) return NVML_ERROR_UNKNOWN;
  *total = t;
  *free_b = f;
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* mem) {
  DEVICE_OR_RETURN(device, i);
  if (!mem) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total, free_b;
  nvmlReturn_t r = memory_of(i, &total, &free_b);
  if (r != NVML_SUCCESS) return r;
  mem->total = total;
  mem->free = free_b;
  mem->used = total - free_b;
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* mem) {
  DEVICE_OR_RETURN(device, i);
  if (!mem || mem->version != ((unsigned)sizeof(nvmlMemory_v2_t) | (2u << 24)))
    return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total, free_b;
  nvmlReturn_t r = memory_of(i, &total, &free_b);
  if (r != NVML_SUCCESS) return r;
  mem->total = total;
  mem->reserved = 0;
  mem->free = free_b;
  mem->used = total - free_b;
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                              unsigned int* count,
                                                              nvmlProcessInfo_t* infos) {
  DEVICE_OR_RETURN(device, i);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total, free_b;
  nvmlReturn_t r = memory_of(i, &total, &free_b);
  if (r != NVML_SUCCESS) return r;
  if (*count < 1 || !infos) {
    *count = 1;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  infos[0].pid = (unsigned)getpid();
  infos[0].usedGpuMemory = total - free_b;
  infos[0].gpuInstanceId = 0xFFFFFFFFu;
  infos[0].computeInstanceId = 0xFFFFFFFFu;
  *count = 1;
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                              unsigned int* count,
                                                              nvmlProcessInfo_t* infos) {
  return nvmlDeviceGetComputeRunningProcesses_v3(device, count, infos);
}
NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                           unsigned int* count,
                                                           nvmlProcessInfo_t* infos) {
  return nvmlDeviceGetComputeRunningProcesses_v3(device, count, infos);
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* version) {
  if (!version) return NVML_ERROR_INVALID_ARGUMENT;
  if (load() != NVML_SUCCESS || cu.DriverGetVersion(version) != CUDA_SUCCESS)
    return NVML_ERROR_LIBRARY_NOT_FOUND;
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* version) {
  return nvmlSystemGetCudaDriverVersion_v2(version);
}
NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  if (!g_inits) return NVML_ERROR_UNINITIALIZED;
  if (!version) return NVML_ERROR_INVALID_ARGUMENT;
  int v = 0;
  if (cu.DriverGetVersion(&v) != CUDA_SUCCESS) return NVML_ERROR_UNKNOWN;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d.%d (rgpu)", v / 1000, (v % 1000) / 10);
  if ((unsigned)n + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(version, buf, (size_t)n + 1);
  return NVML_SUCCESS;
}
NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char* version, unsigned int length) {
  const char* v = "12.0 (rgpu)";
  if (!version) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(v) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(version, v, strlen(v) + 1);
  return NVML_SUCCESS;
}

/* Each vGPU is another server: peer access only from a device to itself. */
NVML_API nvmlReturn_t nvmlDeviceGetP2PStatus(nvmlDevice_t a, nvmlDevice_t b, int caps,
                                             nvmlGpuP2PStatus_t* status) {
  (void)caps;
  DEVICE_OR_RETURN(a, i);
  int j = index_of(b);
  if (j < 0 || !status) return NVML_ERROR_INVALID_ARGUMENT;
  *status = i == j ? NVML_P2P_STATUS_OK : NVML_P2P_STATUS_NOT_SUPPORTED;
  return NVML_SUCCESS;
}

/* What a vGPU cannot report. */
#define NOT_SUPPORTED_1(name, T1)                  \
  NVML_API nvmlReturn_t name(nvmlDevice_t d, T1) { \
    DEVICE_OR_RETURN(d, i);                        \
    (void)i;                                       \
    return NVML_ERROR_NOT_SUPPORTED;               \
  }
#define NOT_SUPPORTED_2(name, T1, T2)                    \
  NVML_API nvmlReturn_t name(nvmlDevice_t d, T1, T2) {   \
    DEVICE_OR_RETURN(d, i);                              \
    (void)i;                                             \
    return NVML_ERROR_NOT_SUPPORTED;                     \
  }
NOT_SUPPORTED_1(nvmlDeviceGetUtilizationRates, nvmlUtilization_t* u)
NOT_SUPPORTED_1(nvmlDeviceGetPowerUsage, unsigned int* p)
NOT_SUPPORTED_1(nvmlDeviceGetFanSpeed, unsigned int* s)
NOT_SUPPORTED_2(nvmlDeviceGetTemperature, int sensor, unsigned int* t)
NOT_SUPPORTED_2(nvmlDeviceGetClockInfo, int type, unsigned int* mhz)
NOT_SUPPORTED_2(nvmlDeviceGetNvLinkRemoteDeviceType, unsigned int link, int* type)
NOT_SUPPORTED_2(nvmlDeviceGetNvLinkRemotePciInfo_v2, unsigned int link, nvmlPciInfo_t* pci)
NOT_SUPPORTED_2(nvmlDeviceGetNvLinkState, unsigned int link, int* active)
