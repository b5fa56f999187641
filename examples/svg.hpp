#pragma once
// A tiny SVG plot writer for the examples: axes with ticks and labels,
// polylines (loss curves), scatter points, filled cells (decision regions)
// and contour lines of a gridded function (decision boundaries). Written by
// hand because it is a few dozen lines and the files only need to open in a
// browser.
//
//     examples::svg::Plot p("loss", "step", "loss", {0, 100}, {1e-4, 2});
//     p.log_y();  // a loss that spans decades
//     p.line(xs, ys, "#1f77b4", "train");
//     p.save("loss.svg");
//
// Each axis is labelled at its two ends as well as at round values in
// between, so the extent of the data is read off the frame; a log axis is
// labelled at powers of ten.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace examples::svg {

struct Range {
    double lo = 0, hi = 1;
};

// The smallest range holding every value, widened a little so that nothing
// sits on the frame; a constant series gets a unit-wide range.
inline Range range_of(const std::vector<std::vector<double>>& series, double pad = 0.05);

// The same for a log axis: the positive values only, widened by a factor.
inline Range log_range_of(const std::vector<std::vector<double>>& series, double pad = 0.05) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : series)
        for (double v : s)
            if (v > 0 && std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
    if (!(lo <= hi)) return {0.1, 1};
    if (lo == hi) return {lo / 2, hi * 2};
    const double margin = std::pow(hi / lo, pad);
    return {lo / margin, hi * margin};
}

inline Range range_of(const std::vector<std::vector<double>>& series, double pad) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : series)
        for (double v : s) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    if (!(lo <= hi)) return {0, 1};
    if (lo == hi) return {lo - 0.5, hi + 0.5};
    const double margin = (hi - lo) * pad;
    return {lo - margin, hi + margin};
}

class Plot {
public:
    Plot(std::string title, std::string x_label, std::string y_label, Range x, Range y, int width = 640,
         int height = 440)
        : title_(std::move(title)),
          x_label_(std::move(x_label)),
          y_label_(std::move(y_label)),
          x_(x),
          y_(y),
          width_(width),
          height_(height) {
        if (!(x.lo < x.hi) || !(y.lo < y.hi))
            throw std::invalid_argument(
                fmt::format("svg::Plot '{}': empty range x [{}, {}], y [{}, {}]", title_, x.lo, x.hi, y.lo, y.hi));
    }

