#pragma once
// Micrograd-style networks of scalar ag::Values: readable, one node per
// multiply-add, right for textbook nets and a few hundred parameters. For
// larger models use the tensor models (nn/tensor_models.hpp).
//
//     ag::nn::MLP model(2, {16, 16, 1}, {.hidden = ag::nn::Activation::Relu, .seed = 42});
//     for (int step = 0; step < 100; ++step) {
//         ag::Scope scope;                       // frees this step's nodes at its end
//         ag::Value loss = ...model(x)[0]...;
//         model.zero_grad();
//         loss.backward();
//         for (ag::Value p : model.parameters()) p.set_data(p.data() - 0.05 * p.grad());
//     }
//
// Parameters are leaves on the current thread's tape, created by the
// constructor: build the model before any Scope of the training loop, or the
// Scope's end frees them (using them then throws std::logic_error).
// Copying a model copies handles: both copies share the same parameters, as
// two Python references to one micrograd object would.
//
// Weights by hand: one convention for every layer, scalar and tensor. A
// layer's weight matrix is the W of h = act(x·W + b), shape [inputs,
// outputs]: row i holds input i's weights to each output, column j is
// neuron j's weights. Layer's hand-weight constructor and set_weights take
// it as rows [inputs][outputs], as Linear does; named_parameters() and
// save()/load() store it row-major in that shape; a Neuron holds its
// column (one weight per input). So
//     Layer({{1, 2, 3}, {4, 5, 6}}, {0.1, 0.2, 0.3})    2 inputs -> 3 outputs
//     Linear({{1, 2, 3}, {4, 5, 6}}, {0.1, 0.2, 0.3})   the same layer on tensors
// (PyTorch's nn.Linear stores the transpose, [outputs, inputs].)
//
// Choices where micrograd is silent or Python-specific:
//   - a Neuron computes act(w·x + b) with the dot product summed first, then
//     the bias (as a matrix product plus bias does), so scalar and tensor
//     models agree to rounding;
//   - a Layer and an MLP always return a vector, even of one output
//     (micrograd unwraps a single output);
//   - parameters() lists, per neuron, its weights then its bias, layer by
//     layer (micrograd's order); named_parameters() groups them as
//     "layers.<i>.weight" [inputs, outputs] and "layers.<i>.bias" [outputs],
//     the layout the tensor MLP and save()/load() use.
#include <nn/init.hpp>
#include <nn/parameters.hpp>

#include <autograd/value.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ag::nn {

class Neuron {
public:
    // n_inputs weights drawn by `init` from `rng`; bias 0. fan_out is the
    // size of the layer the neuron belongs to (used by Xavier).
    Neuron(std::size_t n_inputs, Activation activation, Init init, Rng& rng, std::size_t fan_out = 1);
    Neuron(std::size_t n_inputs, Activation activation = Activation::Identity, Init init = Init::Uniform,
           std::uint64_t seed = 0);
    // Given weights and bias (textbook examples).
    Neuron(const std::vector<double>& weights, double bias, Activation activation = Activation::Identity);

    Value operator()(const std::vector<Value>& x) const;
    Value operator()(std::span<const double> x) const;

    std::vector<Value> parameters() const;  // weights, then bias
    void zero_grad() const;

    const std::vector<Value>& weights() const noexcept { return weights_; }
    const Value& bias() const noexcept { return bias_; }
    void set_weights(const std::vector<double>& weights) const;
    void set_bias(double bias) const { bias_.set_data(bias); }
    Activation activation() const noexcept { return activation_; }
    std::size_t n_inputs() const noexcept { return weights_.size(); }

private:
    std::vector<Value> weights_;
    Value bias_;
    Activation activation_;
};

