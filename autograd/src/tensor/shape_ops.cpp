// Shape and indexing: reshape, select_rows (a mini-batch by row index),
// concat.
#include "node.hpp"

#include <fmt/format.h>

#include <limits>

namespace ag {

using detail::Backward;
using detail::operand;
using detail::record;
using detail::store;
using detail::TensorStore;
using detail::throw_shape;
using detail::values;

namespace {

// Same values in the same order: the gradient passes through unchanged.
struct Reshape {
    static constexpr const char* name = "reshape";
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        auto sink = b.sink(0);
        const T* g = b.grad;
        sink.fill([&](std::int64_t i) { return g[i]; });
    }
};

// Rows of the input (axis 0) in the listed order, repeats allowed; the
// gradient of a row picked twice collects both.
struct SelectRows {
    static constexpr const char* name = "select_rows";
    struct State {
        std::int64_t width;          // elements per row
        const std::int64_t* rows;    // shape[0] of them, in the arena
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const std::int64_t count = b.shape()[0];
        const T* g = b.grad;
        auto sink = b.sink(0);
        T* ga = sink.accumulator();
        for (std::int64_t r = 0; r < count; ++r)
            for (std::int64_t j = 0; j < s.width; ++j) ga[s.rows[r] * s.width + j] += g[r * s.width + j];
    }
};

template <class T, class I>
BasicTensor<T> select_rows_impl(const BasicTensor<T>& a, std::span<const I> rows) {
    const char* op = SelectRows::name;
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    if (x.shape.rank() < 1) throw_shape(op, fmt::format("needs at least 1 axis, got shape {}", x.shape.str()));
    const std::int64_t n = x.shape[0];
    for (std::size_t r = 0; r < rows.size(); ++r)
        if (rows[r] < 0 || static_cast<std::int64_t>(rows[r]) >= n)
            throw_shape(op, fmt::format("row {} (position {} in the list) is out of range for shape {} ({} rows)",
                                        static_cast<std::int64_t>(rows[r]), r, x.shape.str(), n));
    Shape out = x.shape;
    out[0] = static_cast<std::int64_t>(rows.size());
    const std::int64_t width = n == 0 ? 0 : x.shape.numel() / n;
    const std::uint32_t rec = record<SelectRows, T>(s, out, {x.rec}, {width, nullptr});
    std::int64_t* saved = nullptr;
    if (auto* state = detail::state<SelectRows>(s.nodes[rec])) {
        saved = s.arena.allocate_array<std::int64_t>(rows.size());
        state->rows = saved;
    }
    T* y = values<T>(s.nodes[rec]);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto row = static_cast<std::int64_t>(rows[r]);
        if (saved) saved[r] = row;
        std::copy_n(x.v + row * width, width, y + static_cast<std::int64_t>(r) * width);
    }
    return detail::finish<T>(s, rec);
}

// Each part is [outer, len_p * inner] around the axis; an output row is the
// parts' rows side by side.
struct Concat {
    static constexpr const char* name = "concat";
    struct State {
        int axis;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView v = axis_view(b.shape(), s.axis);
        const T* g = b.grad;
        std::int64_t offset = 0;
        for (std::uint32_t p = 0; p < b.inputs(); ++p) {
            const std::int64_t width = b.input_shape(p)[s.axis] * v.inner;
            if (auto sink = b.sink(p); sink.wanted()) {
                const auto w = sink.writer();
                for (std::int64_t o = 0; o < v.outer; ++o)
                    for (std::int64_t j = 0; j < width; ++j) w.put(o * width + j, g[o * v.n * v.inner + offset + j]);
            }
            offset += width;
        }
    }
};

}  // namespace

template <class T>
BasicTensor<T> reshape(const BasicTensor<T>& a, const Shape& shape) {
    TensorStore& s = store();
    const auto x = operand(s, a, "reshape");
    Shape out = shape;
    int inferred = -1;
    for (int i = 0; i < out.rank(); ++i) {
        if (out[i] == -1 && inferred < 0)
            inferred = i;
        else if (out[i] < 0)
            throw_shape("reshape", fmt::format("{} to {}: sizes must be >= 0, with at most one -1", x.shape.str(),
                                               shape.str()));
    }
    if (inferred >= 0) {
        // The product of the given sizes, through numel()'s overflow check.
        out[inferred] = 1;
        const std::int64_t known = out.numel();
        out[inferred] = known != 0 && x.shape.numel() % known == 0 ? x.shape.numel() / known : -1;
    }
    if (out.numel() != x.shape.numel() || (inferred >= 0 && out[inferred] < 0))
        throw_shape("reshape", fmt::format("cannot reshape {} ({} elements) to {}", x.shape.str(), x.shape.numel(),
                                           shape.str()));
    const std::uint32_t rec = record<Reshape, T>(s, out, {x.rec});
    std::copy_n(x.v, x.shape.numel(), values<T>(s.nodes[rec]));
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const std::int64_t> rows) {
    return select_rows_impl(a, rows);
}
template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const int> rows) {
    return select_rows_impl(a, rows);
}

template <class T>
BasicTensor<T> concat(std::span<const BasicTensor<T>> parts, int axis) {
    const char* op = Concat::name;
    TensorStore& s = store();
    if (parts.empty()) throw_shape(op, "no tensors to join");
    if (parts.size() > std::numeric_limits<std::uint32_t>::max()) throw_shape(op, "too many tensors");
    const Shape first = operand(s, parts[0], op).shape;
    axis = normalize_axis(axis, first.rank(), op, first);
    Shape out = first;
    out[axis] = 0;
    // Record indices go to scratch first: the node's own copy is made in the
    // arena when it is recorded.
    auto* recs = s.scratch_array<std::uint32_t>(parts.size());
    for (std::size_t p = 0; p < parts.size(); ++p) {
        const auto x = operand(s, parts[p], op);
        bool same = x.shape.rank() == first.rank();
        for (int d = 0; same && d < first.rank(); ++d) same = d == axis || x.shape[d] == first[d];
        if (!same)
            throw_shape(op, fmt::format("part {} has shape {}, part 0 has {}: all axes but axis {} must agree", p,
                                        x.shape.str(), first.str(), axis));
        if (__builtin_add_overflow(out[axis], x.shape[axis], &out[axis]))
            throw std::length_error(fmt::format("{}: the sizes along axis {} add up past the int64 range (max {}) "
                                                "at part {}, of shape {}",
                                                op, axis, std::numeric_limits<std::int64_t>::max(), p, x.shape.str()));
        recs[p] = x.rec;
    }
    const std::uint32_t rec = record<Concat, T>(s, out, std::span<const std::uint32_t>(recs, parts.size()), {axis});
    const detail::TensorNode& node = s.nodes[rec];
    const AxisView v = axis_view(out, axis);
    T* y = values<T>(node);
    std::int64_t offset = 0;
    for (std::uint32_t p = 0; p < node.n_in; ++p) {
        const detail::TensorNode& part = s.nodes[node.input(p)];
        const std::int64_t width = part.shape[axis] * v.inner;
        const T* x = values<T>(part);
        for (std::int64_t o = 0; o < v.outer; ++o) std::copy_n(x + o * width, width, y + o * v.n * v.inner + offset);
        offset += width;
    }
    return detail::finish<T>(s, rec);
}

#define AG_INSTANTIATE(T)                                                                    \
    template BasicTensor<T> reshape(const BasicTensor<T>&, const Shape&);                   \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const std::int64_t>); \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const int>);        \
    template BasicTensor<T> concat(std::span<const BasicTensor<T>>, int);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE

}  // namespace ag
