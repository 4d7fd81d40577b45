#include "host/decoder.h"

#include <chrono>
#include <stdexcept>

#include <nvtx3/nvToolsExt.h>

#ifdef STEER4J_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#endif

namespace steer4j {
namespace {

// An NVTX range for the life of a scope: names the phases in Nsight Systems (free when no tool is attached).
struct Range {
  explicit Range(const char* name) { nvtxRangePushA(name); }
  ~Range() { nvtxRangePop(); }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void synchronize(const torch::Device& device) {
#ifdef STEER4J_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
#else
  (void)device;
#endif
}

struct Decoder::Graphs {
#ifdef STEER4J_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAGraph>> steps;  // one per step position, sharing one memory pool
#endif
};

Decoder::Decoder(Program& program, torch::jit::Module module, int64_t batch, int64_t prompt_tokens,
                 int64_t new_tokens)
    : program_(program),
      module_(std::move(module)),
      greedy_(module_.get_method("greedy_step")),
      batch_(batch),
      prompt_tokens_(prompt_tokens),
      new_tokens_(new_tokens) {
  const Shape& s = program.shape();
  const int64_t capacity = prompt_tokens + new_tokens;
  if (capacity > s.n_positions) {
    throw std::runtime_error("prompt + new tokens = " + std::to_string(capacity) + " exceeds the model's " +
                             std::to_string(s.n_positions) + " positions");
  }
  auto floats = torch::TensorOptions().dtype(program.dtype()).device(program.device());
  auto longs = torch::TensorOptions().dtype(torch::kLong).device(program.device());
  for (int64_t l = 0; l < s.n_layer; ++l) {
    k_.push_back(torch::zeros({batch, s.n_head, capacity, s.head_dim()}, floats));
    v_.push_back(torch::zeros({batch, s.n_head, capacity, s.head_dim()}, floats));
    k_list_.push_back(k_.back());
    v_list_.push_back(v_.back());
  }
  key_padding_ = torch::zeros({batch, capacity}, longs.dtype(torch::kBool));
  next_ = torch::zeros({batch, 1}, longs);
  step_positions_ = torch::zeros({batch, 1}, longs);
  past_ = torch::zeros({}, torch::kLong);  // a CPU counter: greedy_step reads it as the cache offset
  rows_ = torch::arange(batch, longs);
  prompt_lengths_ = torch::full({batch}, prompt_tokens, longs);
  prefill_positions_ = torch::arange(prompt_tokens, longs).unsqueeze(0).expand({batch, prompt_tokens}).contiguous();
  out_ = torch::zeros({batch, new_tokens}, longs);
}

Decoder::~Decoder() = default;

void Decoder::use_cuda_graphs(bool on) {
#ifndef STEER4J_CUDA
  if (on) throw std::runtime_error("--cuda-graph needs steer4j-host built against a CUDA libtorch");
#endif
  if (on && !program_.device().is_cuda()) throw std::runtime_error("--cuda-graph needs --device cuda");
  graphs_ = on;
  if (!on) captured_.reset();
}

void Decoder::prefill(const torch::Tensor& prompts) {
  Range r("prefill");
  program_.set_positions(rows_, prefill_positions_, prompt_lengths_);
  std::vector<torch::IValue> args{prompts,  prefill_positions_, key_padding_,         k_list_,
                                  v_list_,  int64_t{0},         /*last_only=*/true};
  torch::Tensor logits = module_.forward(args).toTensor();
  next_.copy_(logits.argmax(-1));
  out_.narrow(1, 0, 1).copy_(next_);
  step_positions_.fill_(prompt_tokens_);
  past_.fill_(prompt_tokens_);
  program_.set_positions(rows_, step_positions_, prompt_lengths_);  // greedy_step advances them in place
}

torch::Tensor Decoder::run(const torch::Tensor& prompts, Timing* timing) {
  torch::NoGradGuard no_grad;
  if (prompts.size(0) != batch_ || prompts.size(1) != prompt_tokens_) {
    throw std::runtime_error("prompts must be [batch, prompt_tokens]");
  }
  const torch::Tensor ids = prompts.to(program_.device());
  std::vector<torch::IValue> step{next_, step_positions_, key_padding_, k_list_, v_list_, past_};
#ifdef STEER4J_CUDA
  if (graphs_ && !captured_) {
    graphs_ = false;
    run(prompts, nullptr);  // eager once first: warms up the kernels and libraries that capture may not init
    graphs_ = true;
    captured_ = std::make_unique<Graphs>();
    prefill(ids);
    synchronize(program_.device());
    c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      for (int64_t i = 1; i < new_tokens_; ++i) {
        past_.fill_(prompt_tokens_ + i - 1);  // captured into the graph: this step's cache offset
        auto g = std::make_unique<at::cuda::CUDAGraph>();
        if (captured_->steps.empty()) {
          g->capture_begin();
        } else {
          g->capture_begin(captured_->steps.front()->pool());
        }
        greedy_(step);
        g->capture_end();
        captured_->steps.push_back(std::move(g));
      }
    }
    synchronize(program_.device());
  }
#endif
  synchronize(program_.device());
  auto t0 = std::chrono::steady_clock::now();
  prefill(ids);
  synchronize(program_.device());
  if (timing) timing->prefill_ms = ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  for (int64_t i = 1; i < new_tokens_; ++i) {
    Range r("decode_step");
#ifdef STEER4J_CUDA
    if (graphs_ && captured_) {
      captured_->steps[i - 1]->replay();
      out_.narrow(1, i, 1).copy_(next_);
      continue;
    }
#endif
    greedy_(step);
    out_.narrow(1, i, 1).copy_(next_);
  }
  synchronize(program_.device());
  if (timing) timing->decode_ms = ms_since(t1);
  return out_.clone();
}

}  // namespace steer4j