class Layer {
public:
    Layer(std::size_t n_inputs, std::size_t n_outputs, Activation activation, Init init, Rng& rng);
    Layer(std::size_t n_inputs, std::size_t n_outputs, Activation activation = Activation::Identity,
          Init init = Init::Uniform, std::uint64_t seed = 0);
    // Given weights [inputs][outputs] (W of x·W + b, see above) and biases [outputs].
    Layer(const std::vector<std::vector<double>>& weights, const std::vector<double>& biases,
          Activation activation = Activation::Identity);
    // From neurons, which must all have the same number of inputs.
    explicit Layer(std::vector<Neuron> neurons);

    std::vector<Value> operator()(const std::vector<Value>& x) const;
    std::vector<Value> operator()(std::span<const double> x) const;

    std::vector<Value> parameters() const;
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const;
    void zero_grad() const;

    const std::vector<Neuron>& neurons() const noexcept { return neurons_; }
    const Neuron& neuron(std::size_t i) const { return neurons_.at(i); }
    // weights [inputs][outputs], as the constructor takes them.
    void set_weights(const std::vector<std::vector<double>>& weights) const;
    void set_biases(const std::vector<double>& biases) const;
    std::size_t n_inputs() const noexcept { return neurons_.front().n_inputs(); }
    std::size_t n_outputs() const noexcept { return neurons_.size(); }
    Activation activation() const noexcept { return neurons_.front().activation(); }
    std::size_t n_parameters() const noexcept { return n_outputs() * (n_inputs() + 1); }

private:
    std::vector<Neuron> neurons_;
};

// Options shared by the scalar and tensor MLPs; with designated initializers:
//     {.hidden = Activation::Tanh, .output = Activation::Sigmoid, .init = Init::Xavier, .seed = 7}
struct MLPOptions {
    Activation hidden = Activation::Relu;      // every layer but the last (micrograd: relu)
    Activation output = Activation::Identity;  // the last layer (micrograd: linear)
    std::vector<Activation> activations = {};  // one per layer; when given, overrides hidden/output
    Init init = Init::Uniform;
    std::uint64_t seed = 0;
};

// The activation of each of `n_layers` layers under `options` (throws if
// options.activations has the wrong length).
std::vector<Activation> layer_activations(const MLPOptions& options, std::size_t n_layers, const char* who);

class MLP {
public:
    // Layers of the given sizes after n_inputs inputs: MLP(2, {16, 16, 1}) is 2-16-16-1.
    MLP(std::size_t n_inputs, const std::vector<std::size_t>& layer_sizes, const MLPOptions& options = {});
    explicit MLP(std::vector<Layer> layers);

    std::vector<Value> operator()(const std::vector<Value>& x) const;
    std::vector<Value> operator()(std::span<const double> x) const;

    std::vector<Value> parameters() const;
    std::vector<NamedParameter> named_parameters() const;
    void zero_grad() const;

    const std::vector<Layer>& layers() const noexcept { return layers_; }
    const Layer& layer(std::size_t i) const { return layers_.at(i); }
    std::size_t n_inputs() const noexcept { return layers_.front().n_inputs(); }
    std::size_t n_outputs() const noexcept { return layers_.back().n_outputs(); }
    std::size_t n_parameters() const noexcept;
    // All parameter values in parameters() order, and back.
    std::vector<double> parameter_values() const;
    void set_parameter_values(const std::vector<double>& values) const;

private:
    std::vector<Layer> layers_;
};

}  // namespace ag::nn

// fmt::format("{}", model): the layers, their shapes and the parameter count, e.g.
//   MLP(2 -> 16 -> 16 -> 1, 337 parameters)
//     (0): Layer(2 -> 16, relu): weight [16, 2], bias [16]
//     ...
template <>
struct fmt::formatter<ag::nn::Neuron> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::Neuron& n, format_context& ctx) const;
};
template <>
struct fmt::formatter<ag::nn::Layer> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::Layer& l, format_context& ctx) const;
};
template <>
struct fmt::formatter<ag::nn::MLP> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::MLP& m, format_context& ctx) const;
};
