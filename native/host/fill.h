// The seeded weights that --fill-random puts in place of an archive's zero weights. Defined element by
// element, so any language can recompute them (steer4j's tests do, in Java):
//   key  = fnv1a64(parameter name) XOR (seed * 0x9E3779B97F4A7C15)
//   u_i  = (splitmix64(key + i) >> 11) * 2^-53                      uniform in [0, 1)
//   w_i  = mean + std * sqrt(3) * (2 u_i - 1)                       mean 0, std 0.02 (matrices, embeddings,
//                                                                   biases); mean 1, std 0.1 (LayerNorm weights)
// i is the element's index in row-major order; the name is the parameter's first dotted path in the archive
// (transformer.h.0.attn.c_attn.weight …; tied lm_head.weight is the same tensor as transformer.wte.weight).
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace steer4j {

std::uint64_t fnv1a64(const std::string& s);
std::uint64_t splitmix64(std::uint64_t x);

// Whether a parameter of this name and rank is a LayerNorm weight (mean 1, std 0.1).
bool is_layer_norm_weight(const std::string& name, int64_t dim);

// The seeded values for a parameter, as float32 on the CPU, in the given shape.
torch::Tensor seeded_weights(const std::string& name, at::IntArrayRef shape, std::uint64_t seed);

}  // namespace steer4j
