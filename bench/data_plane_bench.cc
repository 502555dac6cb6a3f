// bench/data_plane_bench.cc — the data-plane figures of DESIGN.md's budget table, each printed
// next to its baseline measured in this same run, and the ratio.
//
//   1. sync call through the shim vs raw ping-pong of the same size (TCP and Unix)   <= 1.3x
//      and vs a raw ping-pong whose caller polls for the reply as the shim does        <= 1.2x
//   2. async launches enqueued by 1 and by 8 app threads                            >= 2M/s each
//      ("each": launches per second of the thread's own CPU time, CLOCK_THREAD_CPUTIME_ID, so
//      the figure is the app-side cost whatever the core count; the wall-clock rates of all 8
//      together and with the server's drain are printed too)
//   3. H2D / D2H copies (1 MiB, 64 MiB, 1 GiB) vs raw TCP bulk                        >= 0.9x
//      and over TLS vs raw OpenSSL bulk                                               >= 0.9x
//   4. sync round trips and driver calls per step of a small training-like loop (input upload,
//      24 kernel launches, a gradient memset, the loss read back), from RGPU_STATS; budget <= 4
//      round trips per step. Twice: the nvcc-built e2e program tests/e2e/train_loop.cu through
//      cudart (when the build has it), and the same loop written against the driver API here
// Each shim scenario runs in a child process (the shim connects once per process, at cuInit)
// against its own `rgpu-server --backend sim`. Figures 1 and 3 measure their baseline in that
// child in rounds interleaved with rgpu's and print the median of the rounds' ratios.
// RGPU_BENCH_QUICK=1 skips the 1 GiB copies; RGPU_BENCH_FIGURES=1,3 runs only the figures listed.
// Exit status is 0 even when a budget is missed: this is a measurement, not a test.
#include <cuda.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/baselines.h"
#include "bench/host_buffer.h"
#include "bench/shim_driver.h"

using namespace rgpu::bench;
using Clock = std::chrono::steady_clock;
using Results = std::map<std::string, double>;

namespace {

constexpr size_t kMiB = 1 << 20;
constexpr size_t kSyncMessageBytes = 72;  // a sync Request/Reply frame is 64-88 bytes

std::string g_shim, g_server, g_plugin, g_fatbin;
bool g_quick = std::getenv("RGPU_BENCH_QUICK") != nullptr;

// RGPU_BENCH_FIGURES="1,3" runs only those figures (default: all).
bool wants(int figure) {
  const char* only = std::getenv("RGPU_BENCH_FIGURES");
  if (!only || !*only) return true;
  for (const char* p = only; *p; ++p)
    if (*p - '0' == figure) return true;
  return false;
}

// Rounds per interleaved figure (1 and 3): each round measures the baseline and then rgpu.
constexpr int kRounds = 5;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs fn in a child with RGPU_SERVER pointing at a fresh sim server; returns what it measured.
Results in_child(const std::vector<std::string>& server_flags, const std::string& unix_path,
                 const std::vector<std::pair<std::string, std::string>>& env,
                 void (*fn)(ShimDriver&, Results&)) {
  ServerProcess server(g_server, g_plugin, server_flags, unix_path);
  if (!server.ok()) {
    std::fprintf(stderr, "bench: rgpu-server did not start\n");
    return {};
  }
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    setenv("RGPU_SERVER", server.endpoint().c_str(), 1);
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    ShimDriver d;
    std::string err;
    if (!d.load(g_shim, &err)) {
      std::fprintf(stderr, "bench: %s\n", err.c_str());
      _exit(3);
    }
    CK(d.Init(0));
    CUdevice dev;
    CK(d.DeviceGet(&dev, 0));
    CUcontext ctx;
    CK(d.PrimaryCtxRetain(&ctx, dev));
    CK(d.CtxSetCurrent(ctx));
    Results r;
    fn(d, r);
    std::string out;
    for (auto& [k, v] : r) out += k + " " + std::to_string(v) + "\n";
    if (write(fds[1], out.data(), out.size()) < 0) _exit(4);
    if (std::getenv("RGPU_STATS")) std::exit(0);  // atexit handlers print the shim's stats
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  Results r;
  std::istringstream in(text);
  std::string k;
  double v;
  while (in >> k >> v) r[k] = v;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "bench: scenario child failed (status %d)\n", status);
  return r;
}

