// interpose/kernel_attrs.cc — see kernel_attrs.h.
#include "interpose/kernel_attrs.h"

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "interpose/client.h"
#include "interpose/modules.h"
#include "protocol/image/image_span.h"
#include "protocol/image/kernel_table.h"

namespace rgpu {
namespace {

using Info = std::shared_ptr<const image::ModuleInfo>;  // null: the image did not parse

struct Cache {
  std::mutex mu;
  std::map<std::pair<uint64_t, int>, Info> by_image;  // (image hash, sm)
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed (cudart's exit handlers still query)
  return *c;
}

int sm_of(const Device& d) {
  return d.props.cc_major * 10 + d.props.cc_minor;
}

Info parse(const uint8_t* data, size_t size, int sm) {
  auto r = image::parse_kernels(data, size, sm);
  if (!r) return nullptr;
  return std::make_shared<const image::ModuleInfo>(std::move(r.value()));
}

// The parsed image of f's module, or null.
Info info_of(const Function& f) {
  const Module* m = f.module;
  Device* d = device_of(m);
  auto key = std::make_pair(m->image_hash, sm_of(*d));
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> g(c.mu);
    auto it = c.by_image.find(key);
    if (it != c.by_image.end()) return it->second;
  }
  if (!m->library || !m->library->image) return nullptr;  // a module not remembered at load
  Info info = parse(m->library->image, m->library->image_size, key.second);
  std::lock_guard<std::mutex> g(c.mu);
  return c.by_image.emplace(key, std::move(info)).first->second;
}

// The kernel's attributes when the image holds its compiled code, else null.
const image::KernelAttributes* compiled_attributes(const Info& info, const Function& f) {
  if (!info) return nullptr;
  const image::KernelInfo* k = info->find_kernel(f.name);
  if (!k || !k->attributes.num_regs) return nullptr;
  return &k->attributes;
}

occ::OccFunction occ_function(const image::KernelAttributes& a) {
  occ::OccFunction fn;
  fn.num_regs = static_cast<int>(*a.num_regs);
  fn.static_smem = static_cast<int>(a.static_shared_bytes.value_or(0));
  fn.launch_bound = static_cast<int>(a.max_threads.value_or(0));
  return fn;
}

}  // namespace

void remember_module_image(const Module* m, const void* code) {
  auto span = image::locate_image(code);
  if (!span) return;
  auto key = std::make_pair(m->image_hash, sm_of(*device_of(m)));
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> g(c.mu);
    if (c.by_image.count(key)) return;
  }
  Info info = parse(span->data, span->size, key.second);
  std::lock_guard<std::mutex> g(c.mu);
  c.by_image.emplace(key, std::move(info));
}

bool occupancy_device(const Device& d, occ::OccDevice* dev) {
  const int* at = d.props.attrs;
  occ::OccDevice o;
  o.warp_size = at[CU_DEVICE_ATTRIBUTE_WARP_SIZE];
  o.max_threads_per_block = at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  o.max_threads_per_sm = at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR];
  o.max_blocks_per_sm = at[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR];
  o.regs_per_sm = at[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR];
  o.regs_per_block = at[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK];
  o.smem_per_sm = at[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR];
  o.smem_per_block_optin = at[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  o.reserved_smem_per_block = at[CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK];
  o.sm_count = at[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
  if (o.warp_size <= 0 || o.max_threads_per_block <= 0 || o.max_threads_per_sm <= 0 ||
      o.max_blocks_per_sm <= 0 || o.regs_per_sm <= 0 || o.regs_per_block <= 0 ||
      o.smem_per_sm <= 0 || o.smem_per_block_optin <= 0 || o.reserved_smem_per_block < 0 ||
      o.sm_count <= 0 || d.props.cc_major < 7)
    return false;  // not what occupancy.h's rules are for
  *dev = o;
  return true;
}

bool occupancy_inputs(Function* f, occ::OccDevice* dev, occ::OccFunction* fn) {
  const image::KernelAttributes* a = compiled_attributes(info_of(*f), *f);
  if (!a || !occupancy_device(*device_of(f->module), dev)) return false;
  *fn = occ_function(*a);
  return true;
}

CUresult local_function_attribute(Function* f, CUfunction_attribute attrib, int* value) {
  Info info = info_of(*f);  // kept alive while `a` is used
  const image::KernelAttributes* a = compiled_attributes(info, *f);
  if (!a) return CUDA_ERROR_NOT_FOUND;
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_NUM_REGS:
      *value = static_cast<int>(*a->num_regs);
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
      *value = static_cast<int>(a->static_shared_bytes.value_or(0));
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES:
      *value = static_cast<int>(a->const_bytes.value_or(0));
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
      *value = static_cast<int>(a->local_bytes.value_or(0));
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
      if (!a->binary_version) return CUDA_ERROR_NOT_FOUND;
      *value = static_cast<int>(*a->binary_version);
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: {
      occ::OccDevice dev;
      if (!occupancy_device(*device_of(f->module), &dev)) return CUDA_ERROR_NOT_FOUND;
      *value = occ::max_threads_per_block(dev, occ_function(*a));
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_ERROR_NOT_FOUND;
  }
}

}  // namespace rgpu
