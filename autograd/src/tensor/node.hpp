#pragma once
// The tensor record behind ag::Tensor, private to the autograd library: how
// a tensor op records itself and how its backward writes gradients.
//
// Each tensor op appends one TensorNode to the store and one Op::Custom node
// to the tape (its operands: {record, tensor_extension}), so tensors share
// the tape's creation order, rewind and backward sweep with scalars. The
// tape's adjoint of that node says whether the tensor's gradient holds
// anything (nonzero) or is zero whatever the buffer holds: zeroing is O(1),
// the first contribution overwrites instead of adding, and a node nothing
// reached is skipped by the sweep. Values, gradients and each op's saved
// state live in a bump arena: rewinding only resets its position, so a
// repeated training step reuses the same memory.
//
// Adding a tensor op (the recipe):
//   1. In its family's file (elementwise.cpp, linalg.cpp, reduce.cpp,
//      loss.cpp, shape_ops.cpp, convert.cpp), one struct with the op's
//      `name`, its saved `State` (a named, trivially destructible struct;
//      `struct State {};` when it saves nothing), and its backward,
//          template <class T> static void backward(const Backward<T>& b, const State& s);
//      right beside the forward function, which checks its inputs, computes
//      the value and records the node with `record<Op, T>(...)` and
//      `finish(...)`. A backward writes input gradients only through
//      `b.sink(j)` (GradSink). Beside it, the same derivative written with
//      differentiable tensor ops, for derivatives of derivatives:
//          template <class T> static void backward_graph(const GraphBackward<T>& b, const State& s);
//      which passes each input's gradient, a tensor on the tape, to `b.add(j, ...)`.
//      An elementwise op is just a rule in ops.hpp plus one line in
//      elementwise.cpp (its rule serves both backwards).
//   2. Its public declaration in autograd/include/autograd/tensor.hpp, its
//      name in AG_TENSOR_OP_NAMES below, and its explicit instantiation at
//      the bottom of the family file.
//   3. A row in tests/test_tensor_ops.cpp (value and gradient against finite
//      differences); that test fails for a name in AG_TENSOR_OP_NAMES that
//      no row records.
#include <autograd/detail/region.hpp>
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

// Every op name a tensor node can carry (ag::tensor_op_names()).
// clang-format off
#define AG_TENSOR_OP_NAMES(X)                                                                                       \
    X("neg") X("exp") X("log") X("sqrt") X("tanh") X("sigmoid") X("relu") X("sin") X("cos") X("abs") X("+") X("-") \
    X("*") X("/") X("pow") X("matmul") X("linear") X("transpose") X("reshape") X("sum") X("mean") X("max")         \
    X("softmax") X("log_softmax") X("mse_loss") X("cross_entropy")                        \
    X("binary_cross_entropy_with_logits") X("hinge") X("select_rows") X("concat") X("to_tensor") X("to_value") \
    X("where") X("broadcast_to") X("sum_to") X("slice") X("pad") X("scatter_rows") X("tan") X("atan") X("sinh")     \
    X("cosh") X("log1p") X("expm1") X("erf") X("softplus") X("gelu") X("leaky_relu") X("clamp_min") X("clamp_max") \
    X("gather") X("scatter_add")
// clang-format on

namespace ag::detail {

// ---------------------------------------------------------------- arena ---

// Bump allocation in chunks of reserved address space that never move
// (pointers stay valid while the tape grows); rewinding only resets the
// position. Each chunk grows in place (GrowableRegion).
class Arena {
public:
    static constexpr std::size_t alignment = 64;  // cache line, widest SIMD load
    struct Mark {
        std::size_t chunk = 0;
        std::size_t used = 0;
    };

    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        for (GrowableRegion& c : chunks_) c.release();
    }

    void* allocate(std::size_t bytes) {
        bytes = (bytes + alignment - 1) / alignment * alignment;
        if (chunks_.empty() || bytes > chunks_[current_].reserved() - used_) [[unlikely]]
            next_chunk(bytes);
        GrowableRegion& c = chunks_[current_];
        if (used_ + bytes > c.committed()) c.commit(used_ + bytes);
        void* p = c.data() + used_;
        used_ += bytes;
        return p;
    }
    template <class U>
    U* allocate_array(std::size_t n) {
        return static_cast<U*>(allocate(n * sizeof(U)));
    }
    Mark mark() const noexcept { return {current_, used_}; }
    void rewind(Mark m) noexcept {
        current_ = m.chunk;
        used_ = m.used;
    }
    std::size_t bytes_reserved() const noexcept {
        std::size_t n = 0;
        for (const GrowableRegion& c : chunks_) n += c.committed();
        return n;
    }

private:
    void next_chunk(std::size_t bytes);
    std::vector<GrowableRegion> chunks_;
    std::size_t current_ = 0;
    std::size_t used_ = 0;
};

