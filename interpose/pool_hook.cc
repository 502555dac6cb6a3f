// interpose/pool_hook.cc — see pool_hook.h.
#include "interpose/pool_hook.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <map>

#include "interpose/log.h"
#include "protocol/control/acquire.h"
#include "protocol/size.h"

namespace rgpu {

namespace {

std::string env(const char* n) {
  const char* v = getenv(n);
  return v ? v : "";
}

}  // namespace

bool acquire_from_pool(Config* config, std::string* error) {
  if (!config->leases.empty()) {
    *error =
        "RGPU_LEASE is set without RGPU_SERVER: give both (as `rgpu run` does), or neither "
        "to ask the pool at RGPU_POOL";
    return false;
  }
  std::string token = env("RGPU_TOKEN");
  if (token.empty()) {
    *error = "RGPU_POOL=" + config->pool + " is set but RGPU_TOKEN is not (a user token)";
    return false;
  }
  uint32_t count = 1;
  if (std::string n = env("RGPU_VGPUS"); !n.empty()) {
    char* end = nullptr;
    long v = strtol(n.c_str(), &end, 10);
    if (*end || v < 1 || v > 64) {
      *error = "RGPU_VGPUS must be 1..64, not '" + n + "'";
      return false;
    }
    count = static_cast<uint32_t>(v);
  }
  uint64_t vram = 0;
  if (std::string v = env("RGPU_VRAM"); !v.empty() && !parse_size(v, &vram)) {
    *error = std::string("RGPU_VRAM must be ") + kSizeHint + ", not '" + v + "'";
    return false;
  }
  std::map<std::string, std::string> labels;
  for (const std::string& kv : split_list(env("RGPU_LABELS"))) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "RGPU_LABELS wants key=value[,key=value...], got '" + kv + "'";
      return false;
    }
    labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  double wait = 0;
  if (std::string w = env("RGPU_WAIT"); !w.empty()) {
    char* end = nullptr;
    wait = strtod(w.c_str(), &end);
    if (*end || wait < 0) {
      *error = "RGPU_WAIT must be a number of seconds, not '" + w + "'";
      return false;
    }
  }
  std::string client = "libcuda.so.1 pid " + std::to_string(getpid());
  control::AcquireResult r = control::acquire_leases(config->pool, token, count, vram, labels, wait,
                                                     env("RGPU_POLICY"), client);
  if (!r.ok) {
    *error = "the pool at " + config->pool + " placed no vGPU: " + r.error;
    return false;
  }
  for (const auto& g : r.grants) {
    RGPU_INFO("vGPU %zu -> %s (%s) GPU %u, %llu bytes, lease %.12s", config->servers.size(),
              g.provider_name.c_str(), g.endpoint.c_str(), g.gpu_index,
              static_cast<unsigned long long>(g.vram_bytes), g.lease_id.c_str());
    config->servers.push_back(g.endpoint);
    config->leases.push_back(g.lease);
    config->pool_lease_ids.push_back(g.lease_id);
  }
  config->pool_token = token;
  return true;
}

}  // namespace rgpu
