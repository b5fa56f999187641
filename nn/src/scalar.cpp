#include <nn/scalar.hpp>

#include "rng_internal.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace ag::nn {

namespace {

void check_inputs(const char* who, std::size_t got, std::size_t expected) {
    if (got != expected) throw std::invalid_argument(fmt::format("{}: got {} inputs, expected {}", who, got, expected));
}

// The most scalar parameters one layer can have: each is a node on the
// tape, whose node indices are 32-bit.
constexpr std::uint64_t max_parameters = std::numeric_limits<std::uint32_t>::max();

// n_outputs · (n_inputs + 1), or a std::length_error naming `who` when that
// passes what one tape holds (the product may not even fit in 64 bits).
std::size_t checked_parameter_count(const char* who, std::size_t n_inputs, std::size_t n_outputs) {
    std::uint64_t per_neuron = 0, total = 0;
    if (__builtin_add_overflow(std::uint64_t{n_inputs}, 1, &per_neuron) ||
        __builtin_mul_overflow(per_neuron, std::uint64_t{n_outputs}, &total) || total > max_parameters)
        throw std::length_error(
            fmt::format("{}({} -> {}): {} x ({} + 1) scalar parameters are more than one tape "
                        "holds ({} nodes)",
                        who, n_inputs, n_outputs, n_outputs, n_inputs, max_parameters));
    return static_cast<std::size_t>(total);
}

// The columns of a weight matrix given as rows [inputs][outputs]: column j
// holds neuron j's weights. Every row must have n_outputs entries.
std::vector<std::vector<double>> weight_columns(const char* who, const std::vector<std::vector<double>>& rows,
                                                std::size_t n_outputs) {
    if (rows.empty() || n_outputs == 0)
        throw std::invalid_argument(fmt::format("{}: weight and biases must not be empty", who));
    std::vector<std::vector<double>> columns(n_outputs, std::vector<double>(rows.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].size() != n_outputs)
            throw std::invalid_argument(
                fmt::format("{}: weight row {} has {} entries, expected {} (one per output: "
                            "weight is [inputs][outputs], the W of x·W + b)",
                            who, i, rows[i].size(), n_outputs));
        for (std::size_t j = 0; j < n_outputs; ++j) columns[j][i] = rows[i][j];
    }
    return columns;
}

}  // namespace

// ---------------------------------------------------------------- Neuron ---

Neuron::Neuron(std::size_t n_inputs, Activation activation, Init init, Rng& rng, std::size_t fan_out)
    : bias_(0.0), activation_(activation) {
    if (n_inputs == 0) throw std::invalid_argument("Neuron: needs at least one input");
    checked_parameter_count("Neuron", n_inputs, 1);
    weights_.reserve(n_inputs);
    for (std::size_t i = 0; i < n_inputs; ++i) weights_.emplace_back(init_weight(init, n_inputs, fan_out, rng));
}

Neuron::Neuron(std::size_t n_inputs, Activation activation, Init init, std::uint64_t seed)
    : Neuron(n_inputs, activation, init, detail::lvalue(Rng(seed))) {}

Neuron::Neuron(const std::vector<double>& weights, double bias, Activation activation)
    : weights_(weights.begin(), weights.end()), bias_(bias), activation_(activation) {
    if (weights.empty()) throw std::invalid_argument("Neuron: needs at least one weight");
}

Value Neuron::operator()(const std::vector<Value>& x) const {
    check_inputs("Neuron", x.size(), weights_.size());
    Value sum = weights_[0] * x[0];
    for (std::size_t i = 1; i < x.size(); ++i) sum = sum + weights_[i] * x[i];
    return activate(activation_, sum + bias_);
}

Value Neuron::operator()(std::span<const double> x) const {
    check_inputs("Neuron", x.size(), weights_.size());
    // Inputs that are plain numbers need no leaves: w * constant is one node.
    Value sum = weights_[0] * x[0];
    for (std::size_t i = 1; i < x.size(); ++i) sum = sum + weights_[i] * x[i];
    return activate(activation_, sum + bias_);
}

std::vector<Value> Neuron::parameters() const {
    std::vector<Value> p = weights_;
    p.push_back(bias_);
    return p;
}

void Neuron::zero_grad() const {
    for (const Value& w : weights_) w.zero_grad();
    bias_.zero_grad();
}

void Neuron::set_weights(const std::vector<double>& weights) const {
    if (weights.size() != weights_.size())
        throw std::invalid_argument(
            fmt::format("Neuron::set_weights: got {} weights, the neuron has {}", weights.size(), weights_.size()));
    for (std::size_t i = 0; i < weights.size(); ++i) weights_[i].set_data(weights[i]);
}

