// A small JSON writer for the host's one-object outputs.
#pragma once

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace steer4j {

class Json {
 public:
  static Json number(double v) {
    if (!std::isfinite(v)) return raw("null");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return raw(buf);
  }
  static Json integer(long long v) { return raw(std::to_string(v)); }
  static Json boolean(bool v) { return raw(v ? "true" : "false"); }
  static Json null() { return raw("null"); }
  static Json string(const std::string& s) {
    std::ostringstream o;
    o << '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') o << '\\' << c;
      else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o << b; }
      else o << c;
    }
    o << '"';
    return raw(o.str());
  }
  template <typename T>
  static Json array(const std::vector<T>& xs) {
    std::string s = "[";
    for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + Json::of(xs[i]).text_;
    return raw(s + "]");
  }
  // An object with keys in insertion order.
  class Object {
   public:
    Object& put(const std::string& k, const Json& v) { items_.emplace_back(k, v.text()); return *this; }
    Json json() const {
      std::string s = "{";
      for (size_t i = 0; i < items_.size(); ++i)
        s += (i ? "," : "") + Json::string(items_[i].first).text() + ":" + items_[i].second;
      return raw(s + "}");
    }
   private:
    std::vector<std::pair<std::string, std::string>> items_;
  };
  const std::string& text() const { return text_; }

 private:
  static Json raw(std::string s) { Json j; j.text_ = std::move(s); return j; }
  static Json of(double v) { return number(v); }
  static Json of(long long v) { return integer(v); }
  static Json of(int64_t v) { return integer(static_cast<long long>(v)); }
  static Json of(const Json& v) { return v; }
  std::string text_;
};

}  // namespace steer4j
