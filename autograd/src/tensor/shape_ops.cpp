// Shape and indexing: reshape, select_rows (a mini-batch by row index),
// concat.
#include "node.hpp"

#include <fmt/format.h>

#include <limits>

namespace ag {

using detail::Backward;
using detail::GraphBackward;
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
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        b.add(0, reshape(b.grad, b.input_shape(0)));
    }
};

// Rows of the input (axis 0) in the listed order, repeats allowed; the
// gradient of a row picked twice collects both.
struct SelectRows {
    static constexpr const char* name = "select_rows";
    struct State {
        std::int64_t width;        // elements per row
        const std::int64_t* rows;  // shape[0] of them, in the arena
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
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const Shape in = b.input_shape(0);
        b.add(0, scatter_rows(b.grad, std::span<const std::int64_t>(s.rows, static_cast<std::size_t>(b.shape()[0])),
                              in[0]));
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
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        std::int64_t offset = 0;
        for (std::uint32_t p = 0; p < b.inputs(); ++p) {
            const std::int64_t len = b.input_shape(p)[s.axis];
            if (b.wanted(p)) b.add(p, slice(b.grad, s.axis, offset, offset + len));
            offset += len;
        }
    }
};

// ------------------------------------------ broadcasting and its adjoint ---

struct BroadcastTo {
    static constexpr const char* name = "broadcast_to";
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        auto sink = b.sink(0);
        T* acc = sink.accumulator();
        const Shape &in = b.input_shape(0), &out = b.shape();
        const std::int64_t n = out.numel();
        for (std::int64_t k = 0; k < n; ++k) acc[detail::broadcast_source(in, out, k)] += b.grad[k];
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        b.add(0, sum_to(b.grad, b.input_shape(0)));
    }
};

struct SumTo {
    static constexpr const char* name = "sum_to";
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        auto sink = b.sink(0);
        const Shape &in = b.input_shape(0), &out = b.shape();
        const T* g = b.grad;
        sink.fill([&](std::int64_t k) { return g[detail::broadcast_source(out, in, k)]; });
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        b.add(0, broadcast_to(b.grad, b.input_shape(0)));
    }
};

// ------------------------------------------------------- slice and pad ---

// [start, stop) along an axis of the [outer, n, inner] view.
struct Slice {
    static constexpr const char* name = "slice";
    struct State {
        int axis;
        std::int64_t start;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView in = axis_view(b.input_shape(0), s.axis), out = axis_view(b.shape(), s.axis);
        auto sink = b.sink(0);
        T* acc = sink.accumulator();  // the elements outside the slice get nothing
        for (std::int64_t o = 0; o < out.outer; ++o)
            for (std::int64_t j = 0; j < out.n * out.inner; ++j)
                acc[(o * in.n + s.start) * in.inner + j] += b.grad[o * out.n * out.inner + j];
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const std::int64_t n = b.input_shape(0)[s.axis], len = b.shape()[s.axis];
        b.add(0, pad(b.grad, s.axis, s.start, n - s.start - len));
    }
};

struct Pad {
    static constexpr const char* name = "pad";
    struct State {
        int axis;
        std::int64_t before;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView in = axis_view(b.input_shape(0), s.axis), out = axis_view(b.shape(), s.axis);
        auto sink = b.sink(0);
        const auto w = sink.writer();
        for (std::int64_t o = 0; o < in.outer; ++o)
            for (std::int64_t j = 0; j < in.n * in.inner; ++j)
                w.put(o * in.n * in.inner + j, b.grad[(o * out.n + s.before) * out.inner + j]);
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const std::int64_t n = b.input_shape(0)[s.axis];
        b.add(0, slice(b.grad, s.axis, s.before, s.before + n));
    }
};

// Rows of src added at rows[r] of [n, ...] zeros: the adjoint of select_rows.
struct ScatterRows {
    static constexpr const char* name = "scatter_rows";
    struct State {
        std::int64_t width;
        const std::int64_t* rows;  // src's row count of them, in the arena
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const std::int64_t count = b.input_shape(0)[0];
        auto sink = b.sink(0);
        const auto w = sink.writer();
        for (std::int64_t r = 0; r < count; ++r)
            for (std::int64_t j = 0; j < s.width; ++j) w.put(r * s.width + j, b.grad[s.rows[r] * s.width + j]);
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        b.add(0, select_rows(b.grad,
                             std::span<const std::int64_t>(s.rows, static_cast<std::size_t>(b.input_shape(0)[0]))));
    }
};

