#pragma once
// The tape: every operation appends one node, in creation order, which is a
// topological order, so backward() is a single reverse sweep.
//
// Layout (structure of arrays, one entry per node, 30 bytes a node):
//   value[i]       double   forward value
//   adjoint[i]     double   accumulated d(root)/d(node i)
//   operands[i]    2 uint32 {lhs, rhs}: operand node indices; for ops with
//                           a constant, rhs indexes `constants`; for
//                           Op::Tensor, lhs indexes the tensor record (one
//                           array, not two: one stream to write and read)
//   op[i]          uint16   what the node computes (see ops.hpp); 16 bits
//                           rather than 8 because a byte store may alias
//                           anything and would make the compiler reload
//                           every array pointer after each recorded node
//   generation[i]  uint32   which recording epoch wrote the node, so that a
//                           handle to a node freed by rewind() is detected
// The five arrays share one allocation (tape.cpp explains their offsets).
//
// Each thread has its own tape (ag::tape()); graphs on different threads are
// independent. Handles (Value, Tensor) are {index, generation} pairs: cheap
// to copy, checked on every use.
//
// Why the tape is a trivially destructible `constinit thread_local` object
// rather than a heap tape behind a thread_local pointer: its fields are then
// addressed straight from the thread pointer and the compiler knows every
// operation works on the same object, instead of loading the tape's address
// and then each field through it for every recorded node (that cost about a
// quarter of the recording time). Trivially destructible so that no access
// needs an initialization guard: the arrays are plain owning pointers,
// freed when the thread exits (see tape.cpp).
#include <autograd/ops.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

namespace ag {

// Thrown under DetectAnomaly by the first operation that yields NaN or Inf.
struct AnomalyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {
struct TensorStore;  // the tensor record, defined by the tensor module
}

// A node's operand indices (see the layout above).
struct Operands {
    std::uint32_t lhs, rhs;
};

// One per thread: ag::tape(). Other Tape objects are not supported (the
// thread-exit hook frees only the thread's own tape).
class Tape {
public:
    // A position on the tape to come back to: nodes recorded after it are
    // freed by rewind(), nodes before it (parameters) stay.
    struct Mark {
        std::uint32_t nodes = 0;
        std::uint32_t constants = 0;
    };

    // Constant initialization: memory and a generation come with the first node.
    constexpr Tape() noexcept = default;
    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    std::uint32_t size() const noexcept { return size_; }
    Mark mark() const noexcept { return {size_, constant_count_}; }
    // Frees every node recorded after `m`; their handles become stale.
    void rewind(Mark m);
    // Frees every node (rewind to the start).
    void clear() { rewind(Mark{}); }
    // Sets every adjoint on the tape to zero.
    void zero_grad() noexcept;
    // Memory the tape holds now, in bytes (capacity, not just size).
    std::size_t bytes_reserved() const noexcept;
    // Bytes one recorded node takes (see the layout above).
    static constexpr std::size_t bytes_per_node =
        2 * sizeof(double) + sizeof(Operands) + sizeof(std::uint32_t) + sizeof(Op);
    // Preallocates room for n nodes.
    void reserve(std::uint32_t n);

    // --- recording (used by Value and Tensor; not needed by users) ---
    // Appends a node and returns its index; under NoGrad, records a leaf.
    std::uint32_t record(Op o, std::uint32_t a, std::uint32_t b, double y) {
        // One test on the hot path: limit_ is 0 while a guard is active.
        if (size_ >= limit_) [[unlikely]]
            return record_slow(o, a, b, y);
        return append(o, a, b, y);
    }
    // Appends a node whatever the guards (the tensor module's stubs).
    std::uint32_t push(Op o, std::uint32_t a, std::uint32_t b, double y) {
        if (size_ == capacity_) [[unlikely]]
            grow();
        return append(o, a, b, y);
    }
    // Index of constant c in `constants`. A loop that adds the same
    // constant (x + 0.5, ...) reuses its slot.
    std::uint32_t add_constant(double c) {
        if (constant_count_ > 0 &&
            std::bit_cast<std::uint64_t>(constants[constant_count_ - 1]) == std::bit_cast<std::uint64_t>(c))
            [[likely]]
            return constant_count_ - 1;
        return push_constant(c);
    }
    std::uint32_t constant_count() const noexcept { return constant_count_; }
    // Throws std::logic_error unless (index, gen) names a live node.
    void check(std::uint32_t index, std::uint32_t gen, const char* what) const {
        if (index >= size_ || generation[index] != gen) [[unlikely]]
            throw_stale(index, gen, what);
    }
    std::uint32_t generation_now() const noexcept { return generation_now_; }

    // Reverse sweep from `root` (already seeded) down to node 0, accumulating
    // into `adj`: the tape's adjoints, or a scratch buffer for ag::grad.
    void sweep(std::uint32_t root, double* adj);
    // backward(): clears stale intermediate adjoints, then sweeps into the
    // tape's own adjoints, so leaf gradients accumulate as in PyTorch.
    void backward(std::uint32_t root);
    // Ensures non-leaf adjoints up to `root` are zero before a new sweep.
    void prepare_backward(std::uint32_t root);

