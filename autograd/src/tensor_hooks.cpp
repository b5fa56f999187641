// The tensor record's life cycle: creating nodes, and the hooks through
// which the scalar tape drives tensors (backward sweep, seeding, zeroing,
// rewinding).
#include "tensor_internal.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace ag::detail {

void delete_tensor_store(TensorStore* s) noexcept { delete s; }

TensorStore& store_of(Tape& t) {
    TensorStore*& store = TapeAccess::tensors(t);
    if (!store) [[unlikely]] {
        TapeAccess::own_memory(t);  // the tape frees the store at thread exit
        store = new TensorStore;
    }
    return *store;
}

namespace {

std::string index_str(const Shape& shape, std::int64_t flat) {
    std::int64_t idx[Shape::max_rank] = {};
    for (int a = shape.rank() - 1; a >= 0; --a) {
        const std::int64_t n = shape[a] > 0 ? shape[a] : 1;
        idx[a] = flat % n;
        flat /= n;
    }
    return fmt::format("[{}]", fmt::join(idx, idx + shape.rank(), ", "));
}

std::string input_shapes(const TensorStore& s, const TensorNode& n) {
    std::string out;
    for (std::uint32_t j = 0; j < n.n_in; ++j)
        out += (j ? ", " : "") + s.nodes[n.input(j)].shape.str();
    return out;
}

// Index of the first NaN/Inf among count values, or -1.
template <class T>
std::int64_t first_non_finite(const T* v, std::int64_t count) {
    for (std::int64_t i = 0; i < count; ++i)
        if (!std::isfinite(v[i])) return i;
    return -1;
}

template <class T>
void check_backward(const TensorStore& s, const TensorNode& n) {
    for (std::uint32_t j = 0; j < n.n_in; ++j) {
        const TensorNode& in = s.nodes[n.input(j)];
        if (!in.requires_grad || !in.has_grad) continue;
        const std::int64_t bad = first_non_finite(grads<T>(in), in.shape.numel());
        if (bad >= 0)
            throw AnomalyError(fmt::format(
                "anomaly in backward pass: {} (output {}, inputs {}) sends a gradient holding {} to its input #{} "
                "(shape {}) at element {} (index {})",
                n.op, n.shape.str(), input_shapes(s, n), grads<T>(in)[bad], j, in.shape.str(), bad,
                index_str(in.shape, bad)));
    }
}

TensorNode& push_node(TensorStore& s, Tape& t, const char* op, const Shape& shape, DType dtype, std::size_t elem_size,
                      bool with_grad) {
    for (int a = 0; a < shape.rank(); ++a)
        if (shape[a] < 0) throw_shape(op, fmt::format("negative size in shape {}", shape.str()));
    // Sized before the record is added, so that a size past int64 (numel
    // throws) or past the address space leaves the store as it was; the
    // bound also keeps the arena's rounding up from wrapping.
    const std::int64_t count = shape.numel();
    constexpr std::size_t max_bytes = std::numeric_limits<std::size_t>::max() - Arena::alignment;
    if (static_cast<std::uint64_t>(count) > max_bytes / elem_size)
        throw std::length_error(fmt::format("{}: shape {} needs {} elements of {} bytes, more than memory can address",
                                            op, shape.str(), count, elem_size));
    const auto bytes = static_cast<std::size_t>(count) * elem_size;
    const auto rec = static_cast<std::uint32_t>(s.nodes.size());
    TensorNode& n = s.nodes.emplace_back();
    n.op = op;
    n.shape = shape;
    n.dtype = dtype;
    n.arena_mark = s.arena.mark();
    try {
        n.value = s.arena.allocate(bytes);
        if (with_grad) n.grad = s.arena.allocate(bytes);
        n.stub = TapeAccess::push(t, Op::Tensor, rec, 0, 0.0).index;
    } catch (...) {  // out of memory: leave the record as it was
        const auto mark = n.arena_mark;
        s.nodes.pop_back();
        s.arena.rewind(mark);
        throw;
    }
    return n;
}

}  // namespace

[[noreturn]] void throw_shape(const char* op, const std::string& detail) {
    throw std::invalid_argument(fmt::format("{}: {}", op, detail));
}

template <class T>
std::uint32_t begin_node(TensorStore& s, const char* op, const Shape& shape, std::span<const std::uint32_t> inputs) {
    Tape& t = tape();
    bool requires_grad = false;
    if (t.grad_enabled())
        for (std::uint32_t i : inputs) requires_grad = requires_grad || s.nodes[i].requires_grad;
    const auto rec = static_cast<std::uint32_t>(s.nodes.size());
    TensorNode& n = push_node(s, t, op, shape, dtype_of<T>, sizeof(T), requires_grad);
    n.requires_grad = requires_grad;
    n.n_in = static_cast<std::uint32_t>(inputs.size());
    if (inputs.size() <= 3) {
        std::copy(inputs.begin(), inputs.end(), n.in);
    } else {
        std::uint32_t* all = s.arena.allocate_array<std::uint32_t>(inputs.size());
        std::copy(inputs.begin(), inputs.end(), all);
        n.more_in = all;
    }
    return rec;
}

template <class T>
std::uint32_t begin_node(TensorStore& s, const char* op, const Shape& shape, std::initializer_list<std::uint32_t> inputs) {
    return begin_node<T>(s, op, shape, std::span<const std::uint32_t>(inputs.begin(), inputs.size()));
}

