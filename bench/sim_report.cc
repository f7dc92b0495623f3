#include "bench/sim_report.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <iterator>

namespace strata::bench {

namespace {

// g++ 12 has no <format>; a printf into a std::string is enough for report text.
__attribute__((format(printf, 2, 3))) void appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof buf) {
    out->append(buf, static_cast<size_t>(n));
    return;
  }
  std::string big(static_cast<size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, ap);
  va_end(ap);
  big.pop_back();
  out->append(big);
}

const char* unit_name(SizeUnit u) { return u == SizeUnit::kBytes ? "bytes" : "objects"; }

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      appendf(&out, "\\u%04x", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

using Series = std::vector<std::pair<std::string, std::vector<const SimResult*>>>;

// Policies in first-appearance order, each with its points sorted by capacity.
Series by_policy(const std::vector<SimResult>& results) {
  Series out;
  for (const auto& r : results) {
    auto it = std::find_if(out.begin(), out.end(), [&](auto& p) { return p.first == r.policy; });
    if (it == out.end()) it = out.insert(out.end(), {r.policy, {}});
    it->second.push_back(&r);
  }
  for (auto& [name, points] : out) {
    std::sort(points.begin(), points.end(),
              [](auto* a, auto* b) { return a->size.capacity < b->size.capacity; });
  }
  return out;
}

std::string human_count(double v) {
  std::string out;
  if (v >= 1e9) {
    appendf(&out, "%gG", v / 1e9);
  } else if (v >= 1e6) {
    appendf(&out, "%gM", v / 1e6);
  } else if (v >= 1e3) {
    appendf(&out, "%gk", v / 1e3);
  } else {
    appendf(&out, "%g", v);
  }
  return out;
}

struct Frame {  // plot area and the data->pixel mapping
  static constexpr double kWidth = 860, kHeight = 520;
  static constexpr double kLeft = 70, kRight = 170, kTop = 40, kBottom = 60;
  double lx0, lx1, ytop;
  double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  double px(double x) const { return kLeft + (std::log10(x) - lx0) / (lx1 - lx0) * pw; }
  double py(double y) const { return kTop + (1 - y / ytop) * ph; }
};

Frame make_frame(const std::vector<SimResult>& results) {
  double xmin = 1, xmax = 10, ymax = 0;
  if (!results.empty()) xmin = 1e300, xmax = 0;
  for (const auto& r : results) {
    xmin = std::min(xmin, double(r.size.capacity));
    xmax = std::max(xmax, double(r.size.capacity));
    ymax = std::max(ymax, r.miss_ratio());
  }
  Frame f{};
  f.lx0 = std::floor(std::log10(xmin));
  f.lx1 = std::max(std::ceil(std::log10(xmax)), f.lx0 + 1);
  f.ytop = std::clamp(std::ceil(ymax * 10) / 10, 0.1, 1.0);
  f.pw = Frame::kWidth - Frame::kLeft - Frame::kRight;
  f.ph = Frame::kHeight - Frame::kTop - Frame::kBottom;
  return f;
}

void draw_axes(std::string* s, const Frame& f, const char* unit) {
  for (double d = f.lx0; d <= f.lx1 + 1e-9; d += 1) {  // decades: grid line + label
    const double x = f.px(std::pow(10, d));
    appendf(s,
            "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n"
            "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
            x, Frame::kTop, x, Frame::kTop + f.ph, x, Frame::kTop + f.ph + 18,
            human_count(std::pow(10, d)).c_str());
  }
  for (int i = 0; i <= 10; ++i) {
    const double y = f.ytop * i / 10;
    appendf(s,
            "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
            "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
            Frame::kLeft, f.py(y), Frame::kLeft + f.pw, f.py(y), Frame::kLeft - 6, f.py(y) + 4, y);
  }
  appendf(s,
          "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n"
          "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">cache size (%s, log scale)</text>\n"
          "<text transform=\"translate(18,%g) rotate(-90)\" text-anchor=\"middle\">miss "
          "ratio</text>\n",
          Frame::kLeft, Frame::kTop, f.pw, f.ph, Frame::kLeft + f.pw / 2, Frame::kHeight - 15, unit,
          Frame::kTop + f.ph / 2);
}

}  // namespace

