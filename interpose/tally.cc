// interpose/tally.cc — see tally.h.
#include "interpose/tally.h"

#include <cstdio>
#include <cstdlib>

namespace rgpu {
namespace {
ServerTally g_tallies[kMaxTallyServers + 1];  // the last one: the spare
}  // namespace

ServerTally& tally(size_t server_index) {
  return g_tallies[server_index < kMaxTallyServers ? server_index : kMaxTallyServers];
}

void write_tally_file() {
  const char* path = std::getenv("RGPU_TALLY_FILE");
  if (!path || !*path) return;
  FILE* f = std::fopen(path, "w");
  if (!f) return;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  for (size_t i = 0; i < kMaxTallyServers; ++i) {
    const int64_t t0 = g_tallies[i].started_ns.load();
    if (!t0) continue;
    std::fprintf(f, "%zu %lld %llu %llu\n", i, static_cast<long long>((now - t0) / 1000000),
                 static_cast<unsigned long long>(g_tallies[i].bytes_in.load()),
                 static_cast<unsigned long long>(g_tallies[i].bytes_out.load()));
  }
  std::fclose(f);
}

}  // namespace rgpu
