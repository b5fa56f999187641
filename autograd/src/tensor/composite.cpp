// Tensor ops made of other ops (their gradients, first and second order,
// come from those): unsqueeze/squeeze, stack, index_select, min, var/std;
// and argmax/argmin, which are not differentiable.
#include "node.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <vector>

namespace ag {

namespace {

Shape with_axis_inserted(const Shape& s, int axis) {
    std::int64_t dims[Shape::max_rank];
    int r = 0;
    for (int a = 0; a <= s.rank(); ++a) {
        if (a == axis) dims[r++] = 1;
        if (a < s.rank()) dims[r++] = s[a];
    }
    return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r)));
}

template <class T>
std::vector<std::int64_t> arg_best(const BasicTensor<T>& a, int axis, bool over_axis, bool largest, const char* op) {
    const Shape shape = a.shape();
    AxisView v{1, shape.numel(), 1};
    if (over_axis) v = axis_view(shape, normalize_axis(axis, shape.rank(), op, shape));
    if (v.n == 0) detail::throw_shape(op, fmt::format("{}: the reduced axis is empty", shape.str()));
    const auto x = a.data();
    std::vector<std::int64_t> out;
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            std::int64_t best = 0;
            for (std::int64_t j = 1; j < v.n; ++j) {
                const T e = x[static_cast<std::size_t>((o * v.n + j) * v.inner + i)];
                const T b = x[static_cast<std::size_t>((o * v.n + best) * v.inner + i)];
                if (std::isnan(b)) break;  // a NaN is the answer, and the first one wins
                if (std::isnan(e) || (largest ? e > b : e < b)) best = j;
            }
            out.push_back(best);
        }
    return out;
}

}  // namespace

template <class T>
BasicTensor<T> unsqueeze(const BasicTensor<T>& t, int axis) {
    const Shape s = t.shape();
    if (s.rank() == Shape::max_rank)
        detail::throw_shape("unsqueeze",
                            fmt::format("{} already has {} axes, the most a tensor has", s.str(), s.rank()));
    return reshape(t, with_axis_inserted(s, normalize_axis(axis, s.rank() + 1, "unsqueeze", s)));
}

template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& t, int axis) {
    const Shape s = t.shape();
    axis = normalize_axis(axis, s.rank(), "squeeze", s);
    if (s[axis] != 1)
        detail::throw_shape("squeeze", fmt::format("axis {} of {} has size {}, not 1", axis, s.str(), s[axis]));
    return reshape(t, reduced_shape(s, axis, false));
}

template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& t) {
    const Shape s = t.shape();
    std::int64_t dims[Shape::max_rank];
    int r = 0;
    for (int a = 0; a < s.rank(); ++a)
        if (s[a] != 1) dims[r++] = s[a];
    return reshape(t, Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r))));
}

template <class T>
BasicTensor<T> stack(std::span<const BasicTensor<T>> parts, int axis) {
    if (parts.empty()) detail::throw_shape("stack", "no tensors to stack");
    const Shape first = parts[0].shape();
    axis = normalize_axis(axis, first.rank() + 1, "stack", first);
    std::vector<BasicTensor<T>> lifted;
    for (std::size_t p = 0; p < parts.size(); ++p) {
        if (!(parts[p].shape() == first))
            detail::throw_shape("stack", fmt::format("part {} has shape {}, part 0 has {}: all must agree", p,
                                                     parts[p].shape().str(), first.str()));
        lifted.push_back(unsqueeze(parts[p], axis));
    }
    return concat(std::span<const BasicTensor<T>>(lifted), axis);
}

