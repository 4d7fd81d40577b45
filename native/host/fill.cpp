#include "host/fill.h"

#include <cmath>

#include <ATen/Parallel.h>

namespace steer4j {

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

bool is_layer_norm_weight(const std::string& name, int64_t dim) {
  const std::string suffix = ".weight";
  return dim == 1 && name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

torch::Tensor seeded_weights(const std::string& name, at::IntArrayRef shape, std::uint64_t seed) {
  torch::Tensor out = torch::empty(shape, torch::kFloat32);
  const bool ln = is_layer_norm_weight(name, static_cast<int64_t>(shape.size()));
  const double mean = ln ? 1.0 : 0.0;
  const double scale = (ln ? 0.1 : 0.02) * std::sqrt(3.0);
  const std::uint64_t key = fnv1a64(name) ^ (seed * 0x9E3779B97F4A7C15ULL);
  float* data = out.data_ptr<float>();
  at::parallel_for(0, out.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double u = static_cast<double>(splitmix64(key + static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
      data[i] = static_cast<float>(mean + scale * (2.0 * u - 1.0));
    }
  });
  return out;
}

}  // namespace steer4j
