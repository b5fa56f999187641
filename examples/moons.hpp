#pragma once
// Example 5: micrograd's moons demo. 100 points of two moons (noise 0.1,
// seeded), the scalar MLP 2-16-16-1 (relu, linear output, micrograd's
// uniform(-1, 1) weights), SVM max-margin loss mean(relu(1 - y s)) plus
// 1e-4 * sum p^2, 100 full-batch steps of SGD with learning rate
// 1.0 - 0.9 k / 100 at step k. As in micrograd, the loss and accuracy of
// step k are measured on the forward pass that step k then differentiates,
// i.e. before its update; the final accuracy is measured after the last one.
#include <nn/nn.hpp>

#include <autograd/autograd.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace examples {

struct MoonsSetup {
    std::size_t samples = 100;
    double noise = 0.1;
    std::uint64_t data_seed = 1337, model_seed = 1337;  // micrograd's seed
    int steps = 100;
    double l2 = 1e-4;
    int grid = 80;  // decision-boundary picture: grid x grid cells (0: none)
};

struct MoonsFigures {
    MoonsSetup setup;
    ag::nn::Dataset data;  // labels 0 / 1
    std::size_t parameters = 0;
    std::vector<double> loss, accuracy;  // per step, before its update
    double final_loss = 0, final_accuracy = 0;
    int first_perfect_step = -1;  // first step whose accuracy is 100%
    // The trained model's score on a grid over [x_lo, x_hi] x [y_lo, y_hi],
    // row-major from the bottom row; cell (i, j) is centred at
    // x_lo + (j + 0.5) dx, y_lo + (i + 0.5) dy.
    double x_lo = -1.5, x_hi = 2.5, y_lo = -1.0, y_hi = 1.5;
    std::vector<double> grid_scores;
};

struct MoonsLoss {
    ag::Value loss;
    double accuracy = 0;
};

// micrograd's loss(): hinge on the ±1 labels plus the L2 penalty.
inline MoonsLoss moons_loss(const ag::nn::MLP& model, const ag::nn::Dataset& data, double l2) {
    std::vector<ag::Value> scores;
    std::vector<double> signs;
    std::size_t correct = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        scores.push_back(model(data.row(i))[0]);
        signs.push_back(2 * data.labels[i] - 1);
        correct += (signs.back() > 0) == (scores.back().data() > 0);
    }
    return {ag::nn::hinge(scores, signs, l2, model.parameters()),
            static_cast<double>(correct) / static_cast<double>(data.size())};
}

inline MoonsFigures moons_example(const MoonsSetup& setup = {}) {
    MoonsFigures r;
    r.setup = setup;
    r.data = ag::nn::make_moons(setup.samples, setup.noise, setup.data_seed);
    ag::Scope scope;  // frees the model and everything else on return
    const ag::nn::MLP model(2, {16, 16, 1},
                            {.hidden = ag::nn::Activation::Relu,
                             .output = ag::nn::Activation::Identity,
                             .init = ag::nn::Init::Uniform,
                             .seed = setup.model_seed});
    r.parameters = model.n_parameters();
    const std::vector<ag::Value> params = model.parameters();
    for (int k = 0; k < setup.steps; ++k) {
        ag::Scope step;
        const MoonsLoss l = moons_loss(model, r.data, setup.l2);
        r.loss.push_back(l.loss.data());
        r.accuracy.push_back(l.accuracy);
        if (l.accuracy == 1.0 && r.first_perfect_step < 0) r.first_perfect_step = k;
        model.zero_grad();
        l.loss.backward();
        const double lr = 1.0 - 0.9 * k / setup.steps;
        for (const ag::Value& p : params) p.set_data(p.data() - lr * p.grad());
    }
    {
        ag::Scope s;
        ag::NoGrad no_grad;
        const MoonsLoss l = moons_loss(model, r.data, setup.l2);
        r.final_loss = l.loss.data();
        r.final_accuracy = l.accuracy;
        const double dx = (r.x_hi - r.x_lo) / setup.grid, dy = (r.y_hi - r.y_lo) / setup.grid;
        for (int i = 0; i < setup.grid; ++i)
            for (int j = 0; j < setup.grid; ++j) {
                ag::Scope cell;
                const double point[2] = {r.x_lo + (j + 0.5) * dx, r.y_lo + (i + 0.5) * dy};
                r.grid_scores.push_back(model(std::span<const double>(point, 2))[0].data());
            }
    }
    return r;
}

}  // namespace examples
