// An archive written by `steer4j export`: the hooked program, the same model unhooked, the shape from its
// config.json, and the hook-state modules whose attributes steer it (docs in ProgramExport.java).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>

namespace steer4j {

struct Shape {
  int64_t n_layer = 0, n_head = 0, n_embd = 0, n_positions = 0, vocab_size = 0;
  int64_t head_dim() const { return n_embd / n_head; }
};

// One exported hook: what its graph reads ("d<id>" = coefficient * vector, or "v<id>" a direction) and,
// for additive edits, the unscaled vector ("vec<id>").
struct HookAttr {
  std::string applied;
  std::string vector;  // empty for ablation
};

class Program {
 public:
  Program(const std::string& path, const torch::Device& device);

  torch::jit::Module& steered() { return steered_; }
  torch::jit::Module& unsteered() { return unsteered_; }
  const Shape& shape() const { return shape_; }
  torch::ScalarType dtype() const { return dtype_; }
  const torch::Device& device() const { return device_; }
  bool zero_weights() const { return zero_weights_; }
  size_t hook_count() const { return hooks_.size(); }

  // Replaces every weight with the seeded values of fill.h (ties kept), in `dtype`, on the device.
  void fill_random(std::uint64_t seed, torch::ScalarType dtype);
  // Casts every weight to `dtype` (ties kept).
  void cast(torch::ScalarType dtype);
  // Sets every additive hook's coefficient: applied = c * vector, in place on the device.
  void set_coefficient(double c);
  // For hooks that act on some positions or per row: the rows, positions and prompt lengths of the next
  // forwards (the same tensors may be updated in place afterwards, as greedy_step does with positions).
  void set_positions(const torch::Tensor& rows, const torch::Tensor& positions, const torch::Tensor& prompt_lengths);
  // Bytes of distinct weight storage: what one decode step reads.
  int64_t weight_bytes();
  // The first `count` values of a named parameter, as float.
  std::vector<double> values(const std::string& name, int64_t count);

 private:
  // Every distinct weight once, by its first dotted name, with the modules and attribute names holding it.
  struct Weight {
    std::string name;
    torch::Tensor value;
    std::vector<std::pair<torch::jit::Module, std::string>> holders;
  };
  std::vector<Weight> weights();
  void replace(Weight& w, const torch::Tensor& t);
  void cast_state(torch::ScalarType dtype);  // the hook vectors follow the weights' dtype

  torch::jit::Module root_;
  torch::jit::Module steered_;
  torch::jit::Module unsteered_;
  std::vector<torch::jit::Module> states_;
  std::vector<HookAttr> hooks_;
  Shape shape_;
  torch::ScalarType dtype_;
  torch::Device device_;
  bool zero_weights_ = false;
};

}  // namespace steer4j
