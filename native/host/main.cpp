// steer4j-host: runs an archive written by `steer4j export` without a JVM.
//   steer4j-host generate --model A.pt --ids 40,892,... --max-new-tokens N [--coefficient C] [--unsteered] --json
//   steer4j-host bench --model A.pt --batch B --prompt-tokens P --new-tokens N [--device cpu|cuda] [--dtype D]
//                      [--fill-random SEED] [--cuda-graph] [--bandwidth-gbps G] [--repeats R] [--warmup W] --json
//   steer4j-host weights --model A.pt [--fill-random SEED] --name PARAM [--count K] --json
// Exit status: 0 success, 2 bad input (one line on stderr), 1 internal failure.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#ifdef STEER4J_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "host/decoder.h"
#include "host/json.h"
#include "host/program.h"

namespace steer4j {
namespace {

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(int argc, char** argv, const std::set<std::string>& flags, const std::set<std::string>& options) {
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (flags.count(a)) {
        values_[a] = "true";
      } else if (options.count(a)) {
        if (i + 1 >= argc) throw BadInput(a + " needs a value");
        values_[a] = argv[++i];
      } else {
        throw BadInput("unknown option " + a);
      }
    }
  }
  bool has(const std::string& k) const { return values_.count(k) > 0; }
  std::string str(const std::string& k) const {
    if (!has(k)) throw BadInput("missing " + k);
    return values_.at(k);
  }
  std::string str(const std::string& k, const std::string& dflt) const { return has(k) ? values_.at(k) : dflt; }
  int64_t integer(const std::string& k, int64_t dflt, int64_t min) const {
    if (!has(k)) return dflt;
    int64_t v;
    try {
      size_t used;
      v = std::stoll(values_.at(k), &used);
      if (used != values_.at(k).size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw BadInput(k + " must be an integer, got '" + values_.at(k) + "'");
    }
    if (v < min) throw BadInput(k + " must be >= " + std::to_string(min));
    return v;
  }
  double real(const std::string& k, double dflt) const {
    if (!has(k)) return dflt;
    try {
      size_t used;
      double v = std::stod(values_.at(k), &used);
      if (used != values_.at(k).size() || !std::isfinite(v)) throw std::invalid_argument("bad");
      return v;
    } catch (const std::exception&) {
      throw BadInput(k + " must be a finite number, got '" + values_.at(k) + "'");
    }
  }

 private:
  std::map<std::string, std::string> values_;
};

torch::Device parse_device(const std::string& s) {
  if (s == "cpu") return torch::Device(torch::kCPU);
  if (s.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) throw BadInput("--device " + s + ": no CUDA device (or a CPU-only libtorch)");
    return torch::Device(s);
  }
  throw BadInput("--device must be cpu, cuda or cuda:N, got '" + s + "'");
}

torch::ScalarType parse_dtype(const std::string& s) {
  if (s == "float32") return torch::kFloat32;
  if (s == "float16") return torch::kFloat16;
  if (s == "bfloat16") return torch::kBFloat16;
  throw BadInput("--dtype must be float32, float16 or bfloat16, got '" + s + "'");
}

std::string dtype_name(torch::ScalarType t) {
  return t == torch::kFloat16 ? "float16" : t == torch::kBFloat16 ? "bfloat16" : "float32";
}

// Loads the archive and applies the weight and dtype options every command shares.
Program load(const std::string& path, const torch::Device& device) {
  if (!std::ifstream(path).good()) throw BadInput("model file not found: " + path);
  try {
    return Program(path, device);
  } catch (const std::runtime_error& e) {
    throw BadInput(e.what());  // a file that is not an exported archive, or one this libtorch cannot run
  }
}

Program open(const Args& a) {
  Program p = load(a.str("--model"), parse_device(a.str("--device", "cpu")));
  if (a.has("--fill-random")) {
    p.fill_random(static_cast<std::uint64_t>(a.integer("--fill-random", 0, 0)),
                  a.has("--dtype") ? parse_dtype(a.str("--dtype")) : p.dtype());
  } else {
    if (p.zero_weights()) throw BadInput(a.str("--model") + " has zero weights: pass --fill-random SEED");
    if (a.has("--dtype")) p.cast(parse_dtype(a.str("--dtype")));
  }
  return p;
}

std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    try {
      size_t used;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw BadInput("--ids must be comma-separated token ids, got '" + item + "'");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return ids;
}

