// A grouped bar chart as a self-contained SVG (no dependencies): one panel per bit width,
// one bar per method, each panel on its own linear axis from 0 with the values written
// above the bars. Used by `gptaq demo --report`.
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
  // One panel per group with its own linear axis from 0: errors at 2 and 4 bits differ by
  // 10x, while the methods within a group differ by a few percent, which a shared or
  // logarithmic axis would hide.
  const double W = 900, H = 430, left = 20, right = 170, top = 48, bottom = 40, gap = 46;
  const double ph = H - top - bottom;
  const double pw = (W - left - right - gap * static_cast<double>(groups.size())) /
                    static_cast<double>(std::max<size_t>(1, groups.size()));
  std::string s;
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<text x=\"%.0f\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n"
                "<text x=\"%.0f\" y=\"38\" fill=\"#555\">%s; lower is better</text>\n",
                W, H, W, H, left, svg_escape(title).c_str(), left, svg_escape(y_label).c_str());
  s += buf;
  for (size_t g = 0; g < groups.size(); ++g) {
    const double x0 = left + gap + (pw + gap) * static_cast<double>(g);
    double mx = 0.0;
    for (const ChartBar &b : bars)
      if (b.group == groups[g]) mx = std::max(mx, b.value);
    if (!(mx > 0)) mx = 1.0;
    // A round top for the axis: 1, 2 or 5 times a power of ten.
    const double p10 = std::pow(10.0, std::floor(std::log10(mx)));
    const double top_v = mx <= p10 ? p10 : mx <= 2 * p10 ? 2 * p10 : mx <= 5 * p10 ? 5 * p10 : 10 * p10;
    for (int t = 0; t <= 4; ++t) {
      const double v = top_v * t / 4.0, y = top + ph * (1.0 - v / top_v);
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                    x0, y, x0 + pw, y, t == 0 ? "#333" : "#ddd", x0 - 4, y + 4, v);
      s += buf;
    }
    const double bw = pw * 0.86 / static_cast<double>(series.size());
    for (const ChartBar &b : bars) {
      if (b.group != groups[g] || !(b.value > 0)) continue;
      const size_t k = static_cast<size_t>(
          std::find(series.begin(), series.end(), b.series) - series.begin());
      const double x = x0 + pw * 0.07 + bw * static_cast<double>(k);
      const double y = top + ph * (1.0 - std::min(b.value, top_v) / top_v);
      std::snprintf(buf, sizeof buf,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s, %d bits: %.5g</title></rect>\n"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%.3f"
                    "</text>\n",
                    x, y, bw * 0.9, top + ph - y, colors[k % 8], svg_escape(b.series).c_str(),
                    b.group, b.value, x + bw * 0.45, y - 3, b.value);
      s += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">%d bits"
                  "</text>\n",
                  x0 + pw / 2, top + ph + 22, groups[g]);
    s += buf;
  }
  for (size_t k = 0; k < series.size(); ++k) {
    const double y = top + 10 + 22.0 * static_cast<double>(k);
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                  W - right + 20, y, colors[k % 8], W - right + 40, y + 11,
                  svg_escape(series[k]).c_str());
    s += buf;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace cli
