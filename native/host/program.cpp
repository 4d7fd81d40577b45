#include "host/program.h"

#include <map>
#include <regex>
#include <stdexcept>

#include "host/fill.h"

namespace steer4j {
namespace {

std::string first_line(const std::string& s) {
  size_t start = s.find_first_not_of("\n ");
  if (start == std::string::npos) return "unknown error";
  return s.substr(start, s.find('\n', start) - start);
}

int64_t config_int(const std::string& json, const std::string& field) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + field + "\"\\s*:\\s*([0-9]+)"))) {
    throw std::runtime_error("config.json in the archive has no integer " + field);
  }
  return std::stoll(m[1].str());
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool is_hook_tensor(const std::string& name) {
  return (starts_with(name, "d") || starts_with(name, "v")) && name.size() > 1 &&
         name.find_first_not_of("0123456789", starts_with(name, "vec") ? 3 : 1) == std::string::npos;
}

}  // namespace

Program::Program(const std::string& path, const torch::Device& device) : dtype_(torch::kFloat32), device_(device) {
  torch::jit::ExtraFilesMap extra{{"config.json", ""}, {"steer4j-export.json", ""}};
  try {
    root_ = torch::jit::load(path, device, extra);
  } catch (const std::exception& e) {
    const std::string why = first_line(e.what());
    const bool old = why.find("Unknown builtin op") != std::string::npos;
    throw std::runtime_error("cannot load " + path + ": " + why +
                             (old ? " (for this libtorch, export with `steer4j export --portable`)" : ""));
  }
  const std::string& manifest = extra["steer4j-export.json"];
  if (manifest.empty()) {
    throw std::runtime_error(path + " is not an archive written by `steer4j export`");
  }
  zero_weights_ = std::regex_search(manifest, std::regex("\"zero_weights\"\\s*:\\s*true"));
  const std::string& config = extra["config.json"];
  shape_ = Shape{config_int(config, "n_layer"), config_int(config, "n_head"), config_int(config, "n_embd"),
                 config_int(config, "n_positions"), config_int(config, "vocab_size")};
  root_.eval();
  steered_ = root_;
  unsteered_ = root_.attr("_unsteered").toModule();
  for (const auto& m : root_.named_modules()) {
    const std::string& name = m.name;
    const std::string leaf = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
    if (leaf == "_steer4j_hooks") states_.push_back(m.value);
  }
  if (!states_.empty()) {
    for (const auto& a : states_.front().named_attributes(/*recurse=*/false)) {
      if (starts_with(a.name, "d") && is_hook_tensor(a.name)) {
        std::string vec = "vec" + a.name.substr(1);
        hooks_.push_back({a.name, states_.front().hasattr(vec) ? vec : ""});
      } else if (starts_with(a.name, "v") && !starts_with(a.name, "vec") && is_hook_tensor(a.name)) {
        hooks_.push_back({a.name, ""});
      }
    }
  }
  dtype_ = root_.attr("transformer").toModule().attr("wte").toModule().attr("weight").toTensor().scalar_type();
}

std::vector<Program::Weight> Program::weights() {
  std::vector<Weight> out;
  std::map<const void*, size_t> seen;
  for (const auto& m : root_.named_modules()) {
    for (const auto& p : m.value.named_parameters(/*recurse=*/false)) {
      const void* key = p.value.data_ptr();
      auto it = seen.find(key);
      if (it == seen.end()) {
        it = seen.emplace(key, out.size()).first;
        out.push_back({m.name.empty() ? p.name : m.name + "." + p.name, p.value, {}});
      }
      out[it->second].holders.emplace_back(m.value, p.name);
    }
  }
  return out;
}

void Program::replace(Weight& w, const torch::Tensor& t) {
  for (auto& h : w.holders) h.first.setattr(h.second, t);
  w.value = t;
}

void Program::fill_random(std::uint64_t seed, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (Weight& w : weights()) {
    replace(w, seeded_weights(w.name, w.value.sizes(), seed).to(device_, dtype));
  }
  cast_state(dtype);
  zero_weights_ = false;
}

void Program::cast(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  if (dtype == dtype_) return;
  for (Weight& w : weights()) replace(w, w.value.to(dtype).contiguous());
  cast_state(dtype);
}

void Program::cast_state(torch::ScalarType dtype) {
  for (auto& st : states_) {
    for (const auto& a : st.named_attributes(/*recurse=*/false)) {
      if (is_hook_tensor(a.name) && a.value.isTensor()) st.setattr(a.name, a.value.toTensor().to(dtype));
    }
  }
  dtype_ = dtype;
}

void Program::set_coefficient(double c) {
  torch::NoGradGuard no_grad;
  for (auto& st : states_) {
    for (const HookAttr& h : hooks_) {
      if (h.vector.empty()) continue;
      st.attr(h.applied).toTensor().copy_(st.attr(h.vector).toTensor() * c);
    }
  }
}

void Program::set_positions(const torch::Tensor& rows, const torch::Tensor& positions,
                            const torch::Tensor& prompt_lengths) {
  for (auto& st : states_) {
    st.setattr("rows", rows);
    st.setattr("positions", positions);
    st.setattr("prompt_lengths", prompt_lengths);
  }
}

int64_t Program::weight_bytes() {
  int64_t total = 0;
  for (const Weight& w : weights()) total += w.value.numel() * w.value.element_size();
  return total;
}

std::vector<double> Program::values(const std::string& name, int64_t count) {
  for (const Weight& w : weights()) {
    if (w.name != name) continue;
    torch::Tensor flat = w.value.contiguous().view(-1).to(torch::kCPU, torch::kFloat64);
    std::vector<double> out;
    for (int64_t i = 0; i < std::min(count, flat.numel()); ++i) out.push_back(flat[i].item<double>());
    return out;
  }
  throw std::runtime_error("no parameter named " + name + " (names are the first dotted path of each weight)");
}

}  // namespace steer4j