int generate(const Args& a) {
  Program p = open(a);
  std::vector<int64_t> ids = parse_ids(a.str("--ids"));
  for (int64_t id : ids) {
    if (id < 0 || id >= p.shape().vocab_size) throw BadInput("token id " + std::to_string(id) + " is outside the vocabulary");
  }
  const int64_t n = a.integer("--max-new-tokens", 20, 1);
  if (a.has("--coefficient")) p.set_coefficient(a.real("--coefficient", 0));
  Decoder d(p, a.has("--unsteered") ? p.unsteered() : p.steered(), 1, static_cast<int64_t>(ids.size()), n);
  torch::Tensor out = d.run(torch::tensor(ids, torch::kLong).unsqueeze(0), nullptr).to(torch::kCPU);
  std::vector<int64_t> new_ids;
  for (int64_t i = 0; i < n; ++i) {
    new_ids.push_back(out[0][i].item<int64_t>());
    if (new_ids.back() == 50256) break;  // end of text ends the generation, as in steer4j generate
  }
  std::cout << Json::Object().put("new_ids", Json::array(new_ids)).json().text() << std::endl;
  return 0;
}

struct Stats {
  static Json of(const std::vector<double>& xs) {
    return Json::Object().put("median", Json::number(median(xs)))
        .put("min", Json::number(*std::min_element(xs.begin(), xs.end())))
        .put("max", Json::number(*std::max_element(xs.begin(), xs.end()))).json();
  }
  static double median(std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    return xs.size() % 2 ? xs[xs.size() / 2] : (xs[xs.size() / 2 - 1] + xs[xs.size() / 2]) / 2;
  }
};

struct Side {
  std::vector<double> prefill, decode, tps;
  void add(const Timing& t, int64_t b, int64_t n) {
    prefill.push_back(t.prefill_ms);
    decode.push_back(n > 1 ? t.decode_ms / (n - 1) : 0);
    tps.push_back(b * n / ((t.prefill_ms + t.decode_ms) / 1000));
  }
  Json json() const {
    return Json::Object().put("prefill_ms", Stats::of(prefill)).put("decode_ms_per_token", Stats::of(decode))
        .put("tokens_per_s", Stats::of(tps)).json();
  }
};

Json device_memory(const torch::Device& device) {
#ifdef STEER4J_CUDA
  if (device.is_cuda()) {
    synchronize(device);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    const size_t all = 0;  // StatType::AGGREGATE
    return Json::Object()
        .put("allocated_mb", Json::number(stats.allocated_bytes[all].current / 1048576.0))
        .put("peak_allocated_mb", Json::number(stats.allocated_bytes[all].peak / 1048576.0))
        .put("reserved_mb", Json::number(stats.reserved_bytes[all].current / 1048576.0))
        .put("peak_reserved_mb", Json::number(stats.reserved_bytes[all].peak / 1048576.0))
        .json();
  }
#endif
  (void)device;
  return Json::null();
}

