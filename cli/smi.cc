// cli/smi.cc — `rgpu smi`: an nvidia-smi-like view of this environment's vGPUs, through the
// libnvidia-ml.so.1 beside the shim (which reaches them the way a program would: RGPU_SERVER, or
// RGPU_SERVER + RGPU_LEASE inside `rgpu run`, or RGPU_POOL). Prints one row per device (index,
// name, UUID, PCI id, memory used/total, this session's processes), or a JSON array with
// --json. Values a vGPU cannot report are shown as "n/a", never invented.
#include <dlfcn.h>

#include <cstdio>
#include <string>

#include "cli/cli.h"

namespace rgpu::cli {
namespace {

const char* kSmiUsage =
    "usage: rgpu smi [--json]\n"
    "  Shows the vGPUs this environment reaches (RGPU_SERVER, RGPU_LEASE from `rgpu run`, or\n"
    "  RGPU_POOL), through libnvidia-ml.so.1 beside the shim: index, name, UUID, PCI id, memory\n"
    "  used/total, utilization when the server reports it.\n";

struct Nvml {
  void* lib = nullptr;
  int (*Init)() = nullptr;
  int (*Shutdown)() = nullptr;
  const char* (*ErrorString)(int) = nullptr;
  int (*Count)(unsigned*) = nullptr;
  int (*ByIndex)(unsigned, void**) = nullptr;
  int (*Name)(void*, char*, unsigned) = nullptr;
  int (*Uuid)(void*, char*, unsigned) = nullptr;
  int (*Mem)(void*, unsigned long long*) = nullptr;  // nvmlMemory_t: total, free, used
  int (*Util)(void*, unsigned*) = nullptr;           // nvmlUtilization_t: gpu, memory
  int (*Pci)(void*, char*) = nullptr;                // nvmlPciInfo_t (busId at byte 36)
};

bool load(Nvml* n, std::string* why) {
  const std::string path = shim_dir() + "/libnvidia-ml.so.1";
  n->lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!n->lib) {
    *why = std::string("cannot load ") + path + ": " + dlerror();
    return false;
  }
  auto get = [&](const char* name, auto* fn) {
    *reinterpret_cast<void**>(fn) = dlsym(n->lib, name);
    return *fn != nullptr;
  };
  if (!get("nvmlInit_v2", &n->Init) || !get("nvmlShutdown", &n->Shutdown) ||
      !get("nvmlErrorString", &n->ErrorString) || !get("nvmlDeviceGetCount_v2", &n->Count) ||
      !get("nvmlDeviceGetHandleByIndex_v2", &n->ByIndex) || !get("nvmlDeviceGetName", &n->Name) ||
      !get("nvmlDeviceGetUUID", &n->Uuid) || !get("nvmlDeviceGetMemoryInfo", &n->Mem) ||
      !get("nvmlDeviceGetUtilizationRates", &n->Util) || !get("nvmlDeviceGetPciInfo_v3", &n->Pci)) {
    *why = path + " lacks an NVML function rgpu smi needs";
    return false;
  }
  return true;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

int cmd_smi(const Args& a) {
  if (a.help) {
    printf("%s", kSmiUsage);
    return 0;
  }
  for (const auto& [k, v] : a.opts)
    if (k != "--pool" && k != "--token" && k != "--token-file")
      return usage_error("unknown option " + k + " for smi", kSmiUsage);
  if (!a.pos.empty()) return usage_error("smi takes no arguments", kSmiUsage);
  Nvml n;
  std::string why;
  if (!load(&n, &why)) return error(why);
  int r = n.Init();
  if (r != 0)
    return error(std::string("no vGPU reachable: ") + n.ErrorString(r) +
                 " (set RGPU_SERVER, or run inside `rgpu run`, or set RGPU_POOL)");
  unsigned count = 0;
  n.Count(&count);
  if (a.json) printf("[");
  for (unsigned i = 0; i < count; ++i) {
    void* d = nullptr;
    if (n.ByIndex(i, &d) != 0) continue;
    char name[256] = "?", uuid[96] = "?";
    n.Name(d, name, sizeof name);
    n.Uuid(d, uuid, sizeof uuid);
    alignas(8) char pci[80] = {};
    std::string bus = n.Pci(d, pci) == 0 ? std::string(pci + 36) : "?";
    unsigned long long mem[3] = {0, 0, 0};
    const bool have_mem = n.Mem(d, mem) == 0;
    unsigned util[2] = {0, 0};
    const bool have_util = n.Util(d, util) == 0;
    if (a.json) {
      printf("%s{\"index\": %u, \"name\": %s, \"uuid\": %s, \"pci_bus_id\": %s", i ? ", " : "", i,
             json_string(name).c_str(), json_string(uuid).c_str(), json_string(bus).c_str());
      if (have_mem)
        printf(", \"memory_total_bytes\": %llu, \"memory_used_bytes\": %llu", mem[0], mem[2]);
      printf(", \"utilization_percent\": ");
      if (have_util)
        printf("%u", util[0]);
      else
        printf("null");
      printf("}");
    } else {
      if (i == 0)
        printf("%-3s %-28s %-42s %-16s %-21s %s\n", "GPU", "Name", "UUID", "Bus-Id", "Memory-Usage",
               "Util");
      char memtxt[64] = "n/a";
      if (have_mem)
        snprintf(memtxt, sizeof memtxt, "%lluMiB / %lluMiB", mem[2] >> 20, mem[0] >> 20);
      char utiltxt[16] = "n/a";
      if (have_util) snprintf(utiltxt, sizeof utiltxt, "%u%%", util[0]);
      printf("%-3u %-28.28s %-42s %-16s %-21s %s\n", i, name, uuid, bus.c_str(), memtxt, utiltxt);
    }
  }
  if (a.json) printf("]\n");
  n.Shutdown();
  return 0;
}

}  // namespace rgpu::cli
