// interpose/pool_hook.cc — see pool_hook.h. Not wired to the pool client yet.
#include "interpose/pool_hook.h"

namespace rgpu {

bool acquire_from_pool(Config* config, std::string* error) {
  *error = "RGPU_POOL=" + config->pool +
           " is set, but this libcuda.so.1 cannot ask a pool yet; set RGPU_SERVER instead";
  return false;
}

}  // namespace rgpu
