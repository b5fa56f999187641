#include <nn/losses.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ag::nn {

namespace {

void check_sizes(const char* who, std::size_t predictions, std::size_t targets) {
    if (predictions != targets)
        throw std::invalid_argument(fmt::format("{}: {} predictions but {} targets", who, predictions, targets));
    if (predictions == 0) throw std::invalid_argument(fmt::format("{}: no predictions", who));
}

void check_probability_target(const char* who, double t) {
    if (!(t >= 0.0 && t <= 1.0)) throw std::invalid_argument(fmt::format("{}: target {} is not in [0, 1]", who, t));
}

// Sum of f(i) over i < n, as one chain of additions.
template <class F>
Value sum_over(std::size_t n, F&& f) {
    Value s = f(0);
    for (std::size_t i = 1; i < n; ++i) s = s + f(i);
    return s;
}

}  // namespace

Value mse_loss(const std::vector<Value>& predictions, const std::vector<double>& targets) {
    check_sizes("mse_loss", predictions.size(), targets.size());
    const Value s = sum_over(predictions.size(), [&](std::size_t i) { return pow(predictions[i] - targets[i], 2.0); });
    return s / static_cast<double>(predictions.size());
}

Value half_squared_error(const Value& prediction, double target) { return 0.5 * pow(target - prediction, 2.0); }

Value half_squared_error(const std::vector<Value>& predictions, const std::vector<double>& targets) {
    check_sizes("half_squared_error", predictions.size(), targets.size());
    return sum_over(predictions.size(), [&](std::size_t i) { return half_squared_error(predictions[i], targets[i]); });
}

Value cross_entropy(const std::vector<Value>& logits, std::size_t label) {
    if (logits.empty()) throw std::invalid_argument("cross_entropy: no logits");
    if (label >= logits.size())
        throw std::invalid_argument(
            fmt::format("cross_entropy: label {} is out of range for {} classes", label, logits.size()));
    // log Σ exp(z_i) = m + log Σ exp(z_i - m) with m = max z_i as a constant:
    // no overflow, and the gradient (softmax - one-hot) is unchanged.
    double m = logits[0].data();
    for (const Value& z : logits) m = std::max(m, z.data());
    const Value s = sum_over(logits.size(), [&](std::size_t i) { return exp(logits[i] - m); });
    // Written as log s − (z_label − m) so that equal large logits give log 2 exactly.
    return log(s) - (logits[label] - m);
}

Value cross_entropy(const std::vector<std::vector<Value>>& logits, const std::vector<std::size_t>& labels) {
    check_sizes("cross_entropy", logits.size(), labels.size());
    const Value s = sum_over(logits.size(), [&](std::size_t i) {
        if (labels[i] >= logits[i].size())
            throw std::invalid_argument(fmt::format("cross_entropy: row {}: label {} is out of range for {} classes", i,
                                                    labels[i], logits[i].size()));
        return cross_entropy(logits[i], labels[i]);
    });
    return s / static_cast<double>(logits.size());
}

Value binary_cross_entropy(const Value& probability, double target) {
    check_probability_target("binary_cross_entropy", target);
    const Value floor(-100.0);
    const Value log_p = max(log(probability), floor);
    const Value log_q = max(log(1.0 - probability), floor);
    return -(target * log_p + (1.0 - target) * log_q);
}

Value binary_cross_entropy(const std::vector<Value>& probabilities, const std::vector<double>& targets) {
    check_sizes("binary_cross_entropy", probabilities.size(), targets.size());
    const Value s = sum_over(probabilities.size(),
                             [&](std::size_t i) { return binary_cross_entropy(probabilities[i], targets[i]); });
    return s / static_cast<double>(probabilities.size());
}

Value binary_cross_entropy_with_logits(const Value& logit, double target) {
    check_probability_target("binary_cross_entropy_with_logits", target);
    // max(x, 0) − x·t + log(1 + exp(−|x|)) by cases, so each branch is smooth
    // and x = 0 gets the true gradient σ(0) − t (relu and abs have kinks there).
    if (logit.data() >= 0) return logit * (1.0 - target) + log(1.0 + exp(-logit));
    return log(1.0 + exp(logit)) - logit * target;
}

Value binary_cross_entropy_with_logits(const std::vector<Value>& logits, const std::vector<double>& targets) {
    check_sizes("binary_cross_entropy_with_logits", logits.size(), targets.size());
    const Value s =
        sum_over(logits.size(), [&](std::size_t i) { return binary_cross_entropy_with_logits(logits[i], targets[i]); });
    return s / static_cast<double>(logits.size());
}

Value hinge(const std::vector<Value>& scores, const std::vector<double>& labels) {
    check_sizes("hinge", scores.size(), labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (labels[i] != 1.0 && labels[i] != -1.0)
            throw std::invalid_argument(fmt::format("hinge: label {} of sample {} is not -1 or +1", labels[i], i));
    const Value s = sum_over(scores.size(), [&](std::size_t i) { return relu(1.0 - labels[i] * scores[i]); });
    return s / static_cast<double>(scores.size());
}

Value hinge(const std::vector<Value>& scores, const std::vector<double>& labels, double l2,
            const std::vector<Value>& parameters) {
    return hinge(scores, labels) + l2 * l2_penalty(parameters);
}

Value l2_penalty(const std::vector<Value>& parameters) {
    if (parameters.empty()) return Value(0.0);
    return sum_over(parameters.size(), [&](std::size_t i) { return parameters[i] * parameters[i]; });
}

template <class T>
BasicTensor<T> half_squared_error(const BasicTensor<T>& prediction, const BasicTensor<T>& target) {
    const Shape ps = prediction.shape(), ts = target.shape();
    if (!(ps == ts))
        throw std::invalid_argument(
            fmt::format("half_squared_error: prediction {} and target {} differ in shape", ps.str(), ts.str()));
    const double rows = ps.rank() == 0 ? 1.0 : static_cast<double>(ps[0]);
    const BasicTensor<T> d = prediction - target;
    return sum(d * d) * (0.5 / rows);
}

template <class T>
BasicTensor<T> l2_penalty(const std::vector<BasicTensor<T>>& parameters) {
    if (parameters.empty()) return BasicTensor<T>::scalar(0.0);
    BasicTensor<T> s = sum(parameters[0] * parameters[0]);
    for (std::size_t i = 1; i < parameters.size(); ++i) s = s + sum(parameters[i] * parameters[i]);
    return s;
}

template <class T>
BasicTensor<T> hinge(const BasicTensor<T>& scores, const BasicTensor<T>& targets, double l2,
                     const std::vector<BasicTensor<T>>& parameters) {
    return ag::hinge(scores, targets) + l2_penalty(parameters) * l2;
}

template Tensor half_squared_error(const Tensor&, const Tensor&);
template Tensor32 half_squared_error(const Tensor32&, const Tensor32&);
template Tensor l2_penalty(const std::vector<Tensor>&);
template Tensor32 l2_penalty(const std::vector<Tensor32>&);
template Tensor hinge(const Tensor&, const Tensor&, double, const std::vector<Tensor>&);
template Tensor32 hinge(const Tensor32&, const Tensor32&, double, const std::vector<Tensor32>&);

}  // namespace ag::nn
