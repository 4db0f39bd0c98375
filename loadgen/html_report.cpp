// HTML report rendering (see html_report.hpp). Plots are SVG polylines on fixed-size axes with
// a few labelled ticks; all text from the report is HTML-escaped.
#include "loadgen/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

namespace shoal::loadgen {
namespace {

constexpr double plot_w = 640, plot_h = 260, margin_l = 70, margin_b = 40, margin_t = 20;

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A rounded-up axis maximum: 1, 2 or 5 times a power of ten.
double nice_max(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

struct series {
  std::string label;
  std::string color;
  std::vector<std::pair<double, double>> points;  // in axis units
};

// One SVG plot: x from x_min to x_max (labels from x_label_of), y from 0 to y_max.
template <class XLabel>
std::string plot(const std::string& title, const std::string& y_unit, double x_min, double x_max,
                 const std::vector<double>& x_ticks, XLabel x_label_of, double y_max,
                 const std::vector<series>& lines) {
  const double w = margin_l + plot_w + 20, h = margin_t + plot_h + margin_b;
  const auto px = [&](double x) { return margin_l + (x - x_min) / (x_max - x_min) * plot_w; };
  const auto py = [&](double y) { return margin_t + plot_h - y / y_max * plot_h; };
  std::string svg = "<h2>" + escape(title) + "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    num(w, 0) + "\" height=\"" + num(h, 0) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect x=\"" + num(margin_l, 0) + "\" y=\"" + num(margin_t, 0) + "\" width=\"" + num(plot_w, 0) +
         "\" height=\"" + num(plot_h, 0) + "\" fill=\"#fafafa\" stroke=\"#999\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double y = y_max * i / 4;
    svg += "<line x1=\"" + num(margin_l, 0) + "\" x2=\"" + num(margin_l + plot_w, 0) + "\" y1=\"" +
           num(py(y)) + "\" y2=\"" + num(py(y)) + "\" stroke=\"#ddd\"/>";
    svg += "<text x=\"" + num(margin_l - 6, 0) + "\" y=\"" + num(py(y) + 4) + "\" text-anchor=\"end\">" +
           num(y, y_max < 10 ? 2 : 0) + "</text>\n";
  }
  for (const double x : x_ticks) {
    svg += "<text x=\"" + num(px(x)) + "\" y=\"" + num(margin_t + plot_h + 16, 0) +
           "\" text-anchor=\"middle\">" + escape(x_label_of(x)) + "</text>\n";
  }
  svg += "<text x=\"12\" y=\"" + num(margin_t + plot_h / 2, 0) + "\" transform=\"rotate(-90 12 " +
         num(margin_t + plot_h / 2, 0) + ")\" text-anchor=\"middle\">" + escape(y_unit) + "</text>\n";
  double legend_y = margin_t + 14;
  for (const series& s : lines) {
    if (s.points.empty()) continue;
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + s.color + "\" points=\"";
    for (const auto& [x, y] : s.points) svg += num(px(x), 2) + "," + num(py(std::min(y, y_max)), 2) + " ";
    svg += "\"/>\n<text x=\"" + num(margin_l + 10, 0) + "\" y=\"" + num(legend_y, 0) + "\" fill=\"" + s.color +
           "\">" + escape(s.label) + "</text>\n";
    legend_y += 14;
  }
  return svg + "</svg>\n";
}

std::string throughput_plot(const run_report& r) {
  series sent{"sent /s", "#1f77b4", {}}, received{"received /s", "#d62728", {}};
  double prev_t = 0, y_top = 0;
  for (const timeline_point& p : r.timeline) {
    const double dt = p.t_s - prev_t;
    prev_t = p.t_s;
    if (dt <= 0) continue;
    sent.points.emplace_back(p.t_s, static_cast<double>(p.sent) / dt);
    received.points.emplace_back(p.t_s, static_cast<double>(p.received) / dt);
    y_top = std::max({y_top, sent.points.back().second, received.points.back().second});
  }
  const double x_max = std::max(1.0, prev_t);
  std::vector<double> ticks;
  for (int i = 0; i <= 5; ++i) ticks.push_back(x_max * i / 5);
  return plot("Throughput over the measured window", "messages per second", 0, x_max, ticks,
              [](double x) { return num(x, 1) + " s"; }, nice_max(y_top), {sent, received});
}

std::string percentile_plot(const run_report& r) {
  // x = log10(1 / (1 - p/100)): 0 at p0, 1 at p90, 2 at p99, ... 5 at p99.999.
  series curve{"latency", "#2ca02c", {}};
  double y_top = 0;
  for (double x = 0; x <= 5.0001; x += 0.05) {
    const double p = 100.0 * (1.0 - std::pow(10.0, -x));
    const double us = static_cast<double>(r.latency.percentile(std::max(p, 0.0001))) / 1e3;
    curve.points.emplace_back(x, us);
    y_top = std::max(y_top, us);
  }
  const char* labels[] = {"p0", "p90", "p99", "p99.9", "p99.99", "p99.999"};
  return plot("Latency by percentile", "microseconds", 0, 5, {0, 1, 2, 3, 4, 5},
              [&labels](double x) { return std::string(labels[static_cast<int>(x + 0.5)]); },
              nice_max(y_top), {curve});
}

}  // namespace

std::string format_html(const run_report& r) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>shoal-loadgen: " +
      escape(r.scenario) + " " + escape(r.url) +
      "</title>\n<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
      "td:first-child{text-align:left}</style>\n</head><body>\n<h1>shoal-loadgen " + escape(r.scenario) +
      "</h1>\n<p>" + escape(join_urls(r.all_urls())) + " &middot; " + escape(r.mode) + " &middot; " +
      std::to_string(r.connections) + " connections on " + std::to_string(r.threads) + " threads &middot; " +
      std::to_string(r.size) + " B &middot; " + num(r.duration_s, 2) + " s" +
      (r.interrupted ? " &middot; <b>interrupted: partial report</b>" : "") + "</p>\n";
  out += "<table><tr><th>figure</th><th>value</th></tr>\n";
  const auto row = [&out](std::string_view name, const std::string& value) {
    out += "<tr><td>" + escape(name) + "</td><td>" + escape(value) + "</td></tr>\n";
  };
  if (!r.publish_urls.empty() || !r.subscribe_urls.empty()) {
    row("publishers to", join_urls(r.publish_urls));
    row("subscribers to", join_urls(r.subscribe_urls));
  }
  row("sent", std::to_string(r.sent));
  row("received / delivered", std::to_string(r.received));
  if (r.scenario != "echo" && r.scenario != "connect") {
    row("expected", std::to_string(r.expected));
    row("gaps", std::to_string(r.gaps));
    row("order violations", std::to_string(r.order_violations));
  }
  row("connect errors", std::to_string(r.connect_errors));
  if (!r.open_failures.empty()) row("failed to open, by reason", format_open_failures(r.open_failures));
  row("rate (received per second)", num(r.rate_per_s(), 0));
  for (const auto& [label, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9},
                                 {"p99.99", 99.99}}) {
    row(std::string("latency ") + label + " (µs)", num(static_cast<double>(r.latency.percentile(p)) / 1e3));
  }
  row("latency max (µs)", num(static_cast<double>(r.latency.max()) / 1e3));
  if (r.server) {
    row("server CPU (s)", num(r.server->cpu_s, 3));
    row("server CPU per message (µs)", num(r.server_cpu_us_per_message(), 3));
    row("server RSS (MiB)", num(static_cast<double>(r.server->rss_bytes) / (1024.0 * 1024.0)));
  }
  out += "</table>\n";
  out += throughput_plot(r);
  out += percentile_plot(r);
  out += "</body></html>\n";
  return out;
}

}  // namespace shoal::loadgen
