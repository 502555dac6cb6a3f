// server/worker/image_cache.cc — see image_cache.h.
#include "server/worker/image_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "protocol/image_digest.h"
#include "server/log.h"

namespace rgpu::server {
namespace {

std::string hex(const std::string& raw) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : raw) s += d[c >> 4], s += d[c & 15];
  return s;
}

bool is_digest_name(const char* n) {
  if (std::strlen(n) != 64) return false;
  for (const char* p = n; *p; ++p)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

}  // namespace

std::string ImageCache::path_of(const std::string& digest) const {
  return dir_ + "/" + hex(digest);
}

void ImageCache::warn(const std::string& what) {
  if (warned_) return;
  warned_ = true;
  log_error("image cache %s: %s (images are sent again instead)", dir_.c_str(), what.c_str());
}

bool ImageCache::get(const std::string& digest, std::string* bytes) {
  if (digest.size() != 32) return false;
  const std::string path = path_of(digest);
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  bytes->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  if (image_sha256(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()) != digest) {
    log_error("image cache: %s does not hold the image its name says; deleted", path.c_str());
    ::unlink(path.c_str());
    bytes->clear();
    return false;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // used now: evicted last
  return true;
}

void ImageCache::put(const uint8_t* data, size_t n) {
  if (n == 0 || n > max_ / 4) return;
  const std::string digest = image_sha256(data, n);
  if (digest.empty()) return;
  const std::string path = path_of(digest);
  if (::access(path.c_str(), F_OK) == 0) {
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    return;
  }
  for (size_t at = 1; at <= dir_.size(); ++at) {  // every missing level, 0700
    if (at != dir_.size() && dir_[at] != '/') continue;
    if (::mkdir(dir_.substr(0, at).c_str(), 0700) != 0 && errno != EEXIST)
      return warn(std::string("cannot create it: ") + std::strerror(errno));
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return warn(std::string("cannot write: ") + std::strerror(errno));
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  const bool ok = done == n && ::close(fd) == 0;
  if (done != n) ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return warn(std::string("cannot write: ") + std::strerror(errno ? errno : EIO));
  }
  evict();
}

void ImageCache::evict() {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  struct Entry {
    std::string path;
    timespec mtime;
    uint64_t bytes;
  };
  std::vector<Entry> files;
  uint64_t total = 0;
  while (dirent* e = ::readdir(d)) {
    if (!is_digest_name(e->d_name)) continue;
    struct stat st {};
    const std::string p = dir_ + "/" + e->d_name;
    if (::stat(p.c_str(), &st) != 0) continue;
    files.push_back({p, st.st_mtim, static_cast<uint64_t>(st.st_size)});
    total += static_cast<uint64_t>(st.st_size);
  }
  ::closedir(d);
  if (total <= max_) return;
  std::sort(files.begin(), files.end(), [](const Entry& a, const Entry& b) {
    return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec
                                            : a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  for (const Entry& f : files) {
    if (total <= max_) break;
    if (::unlink(f.path.c_str()) == 0) total -= f.bytes;
  }
}

}  // namespace rgpu::server
