// Example 3: hand-derived updates beside the engine's gradients, then the
// same net trained per sample and in mini-batches of 8, with both loss curves.
#include "examples/hidden_layer.hpp"
#include "examples/svg.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <vector>

int main(int argc, char** argv) {
    CLI::App app("One hidden layer of three sigmoid neurons, linear output");
    std::string out_dir = TAPEGRAD_EXAMPLES_OUT;
    app.add_option("--out", out_dir, "directory for the pictures");
    CLI11_PARSE(app, argc, argv);

    const examples::HiddenLayerFigures r = examples::hidden_layer_example();
    const double alpha = r.setup.learning_rate;
    fmt::print("h_j = sigmoid(sum_i W1[i][j] x_i), y = sum_j W2[j] h_j, E = 1/2 (d - y)^2, x_0 = h_0 = 1 (biases)\n");
    fmt::print("updates at sample x1 = {:.6f}, x2 = {:.6f}, d = {:.6f} (y = {:.6f}), alpha = {}\n\n", r.sample.x1,
               r.sample.x2, r.sample.d, r.y, alpha);
    fmt::print("{:<9} {:>24} {:>24} {:>10}   {}\n", "weight", "textbook update", "-alpha dE/dw (engine)", "diff",
               "formula");
    for (const auto& u : r.updates)
        fmt::print("{:<9} {:>24.17g} {:>24.17g} {:>10.1e}   {}\n", u.weight, u.by_hand, u.engine, u.by_hand - u.engine,
                   u.weight[1] == '1' ? "alpha (d - y) W2[j] Phi'_j x_i" : "alpha (d - y) h_j");
    fmt::print("largest difference: {:.1e} (required: below 1e-12)\n\n", r.max_update_difference);

    fmt::print("Training on {} samples, alpha = {}: mean E over the data after each epoch\n", r.setup.samples, alpha);
    fmt::print("{:>6} {:>16} {:>22}\n", "epoch", "per-sample", fmt::format("mini-batch of {}", r.setup.batch_size));
    for (int e : {0, 1, 2, 5, 10, 20, 50, 100, 150, 200})
        if (e < static_cast<int>(r.per_sample_curve.size()))
            fmt::print("{:>6} {:>16.6e} {:>22.6e}\n", e, r.per_sample_curve[e], r.minibatch_curve[e]);
    fmt::print("updates per epoch: {} per-sample, {} mini-batch\n", r.setup.samples,
               (r.setup.samples + r.setup.batch_size - 1) / r.setup.batch_size);
    fmt::print("largest relative gap between the engine's curves and the textbook formulas' training: {:.1e}\n",
               r.max_curve_gap_vs_hand);

    std::vector<double> epochs, per_sample, minibatch;
    for (std::size_t e = 0; e < r.per_sample_curve.size(); ++e) {
        epochs.push_back(static_cast<double>(e));
        per_sample.push_back(r.per_sample_curve[e]);
        minibatch.push_back(r.minibatch_curve[e]);
    }
    examples::svg::Plot plot("One hidden layer of 3: per-sample vs mini-batch updates", "epoch", "mean E (log scale)",
                             {0, epochs.back()}, examples::svg::log_range_of({per_sample, minibatch}));
    plot.log_y();
    plot.line(epochs, per_sample, "#1f77b4", "per-sample");
    plot.line(epochs, minibatch, "#d62728", fmt::format("mini-batch of {}", r.setup.batch_size));
    const std::string path = out_dir + "/hidden_layer_loss.svg";
    plot.save(path);
    fmt::print("loss curves: {}\n", path);
}