int bench(const Args& a) {
  Program p = open(a);
  const int64_t b = a.integer("--batch", 1, 1), prompt = a.integer("--prompt-tokens", 16, 1);
  const int64_t n = a.integer("--new-tokens", 32, 1), repeats = a.integer("--repeats", 5, 1);
  const int64_t warmup = a.integer("--warmup", 2, 0);
  const bool graphs = a.has("--cuda-graph");
  if (a.has("--coefficient")) p.set_coefficient(a.real("--coefficient", 0));
  std::mt19937_64 rng(static_cast<std::uint64_t>(a.integer("--seed", 0, 0)));
  std::vector<int64_t> flat(b * prompt);
  for (auto& id : flat) id = static_cast<int64_t>(rng() % 50000);  // below the end-of-text token
  torch::Tensor prompts = torch::tensor(flat, torch::kLong).view({b, prompt});

  Decoder steered(p, p.steered(), b, prompt, n), unsteered(p, p.unsteered(), b, prompt, n);
  steered.use_cuda_graphs(graphs);
  unsteered.use_cuda_graphs(graphs);
  Timing t;
  for (int64_t i = 0; i < warmup || (graphs && i < 1); ++i) {
    steered.run(prompts, &t);
    unsteered.run(prompts, &t);
  }
  Side s, u;
  std::vector<double> paired;
  for (int64_t r = 0; r < repeats; ++r) {
    Timing ts, tu;
    if (r % 2 == 0) {  // alternate which side goes first, so drifts of a shared machine cancel
      steered.run(prompts, &ts);
      unsteered.run(prompts, &tu);
    } else {
      unsteered.run(prompts, &tu);
      steered.run(prompts, &ts);
    }
    s.add(ts, b, n);
    u.add(tu, b, n);
    paired.push_back(s.tps.back() / u.tps.back());
  }

  Json::Object settings;
  settings.put("model", Json::string(a.str("--model"))).put("device", Json::string(a.str("--device", "cpu")))
      .put("dtype", Json::string(dtype_name(p.dtype()))).put("batch", Json::integer(b))
      .put("prompt_tokens", Json::integer(prompt)).put("new_tokens", Json::integer(n))
      .put("repeats", Json::integer(repeats)).put("warmup", Json::integer(warmup))
      .put("threads", Json::integer(at::get_num_threads())).put("hooks", Json::integer(static_cast<long long>(p.hook_count())))
      .put("cuda_graph", Json::boolean(graphs)).put("host", Json::string("steer4j-host"))
      .put("libtorch", Json::string(TORCH_VERSION));
  Json::Object out;
  out.put("settings", settings.json()).put("unsteered", u.json()).put("steered", s.json());
  out.put("steered_over_unsteered", Json::number(Stats::median(s.tps) / Stats::median(u.tps)));
  out.put("steered_over_unsteered_paired", Stats::of(paired));
  out.put("device_memory_mb", device_memory(p.device()));
  const int64_t weights = p.weight_bytes();
  const double decode_s = Stats::median(u.decode) / 1000.0;
  const double gbps = decode_s > 0 ? weights / decode_s / 1e9 : 0;
  out.put("weight_bytes", Json::integer(weights));
  out.put("weight_read_gbps_per_decode_step", decode_s > 0 ? Json::number(gbps) : Json::null());
  if (a.has("--bandwidth-gbps")) {
    const double bw = a.real("--bandwidth-gbps", 0);
    if (bw <= 0) throw BadInput("--bandwidth-gbps must be positive");
    out.put("bandwidth_gbps", Json::number(bw));
    out.put("roofline_fraction", decode_s > 0 ? Json::number(gbps / bw) : Json::null());
    out.put("steered_roofline_fraction",
            Json::number(weights / (Stats::median(s.decode) / 1000.0) / 1e9 / bw));
  }
  if (graphs) {
    // Steering is device tensors updated in place: a change between replays must show in the replayed tokens.
    torch::Tensor replay_c = steered.run(prompts, nullptr);
    p.set_coefficient(-1.0);  // flip every additive hook to -1 x its vector
    torch::Tensor replay_flipped = steered.run(prompts, nullptr);
    steered.use_cuda_graphs(false);
    torch::Tensor eager_flipped = steered.run(prompts, nullptr);
    out.put("cuda_graph_replay_follows_steering_change",
            Json::boolean(torch::equal(replay_flipped, eager_flipped) &&
                          (p.hook_count() == 0 || !torch::equal(replay_c, replay_flipped))));
  }
  std::cout << out.json().text() << std::endl;
  return 0;
}

int weights(const Args& a) {
  Program p = open(a);
  std::vector<double> v = p.values(a.str("--name"), a.integer("--count", 8, 1));
  std::cout << Json::Object().put("name", Json::string(a.str("--name"))).put("values", Json::array(v)).json().text()
            << std::endl;
  return 0;
}

}  // namespace
}  // namespace steer4j

int main(int argc, char** argv) {
  using namespace steer4j;
  // As steer4j does: no profiling executor, whose specialising runs cost time and memory when every call
  // brings new shapes (and which would JIT fusions in the middle of a CUDA graph capture).
  torch::jit::getProfilingMode() = false;
  const std::set<std::string> common{"--model", "--device", "--dtype", "--fill-random"};
  try {
    if (argc < 2) throw BadInput("usage: steer4j-host generate|bench|weights --model A.pt ... (see native/host/main.cpp)");
    std::string cmd = argv[1];
    auto with = [&](std::set<std::string> extra) { extra.insert(common.begin(), common.end()); return extra; };
    if (cmd == "generate") {
      return generate(Args(argc, argv, {"--json", "--unsteered"}, with({"--ids", "--max-new-tokens", "--coefficient"})));
    }
    if (cmd == "bench") {
      return bench(Args(argc, argv, {"--json", "--cuda-graph"},
                        with({"--batch", "--prompt-tokens", "--new-tokens", "--repeats", "--warmup", "--seed",
                              "--bandwidth-gbps", "--coefficient"})));
    }
    if (cmd == "weights") return weights(Args(argc, argv, {"--json"}, with({"--name", "--count"})));
    throw BadInput("unknown command '" + cmd + "': use generate, bench or weights");
  } catch (const BadInput& e) {
    std::cerr << "steer4j-host: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::cerr << "steer4j-host: " << what.substr(0, what.find('\n')) << std::endl;
    return 1;
  }
}
