// interpose/launch_api.cc — kernel launches and occupancy queries.
//
// A launch names a CUfunction or a CUkernel (modules.h: a kernel runs as its function on the
// stream's device, loaded there on first use). The launch geometry is checked locally against
// the device's limits; kernelParams (or the `extra` buffer) are packed with the function's
// parameter layout straight into the lane's batch, followed by the launch attributes, and the
// launch goes out async (errors surface at the next sync call). Occupancy queries are answered
// from the image's kernel attributes and the device's limits (kernel_attrs.h, occupancy.h)
// when the image states them, else by the server.
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/kernel_attrs.h"
#include "interpose/log.h"
#include "interpose/modules.h"
#include "protocol/launch_record.h"

namespace rgpu::api {
namespace {

struct LaunchDims {
  uint32_t grid[3], block[3], shmem;
};

// Checks the launch against the device's limits and the wire's (protocol/launch_record.h, the
// rules the worker checks too), as the driver does before launching: CUDA_ERROR_INVALID_VALUE
// for a zero or oversized dimension, too many threads per block, too much dynamic shared memory,
// too many parameter bytes or attributes (cudart maps it one to one; tests/e2e/errors.cu).
CUresult check_launch_here(const Device& d, const LaunchDims& dims, size_t param_bytes,
                           unsigned num_attrs) {
  LaunchGeometry g{};
  memcpy(g.grid, dims.grid, sizeof g.grid);
  memcpy(g.block, dims.block, sizeof g.block);
  g.shared_mem = dims.shmem;
  g.param_bytes = static_cast<uint32_t>(param_bytes);
  g.num_attrs = num_attrs;
  std::string why = check_launch(d.props, g);
  if (why.empty()) return CUDA_SUCCESS;
  RGPU_DEBUG("launch refused: %s", why.c_str());
  return CUDA_ERROR_INVALID_VALUE;
}

// What the batch record's payload is made of; packed in place by pack_launch (no allocation).
struct LaunchPayload {
  const image::ParamLayout* layout = nullptr;
  void** params = nullptr;
  const void* buf = nullptr;  // `extra` buffer
  size_t buf_size = 0;
  const CUlaunchAttribute* attrs = nullptr;
  unsigned num_attrs = 0;
};

void pack_launch(const void* ctx, uint8_t* dst) {
  const auto& p = *static_cast<const LaunchPayload*>(ctx);
  size_t at = 0;
  if (p.buf) {
    memcpy(dst, p.buf, p.buf_size);
    at = p.buf_size;
  } else {
    const image::ParamLayout& L = *p.layout;
    memset(dst, 0, L.param_bytes);
    for (size_t i = 0; i < L.params.size(); ++i)
      memcpy(dst + L.params[i].offset, p.params[i], L.params[i].size);
    at = L.param_bytes;
  }
  for (unsigned i = 0; i < p.num_attrs; ++i)
    encode_launch_attr(p.attrs[i], dst + at + size_t{i} * kLaunchAttrBytes);
}

// Packs the parameters (and launch attributes) straight into the batch and enqueues the launch.
// `h` is a CUfunction or a CUkernel; a kernel runs as its function on the stream's device.
CUresult launch(const void* h, const LaunchDims& dims, CUstream s, bool pt, void** params,
                void** extra, const CUlaunchAttribute* attrs, unsigned num_attrs) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  Function* f = nullptr;
  r = function_on(h, d, &f);
  if (r != CUDA_SUCCESS) return r;
  if (d != device_of(f->module)) return CUDA_ERROR_INVALID_HANDLE;  // a function of another device
  if (params && extra) return CUDA_ERROR_INVALID_VALUE;
  LaunchPayload lp;
  lp.attrs = attrs;
  lp.num_attrs = num_attrs;
  size_t param_bytes = 0;
  if (extra) {
    bool have_size = false;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
        lp.buf = extra[i + 1];
      } else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
        if (!extra[i + 1]) return CUDA_ERROR_INVALID_VALUE;
        lp.buf_size = *static_cast<size_t*>(extra[i + 1]);
        have_size = true;
      } else {
        return CUDA_ERROR_INVALID_VALUE;
      }
    }
    if (!lp.buf || !have_size) return CUDA_ERROR_INVALID_VALUE;
    param_bytes = lp.buf_size;
  } else {
    const image::ParamLayout& L = f->layout;
    if (!L.params.empty() && !params) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < L.params.size(); ++i)
      if (!params[i]) return CUDA_ERROR_INVALID_VALUE;
    lp.layout = &L;
    lp.params = params;
    param_bytes = L.param_bytes;
  }
  r = check_launch_here(*d, dims, param_bytes, num_attrs);
  if (r != CUDA_SUCCESS) return r;
  op::LaunchKernel::Args a{};
  a.function = f->wire;
  memcpy(a.grid, dims.grid, sizeof a.grid);
  memcpy(a.block, dims.block, sizeof a.block);
  a.shared_mem = dims.shmem;
  a.num_attrs = num_attrs;
  a.stream = wire;
  a.param_bytes = static_cast<uint32_t>(param_bytes);
  return d->lane->enqueue_fill<op::LaunchKernel>(a, launch_payload_bytes(param_bytes, num_attrs),
                                                 pack_launch, &lp);
}

