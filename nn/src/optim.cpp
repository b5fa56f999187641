#include <nn/optim.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
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
    velocity_.assign(n_, 0.0);
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

AdamW::AdamW(ParameterList parameters, const AdamWOptions& options)
    : Adam(std::move(parameters), AdamOptions{.lr = options.lr,
                                              .beta1 = options.beta1,
                                              .beta2 = options.beta2,
                                              .eps = options.eps,
                                              .weight_decay = options.weight_decay,
                                              .decoupled_weight_decay = true}) {}

RMSprop::RMSprop(ParameterList parameters, const RMSpropOptions& options)
    : Optimizer(std::move(parameters), options.lr),
      options_(options),
      square_avg_(n_, 0.0),
      grad_avg_(n_, 0.0),
      momentum_(n_, 0.0) {
    if (!(options.alpha >= 0.0 && options.alpha <= 1.0))
        throw std::invalid_argument(fmt::format("RMSprop: alpha must be in [0, 1], got {}", options.alpha));
    check_finite_nonnegative("RMSprop", "eps", options.eps);
    check_finite_nonnegative("RMSprop", "weight_decay", options.weight_decay);
    check_finite_nonnegative("RMSprop", "momentum", options.momentum);
}

void RMSprop::step() {
    const double alpha = options_.alpha, eps = options_.eps, wd = options_.weight_decay, mu = options_.momentum;
    const bool centered = options_.centered;
    std::size_t k = 0;
    parameters_.for_each_block([&](auto* p, const auto* grad, std::size_t n) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::size_t i = 0; i < n; ++i, ++k) {
            double x = static_cast<double>(p[i]);
            const double g = static_cast<double>(grad[i]) + wd * x;
            square_avg_[k] = alpha * square_avg_[k] + (1.0 - alpha) * g * g;
            double mean_square = square_avg_[k];
            if (centered) {
                grad_avg_[k] = alpha * grad_avg_[k] + (1.0 - alpha) * g;
                mean_square -= grad_avg_[k] * grad_avg_[k];
            }
            const double d = std::sqrt(mean_square) + eps;
            if (mu > 0.0) {
                momentum_[k] = mu * momentum_[k] + g / d;
                x -= lr_ * momentum_[k];
            } else {
                x -= lr_ * g / d;
            }
            p[i] = static_cast<T>(x);
        }
    });
    ++steps_;
}

double clip_grad_norm(const ParameterList& parameters, double max_norm) {
    if (!(max_norm > 0.0) || !std::isfinite(max_norm))
        throw std::invalid_argument(
            fmt::format("clip_grad_norm: max_norm must be a finite number > 0, got {}", max_norm));
    double sum_squares = 0.0;
    parameters.for_each_grad([&](auto* grad, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) sum_squares += static_cast<double>(grad[i]) * static_cast<double>(grad[i]);
    });
    const double norm = std::sqrt(sum_squares);
    if (!std::isfinite(norm))
        throw std::runtime_error(
            fmt::format("clip_grad_norm: the gradients' norm is {} (a gradient is NaN or infinite)", norm));
    const double coefficient = max_norm / (norm + 1e-6);
    if (coefficient < 1.0)
        parameters.for_each_grad([&](auto* grad, std::size_t n) {
            using T = std::remove_pointer_t<decltype(grad)>;
            for (std::size_t i = 0; i < n; ++i) grad[i] = static_cast<T>(static_cast<double>(grad[i]) * coefficient);
        });
    return norm;
}

// ------------------------------------------------------------- state ---

namespace {
double scalar_named(const OptimizerState& s, const char* name) {
    for (const auto& [k, v] : s.scalars)
        if (k == name) return v;
    throw std::invalid_argument(fmt::format("Optimizer::load_state: {} state without '{}'", s.kind, name));
}
const std::vector<double>& buffer_named(const OptimizerState& s, const char* name) {
    for (const auto& [k, v] : s.buffers)
        if (k == name) return v;
    throw std::invalid_argument(fmt::format("Optimizer::load_state: {} state without buffer '{}'", s.kind, name));
}
// A count stored as a double: a whole number in [0, 2^53].
std::size_t count_from(const char* who, const char* what, double x) {
    if (!(x >= 0.0 && x <= 0x1p53) || x != std::floor(x))
        throw std::invalid_argument(fmt::format("{}: {} {} is not a whole number >= 0", who, what, x));
    return static_cast<std::size_t>(x);
}
}  // namespace

OptimizerState Optimizer::state() const {
    OptimizerState s;
    s.kind = kind();
    s.scalars = {{"lr", lr_}, {"steps", static_cast<double>(steps_)}};
    s.blocks = parameters_.block_sizes();
    save_extra(s);
    return s;
}

