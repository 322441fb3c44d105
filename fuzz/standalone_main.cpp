// A main() for building the fuzz harnesses without libFuzzer (e.g. with gcc): runs the
// harness once on every file named on the command line or found (non-recursively) in a
// directory named there. Used by ctest to replay the checked-in seed corpora, so every
// build re-checks them; the libFuzzer builds (fuzz/CMakeLists.txt) do the fuzzing.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool run_file(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    return false;
  }
  std::vector<uint8_t> b;
  unsigned char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
  std::fclose(f);
  LLVMFuzzerTestOneInput(b.data(), b.size());
  return true;
}

int main(int argc, char **argv) {
  int count = 0, failed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    struct stat st;
    if (stat(arg.c_str(), &st) != 0) {
      std::fprintf(stderr, "no such file or directory: %s\n", arg.c_str());
      ++failed;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      std::vector<std::string> names;
      if (DIR *d = opendir(arg.c_str())) {
        while (dirent *e = readdir(d))
          if (e->d_name[0] != '.') names.push_back(arg + "/" + e->d_name);
        closedir(d);
      }
      std::sort(names.begin(), names.end());
      for (const auto &p : names) failed += !run_file(p), ++count;
    } else {
      failed += !run_file(arg), ++count;
    }
  }
  std::printf("replayed %d inputs, %d unreadable\n", count, failed);
  return failed || count == 0 ? 1 : 0;
}
