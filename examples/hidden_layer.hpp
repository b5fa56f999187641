#pragma once
// Example 3: one hidden layer of three sigmoid neurons and a linear output,
// E = 1/2 (d - y)^2, inputs x1, x2.
//
//   h_j = Phi(sum_i W1[i][j] x_i),  j = 1..3,   x_0 = 1 (bias input)
//   y   = sum_j W2[j] h_j,          j = 0..3,   h_0 = 1 (bias)
//
// The textbook updates (gradient descent, learning rate alpha):
//   dW2[j]    = alpha (d - y) h_j
//   dW1[i][j] = alpha (d - y) W2[j] Phi'_j x_i,   Phi'_j = h_j (1 - h_j)
// are printed beside the engine's -alpha dE/dw for every weight. Then the
// same net is trained on 64 samples of a smooth target with per-sample
// updates and with mini-batches of 8 (the update is the batch average), and
// both loss curves are drawn. Samples are visited in a fixed order (no
// shuffling), so the two runs differ only in how updates are grouped.
#include "examples/common.hpp"

#include <autograd/autograd.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace examples {

// The 13 weights, W1[i][j] at 3 i + (j - 1), then W2[j] at 9 + j.
using HiddenLayerWeights = std::array<double, 13>;
inline constexpr int w1_index(int i, int j) { return 3 * i + (j - 1); }
inline constexpr int w2_index(int j) { return 9 + j; }

struct Sample2 {
    double x1 = 0, x2 = 0, d = 0;
};

struct HiddenLayerSetup {
    int samples = 64;
    double learning_rate = 0.3;
    int epochs = 200;
    int batch_size = 8;
    unsigned data_seed = 1, weight_seed = 7;
};

// d = sin(pi x1 / 2) / 2 + 0.3 x2^2 on x uniform in [-1, 1)^2.
inline std::vector<Sample2> hidden_layer_data(const HiddenLayerSetup& s) {
    Uniform u(s.data_seed);
    std::vector<Sample2> data(s.samples);
    for (auto& p : data) {
        p.x1 = u(-1, 1);
        p.x2 = u(-1, 1);
        p.d = 0.5 * std::sin(std::numbers::pi * p.x1 / 2) + 0.3 * p.x2 * p.x2;
    }
    return data;
}
inline HiddenLayerWeights hidden_layer_initial_weights(const HiddenLayerSetup& s) {
    Uniform u(s.weight_seed);
    HiddenLayerWeights w;
    for (double& v : w) v = u(-1, 1);
    return w;
}

// The engine's network; `w` holds 13 Values in the layout above.
inline ag::Value hidden_layer_output(const std::vector<ag::Value>& w, double x1, double x2) {
    ag::Value y = w[w2_index(0)];
    for (int j = 1; j <= 3; ++j) {
        const ag::Value h = ag::sigmoid(w[w1_index(0, j)] + w[w1_index(1, j)] * x1 + w[w1_index(2, j)] * x2);
        y = y + w[w2_index(j)] * h;
    }
    return y;
}

// The textbook update for every weight at one sample, in plain doubles.
inline HiddenLayerWeights hand_updates(const HiddenLayerWeights& w, const Sample2& s, double alpha) {
    const std::array<double, 3> x = {1.0, s.x1, s.x2};
    std::array<double, 4> h = {1.0, 0, 0, 0};
    double y = w[w2_index(0)];
    for (int j = 1; j <= 3; ++j) {
        double net = 0;
        for (int i = 0; i < 3; ++i) net += w[w1_index(i, j)] * x[i];
        h[j] = 1.0 / (1.0 + std::exp(-net));
        y += w[w2_index(j)] * h[j];
    }
    HiddenLayerWeights delta{};
    for (int j = 0; j <= 3; ++j) delta[w2_index(j)] = alpha * (s.d - y) * h[j];
    for (int j = 1; j <= 3; ++j)
        for (int i = 0; i < 3; ++i)
            delta[w1_index(i, j)] = alpha * (s.d - y) * w[w2_index(j)] * h[j] * (1 - h[j]) * x[i];
    return delta;
}

inline double hand_mean_error(const HiddenLayerWeights& w, const std::vector<Sample2>& data) {
    double sum = 0;
    for (const auto& s : data) {
        double y = w[w2_index(0)];
        for (int j = 1; j <= 3; ++j)
            y += w[w2_index(j)] /
                 (1.0 + std::exp(-(w[w1_index(0, j)] + w[w1_index(1, j)] * s.x1 + w[w1_index(2, j)] * s.x2)));
        sum += 0.5 * (s.d - y) * (s.d - y);
    }
    return sum / static_cast<double>(data.size());
}