// ----------------------------------------------------------------- node ---

class TensorStore;
struct TensorNode;
// Runs an op's backward for node `n` (see Backward below), and its recording
// form for record `rec` (see GraphBackward).
using BackwardFn = void (*)(TensorStore&, TensorNode&, const Sweep&);
using BackwardGraphFn = void (*)(TensorStore&, std::uint32_t rec, GraphSweep&);

struct TensorNode {
    void* value = nullptr;  // T[numel], T per dtype
    // T[numel]; made for nodes that require a gradient (so NoGrad inference
    // takes half the memory), on demand for the others (give_grad_buffer).
    void* grad = nullptr;
    BackwardFn backward = nullptr;  // null: a leaf (nothing to propagate)
    BackwardGraphFn backward_graph = nullptr;
    const void* state = nullptr;  // the op's saved State, in the arena
    const char* op = "leaf";
    Shape shape;
    Arena::Mark arena_mark;  // arena position before this node's allocations
    std::uint32_t stub = 0;  // its node on the tape
    std::uint32_t in[3] = {0, 0, 0};
    std::uint32_t n_in = 0;
    const std::uint32_t* more_in = nullptr;  // all inputs, when n_in > 3 (concat)
    DType dtype = DType::float64;
    bool requires_grad = false;
    bool grad_on_heap = false;  // grad came from give_grad_buffer, not the arena
    bool is_value = false;      // a Value read out of a tensor (to_value): its value and gradient are the tape's

    std::uint32_t input(std::uint32_t j) const { return n_in > 3 ? more_in[j] : in[j]; }
    std::int64_t numel() const { return shape.numel(); }
};

template <class T>
T* values(const TensorNode& n) {
    return static_cast<T*>(n.value);
}

// ---------------------------------------------------------------- store ---

// The tensor module's tape extension: the records, their arena, and the
// sweep's callbacks.
class TensorStore final : public Extension {
public:
    std::vector<TensorNode> nodes;
    Arena arena;

    TensorStore() = default;
    ~TensorStore() override;  // frees the gradient buffers made on demand

    void backward(Tape& t, std::uint32_t node, std::uint32_t record, const Sweep& sweep) override;
    void seed(Tape& t, std::uint32_t node, std::uint32_t record, const Sweep& sweep) override;
    void begin_scratch() override;
    void rewind(Tape& t, std::uint32_t nodes_kept) override;
    std::size_t bytes() const override;
    const char* name(std::uint32_t record) const override { return nodes[record].op; }
    void backward_graph(Tape& t, std::uint32_t node, std::uint32_t record, GraphSweep& sweep) override;
    void seed_graph(Tape& t, std::uint32_t node, std::uint32_t record, GraphSweep& sweep) override;
    void begin_graph(std::uint32_t root) override;

    // In a recording sweep: the gradient of record `rec` so far (empty: none).
    const NodeId& graph_grad(std::uint32_t rec) const { return graph_grads_[rec]; }
    // graph_grad(rec) += g, recorded; marks the record's node as reached.
    template <class T>
    void add_graph_grad(std::uint32_t rec, const BasicTensor<T>& g, GraphSweep& sweep);

    // The gradient buffer of record `rec` in this sweep: its own, or scratch
    // storage in a scratch sweep (ag::grad). Whether it holds anything is
    // the sweep's adjoint of its tape node.
    void* grad_buffer(std::uint32_t rec, const Sweep& sweep);
    // Memory for temporaries in a backward; valid until the next call.
    template <class U>
    U* scratch_array(std::size_t n) {
        const std::size_t bytes = n * sizeof(U) + alignof(std::max_align_t);
        if (temp_.size() < bytes) temp_.resize(bytes);
        void* p = temp_.data();
        std::size_t space = temp_.size();
        return static_cast<U*>(std::align(alignof(U), n * sizeof(U), p, space));
    }

private:
    std::vector<std::byte> temp_;       // grows only
    std::vector<void*> scratch_grads_;  // per record, in a scratch sweep
    Arena scratch_arena_;
    std::vector<NodeId> graph_grads_;  // per record, in a recording sweep
};

// The current thread's store (made on first use; the tape owns it).
TensorStore& store();

// Gives a node recorded without a gradient buffer (it required none) one,
// for .grad() on it, a backward() seeded at it, or set_requires_grad(true).
// On the heap, not in the arena: a rewind that keeps this node could free
// arena memory allocated after it.
void give_grad_buffer(TensorNode& n);

// ----------------------------------------------------------- summation ---

