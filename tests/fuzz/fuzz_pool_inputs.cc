// Fuzz target: the strings rgpu-pool parses from its clients and providers: schedules, placement
// policies, roles, endpoints (pool_manager/schedule.h, placement.h; protocol/control/). The
// first byte picks the parser, the rest is its input.
#include <string>

#include "pool_manager/placement.h"
#include "pool_manager/schedule.h"
#include "protocol/control/acquire.h"
#include "protocol/control/pool_client.h"
#include "protocol/transport.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string err;
  switch (data[0] % 5) {
    case 0: {
      rgpu::pool::Schedule s;
      if (rgpu::pool::Schedule::parse(text, &s, &err))
        for (int m = 0; m < 1440; m += 37) (void)s.allows(m);
      break;
    }
    case 1: {
      rgpu::pool::Policy p;
      (void)rgpu::pool::parse_policy(text, &p);
      break;
    }
    case 2: {
      rgpu::cp::Role r;
      (void)rgpu::control::parse_role(text, &r);
      break;
    }
    case 3:
      (void)rgpu::control::normalize_pool_endpoint(text);
      break;
    default:
      try {
        (void)rgpu::net::Endpoint::parse(text).str();
      } catch (const rgpu::net::NetError&) {
      }
  }
  return 0;
}
