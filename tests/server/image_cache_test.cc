// tests/server/image_cache_test.cc — the provider's image cache (server/worker/image_cache.h):
// an image comes back by the digest of its bytes, a file whose bytes do not match its name is a
// miss and is deleted, the least recently used images go first when it is full, and an image
// too large for it is not kept; and the session's ModuleLoadCached on it.
#include "server/worker/image_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "protocol/control/lease.h"
#include "protocol/image_digest.h"
#include "tests/server/sim_session_fixture.h"

namespace rgpu::server {
namespace {

std::string image(char fill, size_t n) {
  return std::string(n, fill) + std::to_string(n);
}
std::string digest(const std::string& s) {
  return image_sha256(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
const uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

class ImageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/rgpu-image-cache-XXXXXX";
    ASSERT_NE(mkdtemp(t), nullptr);
    root_ = t;
    dir_ = root_ + "/a/b/images";  // made when first written, every level
  }
  void TearDown() override { std::system(("rm -rf '" + root_ + "'").c_str()); }
  std::string root_, dir_;
};

TEST_F(ImageCacheTest, AnImageComesBackByItsDigestAndOnlyIntact) {
  ImageCache c(dir_, 1 << 20);
  const std::string a = image('a', 5000);
  std::string got;
  EXPECT_FALSE(c.get(digest(a), &got));
  c.put(bytes(a), a.size());
  ASSERT_TRUE(c.get(digest(a), &got));
  EXPECT_EQ(got, a);
  EXPECT_FALSE(c.get(digest(image('b', 5000)), &got));
  EXPECT_FALSE(c.get("short", &got));
  // A file altered on disk is not handed out, and is gone afterwards.
  ImageCache other(dir_, 1 << 20);  // (another worker, the same directory)
  const std::string path = dir_ + "/" + control::to_hex(digest(a));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('X');
  }
  EXPECT_FALSE(other.get(digest(a), &got));
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ImageCacheTest, TheLeastRecentlyUsedGoFirstAndTooLargeIsNotKept) {
  ImageCache c(dir_, 100000);  // keeps images up to 25,000 bytes, 100,000 in all
  std::string got, img[6];
  for (int i = 0; i < 5; ++i) {
    img[i] = image(static_cast<char>('a' + i), 19990);  // 19,995 bytes each
    c.put(bytes(img[i]), img[i].size());
    usleep(20000);  // distinct modification times
  }
  ASSERT_TRUE(c.get(digest(img[0]), &got));  // used now: the newest
  usleep(20000);
  img[5] = image('f', 19990);
  c.put(bytes(img[5]), img[5].size());  // 6 x 19,995 > 100,000: the oldest goes
  EXPECT_TRUE(c.get(digest(img[0]), &got));
  EXPECT_FALSE(c.get(digest(img[1]), &got));
  for (int i = 2; i < 6; ++i) EXPECT_TRUE(c.get(digest(img[i]), &got)) << i;
  const std::string big = image('z', 30000);
  c.put(bytes(big), big.size());
  EXPECT_FALSE(c.get(digest(big), &got));
}

// ModuleLoadCached (ops.def, protocol 9): a digest the provider's cache holds loads that image as
// a ModuleLoad with bytes would (its kernels, and later hash-only loads in the session); an
// unknown digest is a miss, told apart from a provider without a cache; the digest is exactly 32
// bytes; a pending async error is answered in its place, as by every sync op.
TEST_F(SimSession, ACachedImageLoadsByItsDigest) {
  char dir[] = "/tmp/rgpu-session-cache-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ImageCache cache(dir, 64 << 20);
  auto img = test::read_file(RGPU_TEST_CUBIN);
  ASSERT_FALSE(img.empty());
  const std::string digest = image_sha256(img.data(), img.size());
  using R = op::ModuleLoadCached::Result;

  OpReply r = sync<op::ModuleLoadCached>({1, 77}, digest.data(), 32);
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_EQ(result<R>(r).image_missing, 1u);
  EXPECT_EQ(result<R>(r).no_cache, 1u);  // no cache yet: the shim stops offering

  session.set_image_cache(&cache);
  r = sync<op::ModuleLoadCached>({1, 77}, digest.data(), 32);
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_EQ(result<R>(r).image_missing, 1u);
  EXPECT_EQ(result<R>(r).no_cache, 0u);

  cache.put(img.data(), img.size());
  r = sync<op::ModuleLoadCached>({1, 77}, digest.data(), 32);
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_EQ(result<R>(r).image_missing, 0u);
  EXPECT_TRUE(get_function(1, 10, "vec_add").status.ok());
  // Kept for the session under the client's hash: a hash-only ModuleLoad needs no bytes.
  r = sync<op::ModuleLoad>({2, 77});
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_EQ(result<op::ModuleLoad::Result>(r).image_missing, 0u);
  // A handle already in use is refused; a digest of another size never reaches the handler.
  EXPECT_FALSE(sync<op::ModuleLoadCached>({1, 77}, digest.data(), 32).status.ok());
  op::ModuleLoadCached::Args a{3, 77};
  EXPECT_FALSE(session
                   .payload_check(static_cast<uint16_t>(op::ModuleLoadCached::kCode),
                                  reinterpret_cast<const uint8_t*>(&a), sizeof a, 31)
                   .ok());
  EXPECT_TRUE(session
                  .payload_check(static_cast<uint16_t>(op::ModuleLoadCached::kCode),
                                 reinterpret_cast<const uint8_t*>(&a), sizeof a, 32)
                  .ok());
  // A pending async error answers the op instead of it.
  async<op::Memset>({0xdead0000, 4, 0, 1, 0});
  r = sync<op::ModuleLoadCached>({3, 77}, digest.data(), 32);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.text.find("memset destination"), std::string::npos) << r.status.text;
  EXPECT_TRUE(sync<op::ModuleLoadCached>({3, 77}, digest.data(), 32).status.ok());  // then runs
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
}

}  // namespace
}  // namespace rgpu::server
