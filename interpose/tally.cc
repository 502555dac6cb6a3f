// interpose/tally.cc — see tally.h.
#include "interpose/tally.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "interpose/log.h"
#include "protocol/control/acquire.h"

namespace rgpu {
namespace {
ServerTally g_tallies[kMaxTallyServers + 1];  // the last one: the spare
}  // namespace

ServerTally& tally(size_t server_index) {
  return g_tallies[server_index < kMaxTallyServers ? server_index : kMaxTallyServers];
}

std::vector<TallyLine> tally_lines() {
  std::vector<TallyLine> out;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  for (size_t i = 0; i < kMaxTallyServers; ++i) {
    const int64_t t0 = g_tallies[i].started_ns.load();
    if (!t0) continue;
    out.push_back({i, static_cast<uint64_t>(std::max<int64_t>(0, now - t0) / 1000000),
                   g_tallies[i].bytes_in.load(), g_tallies[i].bytes_out.load()});
  }
  return out;
}

void write_tally_file() {
  const char* path = std::getenv("RGPU_TALLY_FILE");
  if (!path || !*path) return;
  FILE* f = std::fopen(path, "w");
  if (!f) return;
  for (const TallyLine& t : tally_lines())
    std::fprintf(f, "%zu %llu %llu %llu\n", t.server, static_cast<unsigned long long>(t.wall_ms),
                 static_cast<unsigned long long>(t.bytes_in),
                 static_cast<unsigned long long>(t.bytes_out));
  std::fclose(f);
}

namespace {
struct PoolTally {
  std::string pool, token;
  std::vector<std::string> lease_ids;
  const std::atomic<bool>* skip = nullptr;
};
PoolTally* g_pool_tally = nullptr;  // leaked on purpose: read at exit

void report_to_pool() {
  PoolTally* p = g_pool_tally;
  if (!p || (p->skip && p->skip->load())) return;
  for (const TallyLine& t : tally_lines()) {
    if (t.server >= p->lease_ids.size() || p->lease_ids[t.server].empty()) continue;
    std::string err = control::report_tally(p->pool, p->token, p->lease_ids[t.server], t.wall_ms,
                                            t.bytes_in, t.bytes_out);
    if (!err.empty())
      RGPU_WARN("could not report this program's own count of its session to the pool: %s",
                err.c_str());
  }
}
}  // namespace

void report_tally_at_exit(std::string pool, std::string token, std::vector<std::string> lease_ids,
                          const std::atomic<bool>* skip) {
  if (g_pool_tally) return;
  g_pool_tally = new PoolTally{std::move(pool), std::move(token), std::move(lease_ids), skip};
  std::atexit(report_to_pool);
}

}  // namespace rgpu