// Rounds of the raw ping-pong baseline and the shim's sync call, one after the other in this
// process, so a neighbour slowing the machine slows both: the figure is the median of the
// rounds' ratios (and the medians of both times, printed beside it).
// Figure 4 through cudart: the e2e program tests/e2e/train_loop.cu (nvcc-built, unmodified) run
// for `steps` steps through the shim against a sim server with its kernel plugin, RGPU_STATS on;
// returns (driver calls, sync round trips) of the whole run, {0, 0} when it failed.
std::string g_train_program, g_train_plugin;

// (driver calls, sync round trips) from an RGPU_STATS report; {0, 0} when it has none.
std::pair<double, double> calls_and_syncs(const std::string& report) {
  unsigned long long c = 0, sy = 0;
  if (std::sscanf(report.c_str(), "rgpu stats: %llu driver calls, %llu sync round trips", &c,
                  &sy) != 2)
    return {0, 0};
  return {double(c), double(sy)};
}

std::pair<double, double> program_stats(int steps) {
  ServerProcess server(g_server, g_train_plugin, {});
  if (!server.ok()) return {0, 0};
  std::string file =
      "/tmp/rgpu-bench-prog-stats-" + std::to_string(getpid()) + "-" + std::to_string(steps);
  std::remove(file.c_str());
  const std::string shim_dir = g_shim.substr(0, g_shim.rfind('/'));
  pid_t pid = fork();
  if (pid == 0) {
    setenv("LD_LIBRARY_PATH", shim_dir.c_str(), 1);
    setenv("RGPU_SERVER", server.endpoint().c_str(), 1);
    setenv("RGPU_STATS", "1", 1);
    setenv("RGPU_STATS_FILE", file.c_str(), 1);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    std::string n = std::to_string(steps);
    execl(g_train_program.c_str(), g_train_program.c_str(), "--steps", n.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::string text = read_file(file);
  std::remove(file.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench: %s --steps %d failed (status %d)\n", g_train_program.c_str(),
                 steps, status);
    return {0, 0};
  }
  return calls_and_syncs(text);
}

void sync_calls(ShimDriver& d, Results& r, bool unix_socket) {
  size_t free_b, total_b;
  for (int i = 0; i < 200; ++i) CK(d.MemGetInfo(&free_b, &total_b));
  const int iters = 4000;
  std::vector<double> shim, raw, polled, ratio, poll_ratio;
  for (int round = 0; round < kRounds; ++round) {
    raw.push_back(raw_pingpong_ns(unix_socket, kSyncMessageBytes, iters));
    polled.push_back(raw_pingpong_ns(unix_socket, kSyncMessageBytes, iters, true));
    auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) CK(d.MemGetInfo(&free_b, &total_b));
    shim.push_back(seconds_since(t0) * 1e9 / iters);
    ratio.push_back(shim.back() / raw.back());
    poll_ratio.push_back(shim.back() / polled.back());
  }
  r["sync_call_ns"] = median(shim);
  r["sync_call_raw_ns"] = median(raw);
  r["sync_call_ratio"] = median(ratio);
  r["sync_call_poll_ns"] = median(polled);
  r["sync_call_poll_ratio"] = median(poll_ratio);
}

CUfunction load_noop(ShimDriver& d) {
  static std::string image = read_file(g_fatbin);
  CUmodule m;
  CK(d.ModuleLoadData(&m, image.data()));
  CUfunction f;
  CK(d.ModuleGetFunction(&f, m, "rgpu_bench_args"));
  return f;
}