    // A filled rectangle between two corners in data coordinates.
    void cell(double x0, double y0, double x1, double y1, const std::string& color, double opacity = 1.0) {
        const double left = px(std::min(x0, x1)), right = px(std::max(x0, x1));
        const double top = py(std::max(y0, y1)), bottom = py(std::min(y0, y1));
        body_ += fmt::format(R"(<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="{}" )"
                             R"(fill-opacity="{}" shape-rendering="crispEdges"/>)"
                             "\n",
                             left, top, right - left, bottom - top, color, opacity);
    }
    void points(const std::vector<double>& x, const std::vector<double>& y, const std::string& color,
                const std::string& legend = "", double radius = 3.5) {
        for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i)
            body_ += fmt::format(R"(<circle cx="{:.2f}" cy="{:.2f}" r="{}" fill="{}" stroke="black" )"
                                 R"(stroke-width="0.6"/>)"
                                 "\n",
                                 px(x[i]), py(y[i]), radius, color);
        if (!legend.empty()) legend_.push_back({legend, color, false});
    }
    void line(const std::vector<double>& x, const std::vector<double>& y, const std::string& color,
              const std::string& legend = "") {
        std::string pts;
        for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i)
            if (!log_y_ || y[i] > 0) pts += fmt::format("{:.2f},{:.2f} ", px(x[i]), py(y[i]));
        body_ += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"/>)"
                             "\n",
                             pts, color);
        if (!legend.empty()) legend_.push_back({legend, color, true});
    }

    // Makes the y axis logarithmic (call before drawing); the y range must be
    // positive. Values at or below zero cannot be drawn and are left out.
    void log_y() {
        if (!(y_.lo > 0))
            throw std::invalid_argument(
                fmt::format("svg::Plot '{}': a log axis needs a positive range, not [{}, {}]", title_, y_.lo, y_.hi));
        if (!body_.empty())
            throw std::logic_error(fmt::format("svg::Plot '{}': log_y() must come before anything is drawn", title_));
        log_y_ = true;
    }

    // The line where a function sampled on a grid equals `level`, by
    // marching squares with linear interpolation: values[i * columns + j]
    // is the function at (x.lo + (j + 0.5) dx, y.lo + (i + 0.5) dy), the
    // centres of a rows x columns grid over `x` and `y`. A cell whose
    // corners split two against two is resolved by its centre's mean.
    void contour(const std::vector<double>& values, int rows, int columns, Range x, Range y, double level,
                 const std::string& color, const std::string& legend = "") {
        const std::size_t cells = static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns);
        if (rows < 2 || columns < 2 || values.size() != cells)
            throw std::invalid_argument(
                fmt::format("svg::Plot::contour: {} values for a {} x {} grid", values.size(), rows, columns));
        const double dx = (x.hi - x.lo) / columns, dy = (y.hi - y.lo) / rows;
        auto at = [&](int i, int j) { return values[static_cast<std::size_t>(i) * columns + j] - level; };
        auto cx = [&](double j) { return x.lo + (j + 0.5) * dx; };
        auto cy = [&](double i) { return y.lo + (i + 0.5) * dy; };
        std::string path;
        for (int i = 0; i + 1 < rows; ++i)
            for (int j = 0; j + 1 < columns; ++j) {
                // Corners counter-clockwise from bottom left; edge k joins corner k and k + 1.
                const double v[4] = {at(i, j), at(i, j + 1), at(i + 1, j + 1), at(i + 1, j)};
                const double ci[4] = {double(i), double(i), double(i + 1), double(i + 1)};
                const double cj[4] = {double(j), double(j + 1), double(j + 1), double(j)};
                std::vector<std::pair<double, double>> crossings;  // one per edge whose ends differ in sign
                std::vector<int> edges;
                for (int k = 0; k < 4; ++k) {
                    const int l = (k + 1) % 4;
                    if ((v[k] > 0) == (v[l] > 0)) continue;
                    const double t = v[k] / (v[k] - v[l]);
                    crossings.emplace_back(cx(cj[k] + t * (cj[l] - cj[k])), cy(ci[k] + t * (ci[l] - ci[k])));
                    edges.push_back(k);
                }
                auto segment = [&](std::size_t a, std::size_t b) {
                    path += fmt::format("M{:.2f},{:.2f}L{:.2f},{:.2f}", px(crossings[a].first), py(crossings[a].second),
                                        px(crossings[b].first), py(crossings[b].second));
                };
                if (crossings.size() == 2) {
                    segment(0, 1);
                } else if (crossings.size() == 4) {
                    // A saddle: the crossings on edges 0..3 pair up around the
                    // corners on the side the centre is not on.
                    const bool centre_positive = (v[0] + v[1] + v[2] + v[3]) > 0;
                    if (centre_positive == (v[0] > 0)) {
                        segment(0, 1);
                        segment(2, 3);
                    } else {
                        segment(3, 0);
                        segment(1, 2);
                    }
                }
            }
        body_ += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="2"/>)"
                             "\n",
                             path, color);
        if (!legend.empty()) legend_.push_back({legend, color, true});
    }

    // Where the legend box goes (top right unless told otherwise).
    void legend_at_bottom(bool bottom = true) { legend_bottom_ = bottom; }

    std::string str() const {
        std::string s =
            fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
                        R"(font-family="sans-serif" font-size="12">)"
                        "\n"
                        R"(<rect width="{0}" height="{1}" fill="white"/>)"
                        "\n"
                        R"(<text x="{2}" y="22" text-anchor="middle" font-size="15">{3}</text>)"
                        "\n"
                        R"(<clipPath id="frame"><rect x="{4}" y="{5}" width="{6}" height="{7}"/></clipPath>)"
                        "\n"
                        R"svg(<g clip-path="url(#frame)">)svg"
                        "\n",
                        width_, height_, width_ / 2, escape(title_), left_, top_, plot_w(), plot_h());
        s += body_ + "</g>\n";
        s += axes();
        s += legend();
        return s + "</svg>\n";
    }
    // Writes the picture; throws std::runtime_error naming the file on failure.
    void save(const std::string& path) const {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (f == nullptr) throw std::runtime_error(fmt::format("svg::Plot::save: cannot open '{}' for writing", path));
        const std::string s = str();
        const bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
        if (std::fclose(f) != 0 || !ok)
            throw std::runtime_error(fmt::format("svg::Plot::save: cannot write '{}'", path));
    }

