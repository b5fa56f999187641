// The tensor record's life cycle (node.hpp): recording nodes, and the tape
// extension through which the sweep drives them (backward, seeding,
// scratch gradients, rewinding).
#include "node.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace ag {

std::span<const char* const> tensor_op_names() {
    static constexpr const char* names[] = {
// clang-format off
#define AG_TENSOR_NAME(name) name,
        AG_TENSOR_OP_NAMES(AG_TENSOR_NAME)
#undef AG_TENSOR_NAME
        // clang-format on
    };
    return names;
}

namespace detail {

void Arena::next_chunk(std::size_t bytes) {
    // Reuse the following chunk if it has room (the common case after a
    // rewind); otherwise put a new one there, leaving later ones for later.
    const std::size_t next = chunks_.empty() ? 0 : current_ + 1;
    if (next < chunks_.size() && chunks_[next].reserved() >= bytes) {
        current_ = next;
        used_ = 0;
        return;
    }
    // One chunk is normally all there is: 64 GiB of address space (no
    // memory until used). Less where the system refuses that much.
    constexpr std::size_t want = std::size_t{1} << 36;
    GrowableRegion chunk;
    if (!chunk.reserve(std::max(want, bytes), std::max<std::size_t>(bytes, std::size_t{1} << 21)))
        throw std::bad_alloc();
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(next), chunk);
    current_ = next;
    used_ = 0;
}

TensorStore& store() { return TapeAccess::extension<TensorStore>(tape(), tensor_extension); }

[[noreturn]] void throw_shape(const char* op, const std::string& detail) {
    throw std::invalid_argument(fmt::format("{}: {}", op, detail));
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
    for (std::uint32_t j = 0; j < n.n_in; ++j) out += (j ? ", " : "") + s.nodes[n.input(j)].shape.str();
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
void check_backward(TensorStore& s, const TensorNode& n, const Sweep& sweep) {
    for (std::uint32_t j = 0; j < n.n_in; ++j) {
        const std::uint32_t rec = n.input(j);
        const TensorNode& in = s.nodes[rec];
        if (!in.requires_grad || sweep.adjoint[in.stub] == 0) continue;
        const T* g = static_cast<const T*>(s.grad_buffer(rec, sweep));
        const std::int64_t bad = first_non_finite(g, in.numel());
        if (bad >= 0)
            throw AnomalyError(fmt::format(
                "anomaly in backward pass: {} (output {}, inputs {}) sends a gradient holding {} to its input #{} "
                "(shape {}) at element {} (index {})",
                n.op, n.shape.str(), input_shapes(s, n), g[bad], j, in.shape.str(), bad, index_str(in.shape, bad)));
    }
}

std::size_t grad_bytes(const TensorNode& n) {
    return static_cast<std::size_t>(n.numel()) * (n.dtype == DType::float32 ? sizeof(float) : sizeof(double));
}

void free_heap_grad(TensorNode& n) noexcept {
    if (!n.grad_on_heap) return;
    ::operator delete (n.grad, std::align_val_t{Arena::alignment});
    n.grad = nullptr;
    n.grad_on_heap = false;
}

}  // namespace

bool inputs_require_grad(const TensorStore& s, std::span<const std::uint32_t> inputs) {
    if (!tape().grad_enabled()) return false;
    for (std::uint32_t i : inputs)
        if (s.nodes[i].requires_grad) return true;
    return false;
}

