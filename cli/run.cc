// cli/run.cc — `rgpu run`: place N vGPUs, run a command on them through the shim.
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "cli/cli.h"
#include "cli/output.h"
#include "pool_manager/placement.h"
#include "protocol/control/acquire.h"
#include "protocol/control/compute_share.h"
#include "protocol/control/lease.h"
#include "protocol/control/money.h"
#include "protocol/size.h"

namespace rgpu::cli {
namespace {

const char* kRunUsage =
    "usage: rgpu run [-n N] [--vram SIZE] [--pool HOST:PORT] [--label k=v]... [--wait SECONDS]\n"
    "                [--policy binpack|spread|nearest] [--max-price PRICE] [--compute SHARE]\n"
    "                -- CMD ARGS...\n"
    "  Asks the pool for N vGPUs (default 1; whole GPUs unless --vram, e.g. 16GiB), prints\n"
    "  where they were placed, and runs CMD with the rgpu shim (<bin>/../lib/rgpu, or\n"
    "  RGPU_SHIM_DIR) first on LD_LIBRARY_PATH and RGPU_SERVER / RGPU_LEASE set.\n"
    "  --wait: if nothing fits, keep asking this long before failing. Exit status is CMD's.\n"
    "  --policy nearest: measure the round trip to each provider that could take the request\n"
    "    and take the nearest (binpack among equals).\n"
    "  --max-price: only providers whose GPU-hour rate is at most PRICE credits (see rgpu rate).\n"
    "  --compute: each vGPU's share of its GPU's device time when other tenants contend for\n"
    "    it, e.g. 0.5 or 50% (with --vram; the shares on one GPU sum to at most 1). When the\n"
    "    others are idle a vGPU uses all of it.\n"
    "  Token: --token or RGPU_TOKEN (role user).\n";

volatile pid_t g_child = 0;
void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

}  // namespace

std::string shim_dir() {
  if (const char* e = getenv("RGPU_SHIM_DIR")) return e;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  std::string exe = buf;
  std::string bin = exe.substr(0, exe.rfind('/'));
  return bin + "/../lib/rgpu";
}

int cmd_run(const Args& a) {
  if (a.help) {
    printf("%s", kRunUsage);
    return 0;
  }
  if (a.command.empty()) return usage_error("give the command after --", kRunUsage);
  uint32_t n = 1;
  if (a.has("-n")) {
    char* end = nullptr;
    const std::string text = a.get("-n");  // `end` points into it
    long v = strtol(text.c_str(), &end, 10);
    if (*end || v < 1 || v > 64) return usage_error("-n wants 1..64", kRunUsage);
    n = static_cast<uint32_t>(v);
  }
  uint64_t vram = 0;
  if (a.has("--vram") && !parse_size(a.get("--vram"), &vram))
    return usage_error(std::string("--vram wants ") + kSizeHint, kRunUsage);
  if (a.has("--vram") && vram == 0) return usage_error("--vram must be more than 0", kRunUsage);
  std::map<std::string, std::string> labels;
  for (auto [it, end] = a.opts.equal_range("--label"); it != end; ++it) {
    auto eq = it->second.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("--label wants key=value, got '" + it->second + "'", kRunUsage);
    labels[it->second.substr(0, eq)] = it->second.substr(eq + 1);
  }
  double wait = 0;
  if (a.has("--wait")) {
    char* end = nullptr;
    const std::string text = a.get("--wait");  // `end` points into it
    wait = strtod(text.c_str(), &end);
    if (*end || wait < 0) return usage_error("--wait wants seconds", kRunUsage);
  }
  int64_t max_price = 0;
  if (a.has("--max-price") &&
      (!control::parse_money(a.get("--max-price"), &max_price) || max_price == 0))
    return usage_error("--max-price wants an amount of credits per GPU-hour above 0, e.g. 0.80",
                       kRunUsage);
  uint32_t compute = 0;
  if (a.has("--compute")) {
    if (!control::parse_compute_share(a.get("--compute"), &compute))
      return usage_error(
          "--compute wants a share of a GPU above 0 and at most 1 in thousandths, e.g. 0.5, "
          "0.333 or 50%",
          kRunUsage);
    if (!a.has("--vram"))
      return usage_error(
          "--compute is for a slice of a GPU: give --vram too (a whole GPU has all "
          "of its compute)",
          kRunUsage);
  }
  std::string shim = shim_dir();
  struct stat st {};
  if (stat((shim + "/libcuda.so.1").c_str(), &st) != 0)
    return error("the rgpu shim is not at " + shim +
                 "/libcuda.so.1; install rgpu fully or set RGPU_SHIM_DIR to the folder holding "
                 "it");
  if (a.token.empty()) return error("no token; pass --token or set RGPU_TOKEN (role user)");

  auto res = control::acquire_leases(a.pool, a.token, n, vram, labels, wait, a.get("--policy"),
                                     "rgpu run " + a.command[0], max_price, compute);
  for (const auto& [endpoint, us] : res.rtts)
    fprintf(stderr, "rgpu: round trip to %s: %.2f ms\n", endpoint.c_str(), us / 1000.0);
  if (!res.ok) return error(res.error);
  std::string servers, leases;
  std::vector<std::string> ids;
  for (size_t i = 0; i < res.grants.size(); i++) {
    auto& g = res.grants[i];
    const std::string share =
        g.compute_milli ? ", compute " + control::compute_share_text(g.compute_milli) : "";
    fprintf(stderr, "rgpu: vGPU %zu -> %s (%s) GPU %u %s, %s%s, lease %s\n", i,
            g.provider_name.c_str(), g.endpoint.c_str(), g.gpu_index, g.gpu_name.c_str(),
            gib(g.vram_bytes).c_str(), share.c_str(), g.lease_id.substr(0, 12).c_str());
    servers += (i ? "," : "") + g.endpoint;
    leases += (i ? "," : "") + control::lease_to_text(g.lease);
    ids.push_back(g.lease_id);
  }
  // The shim writes its own count of each session here at exit (interpose/tally.h).
  char tally_path[] = "/tmp/rgpu-tally-XXXXXX";
  const int tally_fd = mkstemp(tally_path);
  if (tally_fd >= 0) close(tally_fd);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return error(std::string("fork failed: ") + strerror(errno));
  if (pid == 0) {
    const char* old = getenv("LD_LIBRARY_PATH");
    std::string lp = shim + (old && *old ? ":" + std::string(old) : "");
    setenv("LD_LIBRARY_PATH", lp.c_str(), 1);
    setenv("RGPU_SERVER", servers.c_str(), 1);
    setenv("RGPU_LEASE", leases.c_str(), 1);
    if (tally_fd >= 0) setenv("RGPU_TALLY_FILE", tally_path, 1);
    std::vector<char*> argv;
    for (auto& s : a.command) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fprintf(stderr, "rgpu: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  g_child = pid;
  signal(SIGINT, forward);
  signal(SIGTERM, forward);
  signal(SIGHUP, forward);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The client's count of each session, for the pool to hold the receipts against.
  if (tally_fd >= 0) {
    if (FILE* f = fopen(tally_path, "r")) {
      unsigned long long idx, wall, in, out;
      while (fscanf(f, "%llu %llu %llu %llu", &idx, &wall, &in, &out) == 4)
        if (idx < ids.size()) {
          std::string e = control::report_tally(a.pool, a.token, ids[idx], wall, in, out);
          if (!e.empty()) fprintf(stderr, "rgpu: note: could not report usage: %s\n", e.c_str());
        }
      fclose(f);
    }
    unlink(tally_path);
  }
  // Why the pool ended a session, as the last line, when it did (not a program's own exit).
  const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  if (failed)
    for (const auto& why : control::why_sessions_ended(a.pool, a.token, ids))
      fprintf(stderr, "rgpu: %s\n", why.c_str());
  // Leases that never opened a session are freed now; running ones end with their session.
  std::string err = control::release_leases(a.pool, a.token, ids);
  if (!err.empty()) fprintf(stderr, "rgpu: note: could not release leases: %s\n", err.c_str());
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace rgpu::cli