std::string format_table(const std::vector<SimResult>& results) {
  std::string out;
  appendf(&out, "%-10s %10s %16s %12s %10s %10s %11s\n", "policy", "size", "capacity", "requests",
          "miss", "byte_miss", "Mreq/cpu-s");
  for (const auto& r : results) {
    // CPU time, not wall time: on a shared machine wall time measures the neighbours.
    const double rate = r.cpu_seconds > 0 ? double(r.requests) / r.cpu_seconds / 1e6 : 0;
    char capacity[48];
    std::snprintf(capacity, sizeof capacity, "%llu %s",
                  static_cast<unsigned long long>(r.size.capacity),
                  r.size.unit == SizeUnit::kBytes ? "B" : "obj");
    appendf(&out, "%-10s %10s %16s %12llu %10.4f %10.4f %11.1f\n", r.policy.c_str(),
            r.size.spec.c_str(), capacity, static_cast<unsigned long long>(r.requests),
            r.miss_ratio(), r.byte_miss_ratio(), rate);
  }
  for (const auto& r : results) {
    if (r.notes.empty()) continue;
    appendf(&out, "# %s @%s: %s\n", r.policy.c_str(), r.size.spec.c_str(), r.notes.c_str());
  }
  return out;
}

std::string format_csv(const std::vector<SimResult>& results) {
  std::string out = "policy,size,requests,miss_ratio,byte_miss_ratio\n";
  for (const auto& r : results) {
    appendf(&out, "%s,%llu,%llu,%.6f,%.6f\n", r.policy.c_str(),
            static_cast<unsigned long long>(r.size.capacity),
            static_cast<unsigned long long>(r.requests), r.miss_ratio(), r.byte_miss_ratio());
  }
  return out;
}

std::string format_json(const std::string& trace, const std::vector<SimResult>& results) {
  std::string out = "{\"trace\": \"" + json_escape(trace) + "\", \"results\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    appendf(
        &out,
        "%s\n  {\"policy\": \"%s\", \"size\": \"%s\", \"capacity\": %llu, \"unit\": \"%s\", "
        "\"requests\": %llu, \"misses\": %llu, \"miss_ratio\": %.6f, "
        "\"byte_miss_ratio\": %.6f, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"notes\": \"%s\"}",
        i ? "," : "", json_escape(r.policy).c_str(), json_escape(r.size.spec).c_str(),
        static_cast<unsigned long long>(r.size.capacity), unit_name(r.size.unit),
        static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.misses),
        r.miss_ratio(), r.byte_miss_ratio(), r.seconds, r.cpu_seconds,
        json_escape(r.notes).c_str());
  }
  out += "\n]}\n";
  return out;
}

std::string render_svg(const std::string& title, const std::vector<SimResult>& results) {
  static constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                            "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                            "#bcbd22", "#17becf", "#000000"};
  const Frame f = make_frame(results);
  std::string s;
  appendf(&s,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
          "fill=\"white\"/>\n<text x=\"%g\" y=\"22\" font-size=\"14\">%s</text>\n",
          Frame::kWidth, Frame::kHeight, Frame::kLeft, xml_escape(title).c_str());
  draw_axes(&s, f, results.empty() ? "objects" : unit_name(results[0].size.unit));
  const Series series = by_policy(results);
  for (size_t k = 0; k < series.size(); ++k) {
    const char* color = kColors[k % std::size(kColors)];
    std::string points;
    for (const SimResult* r : series[k].second) {
      const double x = f.px(double(r->size.capacity)), y = f.py(r->miss_ratio());
      appendf(&points, "%.1f,%.1f ", x, y);
      appendf(&s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, color);
    }
    appendf(&s, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n",
            points.c_str(), color);
    const double lx = Frame::kLeft + f.pw + 15, ly = Frame::kTop + 10 + 20 * double(k);
    appendf(&s,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>\n"
            "<text x=\"%g\" y=\"%g\">%s</text>\n",
            lx, ly, lx + 25, ly, color, lx + 31, ly + 4, xml_escape(series[k].first).c_str());
  }
  s += "</svg>\n";
  return s;
}

}  // namespace strata::bench
