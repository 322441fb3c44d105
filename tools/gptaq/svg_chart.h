// A grouped bar chart as a self-contained SVG (no dependencies): one group of bars per
// bit width, one bar per method, the value on a log10 axis (errors of different methods
// span decades). Used by `gptaq demo --report`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace cli {

struct ChartBar {
  std::string series;  // legend entry (method and quantizer)
  int group;           // bits
  double value;        // > 0
};

inline std::string svg_escape(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

inline std::string svg_bar_chart(const std::vector<ChartBar> &bars, const std::string &title,
                                 const std::string &y_label) {
  static const char *colors[] = {"#9e9e9e", "#4c78a8", "#e45756", "#72b7b2",
                                 "#f58518", "#54a24b", "#b279a2", "#ff9da6"};
  std::vector<std::string> series;
  std::vector<int> groups;
  for (const ChartBar &b : bars) {
    if (std::find(series.begin(), series.end(), b.series) == series.end()) series.push_back(b.series);
    if (std::find(groups.begin(), groups.end(), b.group) == groups.end()) groups.push_back(b.group);
  }
  double lo = 1e300, hi = 0.0;
  for (const ChartBar &b : bars)
    if (b.value > 0) {
      lo = std::min(lo, b.value);
      hi = std::max(hi, b.value);
    }
  if (hi <= 0) lo = 0.1, hi = 1.0;
  const int d_lo = static_cast<int>(std::floor(std::log10(lo))),
            d_hi = std::max(d_lo + 1, static_cast<int>(std::ceil(std::log10(hi))));
  const double W = 760, H = 420, left = 70, right = 180, top = 44, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;
  auto y_of = [&](double v) {
    const double f = (std::log10(v) - d_lo) / (d_hi - d_lo);
    return top + ph * (1.0 - f);
  };
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  s += buf;
  std::snprintf(buf, sizeof buf,
                "<text x=\"%.0f\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
                left, svg_escape(title).c_str());
  s += buf;
  // Decade grid lines and labels.
  for (int d = d_lo; d <= d_hi; ++d) {
    const double y = y_of(std::pow(10.0, d));
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
                  left, y, left + pw, y, left - 6, y + 4, d);
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">%s"
                "</text>\n",
                top + ph / 2, svg_escape(y_label).c_str());
  s += buf;
  const double gw = pw / static_cast<double>(groups.size());
  const double bw = gw * 0.8 / static_cast<double>(series.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const double gx = left + gw * static_cast<double>(g) + gw * 0.1;
    for (const ChartBar &b : bars) {
      if (b.group != groups[g] || !(b.value > 0)) continue;
      const size_t k = static_cast<size_t>(
          std::find(series.begin(), series.end(), b.series) - series.begin());
      const double x = gx + bw * static_cast<double>(k), y = y_of(b.value);
      std::snprintf(buf, sizeof buf,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s, %d bits: %.5g</title></rect>\n",
                    x, y, bw * 0.92, top + ph - y, colors[k % 8], svg_escape(b.series).c_str(),
                    b.group, b.value);
      s += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d bits</text>\n",
                  left + gw * (static_cast<double>(g) + 0.5), top + ph + 20, groups[g]);
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                left, top + ph, left + pw, top + ph);
  s += buf;
  for (size_t k = 0; k < series.size(); ++k) {
    const double y = top + 10 + 22.0 * static_cast<double>(k);
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                  left + pw + 20, y, colors[k % 8], left + pw + 40, y + 11,
                  svg_escape(series[k]).c_str());
    s += buf;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace cli
