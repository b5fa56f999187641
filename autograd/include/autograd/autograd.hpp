#pragma once
// The whole public API of the engine, in namespace ag.
#include <autograd/dot.hpp>
#include <autograd/dual.hpp>
#include <autograd/explain.hpp>
#include <autograd/functional.hpp>
#include <autograd/gradcheck.hpp>
#include <autograd/ops.hpp>
#include <autograd/tape.hpp>
#include <autograd/rng.hpp>
#include <autograd/shape.hpp>
#include <autograd/tensor.hpp>
#include <autograd/tensor_gradcheck.hpp>
#include <autograd/value.hpp>