double thread_cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Launches per second of the calling thread's CPU time (the app-side cost of one launch).
double launch_rate(ShimDriver& d, CUfunction f, int launches) {
  CUstream s;
  CK(d.StreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr out;
  CK(d.MemAlloc(&out, 4096));
  int n = 1024;
  float a = 1.0f;
  void* params[] = {&out, &n, &a};
  for (int i = 0; i < 1000; ++i) CK(d.LaunchKernel(f, 4, 1, 1, 256, 1, 1, 0, s, params, nullptr));
  CK(d.StreamSynchronize(s));
  double c0 = thread_cpu_s();
  for (int i = 0; i < launches; ++i)
    CK(d.LaunchKernel(f, 4, 1, 1, 256, 1, 1, 0, s, params, nullptr));
  double enqueue = thread_cpu_s() - c0;
  CK(d.StreamSynchronize(s));
  return launches / enqueue;
}

void launches(ShimDriver& d, Results& r) {
  CUfunction f = load_noop(d);
  const int n = 1000000;
  auto t0 = Clock::now();
  r["launch_1t_per_s"] = launch_rate(d, f, n);
  r["launch_1t_drained_per_s"] = n / seconds_since(t0);
  std::vector<double> rates(8);
  std::vector<std::thread> ts;
  CUcontext ctx;
  d.PrimaryCtxRetain(&ctx, 0);
  t0 = Clock::now();
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      d.CtxSetCurrent(ctx);
      rates[t] = launch_rate(d, f, n / 8);
    });
  for (auto& t : ts) t.join();
  CK(d.CtxSynchronize());
  r["launch_8t_all_drained_per_s"] = n / seconds_since(t0);
  double min_rate = rates[0];
  for (double x : rates) min_rate = std::min(min_rate, x);
  r["launch_8t_min_per_thread_per_s"] = min_rate;
}

// Figure 3. Per size, rounds of: the raw bulk baseline (raw TCP, or raw OpenSSL with g_tls_pki
// set), then `reps` HtoD copies and `reps` DtoH copies through the shim, from and into
// HostBuffers like the baseline's. The figure is the median of the rounds' ratios.
std::string g_tls_pki;  // set in the TLS scenario's child

void copies(ShimDriver& d, Results& r, const std::vector<size_t>& sizes) {
  for (size_t sz : sizes) {
    HostBuffer host(sz, 3), back(sz);
    for (size_t i = 0; i < sz; i += 4096) host.data()[i] = static_cast<char>(i >> 12);
    CUdeviceptr p;
    CK(d.MemAlloc(&p, sz));
    const int reps = sz >= 1024 * kMiB ? 1 : sz >= 64 * kMiB ? 4 : 64;
    const int rounds = sz >= 1024 * kMiB ? 3 : kRounds;
    const size_t chunk = std::min<size_t>(sz, 8 * kMiB);
    CK(d.MemcpyHtoD(p, host.data(), sz));
    CK(d.CtxSynchronize());
    std::vector<double> raw, h2d, d2h, h2d_ratio, d2h_ratio;
    for (int round = 0; round < rounds; ++round) {
      raw.push_back(g_tls_pki.empty() ? raw_bulk_bytes_per_s(reps * sz, chunk, sz)
                                      : raw_tls_bulk_bytes_per_s(reps * sz, chunk, sz, g_tls_pki));
      auto t0 = Clock::now();
      for (int i = 0; i < reps; ++i) CK(d.MemcpyHtoD(p, host.data(), sz));
      CK(d.CtxSynchronize());
      h2d.push_back(reps * sz / seconds_since(t0));
      t0 = Clock::now();
      for (int i = 0; i < reps; ++i) CK(d.MemcpyDtoH(back.data(), p, sz));
      d2h.push_back(reps * sz / seconds_since(t0));
      h2d_ratio.push_back(h2d.back() / raw.back());
      d2h_ratio.push_back(d2h.back() / raw.back());
    }
    if (std::memcmp(back.data(), host.data(), sz) != 0) {
      std::fprintf(stderr, "bench: D2H bytes differ from H2D bytes at %zu MiB\n", sz / kMiB);
      std::_Exit(5);
    }
    const std::string m = std::to_string(sz / kMiB) + "MiB";
    r["h2d_" + m + "_Bps"] = median(h2d);
    r["d2h_" + m + "_Bps"] = median(d2h);
    r["raw_" + m + "_Bps"] = median(raw);
    r["h2d_" + m + "_ratio"] = median(h2d_ratio);
    r["d2h_" + m + "_ratio"] = median(d2h_ratio);
    CK(d.MemFree(p));
  }
}

std::vector<size_t> copy_sizes() {
  std::vector<size_t> sizes = {kMiB, 64 * kMiB};
  if (!g_quick) sizes.push_back(1024 * kMiB);
  return sizes;
}