void Optimizer::load_state(const OptimizerState& state) {
    const OptimizerState mine = this->state();  // the names and sizes expected
    if (state.kind != mine.kind)
        throw std::invalid_argument(
            fmt::format("Optimizer::load_state: the state is {}'s, this optimizer is {}", state.kind, mine.kind));
    if (state.blocks != mine.blocks)
        throw std::invalid_argument(fmt::format(
            "Optimizer::load_state: the state is for parameter blocks of sizes [{}], this optimizer has [{}]",
            fmt::join(state.blocks, ", "), fmt::join(mine.blocks, ", ")));
    for (const auto& [name, value] : mine.scalars) (void)scalar_named(state, name.c_str());
    for (const auto& [name, values] : mine.buffers)
        if (buffer_named(state, name.c_str()).size() != values.size())
            throw std::invalid_argument(fmt::format("Optimizer::load_state: {} buffer '{}' has {} values, expected {}",
                                                    state.kind, name, buffer_named(state, name.c_str()).size(),
                                                    values.size()));
    const double lr = scalar_named(state, "lr");
    check_finite_nonnegative("Optimizer::load_state", "learning rate", lr);
    const std::size_t steps = count_from("Optimizer::load_state", "steps", scalar_named(state, "steps"));
    load_extra(state);  // checks its hyperparameters before it changes anything
    lr_ = lr;
    steps_ = steps;
}

void SGD::save_extra(OptimizerState& s) const {
    s.scalars.insert(s.scalars.end(), {{"momentum", options_.momentum},
                                       {"nesterov", options_.nesterov ? 1.0 : 0.0},
                                       {"weight_decay", options_.weight_decay}});
    s.buffers.emplace_back("velocity", velocity_);
}

void SGD::load_extra(const OptimizerState& s) {
    SGDOptions o = options_;
    o.momentum = scalar_named(s, "momentum");
    o.nesterov = scalar_named(s, "nesterov") != 0.0;
    o.weight_decay = scalar_named(s, "weight_decay");
    check_finite_nonnegative("SGD::load_state", "momentum", o.momentum);
    check_finite_nonnegative("SGD::load_state", "weight_decay", o.weight_decay);
    if (o.nesterov && o.momentum == 0.0)
        throw std::invalid_argument("SGD::load_state: Nesterov momentum needs momentum > 0");
    options_ = o;
    velocity_ = buffer_named(s, "velocity");
}

void Adam::save_extra(OptimizerState& s) const {
    s.scalars.insert(s.scalars.end(), {{"beta1", options_.beta1},
                                       {"beta2", options_.beta2},
                                       {"eps", options_.eps},
                                       {"weight_decay", options_.weight_decay},
                                       {"decoupled_weight_decay", options_.decoupled_weight_decay ? 1.0 : 0.0}});
    s.buffers.emplace_back("m", m_);
    s.buffers.emplace_back("v", v_);
}

void Adam::load_extra(const OptimizerState& s) {
    AdamOptions o = options_;
    o.beta1 = scalar_named(s, "beta1");
    o.beta2 = scalar_named(s, "beta2");
    o.eps = scalar_named(s, "eps");
    o.weight_decay = scalar_named(s, "weight_decay");
    o.decoupled_weight_decay = scalar_named(s, "decoupled_weight_decay") != 0.0;
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0) || !(o.beta2 >= 0.0 && o.beta2 < 1.0))
        throw std::invalid_argument(
            fmt::format("Adam::load_state: betas must be in [0, 1), got beta1 = {}, beta2 = {}", o.beta1, o.beta2));
    check_finite_nonnegative("Adam::load_state", "eps", o.eps);
    check_finite_nonnegative("Adam::load_state", "weight_decay", o.weight_decay);
    options_ = o;
    m_ = buffer_named(s, "m");
    v_ = buffer_named(s, "v");
}

void AdamW::load_extra(const OptimizerState& s) {
    if (scalar_named(s, "decoupled_weight_decay") == 0.0)
        throw std::invalid_argument("AdamW::load_state: the state's decoupled_weight_decay is 0 (Adam's L2 decay)");
    Adam::load_extra(s);
}

void RMSprop::save_extra(OptimizerState& s) const {
    s.scalars.insert(s.scalars.end(), {{"alpha", options_.alpha},
                                       {"eps", options_.eps},
                                       {"weight_decay", options_.weight_decay},
                                       {"momentum", options_.momentum},
                                       {"centered", options_.centered ? 1.0 : 0.0}});
    s.buffers.emplace_back("square_avg", square_avg_);
    s.buffers.emplace_back("grad_avg", grad_avg_);
    s.buffers.emplace_back("momentum_buffer", momentum_);
}

void RMSprop::load_extra(const OptimizerState& s) {
    RMSpropOptions o = options_;
    o.alpha = scalar_named(s, "alpha");
    o.eps = scalar_named(s, "eps");
    o.weight_decay = scalar_named(s, "weight_decay");
    o.momentum = scalar_named(s, "momentum");
    o.centered = scalar_named(s, "centered") != 0.0;
    if (!(o.alpha >= 0.0 && o.alpha <= 1.0))
        throw std::invalid_argument(fmt::format("RMSprop::load_state: alpha must be in [0, 1], got {}", o.alpha));
    check_finite_nonnegative("RMSprop::load_state", "eps", o.eps);
    check_finite_nonnegative("RMSprop::load_state", "weight_decay", o.weight_decay);
    check_finite_nonnegative("RMSprop::load_state", "momentum", o.momentum);
    options_ = o;
    square_avg_ = buffer_named(s, "square_avg");
    grad_avg_ = buffer_named(s, "grad_avg");
    momentum_ = buffer_named(s, "momentum_buffer");
}