// out[o, j, i] = t[o, index[o, j, i], i] around `axis` (torch.gather), and
// its adjoint scatter_add: src[o, j, i] added at [o, index[o, j, i], i].
struct GatherState {
    int axis;
    const std::int64_t* index;  // the index's shape's numel of them, in the arena
};
struct Gather {
    static constexpr const char* name = "gather";
    using State = GatherState;
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView in = axis_view(b.input_shape(0), s.axis), out = axis_view(b.shape(), s.axis);
        auto sink = b.sink(0);
        T* acc = sink.accumulator();
        for (std::int64_t o = 0; o < out.outer; ++o)
            for (std::int64_t j = 0; j < out.n; ++j)
                for (std::int64_t i = 0; i < out.inner; ++i) {
                    const std::int64_t k = (o * out.n + j) * out.inner + i;
                    acc[(o * in.n + s.index[k]) * in.inner + i] += b.grad[k];
                }
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const Shape out = b.shape();
        b.add(0, scatter_add(b.input_shape(0), s.axis,
                             std::span<const std::int64_t>(s.index, static_cast<std::size_t>(out.numel())), b.grad));
    }
};
struct ScatterAdd {
    static constexpr const char* name = "scatter_add";
    using State = GatherState;
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView src = axis_view(b.input_shape(0), s.axis), out = axis_view(b.shape(), s.axis);
        auto sink = b.sink(0);
        const auto w = sink.writer();
        for (std::int64_t o = 0; o < src.outer; ++o)
            for (std::int64_t j = 0; j < src.n; ++j)
                for (std::int64_t i = 0; i < src.inner; ++i) {
                    const std::int64_t k = (o * src.n + j) * src.inner + i;
                    w.put(k, b.grad[(o * out.n + s.index[k]) * out.inner + i]);
                }
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const Shape src = b.input_shape(0);
        b.add(0, gather(b.grad, s.axis, std::span<const std::int64_t>(s.index, static_cast<std::size_t>(src.numel())),
                        src));
    }
};

// Checks an index for gather/scatter_add: index_shape is `shape` but along
// `axis`, every entry in [0, shape[axis]).
void check_index(const char* op, const Shape& shape, int axis, std::span<const std::int64_t> index,
                 const Shape& index_shape) {
    bool same = index_shape.rank() == shape.rank();
    for (int d = 0; same && d < shape.rank(); ++d) same = d == axis || index_shape[d] == shape[d];
    if (!same)
        throw_shape(
            op, fmt::format("index shape {} must equal {} but along axis {}", index_shape.str(), shape.str(), axis));
    if (static_cast<std::int64_t>(index.size()) != index_shape.numel())
        throw_shape(op, fmt::format("{} index entries for index shape {} ({} needed)", index.size(), index_shape.str(),
                                    index_shape.numel()));
    for (std::size_t k = 0; k < index.size(); ++k)
        if (index[k] < 0 || index[k] >= shape[axis])
            throw_shape(op, fmt::format("index entry {} (position {}) is out of range for axis {} of {} (size {})",
                                        index[k], k, axis, shape.str(), shape[axis]));
}

// The index saved after the node (freed with it), when it has a backward.
const std::int64_t* save_index(TensorStore& s, std::uint32_t rec, std::span<const std::int64_t> index) {
    GatherState* state = detail::state<Gather>(s.nodes[rec]);
    if (!state) return index.data();
    auto* saved = s.arena.allocate_array<std::int64_t>(index.size());
    std::copy(index.begin(), index.end(), saved);
    state->index = saved;
    return saved;
}

}  // namespace