struct Row {
  std::string figure;
  double value, baseline;
  bool lower_is_better;
  double budget;
  std::string unit;
  double ratio = 0;  // the median of interleaved rounds' ratios; 0: value / baseline
};

void print(const std::vector<Row>& rows) {
  std::printf("\n%-44s %14s %14s %8s %8s  %s\n", "figure", "rgpu", "baseline", "ratio", "budget",
              "verdict");
  for (const auto& row : rows) {
    if (row.value <= 0 || row.baseline <= 0) {
      std::printf("%-44s %14s %14s %8s %8s  %s\n", row.figure.c_str(), "n/a", "n/a", "-", "-",
                  "not measured");
      continue;
    }
    double ratio = row.ratio > 0 ? row.ratio : row.value / row.baseline;
    bool ok = row.lower_is_better ? ratio <= row.budget : ratio >= row.budget;
    std::printf("%-44s %11.3g %-2s %11.3g %-2s %7.2fx %s%6.2fx  %s\n", row.figure.c_str(),
                row.value, row.unit.c_str(), row.baseline, row.unit.c_str(), ratio,
                row.lower_is_better ? "<=" : ">=", row.budget, ok ? "meets" : "MISSES");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string build = argc > 1 ? argv[1] : RGPU_BENCH_BUILD_DIR;
  g_shim = build + "/lib/rgpu/libcuda.so.1";
  g_server = build + "/bin/rgpu-server";
  g_plugin = RGPU_BENCH_PLUGIN;
  g_fatbin = RGPU_BENCH_FATBIN;
#ifdef RGPU_BENCH_TRAIN_LOOP
  g_train_program = RGPU_BENCH_TRAIN_LOOP;
  g_train_plugin = RGPU_BENCH_TRAIN_PLUGIN;
#endif
  std::printf("rgpu data-plane benchmarks (ratios against baselines measured in this run)\n");
  std::printf("shim %s\nserver %s\n", g_shim.c_str(), g_server.c_str());

  std::string pki = "/tmp/rgpu-bench-pki-" + std::to_string(getpid());
  bool have_pki = make_test_pki(pki);

  // Figures 1 and 3: each child measures its baseline in rounds interleaved with rgpu's.
  Results tcp, lr, ux, tls;
  if (wants(1) || wants(3))
    tcp = in_child({}, "", {}, [](ShimDriver& d, Results& r) {
      if (wants(1)) sync_calls(d, r, false);
      if (wants(3)) copies(d, r, copy_sizes());
    });
  if (wants(2)) lr = in_child({}, "", {}, launches);
  std::string sock = "/tmp/rgpu-bench-" + std::to_string(getpid()) + ".sock";
  if (wants(1))
    ux = in_child({}, sock, {}, [](ShimDriver& d, Results& r) { sync_calls(d, r, true); });
  if (have_pki && wants(3)) {
    g_tls_pki = pki;  // the child's copies() measures raw OpenSSL bulk
    tls = in_child({"--tls-cert", pki + "/server.pem", "--tls-key", pki + "/server.key", "--tls-ca",
                    pki + "/ca.pem"},
                   "",
                   {{"RGPU_TLS_CA", pki + "/ca.pem"},
                    {"RGPU_TLS_CERT", pki + "/client.pem"},
                    {"RGPU_TLS_KEY", pki + "/client.key"}},
                   [](ShimDriver& d, Results& r) {
                     copies(d, r, {kMiB, 64 * kMiB});
                   });
    g_tls_pki.clear();
  }
  std::system(("rm -rf " + pki).c_str());

  // 4. Training-like loop: stats of a short and a long run; the difference is per step.
  auto stats_of = [](int steps) {
    std::string file =
        "/tmp/rgpu-bench-stats-" + std::to_string(getpid()) + "-" + std::to_string(steps);
    std::remove(file.c_str());
    static int g_steps;
    g_steps = steps;
    in_child({}, "", {{"RGPU_STATS", "1"}, {"RGPU_STATS_FILE", file}},
             [](ShimDriver& d, Results&) { train_steps(d, read_file(g_fatbin), g_steps); });
    std::string text = read_file(file);
    std::remove(file.c_str());
    return calls_and_syncs(text);
  };
  std::pair<double, double> s10{0, 0}, s60{0, 0}, p10{0, 0}, p60{0, 0};
  if (wants(4)) {
    s10 = stats_of(10), s60 = stats_of(60);
    if (!g_train_program.empty()) p10 = program_stats(10), p60 = program_stats(60);
  }
  double calls_per_step = (s60.first - s10.first) / 50.0;
  double syncs_per_step = (s60.second - s10.second) / 50.0;
  double prog_calls_per_step = (p60.first - p10.first) / 50.0;
  double prog_syncs_per_step = (p60.second - p10.second) / 50.0;

  std::vector<Row> rows;
  rows.push_back({"1. sync call, TCP (ns per call)", tcp["sync_call_ns"], tcp["sync_call_raw_ns"],
                  true, 1.3, "ns", tcp["sync_call_ratio"]});
  rows.push_back({"1. sync call, Unix socket (ns per call)", ux["sync_call_ns"],
                  ux["sync_call_raw_ns"], true, 1.3, "ns", ux["sync_call_ratio"]});
  // Against a ping-pong that polls as the shim does: the floor, which a blocking baseline is not
  // on an idle VM (its wake-up latency made the sync call look 0.35-0.45x of it).
  rows.push_back({"1. sync call vs polling ping-pong, TCP (ns)", tcp["sync_call_ns"],
                  tcp["sync_call_poll_ns"], true, 1.2, "ns", tcp["sync_call_poll_ratio"]});
  rows.push_back({"1. sync call vs polling ping-pong, Unix (ns)", ux["sync_call_ns"],
                  ux["sync_call_poll_ns"], true, 1.2, "ns", ux["sync_call_poll_ratio"]});
  rows.push_back({"2. launches enqueued, 1 thread (/s vs 2M/s)", lr["launch_1t_per_s"], 2e6, false,
                  1.0, "/s"});
  rows.push_back({"2. launches enqueued, 8 threads, slowest (/s)",
                  lr["launch_8t_min_per_thread_per_s"], 2e6, false, 1.0, "/s"});
  rows.push_back({"2. launches incl. server drain, 1 thread (/s)", lr["launch_1t_drained_per_s"],
                  2e6, false, 1.0, "/s"});
  rows.push_back({"2. launches incl. drain, 8 threads together (/s)",
                  lr["launch_8t_all_drained_per_s"], 2e6, false, 1.0, "/s"});
  auto copy_rows = [&rows](Results& r, size_t sz, const std::string& label,
                           const std::string& base) {
    std::string m = std::to_string(sz / kMiB) + "MiB";
    for (const char* dir : {"h2d", "d2h"}) {
      std::string d = dir, up = d == "h2d" ? "H2D" : "D2H";
      rows.push_back({"3. " + label + up + " " + m + " vs " + base + " (B/s)",
                      r[d + "_" + m + "_Bps"], r["raw_" + m + "_Bps"], false, 0.9, "B/s",
                      r[d + "_" + m + "_ratio"]});
    }
  };
  for (size_t sz : copy_sizes()) copy_rows(tcp, sz, "", "raw TCP bulk");
  for (size_t sz : {kMiB, 64 * kMiB}) copy_rows(tls, sz, "TLS ", "raw OpenSSL");
  print(rows);
  if (wants(4)) {
    std::printf("\n%-44s %14s\n", "4. training-like step (per step)", "count");
    if (!g_train_program.empty()) {
      std::printf("%-44s %14.2f   budget <= 4: %s\n",
                  "   e2e train_loop (cudart): sync round trips", prog_syncs_per_step,
                  prog_syncs_per_step > 0 && prog_syncs_per_step <= 4 ? "meets" : "MISSES");
      std::printf("%-44s %14.2f\n", "   e2e train_loop (cudart): driver calls",
                  prog_calls_per_step);
    }
    std::printf("%-44s %14.2f   budget <= 4: %s\n", "   driver-API loop: sync round trips",
                syncs_per_step, syncs_per_step > 0 && syncs_per_step <= 4 ? "meets" : "MISSES");
    std::printf("%-44s %14.2f\n", "   driver-API loop: driver calls", calls_per_step);
  }
  return 0;
}
