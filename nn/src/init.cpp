#include <nn/init.hpp>

#include <cmath>
#include <stdexcept>

namespace ag::nn {

std::string_view to_string(Activation a) noexcept {
    switch (a) {
        case Activation::Identity: return "identity";
        case Activation::Tanh: return "tanh";
        case Activation::Relu: return "relu";
        case Activation::Sigmoid: return "sigmoid";
    }
    return "?";
}

std::string_view to_string(Init i) noexcept {
    switch (i) {
        case Init::Uniform: return "uniform";
        case Init::Xavier: return "xavier";
        case Init::He: return "he";
    }
    return "?";
}

Activation parse_activation(std::string_view name) {
    if (name == "identity" || name == "linear" || name == "none") return Activation::Identity;
    if (name == "tanh") return Activation::Tanh;
    if (name == "relu") return Activation::Relu;
    if (name == "sigmoid") return Activation::Sigmoid;
    throw std::invalid_argument(
        fmt::format("parse_activation: unknown activation '{}' (expected identity, tanh, relu or sigmoid)", name));
}

Init parse_init(std::string_view name) {
    if (name == "uniform") return Init::Uniform;
    if (name == "xavier" || name == "glorot") return Init::Xavier;
    if (name == "he" || name == "kaiming") return Init::He;
    throw std::invalid_argument(
        fmt::format("parse_init: unknown initialization '{}' (expected uniform, xavier or he)", name));
}

Value activate(Activation a, const Value& x) {
    switch (a) {
        case Activation::Identity: return x;
        case Activation::Tanh: return tanh(x);
        case Activation::Relu: return relu(x);
        case Activation::Sigmoid: return sigmoid(x);
    }
    return x;
}

double init_weight(Init init, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    switch (init) {
        case Init::Uniform: return rng.uniform(-1.0, 1.0);
        case Init::Xavier: {
            const double a = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
            return rng.uniform(-a, a);
        }
        case Init::He: return rng.normal(0.0, std::sqrt(2.0 / static_cast<double>(fan_in)));
    }
    return 0.0;
}

}  // namespace ag::nn
