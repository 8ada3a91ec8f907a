#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace asdm::reports {

namespace {

constexpr double kWidth = 760;

std::string num(double v) { return fmt::format("{:.1f}", v); }

// Groups in order of first appearance -> colour.
std::map<std::string, std::string> group_colours(const std::vector<std::string>& groups,
                                                 std::vector<std::string>* order) {
  std::map<std::string, std::string> colours;
  for (const auto& g : groups) {
    if (colours.count(g)) continue;
    colours[g] = palette(colours.size());
    if (order) order->push_back(g);
  }
  return colours;
}

std::string legend(const std::vector<std::string>& order,
                   const std::map<std::string, std::string>& colours, double x0, double y) {
  std::string out;
  double x = x0;
  for (const auto& g : order) {
    if (g.empty()) continue;
    const double w = 22 + 7.0 * g.size();
    if (x + w > kWidth - 10) {
      x = x0;
      y += 16;
    }
    out += fmt::format(
        R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" class="legend">{}</text>)",
        num(x), num(y - 9), colours.at(g), num(x + 14), num(y), escape_xml(g));
    x += w;
  }
  return out;
}

double legend_height(const std::vector<std::string>& order, double x0) {
  double x = x0, rows = 1;
  for (const auto& g : order) {
    if (g.empty()) continue;
    const double w = 22 + 7.0 * g.size();
    if (x + w > kWidth - 10) {
      x = x0;
      ++rows;
    }
    x += w;
  }
  return order.empty() || (order.size() == 1 && order[0].empty()) ? 0 : rows * 16 + 4;
}

std::string open_svg(std::string_view title, double height) {
  return fmt::format(
      R"(<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">)"
      R"(<text x="10" y="18" class="title">{}</text>)",
      num(kWidth), num(height), num(kWidth), num(height), escape_xml(title), escape_xml(title));
}

// Maps data to pixels on one axis.
struct Scale {
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  bool log = false;
  double operator()(double v) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi,
                 x = log ? std::log10(v) : v;
    return p0 + (b == a ? 0.5 : (x - a) / (b - a)) * (p1 - p0);
  }
};

// Data range with a margin; a log range snaps to decades.
std::pair<double, double> range_of(const std::vector<double>& vs, bool log, bool include_zero) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : vs) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) return {log ? 1 : 0, log ? 10 : 1};
  if (log)
    return {std::pow(10, std::floor(std::log10(lo))),
            std::pow(10, std::ceil(std::log10(hi) + 1e-12))};
  if (include_zero) lo = std::min(lo, 0.0);
  if (hi == lo) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double pad = (hi - lo) * 0.05;
  return {lo < 0 || !include_zero ? lo - pad : lo, hi + pad};
}

std::string axes(const Scale& xs, const Scale& ys, const Axis& x, const Axis& y) {
  std::string out;
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" class="axis"/>)", num(xs.p0),
                     num(ys.p0), num(xs.p1));
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="axis"/>)", num(xs.p0),
                     num(ys.p0), num(ys.p1));
  for (double t : nice_ticks(xs.lo, xs.hi, 6, xs.log)) {
    const double px = xs(t);
    out += fmt::format(
        R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="grid"/><text x="{0}" y="{3}" class="tick" text-anchor="middle">{4}</text>)",
        num(px), num(ys.p0), num(ys.p1), num(ys.p0 + 14), tick_label(t));
  }
  for (double t : nice_ticks(ys.lo, ys.hi, 5, ys.log)) {
    const double py = ys(t);
    out += fmt::format(
        R"(<line x1="{1}" y1="{0}" x2="{2}" y2="{0}" class="grid"/><text x="{3}" y="{4}" class="tick" text-anchor="end">{5}</text>)",
        num(py), num(xs.p0), num(xs.p1), num(xs.p0 - 4), num(py + 4), tick_label(t));
  }
  out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="middle">{}</text>)",
                     num((xs.p0 + xs.p1) / 2), num(ys.p0 + 32),
                     escape_xml(x.label + (x.log ? " (log)" : "")));
  out += fmt::format(
      R"svg(<text x="14" y="{0}" class="label" text-anchor="middle" transform="rotate(-90 14 {0})">{1}</text>)svg",
      num((ys.p0 + ys.p1) / 2), escape_xml(y.label + (y.log ? " (log)" : "")));
  return out;
}

std::string polyline(const Series& s, const Scale& xs, const Scale& ys, const std::string& colour,
                     std::string_view cls) {
  std::string pts;
  double last_y = std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 0; i < s.xs.size() && i < s.ys.size(); ++i) {
    if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i]) || (xs.log && s.xs[i] <= 0) ||
        (ys.log && s.ys[i] <= 0))
      continue;
    const double px = xs(s.xs[i]), py = ys(s.ys[i]);
    if (s.step && std::isfinite(last_y)) pts += fmt::format("{},{} ", num(px), num(last_y));
    pts += fmt::format("{},{} ", num(px), num(py));
    last_y = py;
  }
  return fmt::format(
      R"(<polyline points="{}" fill="none" stroke="{}" class="{}"><title>{}</title></polyline>)",
      pts, colour, cls, escape_xml(s.name));
}

}  // namespace

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string palette(size_t k) {
  static const char* kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                   "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                   "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"};
  return kColours[k % (sizeof(kColours) / sizeof(kColours[0]))];
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool log) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  if (log) {
    const int a = static_cast<int>(std::ceil(std::log10(lo) - 1e-9)),
              b = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
    const int stride = std::max(1, (b - a + 1 + target - 1) / target);
    for (int e = a; e <= b; e += stride) ticks.push_back(std::pow(10.0, e));
    return ticks;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double m = 10;
  for (double c : {1.0, 2.0, 5.0})
    if (c * mag >= raw) {
      m = c;
      break;
    }
  // Tick k is k * m * mag, computed as an integer over a power of ten so that 0.6 prints as 0.6.
  const double inv = mag < 1 ? std::round(1 / mag) : 0;
  auto tick = [&](double k) { return inv > 0 ? k * m / inv : k * m * mag; };
  for (double k = std::ceil(lo / (m * mag) - 1e-9); tick(k) <= hi + m * mag * 1e-9; ++k)
    ticks.push_back(tick(k) == 0 ? 0 : tick(k));
  return ticks;
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:g}", v);
}

