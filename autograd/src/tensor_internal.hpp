#pragma once
// The tensor record behind ag::Tensor (private to the autograd library).
//
// Each tensor operation appends one TensorNode here and one Op::Tensor stub
// node on the scalar tape (stub.lhs = index of the TensorNode), so tensors
// share the tape's creation order, rewind and backward sweep. Values,
// gradients and per-op data live in a chunked bump arena: chunks never move
// (pointers stay valid while the tape grows) and rewinding only resets the
// position, so a repeated training step reuses the same memory.
#include <autograd/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace ag::detail {

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
        for (Chunk& c : chunks_) ::operator delete(c.data, std::align_val_t{alignment});
    }

    void* allocate(std::size_t bytes) {
        bytes = (bytes + alignment - 1) / alignment * alignment;
        if (chunks_.empty() || used_ + bytes > chunks_[current_].size) [[unlikely]]
            next_chunk(bytes);
        void* p = chunks_[current_].data + used_;
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
        for (const Chunk& c : chunks_) n += c.size;
        return n;
    }

private:
    struct Chunk {
        std::byte* data;
        std::size_t size;
    };
    void next_chunk(std::size_t bytes) {
        // Reuse the following chunk if it fits (the common case after a
        // rewind); otherwise put a new one there, leaving later ones for later.
        const std::size_t next = chunks_.empty() ? 0 : current_ + 1;
        if (next < chunks_.size() && chunks_[next].size >= bytes) {
            current_ = next;
            used_ = 0;
            return;
        }
        const std::size_t last = chunks_.empty() ? 0 : chunks_[current_].size;
        const std::size_t size = std::max({bytes, std::size_t{1} << 20, std::min(last * 2, std::size_t{1} << 28)});
        auto* data = static_cast<std::byte*>(::operator new(size, std::align_val_t{alignment}));
        chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(next), Chunk{data, size});
        current_ = next;
        used_ = 0;
    }
    std::vector<Chunk> chunks_;
    std::size_t current_ = 0;
    std::size_t used_ = 0;
};

struct TensorStore;
struct TensorNode;
// An op's backward: reads node's gradient, adds into its inputs' gradients.
using BackwardFn = void (*)(TensorStore&, TensorNode&);

struct TensorNode {
    void* value = nullptr;  // T[numel], T per dtype
    // T[numel]; meaningful only when has_grad. Recorded only for nodes that
    // require a gradient (so NoGrad inference takes half the memory); made
    // on demand for the others (see give_grad_buffer).
    void* grad = nullptr;
    BackwardFn backward = nullptr;  // null: a leaf (nothing to propagate)
    const char* op = "leaf";
    Shape shape;
    Arena::Mark arena_mark;  // arena position before this node's allocations
    std::uint32_t stub = 0;  // its node on the scalar tape
    std::uint32_t in[3] = {0, 0, 0};
    std::uint32_t n_in = 0;
    const std::uint32_t* more_in = nullptr;  // all inputs, when n_in > 3 (concat)
    DType dtype = DType::float64;
    bool requires_grad = false;
    // False means "the gradient is zero" whatever the buffer holds: zeroing
    // is O(1), the first contribution overwrites instead of adding, and a
    // node nothing reached is skipped by the sweep.
    bool has_grad = false;
    bool grad_on_heap = false;  // grad came from give_grad_buffer, not the arena
    // Op-specific data.
    std::int64_t iarg[3] = {0, 0, 0};  // axis, sizes of the reduced view, ...
    double darg = 0;                   // scalar constant
    void* extra = nullptr;             // arena array: labels, row indices, saved statistics

    std::uint32_t input(std::uint32_t j) const { return n_in > 3 ? more_in[j] : in[j]; }
};

struct TensorStore {
    std::vector<TensorNode> nodes;
    Arena arena;
    std::vector<std::byte> scratch;  // grows only; for temporaries in backward

    TensorStore() = default;
    TensorStore(const TensorStore&) = delete;
    TensorStore& operator=(const TensorStore&) = delete;
    ~TensorStore();  // frees the gradient buffers made on demand