    // Names given to Values (for pictures and printing).
    void set_name(std::uint32_t index, std::string name);
    const std::string* name(std::uint32_t index) const;

    // Guards (see NoGrad, DetectAnomaly) flip these; depth counters so they nest.
    int no_grad_depth = 0;
    int anomaly_depth = 0;
    void update_flags() noexcept {
        flags_ = (no_grad_depth > 0 ? 1u : 0u) | (anomaly_depth > 0 ? 2u : 0u);
        limit_ = flags_ != 0 ? 0 : capacity_;
    }
    bool anomaly() const noexcept { return anomaly_depth > 0; }
    bool grad_enabled() const noexcept { return no_grad_depth == 0; }

    // The arrays (see the layout above), owned by the tape. Valid for
    // indices < size() (constants: < constant_count()).
    double* value = nullptr;
    double* adjoint = nullptr;
    Operands* operands = nullptr;
    Op* op = nullptr;
    std::uint32_t* generation = nullptr;
    double* constants = nullptr;
    // The tensor record, owned by the tape; created on first use by the
    // tensor module (which calls adopt_tensor_store).
    detail::TensorStore* tensors = nullptr;
    void adopt_tensor_store(detail::TensorStore* s);

private:
    std::uint32_t append(Op o, std::uint32_t a, std::uint32_t b, double y) {
        const std::uint32_t i = size_++;
        value[i] = y;
        adjoint[i] = 0.0;
        operands[i] = Operands{a, b};
        generation[i] = generation_now_;
        op[i] = o;
        return i;
    }
    std::uint32_t record_slow(Op o, std::uint32_t a, std::uint32_t b, double y);
    std::uint32_t push_constant(double c);
    void grow();
    // Called before the tape first allocates: frees its memory at thread exit.
    void own_memory();
    friend struct TapeRelease;
    void release() noexcept;
    [[noreturn]] void throw_stale(std::uint32_t index, std::uint32_t gen, const char* what) const;

    std::uint32_t size_ = 0, capacity_ = 0;
    std::uint32_t limit_ = 0;  // capacity_, or 0 while NoGrad or DetectAnomaly is active
    std::uint32_t constant_count_ = 0, constant_capacity_ = 0;
    std::uint32_t generation_now_ = 0;  // 0 (never live) until the first node
    std::uint32_t flags_ = 0;  // bit 0: no grad, bit 1: anomaly mode
    // Highest index whose adjoint a sweep may have written since it was last
    // zeroed; lets backward() skip clearing intermediates in the common case.
    std::int64_t dirty_until_ = -1;
    std::unordered_map<std::uint32_t, std::string>* names_ = nullptr;  // created by the first set_name
    void* nodes_block_ = nullptr;  // the one allocation the node arrays live in (tape.cpp)
    std::size_t nodes_block_bytes_ = 0;
};

namespace detail {
inline constinit thread_local Tape thread_tape;
// Hooks the tensor module fills in (called from the tape's sweep and rewind).
void tensor_backward(Tape& t, std::uint32_t tensor_index, bool check_anomaly);
void tensor_seed(Tape& t, std::uint32_t tensor_index);  // grad of the root tensor += 1
void tensor_zero_grad(Tape& t, std::uint32_t tensor_index);
bool tensor_is_leaf(const Tape& t, std::uint32_t tensor_index);
void tensor_rewind(Tape& t, std::uint32_t nodes_kept);
std::size_t tensor_bytes(const Tape& t);
void delete_tensor_store(TensorStore* s) noexcept;
}  // namespace detail

static_assert(std::is_trivially_destructible_v<Tape>, "a thread_local Tape must need no initialization guard");

// The current thread's tape.
inline Tape& tape() { return detail::thread_tape; }

// Frees, when it ends, every node recorded while it lived (RAII form of
// mark/rewind). Use one per training step so a loop runs in flat memory:
//     for (...) { ag::Scope step; auto loss = model(x); loss.backward(); opt.step(); }
class Scope {
public:
    Scope() : tape_(&tape()), mark_(tape_->mark()) {}
    ~Scope() { tape_->rewind(mark_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    Tape* tape_;
    Tape::Mark mark_;
};

namespace detail {
// Raises one of the tape's guard counters while alive (guards nest).
template <int Tape::*Depth>
class DepthGuard {
public:
    DepthGuard() : tape_(&tape()) { ++(tape_->*Depth); tape_->update_flags(); }
    ~DepthGuard() { --(tape_->*Depth); tape_->update_flags(); }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

private:
    Tape* tape_;
};
}  // namespace detail

// While alive, operations compute values but record no history: results are
// new leaves and backward() does not reach their inputs (torch.no_grad()).
class NoGrad : detail::DepthGuard<&Tape::no_grad_depth> {};

// While alive, the first operation whose result is NaN or Inf, in the forward
// pass or in a backward sweep, throws ag::AnomalyError naming the operation
// and its inputs (torch.autograd.detect_anomaly()). Slower; for debugging.
class DetectAnomaly : detail::DepthGuard<&Tape::anomaly_depth> {};

}  // namespace ag
