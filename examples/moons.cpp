// Example 5: micrograd's moons demo, with the decision boundary and the loss
// curve drawn as SVG.
#include "examples/moons.hpp"
#include "examples/svg.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <vector>

int main(int argc, char** argv) {
    CLI::App app("micrograd's moons demo: scalar MLP 2-16-16-1, SVM loss, 100 steps of SGD");
    std::string out_dir = TAPEGRAD_EXAMPLES_OUT;
    app.add_option("--out", out_dir, "directory for the pictures");
    CLI11_PARSE(app, argc, argv);

    const auto start = std::chrono::steady_clock::now();
    const examples::MoonsFigures r = examples::moons_example();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    fmt::print("{} points of two moons (noise {}, seed {}), MLP 2-16-16-1 ({} parameters, relu, linear output)\n",
               r.data.size(), r.setup.noise, r.setup.data_seed, r.parameters);
    fmt::print("loss = mean(relu(1 - y * score)) + {} * sum p^2, SGD with lr = 1.0 - 0.9 k / {}\n\n", r.setup.l2,
               r.setup.steps);
    fmt::print("{:>5} {:>10} {:>10}\n", "step", "loss", "accuracy");
    for (std::size_t k = 0; k < r.loss.size(); ++k)
        if (k % 10 == 0 || k + 1 == r.loss.size())
            fmt::print("{:>5} {:>10.6f} {:>9.0f}%\n", k, r.loss[k], 100 * r.accuracy[k]);
    fmt::print("after the last update: loss {:.6f}, training accuracy {:.0f}%", r.final_loss, 100 * r.final_accuracy);
    if (r.first_perfect_step >= 0) fmt::print(" (100% first at step {})", r.first_perfect_step);
    fmt::print("\ntraining and drawing took {:.2f} s\n", seconds);

    // Decision regions: cells coloured by the sign of the score, points by label.
    examples::svg::Plot boundary("Moons: decision regions of the trained MLP", "x1", "x2", {r.x_lo, r.x_hi},
                                 {r.y_lo, r.y_hi}, 640, 460);
    const int n = r.setup.grid;
    const double dx = (r.x_hi - r.x_lo) / n, dy = (r.y_hi - r.y_lo) / n;
    // One rectangle per run of same-class cells in a row keeps the file small.
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n;) {
            const bool positive = r.grid_scores[i * n + j] > 0;
            int end = j + 1;
            while (end < n && (r.grid_scores[i * n + end] > 0) == positive) ++end;
            boundary.cell(r.x_lo + j * dx, r.y_lo + i * dy, r.x_lo + end * dx, r.y_lo + (i + 1) * dy,
                          positive ? "#f4b6b6" : "#b6cdf4");
            j = end;
        }
    // The boundary itself, score = 0, as a line interpolated between the
    // grid's samples: smooth where the cells alone would show steps.
    boundary.contour(r.grid_scores, n, n, {r.x_lo, r.x_hi}, {r.y_lo, r.y_hi}, 0.0, "#333333", "score = 0");
    std::vector<double> x0, y0, x1, y1;
    for (std::size_t i = 0; i < r.data.size(); ++i) {
        (r.data.labels[i] > 0 ? x1 : x0).push_back(r.data.feature(i, 0));
        (r.data.labels[i] > 0 ? y1 : y0).push_back(r.data.feature(i, 1));
    }
    boundary.points(x0, y0, "#1f5fbf", "label -1");
    boundary.points(x1, y1, "#d62728", "label +1");
    boundary.save(out_dir + "/moons_boundary.svg");

    std::vector<double> steps;
    for (std::size_t k = 0; k < r.loss.size(); ++k) steps.push_back(static_cast<double>(k));
    // The loss falls by decades: a log axis shows the late steps too.
    examples::svg::Plot curve("Moons: training loss", "step", "loss (hinge + L2, log scale)", {0, steps.back()},
                              examples::svg::log_range_of({r.loss}));
    curve.log_y();
    curve.line(steps, r.loss, "#1f77b4", "loss");
    curve.save(out_dir + "/moons_loss.svg");
    fmt::print("pictures: {}/moons_boundary.svg, {}/moons_loss.svg\n", out_dir, out_dir);
}
