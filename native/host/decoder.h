// Batched greedy decoding through an exported program: one forward over the prompts (prefill), then
// greedy_step per token, which runs the forward, writes the argmax into the token buffer and advances the
// positions in place, so tokens stay on the device between steps. Optionally each step replays a CUDA
// graph captured for its position (the step's cache offset is part of the captured work).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/script.h>

#include "host/program.h"

namespace steer4j {

struct Timing {
  double prefill_ms = 0;
  double decode_ms = 0;  // all steps after the first token
};

class Decoder {
 public:
  // `module` is the program's steered or unsteered root; prompts are [B, P] token ids (no padding).
  Decoder(Program& program, torch::jit::Module module, int64_t batch, int64_t prompt_tokens, int64_t new_tokens);
  ~Decoder();

  // Runs prefill + new_tokens - 1 greedy steps; returns the new tokens [B, new_tokens] (on the device).
  torch::Tensor run(const torch::Tensor& prompts, Timing* timing);
  // Whether steps replay CUDA graphs; the first run after enabling captures them (and also runs eagerly).
  void use_cuda_graphs(bool on);

 private:
  void prefill(const torch::Tensor& prompts);

  Program& program_;
  torch::jit::Module module_;
  torch::jit::Method greedy_;
  int64_t batch_, prompt_tokens_, new_tokens_;
  std::vector<torch::Tensor> k_, v_;
  c10::List<torch::Tensor> k_list_, v_list_;
  torch::Tensor key_padding_, next_, step_positions_, past_, rows_, prompt_lengths_, prefill_positions_, out_;
  bool graphs_ = false;
  struct Graphs;
  std::unique_ptr<Graphs> captured_;
};

// Waits for the device's queued work (a no-op on CPU).
void synchronize(const torch::Device& device);

}  // namespace steer4j