std::string bar_chart(std::string_view title, const std::vector<Bar>& bars,
                      std::string_view value_label) {
  std::vector<std::string> groups, order;
  for (const auto& b : bars) groups.push_back(b.group);
  const auto colours = group_colours(groups, &order);
  const double row = 15, label_w = 250, top = 30 + legend_height(order, 10);
  const double height = top + row * bars.size() + 44;
  double hi = 0;
  for (const auto& b : bars) hi = std::max({hi, b.value, std::isfinite(b.hi) ? b.hi : 0.0});
  if (hi <= 0) hi = 1;
  Scale xs{0, hi * 1.05, label_w, kWidth - 20, false};
  std::string out = open_svg(title, height);
  out += legend(order, colours, 10, 40);
  for (double t : nice_ticks(0, xs.hi, 6, false)) {
    out += fmt::format(
        R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="grid"/><text x="{0}" y="{3}" class="tick" text-anchor="middle">{4}</text>)",
        num(xs(t)), num(top - 4), num(top + row * bars.size()), num(top + row * bars.size() + 14),
        tick_label(t));
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double y = top + row * i;
    const double w = std::max(0.0, xs(std::max(0.0, b.value)) - xs.p0);
    out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)",
                       num(label_w - 6), num(y + row - 4), escape_xml(b.label));
    out += fmt::format(
        R"(<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {:.4g} {}</title></rect>)",
        num(xs.p0), num(y + 2), num(std::max(w, 0.5)), num(row - 4), colours.at(b.group),
        escape_xml(b.label), b.value, escape_xml(value_label));
    if (std::isfinite(b.lo) && std::isfinite(b.hi))
      out += fmt::format(R"(<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" class="whisker"/>)",
                         num(xs(b.lo)), num(xs(b.hi)), num(y + row / 2));
  }
  out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="middle">{}</text>)",
                     num((xs.p0 + xs.p1) / 2), num(top + row * bars.size() + 32),
                     escape_xml(value_label));
  return out + "</svg>";
}

namespace {

// The frame both point and line charts share: legend, axes over all data, lines, then points.
std::string plot(std::string_view title, const std::vector<Point>& points,
                 const std::vector<Series>& lines, const Axis& x, const Axis& y, double plot_height,
                 bool include_zero) {
  std::vector<std::string> groups, order;
  for (const auto& p : points) groups.push_back(p.group);
  for (const auto& l : lines) groups.push_back(l.name);
  const auto colours = group_colours(groups, &order);
  const double top = 30 + legend_height(order, 10), height = top + plot_height + 44;
  std::vector<double> all_x, all_y;
  for (const auto& p : points) all_x.push_back(p.x), all_y.push_back(p.y);
  for (const auto& l : lines)
    all_x.insert(all_x.end(), l.xs.begin(), l.xs.end()),
        all_y.insert(all_y.end(), l.ys.begin(), l.ys.end());
  const auto [x0, x1] = range_of(all_x, x.log, include_zero);
  const auto [y0, y1] = range_of(all_y, y.log, include_zero);
  Scale xs{x0, x1, 70, kWidth - 20, x.log}, ys{y0, y1, top + plot_height, top, y.log};
  std::string out = open_svg(title, height);
  out += legend(order, colours, 10, 40);
  out += axes(xs, ys, x, y);
  for (const auto& l : lines) out += polyline(l, xs, ys, colours.at(l.name), "line");
  int dropped = 0;
  for (const auto& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || (x.log && p.x <= 0) || (y.log && p.y <= 0)) {
      ++dropped;
      continue;
    }
    out += fmt::format(
        R"(<circle class="point" cx="{}" cy="{}" r="{}" fill="{}"><title>{} ({:.4g}, {:.4g})</title></circle>)",
        num(xs(p.x)), num(ys(p.y)), p.highlight ? 5.5 : 3.5, colours.at(p.group),
        escape_xml(p.label), p.x, p.y);
    if (p.highlight)
      out += fmt::format(R"(<text x="{}" y="{}" class="tick">{}</text>)", num(xs(p.x) + 7),
                         num(ys(p.y) - 6), escape_xml(p.label));
  }
  if (dropped)
    out += fmt::format(
        R"(<text x="{}" y="{}" class="tick" text-anchor="end">{} point(s) at 0 not shown on the log axis</text>)",
        num(kWidth - 20), num(height - 4), dropped);
  return out + "</svg>";
}

}  // namespace

std::string scatter_chart(std::string_view title, const std::vector<Point>& points,
                          const std::vector<Series>& lines, const Axis& x, const Axis& y) {
  return plot(title, points, lines, x, y, 300, true);
}

std::string line_chart(std::string_view title, const std::vector<Series>& series, const Axis& x,
                       const Axis& y) {
  return plot(title, {}, series, x, y, 260, false);
}

}  // namespace asdm::reports
