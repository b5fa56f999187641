// lstm: ADBench's LSTM loss. l layers of b cells with diagonal weights
// predict each of c characters (b bits each) from the one before.
//
// Layer j owns 8b main parameters: weights for the forget, input, output
// gates and the change, then their biases. For each character t < c − 1:
// v = x_t ⊙ in_weight feeds layer 0, each layer's new hidden state feeds the
// next, per cell i:
//   f = σ(v_i·Wf_i + bf_i), g = σ(h_i·Wi_i + bi_i), o = σ(v_i·Wo_i + bo_i),
//   z = tanh(h_i·Wc_i + bc_i), cell_i = cell_i·f + g·z, h_i = o·tanh(cell_i)
// (h: the layer's previous hidden state); then y = h_last ⊙ out_weight +
// out_bias, and the loss adds x_{t+1} · (y − log(2 + Σ exp y)) (ADBench's
// "+ 2"). Result: −total / ((c − 1)·b).
#include "gradbench.hpp"

#include <fmt/format.h>

#include <cmath>

namespace gradbench {

namespace {

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <class T>
T lstm_loss(std::span<const T> main, std::span<const T> extra, std::span<const double> state,
            std::span<const double> text, std::size_t layers, std::size_t b) {
    using std::exp, std::log, std::tanh, ag::muladd;
    const std::size_t chars = text.size() / b;
    // hidden and cell of each layer: 2b entries a layer
    std::vector<T> h(state.begin(), state.end());
    const T* in_weight = &extra[0];
    const T* out_weight = &extra[b];
    const T* out_bias = &extra[2 * b];
    std::vector<T> input(b), y(b);
    T total = 0.0;
    for (std::size_t t = 0; t + 1 < chars; ++t) {
        const double* x = &text[t * b];
        for (std::size_t i = 0; i < b; ++i) input[i] = in_weight[i] * x[i];
        const T* layer_in = input.data();
        for (std::size_t j = 0; j < layers; ++j) {
            const T* w = &main[8 * b * j];
            const T* bias = w + 4 * b;
            T* hidden = &h[2 * b * j];
            T* cell = hidden + b;
            for (std::size_t i = 0; i < b; ++i) {
                const T forget = sigmoid(muladd(layer_in[i], w[i], bias[i]));
                const T ingate = sigmoid(muladd(hidden[i], w[b + i], bias[b + i]));
                const T outgate = sigmoid(muladd(layer_in[i], w[2 * b + i], bias[2 * b + i]));
                const T change = tanh(muladd(hidden[i], w[3 * b + i], bias[3 * b + i]));
                cell[i] = muladd(cell[i], forget, ingate * change);
                hidden[i] = outgate * tanh(cell[i]);
            }
            layer_in = hidden;
        }
        for (std::size_t i = 0; i < b; ++i) y[i] = muladd(layer_in[i], out_weight[i], out_bias[i]);
        T sum_exp = exp(y[0]);
        for (std::size_t i = 1; i < b; ++i) sum_exp = sum_exp + exp(y[i]);
        const T norm = log(sum_exp + 2.0);
        const double* next = &text[(t + 1) * b];
        for (std::size_t i = 0; i < b; ++i) total = total + next[i] * (y[i] - norm);
    }
    return total * (-1.0 / static_cast<double>((chars - 1) * b));
}

struct Input {
    std::size_t layers = 0, b = 0, c = 0;
    std::vector<double> main, extra, state, text;
};

Input parse(const json& in) {
    constexpr const char* where = "lstm input";
    Input p;
    const Matrix main = matrix(member(in, "main_params", where), "lstm input.main_params", {}, {});
    if (main.rows == 0 || main.rows % 2 != 0 || main.cols == 0 || main.cols % 4 != 0)
        throw InputError(
            fmt::format("lstm input.main_params is {} x {}; it must be 2l x 4b (two rows a layer, four "
                        "gates of b cells a row) with l, b >= 1",
                        main.rows, main.cols));
    p.layers = main.rows / 2;
    p.b = main.cols / 4;
    const auto shape = [&](const char* name, const char* rows, const char* cols) {
        return fmt::format("lstm input.{} (expected {} x {}, l = {}, b = {})", name, rows, cols, p.layers, p.b);
    };
    p.main = main.values;
    p.extra = matrix(member(in, "extra_params", where), shape("extra_params", "3", "b"), 3, p.b).values;
    p.state = matrix(member(in, "state", where), shape("state", "2l", "b"), 2 * p.layers, p.b).values;
    const Matrix text = matrix(member(in, "sequence", where), shape("sequence", "c", "b"), {}, p.b);
    if (text.rows < 2)
        throw InputError(
            fmt::format("lstm input.sequence has {} characters; the loss predicts each from the one "
                        "before, so it needs at least 2",
                        text.rows));
    p.c = text.rows;
    p.text = text.values;
    return p;
}

Evaluation objective(const json& in) {
    const Input p = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] { f = lstm_loss<double>(p.main, p.extra, p.state, p.text, p.layers, p.b); });
    return {f, std::move(ns)};
}

Evaluation jacobian(const json& in) {
    const Input p = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const std::vector<ag::Value> main = leaves(p.main), extra = leaves(p.extra);
        lstm_loss<ag::Value>(main, extra, p.state, p.text, p.layers, p.b).backward();
        g = grads(main);
        const std::vector<double> ge = grads(extra);
        g.insert(g.end(), ge.begin(), ge.end());
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module lstm_module{"lstm", {{"objective", objective}, {"jacobian", jacobian}}, {}};

}  // namespace gradbench
