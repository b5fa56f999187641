#pragma once
// Private to nn/src: not installed, not part of the API.
#include <autograd/tensor.hpp>

namespace ag::nn::detail {

// Lets a seed constructor delegate to the Rng& one with a temporary Rng:
// Layer(..., seed) : Layer(..., lvalue(Rng(seed))) {}. The temporary lives
// until the delegated constructor returns.
inline Rng& lvalue(Rng&& rng) { return rng; }

}  // namespace ag::nn::detail
