#pragma once
// Activations and weight initializations, shared by the scalar and tensor models.
//
// Initializations (biases always start at 0, as in micrograd and Keras):
//   Init::Uniform  micrograd's uniform(-1, 1)
//   Init::Xavier   Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
//   Init::He       He/Kaiming normal: N(0, sqrt(2 / fan_in)) (fan_in mode, for relu)
// Random numbers come from ag::Rng (tensor.hpp): seeded, the same on every platform.
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <string_view>

namespace ag::nn {

enum class Activation { Identity, Tanh, Relu, Sigmoid };
enum class Init { Uniform, Xavier, He };

// "identity", "tanh", "relu", "sigmoid"
std::string_view to_string(Activation a) noexcept;
// "uniform", "xavier", "he"
std::string_view to_string(Init i) noexcept;
// Parses the names above (also "linear" = identity, "glorot" = xavier,
// "kaiming" = he); throws std::invalid_argument listing the valid names.
Activation parse_activation(std::string_view name);
Init parse_init(std::string_view name);

// The activation applied to a scalar, and elementwise to a tensor.
Value activate(Activation a, const Value& x);
template <class T>
BasicTensor<T> activate(Activation a, const BasicTensor<T>& x) {
    switch (a) {
        case Activation::Tanh: return tanh(x);
        case Activation::Relu: return relu(x);
        case Activation::Sigmoid: return sigmoid(x);
        case Activation::Identity: break;
    }
    return x;
}

// One weight drawn for a layer with the given fan-in and fan-out.
double init_weight(Init init, std::size_t fan_in, std::size_t fan_out, Rng& rng);

}  // namespace ag::nn

template <>
struct fmt::formatter<ag::nn::Activation> : fmt::formatter<std::string_view> {
    auto format(ag::nn::Activation a, format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(ag::nn::to_string(a), ctx);
    }
};
template <>
struct fmt::formatter<ag::nn::Init> : fmt::formatter<std::string_view> {
    auto format(ag::nn::Init i, format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(ag::nn::to_string(i), ctx);
    }
};