// ----------------------------------------------------------------- Layer ---

Layer::Layer(std::size_t n_inputs, std::size_t n_outputs, Activation activation, Init init, Rng& rng) {
    if (n_outputs == 0) throw std::invalid_argument("Layer: needs at least one output");
    checked_parameter_count("Layer", n_inputs, n_outputs);
    neurons_.reserve(n_outputs);
    for (std::size_t j = 0; j < n_outputs; ++j) neurons_.emplace_back(n_inputs, activation, init, rng, n_outputs);
}

Layer::Layer(std::size_t n_inputs, std::size_t n_outputs, Activation activation, Init init, std::uint64_t seed)
    : Layer(n_inputs, n_outputs, activation, init, detail::lvalue(Rng(seed))) {}

Layer::Layer(const std::vector<std::vector<double>>& weights, const std::vector<double>& biases,
             Activation activation) {
    const std::vector<std::vector<double>> columns = weight_columns("Layer", weights, biases.size());
    std::vector<Neuron> neurons;
    neurons.reserve(columns.size());
    for (std::size_t j = 0; j < columns.size(); ++j) neurons.emplace_back(columns[j], biases[j], activation);
    *this = Layer(std::move(neurons));
}

Layer::Layer(std::vector<Neuron> neurons) : neurons_(std::move(neurons)) {
    if (neurons_.empty()) throw std::invalid_argument("Layer: needs at least one neuron");
    for (std::size_t j = 1; j < neurons_.size(); ++j)
        if (neurons_[j].n_inputs() != neurons_[0].n_inputs())
            throw std::invalid_argument(fmt::format("Layer: neuron {} has {} inputs but neuron 0 has {}", j,
                                                    neurons_[j].n_inputs(), neurons_[0].n_inputs()));
}

std::vector<Value> Layer::operator()(const std::vector<Value>& x) const {
    check_inputs("Layer", x.size(), n_inputs());
    std::vector<Value> out;
    out.reserve(neurons_.size());
    for (const Neuron& n : neurons_) out.push_back(n(x));
    return out;
}

std::vector<Value> Layer::operator()(std::span<const double> x) const {
    check_inputs("Layer", x.size(), n_inputs());
    std::vector<Value> out;
    out.reserve(neurons_.size());
    for (const Neuron& n : neurons_) out.push_back(n(x));
    return out;
}

std::vector<Value> Layer::parameters() const {
    std::vector<Value> p;
    p.reserve(n_parameters());
    for (const Neuron& n : neurons_) {
        p.insert(p.end(), n.weights().begin(), n.weights().end());
        p.push_back(n.bias());
    }
    return p;
}

std::vector<NamedParameter> Layer::named_parameters(const std::string& prefix) const {
    // weight is W of h = x·W + b, [inputs, outputs]: entry (i, j) is neuron
    // j's weight for input i, the layout of the tensor Linear layer.
    std::vector<Value> w, b;
    w.reserve(n_inputs() * n_outputs());
    for (std::size_t i = 0; i < n_inputs(); ++i)
        for (const Neuron& n : neurons_) w.push_back(n.weights()[i]);
    for (const Neuron& n : neurons_) b.push_back(n.bias());
    std::vector<NamedParameter> named;
    named.emplace_back(prefix + "weight", std::vector<std::size_t>{n_inputs(), n_outputs()}, std::move(w));
    named.emplace_back(prefix + "bias", std::vector<std::size_t>{n_outputs()}, std::move(b));
    return named;
}

void Layer::zero_grad() const {
    for (const Neuron& n : neurons_) n.zero_grad();
}

void Layer::set_weights(const std::vector<std::vector<double>>& weights) const {
    if (weights.size() != n_inputs())
        throw std::invalid_argument(
            fmt::format("Layer::set_weights: got {} rows, the layer has {} inputs (weight is "
                        "[inputs][outputs])",
                        weights.size(), n_inputs()));
    const std::vector<std::vector<double>> columns = weight_columns("Layer::set_weights", weights, n_outputs());
    for (std::size_t j = 0; j < columns.size(); ++j) neurons_[j].set_weights(columns[j]);
}

void Layer::set_biases(const std::vector<double>& biases) const {
    if (biases.size() != neurons_.size())
        throw std::invalid_argument(
            fmt::format("Layer::set_biases: got {} biases, the layer has {} neurons", biases.size(), neurons_.size()));
    for (std::size_t j = 0; j < biases.size(); ++j) neurons_[j].set_bias(biases[j]);
}

// ------------------------------------------------------------------- MLP ---

