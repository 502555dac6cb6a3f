// interpose/device_api.cc — device queries, answered from the DeviceProps cached at hello.
#include <cstdio>
#include <cstring>

#include "interpose/api.h"
#include "interpose/client.h"

namespace rgpu::api {
namespace {

CUresult get_device(CUdevice_v1 dev, Device** out) {
  Client* c = state();
  if (!c) return check_init();
  if (dev < 0 || static_cast<size_t>(dev) >= c->devices.size()) return CUDA_ERROR_INVALID_DEVICE;
  *out = c->devices[static_cast<size_t>(dev)].get();
  return CUDA_SUCCESS;
}

}  // namespace

CUresult cuDeviceGet(CUdevice_v1* device, int ordinal) {
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(ordinal, &d);
  if (r != CUDA_SUCCESS) return r;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  *count = static_cast<int>(c->devices.size());
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice_v1 dev) {
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  snprintf(name, static_cast<size_t>(len), "%.*s", (int)sizeof d->props.name, d->props.name);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid(CUuuid* uuid, CUdevice_v1 dev) {
  if (!uuid) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  memcpy(uuid->bytes, d->props.uuid, 16);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice_v1 dev) {
  return api::cuDeviceGetUuid(uuid, dev);
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice_v1 dev) {
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  *bytes = d->props.total_mem;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice_v1 dev) {
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  if (static_cast<int>(attrib) < 0 || static_cast<int>(attrib) >= kMaxDeviceAttributes)
    return CUDA_ERROR_INVALID_VALUE;
  *pi = d->props.attrs[attrib];
  return CUDA_SUCCESS;
}

CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice_v1 dev) {
  if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  *major = d->props.cc_major;
  *minor = d->props.cc_minor;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetPCIBusId(char* pciBusId, int len, CUdevice_v1 dev) {
  if (!pciBusId || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  Device* d = nullptr;
  CUresult r = get_device(dev, &d);
  if (r != CUDA_SUCCESS) return r;
  snprintf(pciBusId, static_cast<size_t>(len), "%04x:%02x:%02x.0",
           d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID],
           d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID],
           d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetByPCIBusId(CUdevice_v1* dev, const char* pciBusId) {
  if (!dev || !pciBusId) return CUDA_ERROR_INVALID_VALUE;
  Client* c = state();
  if (!c) return check_init();
  unsigned dom = 0, bus = 0, devno = 0;
  if (sscanf(pciBusId, "%x:%x:%x", &dom, &bus, &devno) != 3) {
    dom = 0;
    if (sscanf(pciBusId, "%x:%x", &bus, &devno) != 2) return CUDA_ERROR_INVALID_VALUE;
  }
  for (auto& d : c->devices) {
    if (static_cast<unsigned>(d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID]) == dom &&
        static_cast<unsigned>(d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID]) == bus &&
        static_cast<unsigned>(d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]) == devno) {
      *dev = d->ordinal;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_DEVICE;
}

CUresult cuDeviceCanAccessPeer(int* canAccessPeer, CUdevice_v1 dev, CUdevice_v1 peerDev) {
  if (!canAccessPeer) return CUDA_ERROR_INVALID_VALUE;
  Device* a = nullptr;
  Device* b = nullptr;
  CUresult r = get_device(dev, &a);
  if (r == CUDA_SUCCESS) r = get_device(peerDev, &b);
  if (r != CUDA_SUCCESS) return r;
  *canAccessPeer = 0;  // devices on different servers never share memory
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
