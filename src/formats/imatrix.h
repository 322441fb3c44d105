// llama.cpp importance-matrix files: the current GGUF layout and the legacy .dat.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct gptaq_imatrix {
  struct Entry {
    int64_t n_per_row = 0;
    int32_t n_mat = 1;
    std::vector<double> sums;    // n_mat x n_per_row
    std::vector<double> counts;  // n_mat
  };
  std::map<std::string, Entry> entries;  // sorted by name, as llama.cpp writes them
  std::vector<std::string> datasets;
  int32_t chunk_size = 512;

  void add(const std::string &name, int64_t n_per_row, int32_t n_mat, const float *in_sum2,
           const float *counts);
  uint32_t chunk_count() const;
  void save_gguf(const std::string &path) const;
  void save_dat(const std::string &path) const;
};