std::vector<Activation> layer_activations(const MLPOptions& options, std::size_t n_layers, const char* who) {
    if (!options.activations.empty()) {
        if (options.activations.size() != n_layers)
            throw std::invalid_argument(
                fmt::format("{}: {} activations given for {} layers", who, options.activations.size(), n_layers));
        return options.activations;
    }
    std::vector<Activation> acts(n_layers, options.hidden);
    if (n_layers > 0) acts.back() = options.output;
    return acts;
}

MLP::MLP(std::size_t n_inputs, const std::vector<std::size_t>& layer_sizes, const MLPOptions& options) {
    if (layer_sizes.empty()) throw std::invalid_argument("MLP: needs at least one layer size");
    const std::vector<Activation> acts = layer_activations(options, layer_sizes.size(), "MLP");
    Rng rng(options.seed);
    std::size_t fan_in = n_inputs;
    for (std::size_t k = 0; k < layer_sizes.size(); ++k) {
        layers_.emplace_back(fan_in, layer_sizes[k], acts[k], options.init, rng);
        fan_in = layer_sizes[k];
    }
}

MLP::MLP(std::vector<Layer> layers) : layers_(std::move(layers)) {
    if (layers_.empty()) throw std::invalid_argument("MLP: needs at least one layer");
    for (std::size_t k = 1; k < layers_.size(); ++k)
        if (layers_[k].n_inputs() != layers_[k - 1].n_outputs())
            throw std::invalid_argument(fmt::format("MLP: layer {} has {} inputs but layer {} has {} outputs", k,
                                                    layers_[k].n_inputs(), k - 1, layers_[k - 1].n_outputs()));
}

std::vector<Value> MLP::operator()(const std::vector<Value>& x) const {
    check_inputs("MLP", x.size(), n_inputs());
    std::vector<Value> h = x;
    for (const Layer& layer : layers_) h = layer(h);
    return h;
}

std::vector<Value> MLP::operator()(std::span<const double> x) const {
    check_inputs("MLP", x.size(), n_inputs());
    std::vector<Value> h = layers_[0](x);
    for (std::size_t k = 1; k < layers_.size(); ++k) h = layers_[k](h);
    return h;
}

std::vector<Value> MLP::parameters() const {
    std::vector<Value> p;
    p.reserve(n_parameters());
    for (const Layer& layer : layers_) {
        const std::vector<Value> lp = layer.parameters();
        p.insert(p.end(), lp.begin(), lp.end());
    }
    return p;
}

std::vector<NamedParameter> MLP::named_parameters() const {
    std::vector<NamedParameter> named;
    for (std::size_t k = 0; k < layers_.size(); ++k)
        for (NamedParameter& p : layers_[k].named_parameters(fmt::format("layers.{}.", k)))
            named.push_back(std::move(p));
    return named;
}

void MLP::zero_grad() const {
    for (const Layer& layer : layers_) layer.zero_grad();
}

std::size_t MLP::n_parameters() const noexcept {
    std::size_t n = 0;
    for (const Layer& layer : layers_) n += layer.n_parameters();
    return n;
}

std::vector<double> MLP::parameter_values() const {
    std::vector<double> v;
    for (const Value& p : parameters()) v.push_back(p.data());
    return v;
}

void MLP::set_parameter_values(const std::vector<double>& values) const {
    const std::vector<Value> p = parameters();
    if (values.size() != p.size())
        throw std::invalid_argument(fmt::format("MLP::set_parameter_values: got {} values, the model has {} parameters",
                                                values.size(), p.size()));
    for (std::size_t i = 0; i < p.size(); ++i) p[i].set_data(values[i]);
}

}  // namespace ag::nn

// ------------------------------------------------------------- printing ---

fmt::format_context::iterator fmt::formatter<ag::nn::Neuron>::format(const ag::nn::Neuron& n,
                                                                     format_context& ctx) const {
    return fmt::format_to(ctx.out(), "Neuron({} inputs, {})", n.n_inputs(), n.activation());
}

fmt::format_context::iterator fmt::formatter<ag::nn::Layer>::format(const ag::nn::Layer& l, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "Layer({} -> {}, {}): weight [{}, {}], bias [{}]", l.n_inputs(), l.n_outputs(),
                          l.activation(), l.n_inputs(), l.n_outputs(), l.n_outputs());
}

fmt::format_context::iterator fmt::formatter<ag::nn::MLP>::format(const ag::nn::MLP& m, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "MLP({}", m.n_inputs());
    for (const ag::nn::Layer& l : m.layers()) out = fmt::format_to(out, " -> {}", l.n_outputs());
    out = fmt::format_to(out, ", {} parameters)", m.n_parameters());
    for (std::size_t k = 0; k < m.layers().size(); ++k) out = fmt::format_to(out, "\n  ({}): {}", k, m.layers()[k]);
    return out;
}