CUresult launch_ex(const CUlaunchConfig* config, CUfunction f, void** params, void** extra,
                   bool pt) {
  if (!config) return CUDA_ERROR_INVALID_VALUE;
  if (config->numAttrs && !config->attrs) return CUDA_ERROR_INVALID_VALUE;
  LaunchDims dims{{config->gridDimX, config->gridDimY, config->gridDimZ},
                  {config->blockDimX, config->blockDimY, config->blockDimZ},
                  config->sharedMemBytes};
  return launch(f, dims, config->hStream, pt, params, extra, config->attrs, config->numAttrs);
}

CUresult launch_plain(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                      unsigned bz, unsigned shmem, CUstream s, void** params, void** extra,
                      bool pt) {
  LaunchDims dims{{gx, gy, gz}, {bx, by, bz}, shmem};
  return launch(f, dims, s, pt, params, extra, nullptr, 0);
}

CUresult occupancy(int* numBlocks, CUfunction func, int blockSize, size_t smem, unsigned flags) {
  if (!numBlocks || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_on(func, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  occ::OccDevice dev;
  occ::OccFunction fn;
  if (occupancy_inputs(f, &dev, &fn)) {
    *numBlocks = occ::max_active_blocks(dev, fn, blockSize, smem);
    return CUDA_SUCCESS;
  }
  op::OccupancyMaxActiveBlocks::Args a{f->wire, blockSize, flags, smem};
  op::OccupancyMaxActiveBlocks::Result res{};
  r = device_of(f->module)->lane->call<op::OccupancyMaxActiveBlocks>(a, &res);
  if (r == CUDA_SUCCESS) *numBlocks = res.blocks;
  return r;
}

}  // namespace

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                        CUstream s, void** kernelParams, void** extra) {
  return launch_plain(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, extra, false);
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                             unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                             CUstream s, void** kernelParams, void** extra) {
  return launch_plain(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, extra, true);
}

namespace {
// A cooperative launch is a launch with the COOPERATIVE attribute: the server's backend runs it
// (the driver's cuLaunchKernelEx) or refuses it clearly (the sim cannot run every block at once).
CUresult launch_cooperative(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                            unsigned by, unsigned bz, unsigned shmem, CUstream s, void** params,
                            bool pt) {
  CUlaunchAttribute coop{};
  coop.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  coop.value.cooperative = 1;
  CUlaunchConfig cfg{};
  cfg.gridDimX = gx, cfg.gridDimY = gy, cfg.gridDimZ = gz;
  cfg.blockDimX = bx, cfg.blockDimY = by, cfg.blockDimZ = bz;
  cfg.sharedMemBytes = shmem;
  cfg.hStream = s;
  cfg.attrs = &coop;
  cfg.numAttrs = 1;
  return launch_ex(&cfg, f, params, nullptr, pt);
}
}  // namespace

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                   unsigned int bx, unsigned int by, unsigned int bz,
                                   unsigned int shmem, CUstream s, void** kernelParams) {
  return launch_cooperative(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, false);
}

CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                        unsigned int gz, unsigned int bx, unsigned int by,
                                        unsigned int bz, unsigned int shmem, CUstream s,
                                        void** kernelParams) {
  return launch_cooperative(f, gx, gy, gz, bx, by, bz, shmem, s, kernelParams, true);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                          void** extra) {
  return launch_ex(config, f, kernelParams, extra, false);
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                               void** extra) {
  return launch_ex(config, f, kernelParams, extra, true);
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int* numBlocks, CUfunction func, int blockSize,
                                                     size_t dynamicSMemSize) {
  return occupancy(numBlocks, func, blockSize, dynamicSMemSize, 0);
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* numBlocks, CUfunction func,
                                                              int blockSize, size_t dynamicSMemSize,
                                                              unsigned int flags) {
  return occupancy(numBlocks, func, blockSize, dynamicSMemSize, flags);
}

CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t* dynamicSmemSize, CUfunction func,
                                                 int numBlocks, int blockSize) {
  if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_on(func, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  Device* d = device_of(f->module);
  occ::OccDevice dev;
  occ::OccFunction fn;
  if (occupancy_inputs(f, &dev, &fn)) {
    *dynamicSmemSize = occ::available_dynamic_smem(dev, fn, numBlocks, blockSize);
    return CUDA_SUCCESS;
  }
  int static_smem = 0;
  r = function_attribute(f, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, &static_smem);
  if (r != CUDA_SUCCESS) return r;
  long per_sm = d->props.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR];
  long per_block = d->props.attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  long avail = per_sm / numBlocks - static_smem;
  if (per_block > 0 && avail > per_block - static_smem) avail = per_block - static_smem;
  *dynamicSmemSize = avail > 0 ? static_cast<size_t>(avail) : 0;
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int* minGridSize, int* blockSize,
                                                   CUfunction func,
                                                   CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                   size_t dynamicSMemSize, int blockSizeLimit,
                                                   unsigned int flags) {
  if (!minGridSize || !blockSize || blockSizeLimit < 0) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_on(func, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  occ::OccDevice dev;
  occ::OccFunction fn;
  (void)flags;  // caching overrides do not change sm_70+ occupancy
  if (!occupancy_inputs(f, &dev, &fn)) {
    // The image does not say: the same search (it calls the app's callback, so it runs here),
    // with the server answering each block size.
    Device* d = device_of(f->module);
    int limit = 0;
    r = function_attribute(f, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &limit);
    if (r != CUDA_SUCCESS) return r;
    if (blockSizeLimit > 0 && blockSizeLimit < limit) limit = blockSizeLimit;
    const int* at = d->props.attrs;
    struct Ctx {
      CUfunction func;
      CUresult r;
    } ctx{func, CUDA_SUCCESS};
    bool ok = occ::search_block_size(
        limit, at[CU_DEVICE_ATTRIBUTE_WARP_SIZE],
        at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR],
        at[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT],
        [](void* c, int b, size_t smem, int* blocks) {
          auto* x = static_cast<Ctx*>(c);
          x->r = occupancy(blocks, x->func, b, smem, 0);
          return x->r == CUDA_SUCCESS;
        },
        &ctx, blockSizeToDynamicSMemSize, dynamicSMemSize, minGridSize, blockSize);
    if (!ok) return ctx.r != CUDA_SUCCESS ? ctx.r : CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
  }
  occ::potential_block_size(dev, fn, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit,
                            minGridSize, blockSize);
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSize(int* minGridSize, int* blockSize, CUfunction func,
                                          CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                          size_t dynamicSMemSize, int blockSizeLimit) {
  return api::cuOccupancyMaxPotentialBlockSizeWithFlags(
      minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit, 0);
}

CUresult cuOccupancyMaxActiveClusters(int* numClusters, CUfunction func,
                                      const CUlaunchConfig* config) {
  if (!numClusters || !config) return CUDA_ERROR_INVALID_VALUE;
  if (config->numAttrs && !config->attrs) return CUDA_ERROR_INVALID_VALUE;
  Function* f = nullptr;
  CUresult r = function_on(func, nullptr, &f);
  if (r != CUDA_SUCCESS) return r;
  unsigned cluster = 1;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      const auto& v = config->attrs[i].value.clusterDim;
      cluster = v.x * v.y * v.z;
    }
  }
  unsigned threads = config->blockDimX * config->blockDimY * config->blockDimZ;
  int blocks = 0;
  r = occupancy(&blocks, func, static_cast<int>(threads), config->sharedMemBytes, 0);
  if (r != CUDA_SUCCESS) return r;
  int sms = device_of(f->module)->props.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
  *numClusters = cluster ? static_cast<int>(static_cast<long>(blocks) * sms / cluster) : 0;
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
