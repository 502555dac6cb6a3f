// server/worker_cgroup.cc — see worker_cgroup.h.
#include "server/worker_cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rgpu::server {

namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC

std::string read_text(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Control files exist already (the kernel makes them); nothing here creates one.
std::string write_cgroup_control(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return "cannot write '" + value + "' to " + path + ": " + std::strerror(n < 0 ? e : EIO);
  return "";
}

namespace {

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;)
    if (w == word) return true;
  return false;
}

// This process's cgroup v2 directory: the "0::/path" line of /proc/self/cgroup under the
// cgroup2 mount point from /proc/self/mountinfo.
std::string own_cgroup_dir(std::string* why) {
  bool ok = false;
  std::string cg = read_text("/proc/self/cgroup", &ok);
  std::string rel;
  std::istringstream lines(cg);
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("0::", 0) == 0) rel = l.substr(3);
  if (rel.empty()) {
    *why = "this process is in no cgroup v2 hierarchy";
    return "";
  }
  std::string mi = read_text("/proc/self/mountinfo", &ok);
  std::istringstream mounts(mi);
  for (std::string l; std::getline(mounts, l);) {
    // id parent dev root mountpoint opts [optional...] - fstype source superopts
    const size_t dash = l.find(" - ");
    if (dash == std::string::npos || l.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(l.substr(0, dash));
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (root != "/") continue;  // a namespaced view: paths would not line up
    return rel == "/" ? point : point + rel;
  }
  *why = "no cgroup v2 file system is mounted";
  return "";
}

}  // namespace

uint64_t cgroup_memory_max(uint64_t limit) {
  const uint64_t margin = (64ull << 20) + limit / 8;
  return limit > UINT64_MAX - margin ? UINT64_MAX : limit + margin;
}

std::unique_ptr<WorkerCgroups> WorkerCgroups::open(const std::string& spec, std::string* error,
                                                   bool require_cgroupfs) {
  auto out = std::make_unique<WorkerCgroups>();
  if (spec.empty()) {
    out->why_off_ = "--worker-cgroup is off";
    return out;
  }
  const bool automatic = spec == "auto";
  std::string dir = spec;
  std::string why;
  // "auto" falls back to RLIMIT_DATA with a reason; a named directory that cannot be used is
  // a configuration error.
  auto unusable = [&](const std::string& reason) -> std::unique_ptr<WorkerCgroups> {
    if (automatic) {
      out->why_off_ = reason;
      return std::move(out);
    }
    *error = "--worker-cgroup " + spec + ": " + reason;
    return nullptr;
  };
  if (automatic) {
    dir = own_cgroup_dir(&why);
    if (dir.empty()) return unusable(why);
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0)
    return unusable("cannot read " + dir + ": " + std::strerror(errno));
  if (require_cgroupfs && fs.f_type != kCgroup2Magic)
    return unusable(dir + " is not a cgroup v2 directory");
  bool ok = false;
  std::string controllers = read_text(dir + "/cgroup.controllers", &ok);
  if (!ok) return unusable("cannot read " + dir + "/cgroup.controllers");
  if (!has_word(controllers, "memory"))
    return unusable("the memory controller is not delegated to " + dir + " (cgroup.controllers: '" +
                    controllers.substr(0, controllers.find('\n')) +
                    "'); with systemd set Delegate=memory in the unit");
  if (::access((dir + "/cgroup.subtree_control").c_str(), W_OK) != 0)
    return unusable(dir + "/cgroup.subtree_control is not writable by this user");
  std::string procs = read_text(dir + "/cgroup.procs", &ok);
  const std::string self = std::to_string(::getpid());
  const bool inside = has_word(procs, self);
  if (automatic) {
    std::istringstream in(procs);
    for (std::string p; in >> p;)
      if (p != self) return unusable(dir + " holds other processes than rgpu-server");
  }
  if (inside) {
    const std::string leaf = dir + "/supervisor";
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST)
      return unusable("cannot make " + leaf + ": " + std::strerror(errno));
    if (std::string e = write_cgroup_control(leaf + "/cgroup.procs", self); !e.empty())
      return unusable(e);
  }
  std::string subtree = read_text(dir + "/cgroup.subtree_control", &ok);
  if (!has_word(subtree, "memory")) {
    if (std::string e = write_cgroup_control(dir + "/cgroup.subtree_control", "+memory");
        !e.empty())
      return unusable(e);
  }
  out->dir_ = dir;
  return out;
}

std::string WorkerCgroups::prepare(uint64_t session, uint64_t limit, std::string* error) const {
  if (!enabled()) return "";
  const std::string leaf = dir_ + "/worker-" + std::to_string(session);
  if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = "cannot make " + leaf + ": " + std::strerror(errno);
    return "";
  }
  const std::string max = limit ? std::to_string(cgroup_memory_max(limit)) : "max";
  if (std::string e = write_cgroup_control(leaf + "/memory.max", max); !e.empty()) {
    *error = e;
    ::rmdir(leaf.c_str());
    return "";
  }
  return leaf;
}

bool WorkerCgroups::place(pid_t pid, const std::string& leaf, std::string* error) const {
  if (std::string e = write_cgroup_control(leaf + "/cgroup.procs", std::to_string(pid));
      !e.empty()) {
    *error = e;
    return false;
  }
  return true;
}

bool WorkerCgroups::finish(const std::string& leaf) const {
  if (leaf.empty()) return false;
  bool ok = false;
  std::istringstream in(read_text(leaf + "/memory.events", &ok));
  bool killed = false;
  for (std::string key; in >> key;) {
    uint64_t n = 0;
    in >> n;
    if (key == "oom_kill" && n > 0) killed = true;
  }
  ::rmdir(leaf.c_str());  // fails (harmlessly) on a plain directory in tests, or while busy
  return killed;
}

}  // namespace rgpu::server
