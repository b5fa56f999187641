#pragma once
// Tensor models: a Linear layer (h = x·W + b, one BLAS product per batch),
// a Sequential of layers and activations, and TensorMLP, the tensor
// counterpart of the scalar MLP. Each comes in float64 (Linear, Sequential,
// TensorMLP) and float32 (Linear32, Sequential32, TensorMLP32) for speed.
//
//     ag::nn::TensorMLP32 model(64, {128, 10}, {.hidden = ag::nn::Activation::Relu,
//                                               .init = ag::nn::Init::He, .seed = 1});
//     ag::Tensor32 logits = model(x);            // x: [batch, 64] -> [batch, 10]
//
// Choices:
//   - the weight is W of the textbook h = x·W + b: shape [inputs, outputs]
//     (PyTorch stores the transpose); the bias is [outputs]. The scalar
//     Layer uses the same convention (nn/scalar.hpp);
//   - weights are drawn in the same order as the scalar Neuron/Layer/MLP
//     (output by output, input by input), so a TensorMLP and an MLP with the
//     same sizes and MLPOptions start from identical weights, and either
//     model's save() file loads into the other;
//   - named_parameters(): Linear "weight"/"bias"; Sequential "<i>.weight"
//     with i the position in the sequence (as PyTorch's nn.Sequential);
//   - a Sequential takes any module (nn/module.hpp: Linear, the layers of
//     nn/layers.hpp, activations, another Sequential, a class of yours);
//     train() / eval() set every module's mode (Dropout's); modules start
//     in training mode and making a Sequential leaves their modes as they
//     are, as in PyTorch;
//     TensorMLP "layers.<k>.weight" (k counts layers, as the scalar MLP);
//   - it is named TensorMLP, since ag::nn::MLP is the scalar micrograd one;
//   - parameters are tensor leaves created by the constructor: build models
//     before the Scope of a training step.
#include <nn/init.hpp>
#include <nn/module.hpp>
#include <nn/parameters.hpp>
#include <nn/scalar.hpp>

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ag::nn {

template <class T>
class BasicLinear {
public:
    BasicLinear(std::size_t in_features, std::size_t out_features, Init init, Rng& rng);
    BasicLinear(std::size_t in_features, std::size_t out_features, Init init = Init::Uniform, std::uint64_t seed = 0);
    // Given weights [in][out] and biases [out] (textbook examples), as the scalar Layer takes them.
    BasicLinear(const std::vector<std::vector<double>>& weight, const std::vector<double>& bias);
    // Around existing tensors (shared, not copied): weight [in, out], bias [out].
    BasicLinear(const BasicTensor<T>& weight, const BasicTensor<T>& bias);

    // x [.., in] -> [.., out]
    BasicTensor<T> operator()(const BasicTensor<T>& x) const;

    const BasicTensor<T>& weight() const noexcept { return weight_; }
    const BasicTensor<T>& bias() const noexcept { return bias_; }
    std::vector<BasicTensor<T>> parameters() const { return {weight_, bias_}; }
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const;
    void zero_grad() const;
    std::size_t in_features() const noexcept { return in_; }
    std::size_t out_features() const noexcept { return out_; }
    std::size_t n_parameters() const noexcept { return (in_ + 1) * out_; }

private:
    std::size_t in_ = 0, out_ = 0;
    BasicTensor<T> weight_, bias_;
};

// Modules applied in order (see nn/module.hpp for what a module is).
template <class T>
class BasicSequential {
public:
    using Module = BasicModule<T>;

    BasicSequential(std::initializer_list<Module> modules) : BasicSequential(std::vector<Module>(modules)) {}
    explicit BasicSequential(std::vector<Module> modules);

    BasicTensor<T> operator()(const BasicTensor<T>& x) const;

    const std::vector<Module>& modules() const noexcept { return modules_; }
    // The trainable tensors, in named_parameters() order. A module whose
    // parameters are not BasicTensor<T> (scalar Values, the other float
    // type) makes this throw: give the optimizer named_parameters() then.
    std::vector<BasicTensor<T>> parameters() const;
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const;
    void zero_grad() const;
    std::size_t n_parameters() const;
    // Training (true) or evaluation mode for every module that has one.
    void train(bool on = true) const;
    void eval() const { train(false); }

private:
    std::vector<Module> modules_;
};

// Linear layers of the given sizes, each followed by its activation
// (MLPOptions as for the scalar MLP: relu hidden, identity output by default).
template <class T>
class BasicTensorMLP {
public:
    BasicTensorMLP(std::size_t n_inputs, const std::vector<std::size_t>& layer_sizes, const MLPOptions& options = {});

    // x [batch, n_inputs] -> [batch, n_outputs]
    BasicTensor<T> operator()(const BasicTensor<T>& x) const;

    const std::vector<BasicLinear<T>>& layers() const noexcept { return layers_; }
    const BasicLinear<T>& layer(std::size_t k) const { return layers_.at(k); }
    const std::vector<Activation>& activations() const noexcept { return activations_; }
    std::vector<BasicTensor<T>> parameters() const;
    std::vector<NamedParameter> named_parameters() const;
    void zero_grad() const;
    std::size_t n_inputs() const noexcept { return layers_.front().in_features(); }
    std::size_t n_outputs() const noexcept { return layers_.back().out_features(); }
    std::size_t n_parameters() const noexcept;

private:
    std::vector<BasicLinear<T>> layers_;
    std::vector<Activation> activations_;
};

using Linear = BasicLinear<double>;
using Linear32 = BasicLinear<float>;
using Sequential = BasicSequential<double>;
using Sequential32 = BasicSequential<float>;
using TensorMLP = BasicTensorMLP<double>;
using TensorMLP32 = BasicTensorMLP<float>;

// Printing (also used by the fmt formatters below).
template <class T>
std::string to_string(const BasicLinear<T>& m);
template <class T>
std::string to_string(const BasicSequential<T>& m);
template <class T>
std::string to_string(const BasicTensorMLP<T>& m);

}  // namespace ag::nn

// fmt::format("{}", model), e.g.
//   TensorMLP(64 -> 128 -> 10, 9610 parameters, float32)
//     (0): Linear(64 -> 128, relu): weight [64, 128], bias [128]
//     (1): Linear(128 -> 10, identity): weight [128, 10], bias [10]
template <class T>
struct fmt::formatter<ag::nn::BasicLinear<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::BasicLinear<T>& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
template <class T>
struct fmt::formatter<ag::nn::BasicSequential<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::BasicSequential<T>& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
template <class T>
struct fmt::formatter<ag::nn::BasicTensorMLP<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::BasicTensorMLP<T>& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