std::uint32_t push_node(TensorStore& s, const char* op, const Shape& shape, DType dtype, std::size_t elem_size,
                        std::span<const std::uint32_t> inputs, bool requires_grad, bool has_backward) {
    for (int a = 0; a < shape.rank(); ++a)
        if (shape[a] < 0) throw_shape(op, fmt::format("negative size in shape {}", shape.str()));
    // Sized before the record is added, so that a size past int64 (numel
    // throws) or past the address space leaves the store as it was; the
    // bound also keeps the arena's rounding up from wrapping.
    const std::int64_t count = shape.numel();
    constexpr std::size_t max_bytes = std::numeric_limits<std::size_t>::max() / 2;
    if (static_cast<std::uint64_t>(count) > max_bytes / elem_size)
        throw std::length_error(fmt::format("{}: shape {} needs {} elements of {} bytes, more than memory can address",
                                            op, shape.str(), count, elem_size));
    const auto bytes = static_cast<std::size_t>(count) * elem_size;
    const auto rec = static_cast<std::uint32_t>(s.nodes.size());
    TensorNode& n = s.nodes.emplace_back();
    n.op = op;
    n.shape = shape;
    n.dtype = dtype;
    n.requires_grad = requires_grad;
    n.arena_mark = s.arena.mark();
    try {
        n.value = s.arena.allocate(bytes);
        if (requires_grad) n.grad = s.arena.allocate(bytes);
        n.n_in = static_cast<std::uint32_t>(inputs.size());
        if (inputs.size() <= 3) {
            std::copy(inputs.begin(), inputs.end(), n.in);
        } else {
            std::uint32_t* all = s.arena.allocate_array<std::uint32_t>(inputs.size());
            std::copy(inputs.begin(), inputs.end(), all);
            n.more_in = all;
        }
        n.stub = TapeAccess::push(tape(), has_backward ? Op::Custom : Op::CustomLeaf, rec, tensor_extension, 0.0).index;
    } catch (...) {  // out of memory: leave the record as it was
        const auto mark = n.arena_mark;
        s.nodes.pop_back();
        s.arena.rewind(mark);
        throw;
    }
    return rec;
}

template <class T>
BasicTensor<T> finish(TensorStore& s, std::uint32_t rec) {
    Tape& t = tape();
    const TensorNode& n = s.nodes[rec];
    if (t.anomaly()) {
        const std::int64_t bad = first_non_finite(values<T>(n), n.numel());
        if (bad >= 0)
            throw AnomalyError(
                fmt::format("anomaly in forward pass: {} of {} produced {} at element {} (index {}) of its "
                            "output {}",
                            n.op, input_shapes(s, n), values<T>(n)[bad], bad, index_str(n.shape, bad), n.shape.str()));
    }
    return BasicTensor<T>::from_node(t.id(n.stub));
}

template <class T>
std::uint32_t new_leaf(TensorStore& s, const Shape& shape, const char* what) {
    const std::uint32_t rec = push_node(s, what, shape, dtype_of<T>, sizeof(T), {}, true, false);
    s.nodes[rec].op = "leaf";
    return rec;
}

template BasicTensor<float> finish<float>(TensorStore&, std::uint32_t);
template BasicTensor<double> finish<double>(TensorStore&, std::uint32_t);
template std::uint32_t new_leaf<float>(TensorStore&, const Shape&, const char*);
template std::uint32_t new_leaf<double>(TensorStore&, const Shape&, const char*);

void give_grad_buffer(TensorNode& n) {
    // numel was checked against the address space when the node was recorded.
    n.grad = ::operator new (std::max<std::size_t>(grad_bytes(n), 1), std::align_val_t{Arena::alignment});
    n.grad_on_heap = true;
}

// --- the tape extension ---

TensorStore::~TensorStore() {
    for (TensorNode& n : nodes) free_heap_grad(n);
}

void* TensorStore::grad_buffer(std::uint32_t rec, const Sweep& sweep) {
    TensorNode& n = nodes[rec];
    if (!sweep.scratch) {
        if (n.grad == nullptr) give_grad_buffer(n);
        return n.grad;
    }
    if (scratch_grads_.size() <= rec) scratch_grads_.resize(nodes.size(), nullptr);
    void*& g = scratch_grads_[rec];
    if (g == nullptr) g = scratch_arena_.allocate(grad_bytes(n));
    return g;
}

void TensorStore::begin_scratch() {
    scratch_grads_.assign(nodes.size(), nullptr);
    scratch_arena_.rewind({});
}

