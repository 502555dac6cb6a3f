// server/worker/image_cache.h — module images kept on the provider's disk across sessions and
// server restarts, so a program that loads an image this provider has seen sends its digest
// instead of its bytes (ModuleLoadCached, ops.def): over a slow link, start-up saves the image's
// transfer time.
//
// Contract:
// - One file per image in `dir`, named by the lowercase hex SHA-256 of its bytes, which the
//   cache computes itself (put()): a client names an image it wants by digest, but can never
//   choose what a digest's file holds, so one tenant cannot plant an image for another.
// - get() reads only a regular file (never through a symlink, never blocking on a FIFO) of at
//   most max_bytes, and re-hashes it; a file whose bytes do not match its name (disk damage, a
//   hand edit) is deleted and reported as a miss. A hit touches the file's mtime: eviction is
//   least recently used. Temporary files a killed worker left are removed after an hour.
// - put() writes to a temporary file and renames it into place (workers of several sessions
//   share the directory; a reader never sees half an image), then evicts the least recently
//   used files until the total is within max_bytes. An image larger than a quarter of
//   max_bytes is not kept.
// - Failures (a full disk, permissions) are logged once per cache and never fail the op: the
//   cache is an optimisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rgpu::server {

class ImageCache {
 public:
  ImageCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_(max_bytes) {}
  // The image whose SHA-256 is `digest` (32 raw bytes) into *bytes, if the cache holds it intact.
  bool get(const std::string& digest, std::string* bytes);
  void put(const uint8_t* data, size_t n);
  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(const std::string& digest) const;
  void evict();
  void warn(const std::string& what);
  std::string dir_;
  uint64_t max_;
  bool warned_ = false;
};

}  // namespace rgpu::server