    template <class U>
    U* scratch_array(std::size_t n) {
        const std::size_t bytes = n * sizeof(U) + alignof(std::max_align_t);
        if (scratch.size() < bytes) scratch.resize(bytes);
        void* p = scratch.data();
        std::size_t space = scratch.size();
        return static_cast<U*>(std::align(alignof(U), n * sizeof(U), p, space));
    }
};

TensorStore& store_of(Tape& t);

template <class T>
T* values(const TensorNode& n) {
    return static_cast<T*>(n.value);
}
template <class T>
T* grads(const TensorNode& n) {
    return static_cast<T*>(n.grad);
}

// Gives a node recorded without a gradient buffer (it required none) one,
// for .grad() on it, a backward() seeded at it, or set_requires_grad(true).
// On the heap, not in the arena: a rewind that keeps this node could free
// arena memory allocated after it.
void give_grad_buffer(TensorNode& n);

// The gradient buffer of an input, made to hold real zeros if it held none,
// for contributions that are added piecewise (broadcast, scatter).
template <class T>
T* grad_for_add(TensorNode& n) {
    if (n.grad == nullptr) give_grad_buffer(n);
    if (!n.has_grad) {
        std::memset(n.grad, 0, sizeof(T) * static_cast<std::size_t>(n.shape.numel()));
        n.has_grad = true;
    }
    return grads<T>(n);
}

// Adds contribution(i) to every element of n's gradient (or writes it, when
// the gradient was zero: saves a pass).
template <class T, class F>
void accumulate(TensorNode& n, F&& contribution) {
    T* g = grads<T>(n);
    const std::int64_t count = n.shape.numel();
    if (n.has_grad) {
        for (std::int64_t i = 0; i < count; ++i) g[i] += static_cast<T>(contribution(i));
    } else {
        for (std::int64_t i = 0; i < count; ++i) g[i] = static_cast<T>(contribution(i));
        n.has_grad = true;
    }
}

// BLAS beta for writing into n's gradient: 1 adds, 0 overwrites.
// Writes or adds into n's gradient element by element: put(k, v) stores v
// when the gradient was zero, adds it otherwise (each k at most once).
template <class T>
struct GradWriter {
    T* g;
    bool add;
    void put(std::int64_t k, T v) const { g[k] = add ? g[k] + v : v; }
};
template <class T>
GradWriter<T> grad_writer(TensorNode& n) {
    GradWriter<T> w{grads<T>(n), n.has_grad};
    n.has_grad = true;
    return w;
}

template <class T>
T gemm_beta(TensorNode& n) {
    const T beta = n.has_grad ? T(1) : T(0);
    n.has_grad = true;
    return beta;
}

// --- recording ---

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

// Appends a node of the given shape with value and gradient buffers; the
// caller fills values<T>(node) and then calls finish(). The node requires a
// gradient if recording is on and any input does; otherwise it is a leaf.
template <class T>
std::uint32_t begin_node(TensorStore& s, const char* op, const Shape& shape, std::initializer_list<std::uint32_t> inputs);
template <class T>
std::uint32_t begin_node(TensorStore& s, const char* op, const Shape& shape, std::span<const std::uint32_t> inputs);

// Anomaly check on the new values, then the handle; sets the backward
// function unless the node is a leaf.
template <class T>
BasicTensor<T> finish(TensorStore& s, std::uint32_t rec, BackwardFn backward);

// A new leaf holding uninitialized values (creation functions fill them).
template <class T>
std::uint32_t new_leaf(TensorStore& s, const Shape& shape, const char* what);

// --- shape helpers ---
[[noreturn]] void throw_shape(const char* op, const std::string& detail);
int normalize_axis(int axis, int rank, const char* op, const Shape& shape);
// [outer, n, inner] view of `shape` around `axis`.
struct AxisView {
    std::int64_t outer, n, inner;
};
AxisView axis_view(const Shape& shape, int axis);
// Shape with `axis` removed (or set to 1 with keepdim).
Shape reduced_shape(const Shape& shape, int axis, bool keepdim);

}  // namespace ag::detail