// Trains with the engine: each step averages E over a batch, backward(),
// w -= alpha * grad. Returns the mean E over the data before training and
// after each epoch (epochs + 1 values).
inline std::vector<double> train_hidden_layer_engine(HiddenLayerWeights start, const std::vector<Sample2>& data,
                                                     int batch_size, double alpha, int epochs) {
    ag::Scope scope;
    std::vector<ag::Value> w(start.begin(), start.end());
    const auto mean_error = [&] {
        ag::Scope s;
        ag::NoGrad no_grad;
        ag::Value sum = 0.0;
        for (const auto& p : data) sum = sum + 0.5 * ag::pow(p.d - hidden_layer_output(w, p.x1, p.x2), 2.0);
        return sum.data() / static_cast<double>(data.size());
    };
    std::vector<double> curve = {mean_error()};
    for (int epoch = 0; epoch < epochs; ++epoch) {
        for (std::size_t first = 0; first < data.size(); first += batch_size) {
            ag::Scope step;
            const std::size_t last = std::min(data.size(), first + batch_size);
            ag::Value batch_error = 0.0;
            for (std::size_t n = first; n < last; ++n)
                batch_error =
                    batch_error + 0.5 * ag::pow(data[n].d - hidden_layer_output(w, data[n].x1, data[n].x2), 2.0);
            batch_error = batch_error / static_cast<double>(last - first);
            ag::zero_grad(w);
            batch_error.backward();
            for (auto& v : w) v.set_data(v.data() - alpha * v.grad());
        }
        curve.push_back(mean_error());
    }
    return curve;
}

// The same training with the textbook updates in plain doubles.
inline std::vector<double> train_hidden_layer_by_hand(HiddenLayerWeights w, const std::vector<Sample2>& data,
                                                      int batch_size, double alpha, int epochs) {
    std::vector<double> curve = {hand_mean_error(w, data)};
    for (int epoch = 0; epoch < epochs; ++epoch) {
        for (std::size_t first = 0; first < data.size(); first += batch_size) {
            const std::size_t last = std::min(data.size(), first + batch_size);
            HiddenLayerWeights sum{};
            for (std::size_t n = first; n < last; ++n) {
                const HiddenLayerWeights d = hand_updates(w, data[n], alpha);
                for (int k = 0; k < 13; ++k) sum[k] += d[k];
            }
            for (int k = 0; k < 13; ++k) w[k] += sum[k] / static_cast<double>(last - first);
        }
        curve.push_back(hand_mean_error(w, data));
    }
    return curve;
}

struct UpdateRow {
    std::string weight;  // "W1[2][3]"
    double by_hand = 0;  // the textbook formula
    double engine = 0;   // -alpha * dE/dw from backward()
};

struct HiddenLayerFigures {
    HiddenLayerSetup setup;
    Sample2 sample;  // the sample the update table is computed at
    double y = 0;
    std::vector<UpdateRow> updates;
    double max_update_difference = 0;
    std::vector<double> per_sample_curve, minibatch_curve;
    // Largest relative gap between the engine's loss curves and the ones of
    // the same training done with the textbook formulas.
    double max_curve_gap_vs_hand = 0;
};

inline HiddenLayerFigures hidden_layer_example(const HiddenLayerSetup& setup = {}) {
    HiddenLayerFigures r;
    r.setup = setup;
    const std::vector<Sample2> data = hidden_layer_data(setup);
    const HiddenLayerWeights start = hidden_layer_initial_weights(setup);
    r.sample = data[0];
    {
        ag::Scope scope;
        std::vector<ag::Value> w(start.begin(), start.end());
        const ag::Value y = hidden_layer_output(w, r.sample.x1, r.sample.x2);
        const ag::Value error = 0.5 * ag::pow(r.sample.d - y, 2.0);
        error.backward();
        r.y = y.data();
        const HiddenLayerWeights hand = hand_updates(start, r.sample, setup.learning_rate);
        for (int j = 1; j <= 3; ++j)
            for (int i = 0; i < 3; ++i)
                r.updates.push_back({fmt::format("W1[{}][{}]", i, j), hand[w1_index(i, j)],
                                     -setup.learning_rate * w[w1_index(i, j)].grad()});
        for (int j = 0; j <= 3; ++j)
            r.updates.push_back(
                {fmt::format("W2[{}]", j), hand[w2_index(j)], -setup.learning_rate * w[w2_index(j)].grad()});
        for (const auto& u : r.updates)
            r.max_update_difference = std::max(r.max_update_difference, std::fabs(u.by_hand - u.engine));
    }
    r.per_sample_curve = train_hidden_layer_engine(start, data, 1, setup.learning_rate, setup.epochs);
    r.minibatch_curve = train_hidden_layer_engine(start, data, setup.batch_size, setup.learning_rate, setup.epochs);
    const auto gap = [](const std::vector<double>& a, const std::vector<double>& b) {
        double g = 0;
        for (std::size_t k = 0; k < a.size(); ++k) g = std::max(g, std::fabs(a[k] - b[k]) / std::fabs(b[k]));
        return g;
    };
    r.max_curve_gap_vs_hand =
        std::max(gap(r.per_sample_curve, train_hidden_layer_by_hand(start, data, 1, setup.learning_rate, setup.epochs)),
                 gap(r.minibatch_curve,
                     train_hidden_layer_by_hand(start, data, setup.batch_size, setup.learning_rate, setup.epochs)));
    return r;
}

}  // namespace examples