template <class T>
BasicTensor<T> gather(const BasicTensor<T>& t, int axis, std::span<const std::int64_t> index,
                      const Shape& index_shape) {
    const char* op = Gather::name;
    TensorStore& s = store();
    const auto x = operand(s, t, op);
    axis = normalize_axis(axis, x.shape.rank(), op, x.shape);
    check_index(op, x.shape, axis, index, index_shape);
    const std::uint32_t rec = record<Gather, T>(s, index_shape, {x.rec}, {axis, nullptr});
    const std::int64_t* idx = save_index(s, rec, index);
    const AxisView in = axis_view(x.shape, axis), out = axis_view(index_shape, axis);
    T* y = values<T>(s.nodes[rec]);
    for (std::int64_t o = 0; o < out.outer; ++o)
        for (std::int64_t j = 0; j < out.n; ++j)
            for (std::int64_t i = 0; i < out.inner; ++i) {
                const std::int64_t k = (o * out.n + j) * out.inner + i;
                y[k] = x.v[(o * in.n + idx[k]) * in.inner + i];
            }
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> scatter_add(const Shape& shape, int axis, std::span<const std::int64_t> index,
                           const BasicTensor<T>& src) {
    const char* op = ScatterAdd::name;
    TensorStore& s = store();
    const auto x = operand(s, src, op);
    axis = normalize_axis(axis, shape.rank(), op, shape);
    check_index(op, shape, axis, index, x.shape);
    const std::uint32_t rec = record<ScatterAdd, T>(s, shape, {x.rec}, {axis, nullptr});
    const std::int64_t* idx = save_index(s, rec, index);
    const AxisView in = axis_view(x.shape, axis), out = axis_view(shape, axis);
    T* y = values<T>(s.nodes[rec]);
    std::fill_n(y, shape.numel(), T(0));
    for (std::int64_t o = 0; o < in.outer; ++o)
        for (std::int64_t j = 0; j < in.n; ++j)
            for (std::int64_t i = 0; i < in.inner; ++i) {
                const std::int64_t k = (o * in.n + j) * in.inner + i;
                y[(o * out.n + idx[k]) * out.inner + i] += x.v[k];
            }
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> broadcast_to(const BasicTensor<T>& t, const Shape& shape) {
    const char* op = BroadcastTo::name;
    TensorStore& s = store();
    const auto x = operand(s, t, op);
    if (x.shape == shape) return t;
    if (!(broadcast_shape(x.shape, shape, op) == shape))
        throw_shape(op, fmt::format("{} cannot be stretched to {} (it would make {})", x.shape.str(), shape.str(),
                                    broadcast_shape(x.shape, shape, op).str()));
    const std::uint32_t rec = record<BroadcastTo, T>(s, shape, {x.rec});
    T* y = values<T>(s.nodes[rec]);
    const std::int64_t n = shape.numel();
    for (std::int64_t k = 0; k < n; ++k) y[k] = x.v[detail::broadcast_source(x.shape, shape, k)];
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> sum_to(const BasicTensor<T>& t, const Shape& shape) {
    const char* op = SumTo::name;
    TensorStore& s = store();
    const auto x = operand(s, t, op);
    if (x.shape == shape) return t;
    if (!(broadcast_shape(shape, x.shape, op) == x.shape))
        throw_shape(op, fmt::format("{} cannot be summed down to {}: {} does not stretch to {}", x.shape.str(),
                                    shape.str(), shape.str(), x.shape.str()));
    const std::uint32_t rec = record<SumTo, T>(s, shape, {x.rec});
    T* y = values<T>(s.nodes[rec]);
    std::fill_n(y, shape.numel(), T(0));
    const std::int64_t n = x.shape.numel();
    for (std::int64_t k = 0; k < n; ++k) y[detail::broadcast_source(shape, x.shape, k)] += x.v[k];
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> slice(const BasicTensor<T>& t, int axis, std::int64_t start, std::int64_t stop) {
    const char* op = Slice::name;
    TensorStore& s = store();
    const auto x = operand(s, t, op);
    axis = normalize_axis(axis, x.shape.rank(), op, x.shape);
    const std::int64_t n = x.shape[axis];
    if (start < 0 || stop < start || stop > n)
        throw_shape(op, fmt::format("[{}, {}) along axis {} of {}: need 0 <= start <= stop <= {}", start, stop, axis,
                                    x.shape.str(), n));
    Shape out = x.shape;
    out[axis] = stop - start;
    const std::uint32_t rec = record<Slice, T>(s, out, {x.rec}, {axis, start});
    const AxisView in = axis_view(x.shape, axis), o = axis_view(out, axis);
    T* y = values<T>(s.nodes[rec]);
    for (std::int64_t r = 0; r < o.outer; ++r)
        std::copy_n(x.v + (r * in.n + start) * in.inner, o.n * o.inner, y + r * o.n * o.inner);
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> pad(const BasicTensor<T>& t, int axis, std::int64_t before, std::int64_t after) {
    const char* op = Pad::name;
    TensorStore& s = store();
    const auto x = operand(s, t, op);
    axis = normalize_axis(axis, x.shape.rank(), op, x.shape);
    if (before < 0 || after < 0)
        throw_shape(op, fmt::format("{} before and {} after along axis {} of {}: need counts >= 0", before, after, axis,
                                    x.shape.str()));
    Shape out = x.shape;
    out[axis] = x.shape[axis] + before + after;
    const std::uint32_t rec = record<Pad, T>(s, out, {x.rec}, {axis, before});
    const AxisView in = axis_view(x.shape, axis), o = axis_view(out, axis);
    T* y = values<T>(s.nodes[rec]);
    std::fill_n(y, out.numel(), T(0));
    for (std::int64_t r = 0; r < in.outer; ++r)
        std::copy_n(x.v + r * in.n * in.inner, in.n * in.inner, y + (r * o.n + before) * o.inner);
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> scatter_rows(const BasicTensor<T>& src, std::span<const std::int64_t> rows, std::int64_t n) {
    const char* op = ScatterRows::name;
    TensorStore& s = store();
    const auto x = operand(s, src, op);
    if (x.shape.rank() < 1 || static_cast<std::int64_t>(rows.size()) != x.shape[0])
        throw_shape(op, fmt::format("{} row indices for src {}: one per row of src", rows.size(), x.shape.str()));
    for (std::size_t r = 0; r < rows.size(); ++r)
        if (rows[r] < 0 || rows[r] >= n)
            throw_shape(op, fmt::format("row {} (position {} in the list) is out of range for {} rows", rows[r], r, n));
    Shape out = x.shape;
    out[0] = n;
    const std::int64_t width = x.shape[0] == 0 ? 0 : x.shape.numel() / x.shape[0];
    const std::uint32_t rec = record<ScatterRows, T>(s, out, {x.rec}, {width, nullptr});
    if (auto* state = detail::state<ScatterRows>(s.nodes[rec])) {
        auto* saved = s.arena.allocate_array<std::int64_t>(rows.size());
        std::copy(rows.begin(), rows.end(), saved);
        state->rows = saved;
    }
    T* y = values<T>(s.nodes[rec]);
    std::fill_n(y, out.numel(), T(0));
    for (std::size_t r = 0; r < rows.size(); ++r)
        for (std::int64_t j = 0; j < width; ++j)
            y[rows[r] * width + j] += x.v[static_cast<std::int64_t>(r) * width + j];
    return detail::finish<T>(s, rec);
}

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
            throw_shape("reshape",
                        fmt::format("{} to {}: sizes must be >= 0, with at most one -1", x.shape.str(), shape.str()));
    }
    if (inferred >= 0) {
        // The product of the given sizes, through numel()'s overflow check.
        out[inferred] = 1;
        const std::int64_t known = out.numel();
        out[inferred] = known != 0 && x.shape.numel() % known == 0 ? x.shape.numel() / known : -1;
    }
    if (out.numel() != x.shape.numel() || (inferred >= 0 && out[inferred] < 0))
        throw_shape("reshape",
                    fmt::format("cannot reshape {} ({} elements) to {}", x.shape.str(), x.shape.numel(), shape.str()));
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
            throw std::length_error(
                fmt::format("{}: the sizes along axis {} add up past the int64 range (max {}) "
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

// clang-format off
#define AG_INSTANTIATE(T)                                                                    \
    template BasicTensor<T> reshape(const BasicTensor<T>&, const Shape&);                   \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const std::int64_t>); \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const int>);        \
    template BasicTensor<T> concat(std::span<const BasicTensor<T>>, int);                     \
    template BasicTensor<T> broadcast_to(const BasicTensor<T>&, const Shape&);               \
    template BasicTensor<T> sum_to(const BasicTensor<T>&, const Shape&);                     \
    template BasicTensor<T> slice(const BasicTensor<T>&, int, std::int64_t, std::int64_t);   \
    template BasicTensor<T> pad(const BasicTensor<T>&, int, std::int64_t, std::int64_t);     \
    template BasicTensor<T> scatter_rows(const BasicTensor<T>&, std::span<const std::int64_t>, std::int64_t); \
    template BasicTensor<T> gather(const BasicTensor<T>&, int, std::span<const std::int64_t>, const Shape&);   \
    template BasicTensor<T> scatter_add(const Shape&, int, std::span<const std::int64_t>, const BasicTensor<T>&);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