template <class T>
BasicTensor<T> finish(TensorStore& s, std::uint32_t rec, BackwardFn backward) {
    Tape& t = tape();
    TensorNode& n = s.nodes[rec];
    if (n.requires_grad) n.backward = backward;
    if (t.anomaly()) {
        const std::int64_t bad = first_non_finite(values<T>(n), n.shape.numel());
        if (bad >= 0)
            throw AnomalyError(fmt::format("anomaly in forward pass: {} of {} produced {} at element {} (index {}) of its "
                                           "output {}",
                                           n.op, input_shapes(s, n), values<T>(n)[bad], bad, index_str(n.shape, bad),
                                           n.shape.str()));
    }
    return BasicTensor<T>::from_node(t.id(n.stub));
}

template <class T>
std::uint32_t new_leaf(TensorStore& s, const Shape& shape, const char* what) {
    Tape& t = tape();
    const auto rec = static_cast<std::uint32_t>(s.nodes.size());
    TensorNode& n = push_node(s, t, what, shape, dtype_of<T>, sizeof(T), true);
    n.op = "leaf";
    n.requires_grad = true;
    return rec;
}

#define AG_INSTANTIATE(T)                                                                                             \
    template std::uint32_t begin_node<T>(TensorStore&, const char*, const Shape&, std::span<const std::uint32_t>);    \
    template std::uint32_t begin_node<T>(TensorStore&, const char*, const Shape&,                                     \
                                         std::initializer_list<std::uint32_t>);                                       \
    template BasicTensor<T> finish<T>(TensorStore&, std::uint32_t, BackwardFn);                                       \
    template std::uint32_t new_leaf<T>(TensorStore&, const Shape&, const char*);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE

// --- hooks called by the scalar tape ---

void tensor_backward(Tape& t, std::uint32_t tensor_index, bool check_anomaly) {
    TensorStore& s = *TapeAccess::tensors(t);
    TensorNode& n = s.nodes[tensor_index];
    if (!n.has_grad || n.backward == nullptr) return;  // nothing reached it, or a leaf
    n.backward(s, n);
    if (check_anomaly) {
        if (n.dtype == DType::float32)
            check_backward<float>(s, n);
        else
            check_backward<double>(s, n);
    }
}

void tensor_seed(Tape& t, std::uint32_t tensor_index) {
    TensorNode& n = TapeAccess::tensors(t)->nodes[tensor_index];
    if (n.shape.numel() != 1)
        throw std::invalid_argument(fmt::format(
            "backward: the tensor has shape {} ({} elements); backward() needs a one-element tensor (a loss), as "
            "the gradient can be implicitly created only for scalar outputs; reduce it first, e.g. with ag::sum",
            n.shape.str(), n.shape.numel()));
    if (n.dtype == DType::float32)
        grad_for_add<float>(n)[0] += 1.0f;
    else
        grad_for_add<double>(n)[0] += 1.0;
}

void tensor_zero_grad(Tape& t, std::uint32_t tensor_index) {
    TapeAccess::tensors(t)->nodes[tensor_index].has_grad = false;
}

bool tensor_is_leaf(const Tape& t, std::uint32_t tensor_index) {
    return TapeAccess::tensors(const_cast<Tape&>(t))->nodes[tensor_index].backward == nullptr;
}

namespace {
std::size_t grad_bytes(const TensorNode& n) {
    return static_cast<std::size_t>(n.shape.numel()) * (n.dtype == DType::float32 ? sizeof(float) : sizeof(double));
}
void free_heap_grad(TensorNode& n) noexcept {
    if (!n.grad_on_heap) return;
    ::operator delete(n.grad, std::align_val_t{Arena::alignment});
    n.grad = nullptr;
    n.grad_on_heap = false;
}
}  // namespace

void give_grad_buffer(TensorNode& n) {
    // numel was checked against the address space when the node was recorded.
    n.grad = ::operator new(std::max<std::size_t>(grad_bytes(n), 1), std::align_val_t{Arena::alignment});
    n.grad_on_heap = true;
    n.has_grad = false;
}

TensorStore::~TensorStore() {
    for (TensorNode& n : nodes) free_heap_grad(n);
}

void tensor_rewind(Tape& t, std::uint32_t nodes_kept) {
    TensorStore& s = *TapeAccess::tensors(t);
    // Tensor nodes are in creation order, like their stubs: drop a suffix.
    std::size_t keep = s.nodes.size();
    while (keep > 0 && s.nodes[keep - 1].stub >= nodes_kept) --keep;
    if (keep == s.nodes.size()) return;
    for (std::size_t i = keep; i < s.nodes.size(); ++i) free_heap_grad(s.nodes[i]);
    s.arena.rewind(s.nodes[keep].arena_mark);
    s.nodes.erase(s.nodes.begin() + static_cast<std::ptrdiff_t>(keep), s.nodes.end());
}

std::size_t tensor_bytes(const Tape& t) {
    const TensorStore& s = *TapeAccess::tensors(const_cast<Tape&>(t));
    std::size_t on_heap = 0;  // rare (see give_grad_buffer): counted here rather than kept up to date
    for (const TensorNode& n : s.nodes)
        if (n.grad_on_heap) on_heap += grad_bytes(n);
    return s.arena.bytes_reserved() + s.nodes.capacity() * sizeof(TensorNode) + s.scratch.capacity() + on_heap;
}

}  // namespace ag::detail
