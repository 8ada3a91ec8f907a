#pragma once
// Inline SVG charts for report.html: horizontal bars, scatter plots with lines (a Pareto front)
// and line charts (training curves). Plain strings in, one <svg class="chart"> out, so a report
// opens anywhere without scripts or network. Every mark carries a <title> (the browser's tooltip).
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace asdm::reports {

struct Bar {
  std::string label;
  double value = 0;
  std::string group;  // colour and legend key (e.g. the unit's block); "" = no group
  double lo = std::numeric_limits<double>::quiet_NaN(),
         hi = std::numeric_limits<double>::quiet_NaN();  // whiskers
};

struct Point {
  double x = 0, y = 0;
  std::string label;  // tooltip
  std::string group;
  bool highlight = false;  // drawn larger, with its label written beside it
};

struct Series {
  std::string name;
  std::vector<double> xs, ys;
  bool step = false;  // a staircase (the Pareto front), else straight segments
};

struct Axis {
  std::string label;
  bool log =
      false;  // base 10; values <= 0 are dropped from a log axis (and counted in the caption)
};

// Bars in the order given, one row each, coloured by group with a legend.
std::string bar_chart(std::string_view title, const std::vector<Bar>& bars,
                      std::string_view value_label);
// Points coloured by group, lines over them.
std::string scatter_chart(std::string_view title, const std::vector<Point>& points,
                          const std::vector<Series>& lines, const Axis& x, const Axis& y);
// One polyline per series.
std::string line_chart(std::string_view title, const std::vector<Series>& series, const Axis& x,
                       const Axis& y);

// Text escaped for XML/HTML content and attributes.
std::string escape_xml(std::string_view text);
// A fixed palette: colour k of the groups seen, cycling.
std::string palette(size_t k);

// Tick positions for [lo, hi]: about `target` "nice" values (1, 2, 5 x 10^k) on a linear axis,
// powers of ten on a log axis (lo, hi > 0).
std::vector<double> nice_ticks(double lo, double hi, int target, bool log);
// A compact label for a tick value ("0.5", "1e-06", "120").
std::string tick_label(double v);

}  // namespace asdm::reports
