#pragma once
// Loss functions, for scalar Values (micrograd-style models) and tensors.
// Each returns one Value / one 0-d tensor to call backward() on.
//
// Tensor losses (from autograd/tensor.hpp, re-exported here):
//   mse_loss(pred, target)                        mean((pred - target)^2)
//   cross_entropy(logits [n, c], labels)          mean over rows of -log softmax(row)[label]
//   binary_cross_entropy_with_logits(x, t)        mean of -[t log σ(x) + (1 - t) log(1 - σ(x))], stable
//   hinge(scores, targets ±1)                     mean of max(0, 1 - t·s)
// and, added here: half_squared_error, hinge with L2, l2_penalty.
//
// Conventions (PyTorch's where it has one):
//   - mse_loss, cross_entropy, the binary cross-entropies and hinge average
//     over samples ("reduction='mean'");
//   - half_squared_error is the textbook E = Σ ½(d − y)²: summed over the
//     outputs of a sample; for tensors, averaged over the first axis (the
//     batch), so one row gives exactly the textbook figure;
//   - binary_cross_entropy on probabilities clamps each log at -100 as
//     PyTorch does, so p = 0 or 1 gives a large finite loss, not inf;
//   - hinge labels are -1 or +1 (micrograd's moons demo); with L2, the
//     penalty is l2 · Σ p² over the given parameters (micrograd's alpha).
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <cstddef>
#include <vector>

namespace ag::nn {

using ag::binary_cross_entropy_with_logits;
using ag::cross_entropy;
using ag::hinge;
using ag::mse_loss;

// ---------------------------------------------------------------- scalar ---

Value mse_loss(const std::vector<Value>& predictions, const std::vector<double>& targets);

Value half_squared_error(const Value& prediction, double target);
Value half_squared_error(const std::vector<Value>& predictions, const std::vector<double>& targets);

// -log softmax(logits)[label], stable for large logits.
Value cross_entropy(const std::vector<Value>& logits, std::size_t label);
// Mean over samples.
Value cross_entropy(const std::vector<std::vector<Value>>& logits, const std::vector<std::size_t>& labels);

// p is a probability (e.g. a sigmoid output), target in [0, 1].
Value binary_cross_entropy(const Value& probability, double target);
Value binary_cross_entropy(const std::vector<Value>& probabilities, const std::vector<double>& targets);
// From a logit x: max(x, 0) − x·t + log(1 + exp(−|x|)), stable for any x.
Value binary_cross_entropy_with_logits(const Value& logit, double target);
Value binary_cross_entropy_with_logits(const std::vector<Value>& logits, const std::vector<double>& targets);

// Mean of max(0, 1 - label·score), labels -1 or +1.
Value hinge(const std::vector<Value>& scores, const std::vector<double>& labels);
// The same plus l2 · Σ p² over `parameters`.
Value hinge(const std::vector<Value>& scores, const std::vector<double>& labels, double l2,
            const std::vector<Value>& parameters);
// Σ p².
Value l2_penalty(const std::vector<Value>& parameters);

// ---------------------------------------------------------------- tensor ---

template <class T>
BasicTensor<T> half_squared_error(const BasicTensor<T>& prediction, const BasicTensor<T>& target);
template <class T>
BasicTensor<T> l2_penalty(const std::vector<BasicTensor<T>>& parameters);
template <class T>
BasicTensor<T> hinge(const BasicTensor<T>& scores, const BasicTensor<T>& targets, double l2,
                     const std::vector<BasicTensor<T>>& parameters);

}  // namespace ag::nn