void TensorStore::backward(Tape&, std::uint32_t, std::uint32_t record, const Sweep& sweep) {
    TensorNode& n = nodes[record];
    if (n.backward == nullptr) return;
    n.backward(*this, n, sweep);
    if (sweep.check_anomaly) {
        if (n.dtype == DType::float32)
            check_backward<float>(*this, n, sweep);
        else
            check_backward<double>(*this, n, sweep);
    }
}

void TensorStore::seed(Tape&, std::uint32_t node, std::uint32_t record, const Sweep& sweep) {
    TensorNode& n = nodes[record];
    if (n.is_value) {  // a Value: its gradient is the tape's adjoint
        sweep.adjoint[node] += 1.0;
        return;
    }
    if (n.numel() != 1)
        throw std::invalid_argument(fmt::format(
            "backward: the tensor has shape {} ({} elements); backward() needs a one-element tensor (a loss), as "
            "the gradient can be implicitly created only for scalar outputs; reduce it first, e.g. with ag::sum",
            n.shape.str(), n.numel()));
    void* g = grad_buffer(record, sweep);
    double& has = sweep.adjoint[node];
    if (n.dtype == DType::float32)
        static_cast<float*>(g)[0] = has != 0 ? static_cast<float*>(g)[0] + 1.0f : 1.0f;
    else
        static_cast<double*>(g)[0] = has != 0 ? static_cast<double*>(g)[0] + 1.0 : 1.0;
    has = 1;
}

void TensorStore::rewind(Tape&, std::uint32_t nodes_kept) {
    // Tensor records are in creation order, like their tape nodes: drop a suffix.
    std::size_t keep = nodes.size();
    while (keep > 0 && nodes[keep - 1].stub >= nodes_kept) --keep;
    if (keep == nodes.size()) return;
    for (std::size_t i = keep; i < nodes.size(); ++i) free_heap_grad(nodes[i]);
    arena.rewind(nodes[keep].arena_mark);
    nodes.erase(nodes.begin() + static_cast<std::ptrdiff_t>(keep), nodes.end());
    if (scratch_grads_.size() > nodes.size()) scratch_grads_.resize(nodes.size());
}

void TensorStore::begin_graph(std::uint32_t) { graph_grads_.assign(nodes.size(), NodeId{}); }

void TensorStore::seed_graph(Tape&, std::uint32_t node, std::uint32_t record, GraphSweep& sweep) {
    TensorNode& n = nodes[record];
    if (n.is_value) {  // a Value: its gradient is the sweep's adjoint
        sweep.adjoint[node] = Value(1.0);
        return;
    }
    if (n.numel() != 1)
        throw std::invalid_argument(
            fmt::format("ag::grad: the tensor has shape {} ({} elements); the gradient can "
                        "be taken of a one-element tensor (a loss) only; reduce it first",
                        n.shape.str(), n.numel()));
    const Shape shape = n.shape;
    if (n.dtype == DType::float32)
        add_graph_grad(record, BasicTensor<float>::ones(shape).set_requires_grad(false), sweep);
    else
        add_graph_grad(record, BasicTensor<double>::ones(shape).set_requires_grad(false), sweep);
}

void TensorStore::backward_graph(Tape&, std::uint32_t, std::uint32_t record, GraphSweep& sweep) {
    if (nodes[record].backward_graph == nullptr) return;
    nodes[record].backward_graph(*this, record, sweep);
}

std::size_t TensorStore::bytes() const {
    std::size_t on_heap = 0;  // rare (see give_grad_buffer): counted here rather than kept up to date
    for (const TensorNode& n : nodes)
        if (n.grad_on_heap) on_heap += grad_bytes(n);
    return arena.bytes_reserved() + nodes.capacity() * sizeof(TensorNode) + temp_.capacity() + on_heap +
           scratch_arena_.bytes_reserved() + scratch_grads_.capacity() * sizeof(void*);
}

}  // namespace detail
}  // namespace ag
