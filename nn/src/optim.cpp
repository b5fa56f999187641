#include <nn/optim.hpp>

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace ag::nn {

namespace {
void check_finite_nonnegative(const char* who, const char* what, double x) {
    if (!(x >= 0.0) || !std::isfinite(x))
        throw std::invalid_argument(fmt::format("{}: {} must be a finite number >= 0, got {}", who, what, x));
}
}  // namespace

Optimizer::Optimizer(ParameterList parameters, double lr) : parameters_(std::move(parameters)), lr_(lr) {
    check_finite_nonnegative("Optimizer", "learning rate", lr);
    n_ = parameters_.size();
}

void Optimizer::set_lr(double lr) {
    check_finite_nonnegative("Optimizer::set_lr", "learning rate", lr);
    lr_ = lr;
}

SGD::SGD(ParameterList parameters, const SGDOptions& options)
    : Optimizer(std::move(parameters), options.lr), options_(options) {
    check_finite_nonnegative("SGD", "momentum", options.momentum);
    check_finite_nonnegative("SGD", "weight_decay", options.weight_decay);
    if (options.nesterov && options.momentum == 0.0)
        throw std::invalid_argument("SGD: Nesterov momentum needs momentum > 0");
    if (options.momentum != 0.0) velocity_.assign(n_, 0.0);
}

void SGD::step() {
    const double mu = options_.momentum, wd = options_.weight_decay, lr = lr_;
    const bool first = steps_ == 0;
    std::size_t k = 0;  // position in the state vector
    parameters_.for_each_block([&](auto* p, const auto* grad, std::size_t n) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::size_t i = 0; i < n; ++i, ++k) {
            double g = static_cast<double>(grad[i]) + wd * static_cast<double>(p[i]);
            if (mu != 0.0) {
                double& b = velocity_[k];
                b = first ? g : mu * b + g;
                g = options_.nesterov ? g + mu * b : b;
            }
            p[i] = static_cast<T>(static_cast<double>(p[i]) - lr * g);
        }
    });
    ++steps_;
}

Adam::Adam(ParameterList parameters, const AdamOptions& options)
    : Optimizer(std::move(parameters), options.lr), options_(options), m_(n_, 0.0), v_(n_, 0.0) {
    if (!(options.beta1 >= 0.0 && options.beta1 < 1.0) || !(options.beta2 >= 0.0 && options.beta2 < 1.0))
        throw std::invalid_argument(
            fmt::format("Adam: betas must be in [0, 1), got beta1 = {}, beta2 = {}", options.beta1, options.beta2));
    check_finite_nonnegative("Adam", "eps", options.eps);
    check_finite_nonnegative("Adam", "weight_decay", options.weight_decay);
}

void Adam::step() {
    ++steps_;
    const double b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps, wd = options_.weight_decay;
    const bool decoupled = options_.decoupled_weight_decay;
    const double t = static_cast<double>(steps_);
    const double correction1 = 1.0 - std::pow(b1, t), correction2 = 1.0 - std::pow(b2, t);
    const double step_size = lr_ / correction1;
    std::size_t k = 0;
    parameters_.for_each_block([&](auto* p, const auto* grad, std::size_t n) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::size_t i = 0; i < n; ++i, ++k) {
            double x = static_cast<double>(p[i]);
            double g = static_cast<double>(grad[i]);
            if (decoupled)
                x -= lr_ * wd * x;
            else
                g += wd * x;
            m_[k] = b1 * m_[k] + (1.0 - b1) * g;
            v_[k] = b2 * v_[k] + (1.0 - b2) * g * g;
            x -= step_size * m_[k] / (std::sqrt(v_[k] / correction2) + eps);
            p[i] = static_cast<T>(x);
        }
    });
}

StepLR::StepLR(Optimizer& optimizer, const StepLROptions& options) : LRSchedule(optimizer), options_(options) {
    if (options.step_size == 0) throw std::invalid_argument("StepLR: step_size must be at least 1");
}

double StepLR::lr_at(std::size_t epoch) const {
    return base_lr_ * std::pow(options_.gamma, static_cast<double>(epoch / options_.step_size));
}

CosineLR::CosineLR(Optimizer& optimizer, const CosineLROptions& options) : LRSchedule(optimizer), options_(options) {
    if (options.t_max == 0) throw std::invalid_argument("CosineLR: t_max must be at least 1");
}

double CosineLR::lr_at(std::size_t epoch) const {
    if (epoch >= options_.t_max) return options_.min_lr;
    const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(options_.t_max);
    return options_.min_lr + (base_lr_ - options_.min_lr) * (1.0 + std::cos(phase)) / 2.0;
}

}  // namespace ag::nn