void LRSchedule::restore(std::size_t epoch, double base_lr) {
    if (!(base_lr >= 0.0) || !std::isfinite(base_lr))
        throw std::invalid_argument(
            fmt::format("LRSchedule::restore: base learning rate {} is not a finite number >= 0", base_lr));
    epoch_ = epoch;
    base_lr_ = base_lr;
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

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRSchedule(optimizer), gamma_(gamma) {
    if (!(gamma > 0.0) || !std::isfinite(gamma))
        throw std::invalid_argument(fmt::format("ExponentialLR: gamma must be a finite number > 0, got {}", gamma));
}

double ExponentialLR::lr_at(std::size_t epoch) const { return base_lr_ * std::pow(gamma_, static_cast<double>(epoch)); }

WarmupLR::WarmupLR(Optimizer& optimizer, const WarmupOptions& options, const LRSchedule* then)
    : LRSchedule(optimizer), options_(options), then_(then) {
    if (options.warmup_epochs == 0) throw std::invalid_argument("WarmupLR: warmup_epochs must be at least 1");
    if (!(options.start_factor > 0.0 && options.start_factor <= 1.0))
        throw std::invalid_argument(
            fmt::format("WarmupLR: start_factor must be in (0, 1], got {}", options.start_factor));
    optimizer_->set_lr(lr_at(0));
}

double WarmupLR::lr_at(std::size_t epoch) const {
    const std::size_t w = options_.warmup_epochs;
    if (epoch >= w) return then_ != nullptr ? then_->lr_at(epoch - w) : base_lr_;
    const double s = options_.start_factor;
    return base_lr_ * (s + (1.0 - s) * static_cast<double>(epoch) / static_cast<double>(w));
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const PlateauOptions& options)
    : LRSchedule(optimizer),
      options_(options),
      best_(options.mode == PlateauMode::Min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity()) {
    if (!(options.factor > 0.0 && options.factor < 1.0))
        throw std::invalid_argument(fmt::format("ReduceLROnPlateau: factor must be in (0, 1), got {}", options.factor));
    check_finite_nonnegative("ReduceLROnPlateau", "threshold", options.threshold);
    check_finite_nonnegative("ReduceLROnPlateau", "min_lr", options.min_lr);
    check_finite_nonnegative("ReduceLROnPlateau", "eps", options.eps);
}

double ReduceLROnPlateau::lr_at(std::size_t /*epoch*/) const { return optimizer_->lr(); }

void ReduceLROnPlateau::step() {
    throw std::logic_error("ReduceLROnPlateau::step: it needs the watched figure, step(metric)");
}

void ReduceLROnPlateau::step(double metric) {
    if (std::isnan(metric)) throw std::invalid_argument("ReduceLROnPlateau::step: the metric is NaN");
    ++epoch_;
    const bool better = options_.mode == PlateauMode::Min ? metric < best_ * (1.0 - options_.threshold)
                                                          : metric > best_ * (1.0 + options_.threshold);
    if (better) {
        best_ = metric;
        bad_epochs_ = 0;
    } else {
        ++bad_epochs_;
    }
    if (cooldown_left_ > 0) {
        --cooldown_left_;
        bad_epochs_ = 0;
    }
    if (bad_epochs_ > options_.patience) {
        const double old_lr = optimizer_->lr();
        const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
        if (old_lr - new_lr > options_.eps) optimizer_->set_lr(new_lr);
        cooldown_left_ = options_.cooldown;
        bad_epochs_ = 0;
    }
}

std::vector<std::pair<std::string, double>> ReduceLROnPlateau::extra_state() const {
    return {{"best", best_},
            {"bad_epochs", static_cast<double>(bad_epochs_)},
            {"cooldown_left", static_cast<double>(cooldown_left_)}};
}

void ReduceLROnPlateau::load_extra_state(const std::vector<std::pair<std::string, double>>& state) {
    double values[3] = {best_, 0, 0};
    const char* names[3] = {"best", "bad_epochs", "cooldown_left"};
    for (int i = 0; i < 3; ++i) {
        bool found = false;
        for (const auto& [name, value] : state)
            if (name == names[i]) values[i] = value, found = true;
        if (!found) throw std::invalid_argument(fmt::format("ReduceLROnPlateau: state without '{}'", names[i]));
    }
    const std::size_t bad = count_from("ReduceLROnPlateau", "bad_epochs", values[1]);
    const std::size_t cooldown = count_from("ReduceLROnPlateau", "cooldown_left", values[2]);
    if (std::isnan(values[0])) throw std::invalid_argument("ReduceLROnPlateau: state's best is NaN");
    best_ = values[0];
    bad_epochs_ = bad;
    cooldown_left_ = cooldown;
}

}  // namespace ag::nn