template <class T>
BasicTensor<T> index_select(const BasicTensor<T>& t, int axis, std::span<const std::int64_t> indices) {
    const Shape s = t.shape();
    axis = normalize_axis(axis, s.rank(), "index_select", s);
    for (std::size_t k = 0; k < indices.size(); ++k)
        if (indices[k] < 0 || indices[k] >= s[axis])
            detail::throw_shape("index_select", fmt::format("index {} (position {} in the list) is out of range for "
                                                            "axis {} of {} (size {})",
                                                            indices[k], k, axis, s.str(), s[axis]));
    if (axis == 0) return select_rows(t, indices);
    // The axis brought to the front, rows picked, put back.
    return transpose(select_rows(transpose(t, 0, axis), indices), 0, axis);
}

template <class T>
BasicTensor<T> min(const BasicTensor<T>& a) {
    return -max(-a);
}
template <class T>
BasicTensor<T> min(const BasicTensor<T>& a, int axis, bool keepdim) {
    return -max(-a, axis, keepdim);
}

template <class T>
BasicTensor<T> var(const BasicTensor<T>& a, int correction) {
    const std::int64_t n = a.numel();
    if (n - correction <= 0)
        detail::throw_shape(
            "var", fmt::format("{} holds {} elements: too few for correction {}", a.shape().str(), n, correction));
    const BasicTensor<T> d = a - mean(a);
    return sum(d * d) / static_cast<double>(n - correction);
}
template <class T>
BasicTensor<T> var(const BasicTensor<T>& a, int axis, bool keepdim, int correction) {
    const Shape s = a.shape();
    axis = normalize_axis(axis, s.rank(), "var", s);
    if (s[axis] - correction <= 0)
        detail::throw_shape("var", fmt::format("axis {} of {} has {} elements: too few for correction {}", axis,
                                               s.str(), s[axis], correction));
    const BasicTensor<T> d = a - mean(a, axis, true);
    return sum(d * d, axis, keepdim) / static_cast<double>(s[axis] - correction);
}
template <class T>
BasicTensor<T> std(const BasicTensor<T>& a, int correction) {
    return sqrt(var(a, correction));
}
template <class T>
BasicTensor<T> std(const BasicTensor<T>& a, int axis, bool keepdim, int correction) {
    return sqrt(var(a, axis, keepdim, correction));
}

template <class T>
std::int64_t argmax(const BasicTensor<T>& a) {
    return arg_best(a, 0, false, true, "argmax")[0];
}
template <class T>
std::int64_t argmin(const BasicTensor<T>& a) {
    return arg_best(a, 0, false, false, "argmin")[0];
}
template <class T>
std::vector<std::int64_t> argmax(const BasicTensor<T>& a, int axis) {
    return arg_best(a, axis, true, true, "argmax");
}
template <class T>
std::vector<std::int64_t> argmin(const BasicTensor<T>& a, int axis) {
    return arg_best(a, axis, true, false, "argmin");
}

// clang-format off
#define AG_INSTANTIATE(T)                                                                               \
    template BasicTensor<T> unsqueeze(const BasicTensor<T>&, int);                                     \
    template BasicTensor<T> squeeze(const BasicTensor<T>&, int);                                       \
    template BasicTensor<T> squeeze(const BasicTensor<T>&);                                            \
    template BasicTensor<T> stack(std::span<const BasicTensor<T>>, int);                               \
    template BasicTensor<T> index_select(const BasicTensor<T>&, int, std::span<const std::int64_t>);   \
    template BasicTensor<T> min(const BasicTensor<T>&);                                                \
    template BasicTensor<T> min(const BasicTensor<T>&, int, bool);                                     \
    template BasicTensor<T> var(const BasicTensor<T>&, int);                                           \
    template BasicTensor<T> var(const BasicTensor<T>&, int, bool, int);                                \
    template BasicTensor<T> std(const BasicTensor<T>&, int);                                           \
    template BasicTensor<T> std(const BasicTensor<T>&, int, bool, int);                                \
    template std::int64_t argmax(const BasicTensor<T>&);                                               \
    template std::int64_t argmin(const BasicTensor<T>&);                                               \
    template std::vector<std::int64_t> argmax(const BasicTensor<T>&, int);                             \
    template std::vector<std::int64_t> argmin(const BasicTensor<T>&, int);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