private:
    struct LegendEntry {
        std::string text, color;
        bool is_line;
    };
    static constexpr double left_ = 70, right_ = 20, top_ = 36, bottom_ = 50;
    double plot_w() const { return width_ - left_ - right_; }
    double plot_h() const { return height_ - top_ - bottom_; }
    double px(double x) const { return left_ + (x - x_.lo) / (x_.hi - x_.lo) * plot_w(); }
    double py(double y) const {
        if (log_y_) return top_ + std::log10(y_.hi / y) / std::log10(y_.hi / y_.lo) * plot_h();
        return top_ + (y_.hi - y) / (y_.hi - y_.lo) * plot_h();
    }

    static std::string escape(const std::string& text) {
        std::string out;
        for (char c : text) {
            if (c == '<')
                out += "&lt;";
            else if (c == '>')
                out += "&gt;";
            else if (c == '&')
                out += "&amp;";
            else
                out += c;
        }
        return out;
    }
    // A tick: where it goes and its label.
    struct Tick {
        double at;
        std::string label;
    };
    // Round ticks (steps of 1, 2 or 5 times a power of ten, about 6 of them)
    // and the two ends of the range, labelled with 3 significant digits; a
    // round tick too close to an end to be read apart from it is dropped.
    static std::vector<Tick> ticks(Range r) {
        const double raw = (r.hi - r.lo) / 6;
        const double power = std::pow(10.0, std::floor(std::log10(raw)));
        const double step = raw / power < 1.5   ? power
                            : raw / power < 3.5 ? 2 * power
                            : raw / power < 7.5 ? 5 * power
                                                : 10 * power;
        std::vector<Tick> out = {{r.lo, fmt::format("{:.3g}", r.lo)}};
        for (double t = std::ceil(r.lo / step) * step; t <= r.hi; t += step) {
            if (t - r.lo < 0.4 * step || r.hi - t < 0.4 * step) continue;
            const double v = std::fabs(t) < step * 1e-9 ? 0.0 : t;
            out.push_back({v, fmt::format("{:g}", v)});
        }
        out.push_back({r.hi, fmt::format("{:.3g}", r.hi)});
        return out;
    }
    // A log axis: the ends, and each power of ten in between (every other
    // one, or fewer, past a dozen decades).
    static std::vector<Tick> log_ticks(Range r) {
        std::vector<Tick> out = {{r.lo, fmt::format("{:.3g}", r.lo)}};
        const int first = static_cast<int>(std::ceil(std::log10(r.lo)));
        const int last = static_cast<int>(std::floor(std::log10(r.hi)));
        const int every = std::max(1, (last - first + 1) / 12 + 1);
        for (int e = first; e <= last; e += every) {
            const double t = std::pow(10.0, e);
            // Too close to an end (within a fifth of a decade): the end's label says it.
            if (std::log10(t / r.lo) < 0.2 || std::log10(r.hi / t) < 0.2) continue;
            out.push_back({t, fmt::format("{:g}", t)});
        }
        out.push_back({r.hi, fmt::format("{:.3g}", r.hi)});
        return out;
    }
    std::string axes() const {
        std::string s = fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="black"/>)"
                                    "\n",
                                    left_, top_, plot_w(), plot_h());
        for (const Tick& t : ticks(x_))
            s += fmt::format(R"(<line x1="{0:.2f}" y1="{1}" x2="{0:.2f}" y2="{2}" stroke="black"/>)"
                             R"(<text x="{0:.2f}" y="{3}" text-anchor="middle">{4}</text>)"
                             "\n",
                             px(t.at), top_ + plot_h(), top_ + plot_h() + 5, top_ + plot_h() + 18, t.label);
        for (const Tick& t : log_y_ ? log_ticks(y_) : ticks(y_))
            s += fmt::format(R"(<line x1="{0}" y1="{2:.2f}" x2="{1}" y2="{2:.2f}" stroke="black"/>)"
                             R"(<text x="{3}" y="{4:.2f}" text-anchor="end">{5}</text>)"
                             "\n",
                             left_ - 5, left_, py(t.at), left_ - 8, py(t.at) + 4, t.label);
        s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)"
                         "\n",
                         left_ + plot_w() / 2, height_ - 12, escape(x_label_));
        s += fmt::format(R"svg(<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>)svg"
                         "\n",
                         top_ + plot_h() / 2, escape(y_label_));
        return s;
    }
    double legend_top() const { return legend_bottom_ ? top_ + plot_h() - 10 - 18.0 * legend_.size() : top_ + 4; }
    std::string legend() const {
        if (legend_.empty()) return "";
        // A white box behind the entries keeps them readable over regions.
        std::string s = fmt::format(R"(<rect x="{}" y="{}" width="146" height="{}" fill="white" fill-opacity="0.85" )"
                                    R"(stroke="#888"/>)"
                                    "\n",
                                    left_ + plot_w() - 156, legend_top(), 18.0 * legend_.size() + 6);
        double y = legend_top() + 16;
        for (const auto& e : legend_) {
            const double x = left_ + plot_w() - 150;
            if (e.is_line)
                s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2.5"/>)", x, y - 4,
                                 x + 22, y - 4, e.color);
            else
                s += fmt::format(R"(<circle cx="{}" cy="{}" r="4" fill="{}" stroke="black" stroke-width="0.6"/>)",
                                 x + 11, y - 4, e.color);
            s += fmt::format(R"(<text x="{}" y="{}">{}</text>)"
                             "\n",
                             x + 28, y, escape(e.text));
            y += 18;
        }
        return s;
    }

    std::string title_, x_label_, y_label_;
    Range x_, y_;
    int width_, height_;
    std::string body_;
    std::vector<LegendEntry> legend_;
    bool legend_bottom_ = false;
    bool log_y_ = false;
};

}  // namespace examples::svg
