#include "reports/svg.h"

#include <gtest/gtest.h>

namespace asdm::reports {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Svg, EscapesText) {
  EXPECT_EQ(escape_xml("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
}

TEST(Svg, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 10, 5, false), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(0.5, 1.25, 3, false),
            (std::vector<double>{0.5, 1.0}));  // a step of at least range / target
  EXPECT_EQ(nice_ticks(0.5, 1.25, 4, false), (std::vector<double>{0.6, 0.8, 1.0, 1.2}));
  EXPECT_EQ(nice_ticks(1e-6, 1, 10, true),
            (std::vector<double>{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}));
  EXPECT_EQ(nice_ticks(1e-6, 1, 3, true), (std::vector<double>{1e-6, 1e-3, 1}));
  EXPECT_EQ(tick_label(0), "0");
  EXPECT_EQ(tick_label(0.5), "0.5");
  EXPECT_EQ(tick_label(1e-6), "1e-06");
  EXPECT_EQ(tick_label(120), "120");
}

TEST(Svg, BarChartHasOneBarPerValueAndALegendPerGroup) {
  const std::string svg =
      bar_chart("t<1>", {{"a", 1, "down"}, {"b", 2, "down"}, {"c", 0.5, "up", 0.4, 0.6}}, "ms");
  EXPECT_EQ(svg.rfind("<svg class=\"chart\"", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
  EXPECT_EQ(count(svg, "class=\"bar\""), 3u);
  EXPECT_EQ(count(svg, "class=\"legend\""), 2u);
  EXPECT_EQ(count(svg, "class=\"whisker\""), 1u);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("<title>c: 0.5 ms</title>"), std::string::npos);
}

TEST(Svg, ScatterDropsNonPositiveValuesOnALogAxisAndSaysSo) {
  const std::string svg =
      scatter_chart("s", {{1, 1e-3, "p", "g"}, {2, 0, "zero", "g"}, {3, 0.1, "c1", "g", true}},
                    {{"front", {0, 1, 2}, {0, 1e-4, 1e-2}, true}}, {"ms", false}, {"loss", true});
  EXPECT_EQ(count(svg, "class=\"point\""), 2u);
  EXPECT_NE(svg.find("1 point(s) at 0 not shown on the log axis"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find(">c1</text>"), std::string::npos);  // a highlighted point is labelled
}

TEST(Svg, LineChartOneLinePerSeries) {
  const std::string svg = line_chart(
      "l", {{"a", {1, 2, 3}, {3, 2, 1}}, {"b", {1, 2, 3}, {1, 1, 1}}}, {"step"}, {"loss"});
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(count(svg, "class=\"legend\""), 2u);
}

}  // namespace
}  // namespace asdm::reports
