#pragma once
// Example 4: the general chain rule for an L-layer network, written out as a
// sum over paths, beside the engine.
//
// A 4-layer sigmoid network 3 -> 4 -> 4 -> 4 -> 2, a^l = s(z^l),
// z^l = W^l a^(l-1) + b^l, C = 1/2 sum_m (a^4_m - y_m)^2. For a first-layer
// weight w^1_jk (input k -> neuron j), every path from it to the cost goes
// j -> q (layer 2) -> r (layer 3) -> m (layer 4), and
//
//   dC/dw^1_jk = sum over q, r, m of
//       x_k s'(z^1_j) W^2_qj s'(z^2_q) W^3_rq s'(z^3_r) W^4_mr s'(z^4_m) (a^4_m - y_m)
//
// which is 4 * 4 * 2 = 32 products of 9 factors each. Backpropagation gets
// the same number by sharing the partial sums; the engine does that without
// being told the network's structure.
#include "examples/common.hpp"

#include <autograd/autograd.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace examples {

// Layer l (1..4) has weights W[l][j][k] (neuron j, input k) and biases b[l][j].
struct ChainNetwork {
    static constexpr std::array<int, 5> sizes = {3, 4, 4, 4, 2};
    static constexpr int layers = 4;
    std::array<std::vector<std::vector<double>>, layers + 1> W;  // W[0] unused
    std::array<std::vector<double>, layers + 1> b;
    std::vector<double> x, y;  // input and target

    static ChainNetwork random(unsigned seed) {
        Uniform u(seed);
        ChainNetwork n;
        for (int l = 1; l <= layers; ++l) {
            n.W[l].assign(sizes[l], std::vector<double>(sizes[l - 1]));
            n.b[l].resize(sizes[l]);
            for (auto& row : n.W[l])
                for (double& w : row) w = u(-1, 1);
            for (double& v : n.b[l]) v = u(-1, 1);
        }
        for (int k = 0; k < sizes[0]; ++k) n.x.push_back(u(-1, 1));
        for (int m = 0; m < sizes[layers]; ++m) n.y.push_back(u(0, 1));
        return n;
    }
};

// Cost on the tape, with W^1 given as Values (the rest as constants).
inline ag::Value chain_cost(const ChainNetwork& n, const std::vector<ag::Value>& w1) {
    std::vector<ag::Value> a(n.x.begin(), n.x.end());
    for (int l = 1; l <= ChainNetwork::layers; ++l) {
        std::vector<ag::Value> next;
        for (int j = 0; j < ChainNetwork::sizes[l]; ++j) {
            ag::Value z = n.b[l][j];
            for (int k = 0; k < ChainNetwork::sizes[l - 1]; ++k)
                z = z + (l == 1 ? w1[j * ChainNetwork::sizes[0] + k] * a[k] : a[k] * n.W[l][j][k]);
            next.push_back(ag::sigmoid(z));
        }
        a = std::move(next);
    }
    ag::Value cost = 0.0;
    for (int m = 0; m < ChainNetwork::sizes[ChainNetwork::layers]; ++m) cost = cost + 0.5 * ag::pow(a[m] - n.y[m], 2.0);
    return cost;
}

struct PathTerm {
    int q = 0, r = 0, m = 0;  // the neurons the path goes through in layers 2, 3, 4
    double product = 0;
};

// Every path's product for w^1_jk, in plain doubles.
inline std::vector<PathTerm> chain_path_terms(const ChainNetwork& n, int j, int k) {
    constexpr int L = ChainNetwork::layers;
    const auto s = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
    std::array<std::vector<double>, L + 1> a, ds;  // activations and s'(z)
    a[0] = n.x;
    for (int l = 1; l <= L; ++l)
        for (int i = 0; i < ChainNetwork::sizes[l]; ++i) {
            double z = n.b[l][i];
            for (int p = 0; p < ChainNetwork::sizes[l - 1]; ++p) z += n.W[l][i][p] * a[l - 1][p];
            a[l].push_back(s(z));
            ds[l].push_back(a[l].back() * (1 - a[l].back()));
        }
    std::vector<PathTerm> terms;
    for (int q = 0; q < ChainNetwork::sizes[2]; ++q)
        for (int r = 0; r < ChainNetwork::sizes[3]; ++r)
            for (int m = 0; m < ChainNetwork::sizes[4]; ++m)
                terms.push_back({q, r, m,
                                 n.x[k] * ds[1][j] * n.W[2][q][j] * ds[2][q] * n.W[3][r][q] * ds[3][r] * n.W[4][m][r] *
                                     ds[4][m] * (a[4][m] - n.y[m])});
    return terms;
}

struct ChainRow {
    int j = 0, k = 0;
    int paths = 0;
    double path_sum = 0;           // the sum over paths
    double engine = 0;             // backward()
    double finite_difference = 0;  // ag::check_gradients
};

struct ChainFigures {
    double cost = 0;
    std::vector<ChainRow> rows;           // every first-layer weight
    std::vector<PathTerm> example_terms;  // the paths of w^1_11 (j = k = 0)
    double max_path_vs_engine = 0;        // largest |path_sum - engine| (relative to max |engine|)
    double max_fd_vs_engine = 0;
};

inline ChainFigures chain_paths_example(unsigned seed = 4) {
    const ChainNetwork n = ChainNetwork::random(seed);
    const int inputs = ChainNetwork::sizes[0], first = ChainNetwork::sizes[1];
    std::vector<double> w1_point;
    for (const auto& row : n.W[1]) w1_point.insert(w1_point.end(), row.begin(), row.end());

    ChainFigures r;
    ag::Scope scope;
    std::vector<ag::Value> w1(w1_point.begin(), w1_point.end());
    const ag::Value cost = chain_cost(n, w1);
    cost.backward();
    r.cost = cost.data();
    const ag::GradCheckReport fd =
        ag::check_gradients([&](const std::vector<ag::Value>& w) { return chain_cost(n, w); }, w1_point);

    double scale = 0;
    for (int j = 0; j < first; ++j)
        for (int k = 0; k < inputs; ++k) {
            const std::vector<PathTerm> terms = chain_path_terms(n, j, k);
            double sum = 0;
            for (const auto& t : terms) sum += t.product;
            const int idx = j * inputs + k;
            r.rows.push_back({j, k, static_cast<int>(terms.size()), sum, w1[idx].grad(), fd.inputs[idx].numeric});
            if (j == 0 && k == 0) r.example_terms = terms;
            scale = std::max(scale, std::fabs(w1[idx].grad()));
        }
    for (const auto& row : r.rows) {
        r.max_path_vs_engine = std::max(r.max_path_vs_engine, std::fabs(row.path_sum - row.engine) / scale);
        r.max_fd_vs_engine = std::max(r.max_fd_vs_engine, std::fabs(row.finite_difference - row.engine) / scale);
    }
    return r;
}

}  // namespace examples