// Σ f(k) over k < n, in double, in four interleaved partial sums: one
// running sum is a single chain of dependent additions; four can run side
// by side (and vectorize). The order differs from a left-to-right sum only
// by rounding.
template <class F>
double sum_of(std::int64_t n, F&& f) {
    double s[4] = {0, 0, 0, 0};
    std::int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        for (int l = 0; l < 4; ++l) s[l] += static_cast<double>(f(k + l));
    for (; k < n; ++k) s[0] += static_cast<double>(f(k));
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// ------------------------------------------------------- gradient sink ---

// The one way a backward writes a gradient: the gradient of one input of
// the node being swept. The first write to a gradient that holds nothing
// overwrites it (no pass to zero it first); later ones add.
template <class T>
class GradSink {
public:
    GradSink() = default;
    GradSink(T* buffer, double* has, std::int64_t count, bool wanted)
        : buffer_(buffer), has_(has), count_(count), wanted_(wanted) {}

    // False when the input needs no gradient: skip the work.
    bool wanted() const noexcept { return wanted_; }
    std::int64_t size() const noexcept { return count_; }

    // Every element once, in order: element k gets f(k).
    template <class F>
    void fill(F&& f) {
        T* g = buffer_;
        if (*has_ != 0) {
            for (std::int64_t k = 0; k < count_; ++k) g[k] += static_cast<T>(f(k));
        } else {
            for (std::int64_t k = 0; k < count_; ++k) g[k] = static_cast<T>(f(k));
            *has_ = 1;
        }
    }
    // Elements once each, in any order: put(k, v).
    struct Writer {
        T* g;
        bool add;
        void put(std::int64_t k, T v) const { g[k] = add ? g[k] + v : v; }
    };
    Writer writer() {
        const Writer w{buffer_, *has_ != 0};
        *has_ = 1;
        return w;
    }
    // Scattered additions (broadcast, repeated rows, ties): the gradient so
    // far (zeros if nothing yet) to add into.
    T* accumulator() {
        if (*has_ == 0) {
            std::fill_n(buffer_, count_, T(0));
            *has_ = 1;
        }
        return buffer_;
    }
    // A BLAS product into the gradient: C = product + beta C.
    struct Gemm {
        T* c;
        T beta;
    };
    Gemm gemm() {
        const Gemm g{buffer_, *has_ != 0 ? T(1) : T(0)};
        *has_ = 1;
        return g;
    }

private:
    T* buffer_ = nullptr;
    double* has_ = nullptr;  // the sweep's adjoint of the input's tape node
    std::int64_t count_ = 0;
    bool wanted_ = false;
};

// What an op's backward sees: its node, its gradient, its inputs.
template <class T>
struct Backward {
    TensorStore& store;
    TensorNode& node;
    const Sweep& sweep;
    const T* grad;  // d root / d this node's value, node.numel() elements

    const T* value() const { return values<T>(node); }
    const Shape& shape() const { return node.shape; }
    std::uint32_t inputs() const { return node.n_in; }
    const TensorNode& input(std::uint32_t j) const { return store.nodes[node.input(j)]; }
    const T* input_value(std::uint32_t j) const { return values<T>(input(j)); }
    const Shape& input_shape(std::uint32_t j) const { return input(j).shape; }
    GradSink<T> sink(std::uint32_t j) const {
        TensorNode& in = store.nodes[node.input(j)];
        if (!in.requires_grad) return {};
        return GradSink<T>(static_cast<T*>(store.grad_buffer(node.input(j), sweep)), &sweep.adjoint[in.stub],
                           in.numel(), true);
    }
};

// What an op's recording backward sees: tensors on the tape (its gradient,
// its output, its inputs), and where input gradients go.
template <class T>
struct GraphBackward {
    using Tensor = BasicTensor<T>;
    TensorStore& store;
    std::uint32_t rec;
    GraphSweep& sweep;
    Tensor grad;  // d root / d this node's value, a tensor on the tape

    Tensor output() const { return Tensor::from_node(tape().id(store.nodes[rec].stub)); }
    std::uint32_t inputs() const { return store.nodes[rec].n_in; }
    Tensor input(std::uint32_t j) const {
        return Tensor::from_node(tape().id(store.nodes[store.nodes[rec].input(j)].stub));
    }
    Shape input_shape(std::uint32_t j) const { return store.nodes[store.nodes[rec].input(j)].shape; }
    Shape shape() const { return store.nodes[rec].shape; }
    bool wanted(std::uint32_t j) const { return store.nodes[store.nodes[rec].input(j)].requires_grad; }
    // Input j's gradient += g (g has input j's shape).
    void add(std::uint32_t j, const Tensor& g) const { store.add_graph_grad(store.nodes[rec].input(j), g, sweep); }
};

// Calls Op::backward<T> with the node's State.
template <class Op, class T>
void run_backward(TensorStore& s, TensorNode& n, const Sweep& sweep) {
    const auto rec = static_cast<std::uint32_t>(&n - s.nodes.data());
    const T* g = n.is_value ? nullptr : static_cast<const T*>(s.grad_buffer(rec, sweep));
    Op::backward(Backward<T>{s, n, sweep, g}, *static_cast<const typename Op::State*>(n.state));
}
// And Op::backward_graph<T>, with a copy of the State (recording appends
// records, which may move them).
template <class Op, class T>
void run_backward_graph(TensorStore& s, std::uint32_t rec, GraphSweep& sweep) {
    const typename Op::State state = *static_cast<const typename Op::State*>(s.nodes[rec].state);
    const NodeId g = s.graph_grad(rec);
    Op::backward_graph(GraphBackward<T>{s, rec, sweep, g.empty() ? BasicTensor<T>() : BasicTensor<T>::from_node(g)},
                       state);
}

// ------------------------------------------------------------ recording ---

// An operand: its record index and node, looked up from a handle.
template <class T>
struct Operand {
    std::uint32_t rec;
    const T* v;
    Shape shape;
    bool requires_grad;
};
// Checks a handle for use by `what` and returns the operand.
template <class T>
Operand<T> operand(TensorStore& s, const BasicTensor<T>& t, const char* what) {
    const std::uint32_t rec = t.checked_record(what);
    const TensorNode& n = s.nodes[rec];
    return {rec, values<T>(n), n.shape, n.requires_grad};
}

// Whether a node with these inputs requires a gradient: recording is on
// and some input does.
bool inputs_require_grad(const TensorStore& s, std::span<const std::uint32_t> inputs);
// Appends a node of the given shape with a value buffer (and a gradient
// buffer if it requires one) and its tape node: Op::Custom when it has a
// backward, Op::CustomLeaf when not.
std::uint32_t push_node(TensorStore& s, const char* op, const Shape& shape, DType dtype, std::size_t elem_size,
                        std::span<const std::uint32_t> inputs, bool requires_grad, bool has_backward);
// Appends a node for `Op` with a copy of `state`; the caller fills
// values<T>(node) and then calls finish(). The node requires a gradient if
// `requires_grad` (by default: recording is on and an input requires one);
// otherwise it is a leaf and its state is not kept.
template <class Op, class T>
std::uint32_t record(TensorStore& s, const Shape& shape, std::span<const std::uint32_t> inputs,
                     const typename Op::State& state, const char* name, bool requires_grad) {
    static_assert(std::is_trivially_destructible_v<typename Op::State>, "op state lives in the arena");
    const std::uint32_t rec = push_node(s, name, shape, dtype_of<T>, sizeof(T), inputs, requires_grad, requires_grad);
    TensorNode& n = s.nodes[rec];
    if (requires_grad) {
        n.state = ::new (s.arena.allocate(sizeof(typename Op::State))) typename Op::State(state);
        n.backward = &run_backward<Op, T>;
        n.backward_graph = &run_backward_graph<Op, T>;
    }
    return rec;
}
template <class Op, class T>
std::uint32_t record(TensorStore& s, const Shape& shape, std::span<const std::uint32_t> inputs,
                     const typename Op::State& state = {}, const char* name = Op::name) {
    return record<Op, T>(s, shape, inputs, state, name, inputs_require_grad(s, inputs));
}
template <class Op, class T>
std::uint32_t record(TensorStore& s, const Shape& shape, std::initializer_list<std::uint32_t> inputs,
                     const typename Op::State& state = {}, const char* name = Op::name) {
    return record<Op, T>(s, shape, std::span<const std::uint32_t>(inputs.begin(), inputs.size()), state, name);
}

// The saved State of a node that has a backward, to fill in after
// recording (arrays it points at are allocated after the node, so that a
// rewind to the node frees them); nullptr for a leaf.
template <class Op>
typename Op::State* state(TensorNode& n) {
    return n.backward ? const_cast<typename Op::State*>(static_cast<const typename Op::State*>(n.state)) : nullptr;
}

// Anomaly check on the new values, then the handle.
template <class T>
BasicTensor<T> finish(TensorStore& s, std::uint32_t rec);

// A new leaf holding uninitialized values (creation functions fill them).
template <class T>
std::uint32_t new_leaf(TensorStore& s, const Shape& shape, const char* what);

[[noreturn]] void throw_shape(const char* op, const std::string& detail);

template <class T>
void TensorStore::add_graph_grad(std::uint32_t rec, const BasicTensor<T>& g, GraphSweep& sweep) {
    if (!nodes[rec].requires_grad) return;
    const std::uint32_t stub = nodes[rec].stub;
    const NodeId old = graph_grads_[rec];
    graph_grads_[rec] = old.empty() ? g.id() : (BasicTensor<T>::from_node(old) + g).id();
    sweep.reached[stub] = 1;
}

}  // namespace ag::detail
