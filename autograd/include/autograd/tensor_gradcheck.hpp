#pragma once
// Finite-difference gradient checking for tensor functions: every element of
// every input tensor is perturbed in turn (central differences, as the scalar
// ag::check_gradients in gradcheck.hpp; same options and report).
#include <autograd/gradcheck.hpp>
#include <autograd/tensor.hpp>

#include <functional>
#include <vector>

namespace ag {

// Evaluates f on fresh float64 leaves holding copies of `inputs`, and checks
// d f / d input for each element against central differences. If f returns
// more than one element, the checked scalar is sum(f(x) * w) with fixed
// pseudo-random weights w in [0.5, 1.5) (so each output element counts, each
// differently). report.inputs lists the elements of inputs[0] (row-major),
// then those of inputs[1], ... Nodes it records are freed before it returns.
GradCheckReport check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                const std::vector<Tensor>& inputs, const GradCheckOptions& options = {});

}  // namespace ag
