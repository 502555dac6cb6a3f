// tests/fuzz/replay_main.cc — runs a fuzz target over files, without libFuzzer: how the normal
// (gcc, ASan) suites replay every seed and every input a fuzzer once crashed on.
// Usage: <target>_replay FILE|DIR...   Exit 0 when every input ran (a crash is a test failure).
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
int run_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  int failed = 0, ran = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (::stat(argv[i], &st) != 0) {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed += run_file(argv[i]);
      ++ran;
      continue;
    }
    DIR* d = ::opendir(argv[i]);
    while (dirent* e = d ? ::readdir(d) : nullptr) {
      if (e->d_name[0] == '.') continue;
      failed += run_file(std::string(argv[i]) + "/" + e->d_name);
      ++ran;
    }
    if (d) ::closedir(d);
  }
  std::printf("replay: %d inputs, %d unreadable\n", ran, failed);
  return failed == 0 && ran > 0 ? 0 : 1;
}
