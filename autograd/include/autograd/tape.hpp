#pragma once
// The tape: every operation appends one node, in creation order, which is a
// topological order, so backward() is a single reverse sweep.
//
// Layout (structure of arrays, one entry per node, 32 bytes a node):
//   value[i]       double   forward value
//   adjoint[i]     double   accumulated d(root)/d(node i)
//   operands[i]    2 uint32 {lhs, rhs}: operand node indices; for ops with
//                           a constant, rhs indexes `constants`; for a
//                           ternary op (muladd), rhs indexes the `constants`
//                           entry that holds its second and third operands
//                           (an Operands pair in the double's 8 bytes); for
//                           an extension's node (Op::Custom), lhs is its
//                           record in the extension and rhs the extension
//                           (one array, not two: one stream to write and read)
//   key[i]         uint64   the node's identity: the generation (recording
//                           epoch) that wrote it, times 256, plus its op
//                           code (what the node computes, see ops.hpp). A
//                           handle holds its node's key, so one comparison
//                           tells a live node from one freed by rewind()
//                           (see NodeId). One array, not two: one store.
// Each array lives in address space reserved once and grows in place
// (detail/region.hpp; tape.cpp explains their placement).
//
// Each thread has its own tape (ag::tape()); graphs on different threads are
// independent. Handles (Value, Tensor) hold a NodeId: cheap to copy, checked
// on every use.
//
// Why the tape is a trivially destructible `constinit thread_local` object
// rather than a heap tape behind a thread_local pointer: its fields are then
// addressed straight from the thread pointer and the compiler knows every
// operation works on the same object, instead of loading the tape's address
// and then each field through it for every recorded node (that cost about a
// quarter of the recording time). Trivially destructible so that no access
// needs an initialization guard: its memory is freed when the thread exits
// (see tape.cpp). There is exactly one Tape per thread: the type cannot be
// constructed or copied by users.
#include <autograd/detail/region.hpp>
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

// A node's operand indices (see the layout above).
struct Operands {
    std::uint32_t lhs, rhs;
};

// What a handle knows of its node: the index and the node's key, its
// generation (the recording epoch that wrote it) and op code. Every rewind
// starts a new generation, unique in the process, so a handle to a freed
// node, or to another thread's tape, never matches a live node. Generations
// have 56 bits: at one rewind a nanosecond a process would need two years to
// use them up, and the next rewind would then throw instead of reusing one
// (a stale handle can never pass the check).
//
// A constant Value (ag::constant) has no node: its index is
// `constant_index`, which no tape reaches, and its key holds the number's
// bits. alive() is false for it, so the operations' one check sends
// constants down the same rare path as stale handles (value.hpp).
struct NodeId {
    static constexpr std::uint32_t constant_index = 0xffffffff;
    std::uint32_t index = 0;
    std::uint64_t key = 0;  // generation << 8 | op code (a constant: its bits)
    // Generation 0 is never live: a default NodeId is an empty handle.
    bool empty() const noexcept { return key == 0 && index != constant_index; }
    bool is_constant() const noexcept { return index == constant_index; }
    std::uint64_t generation() const noexcept { return key >> 8; }
};

class Tape;

namespace detail {
class Extension;
struct GraphSweep;  // value.hpp
struct TapeHolder;
struct TapeAccess;
template <int Which>
class DepthGuard;

// Where a backward sweep puts gradients: the tape's own adjoints (backward())
// or scratch ones (ag::grad, which touches no .grad()).
struct Sweep {
    double* adjoint;     // scalar adjoints, one per node; an extension's node
                         // uses its entry as "has a gradient" (nonzero)
    bool scratch;        // gradients go to scratch storage, not to .grad()
    bool check_anomaly;  // DetectAnomaly is on
};

// A kind of node with its own backward, recorded as Op::Custom (or
// Op::CustomLeaf for one with nothing to propagate) whose operands are
// {record, extension}. The tensor module is one. The tape owns its
// extensions and calls them back; it knows nothing else of them.
class Extension {
public:
    virtual ~Extension() = default;
    // Node `node` (record `record` of this extension) received a gradient:
    // propagate it to its inputs.
    virtual void backward(Tape& t, std::uint32_t node, std::uint32_t record, const Sweep& sweep) = 0;
    // A sweep starts at this node: give it the seed gradient (one).
    virtual void seed(Tape& t, std::uint32_t node, std::uint32_t record, const Sweep& sweep) = 0;
    // The same two for a sweep that records its gradients as new nodes
    // (derivatives of derivatives): the gradient of node `node` and of its
    // inputs are Values / tensors on the tape.
    virtual void backward_graph(Tape& t, std::uint32_t node, std::uint32_t record, GraphSweep& sweep) = 0;
    virtual void seed_graph(Tape& t, std::uint32_t node, std::uint32_t record, GraphSweep& sweep) = 0;
    // A recording sweep from `root` starts: forget the gradients of the last.
    virtual void begin_graph(std::uint32_t root) = 0;
    // A sweep into scratch storage starts; earlier scratch may be dropped.
    virtual void begin_scratch() {}
    // Nodes from `nodes_kept` on are freed: drop their records.
    virtual void rewind(Tape& t, std::uint32_t nodes_kept) = 0;
    // Memory held, in bytes.
    virtual std::size_t bytes() const = 0;
    // The op that made node `record` ("matmul", ...).
    virtual const char* name(std::uint32_t record) const = 0;
};
}  // namespace detail

// One per thread: ag::tape().
class Tape {
public:
    // A position on the tape to come back to: nodes recorded after it are
    // freed by rewind(), nodes before it (parameters) stay.
    struct Mark {
        std::uint32_t nodes = 0;
        std::uint32_t constants = 0;
    };

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
    // Memory the tape holds now, in bytes (committed, not just used).
    std::size_t bytes_reserved() const noexcept;
    // Bytes one recorded node takes (see the layout above).
    static constexpr std::size_t bytes_per_node = 2 * sizeof(double) + sizeof(Operands) + sizeof(std::uint64_t);
    // Makes room for n nodes now (the tape grows by itself too).
    void reserve(std::uint32_t n);

    // --- reading the graph (pictures, the command-line tool) ---
    // Index i must be < size() (k < constant_count()): unchecked, like [].
    double value(std::uint32_t i) const noexcept { return value_[i]; }
    double adjoint(std::uint32_t i) const noexcept { return adjoint_[i]; }
    Op op(std::uint32_t i) const noexcept { return static_cast<Op>(key_[i] & 0xff); }
    Operands operands(std::uint32_t i) const noexcept { return operands_[i]; }
    // Input k of node i (k < input_count(op_arity(op(i))), ops.hpp).
    std::uint32_t input(std::uint32_t i, int k) const noexcept {
        const Operands ab = operands_[i];
        if (k == 0) return ab.lhs;
        if (op_arity(op(i)) != Arity::Ternary) return ab.rhs;
        const Operands bc = std::bit_cast<Operands>(constants_[ab.rhs]);
        return k == 1 ? bc.lhs : bc.rhs;
    }
    double constant(std::uint32_t k) const noexcept { return constants_[k]; }
    std::uint32_t constant_count() const noexcept { return constant_count_; }
    // The id of the live node at `index` (< size()).
    NodeId id(std::uint32_t index) const noexcept { return NodeId{index, key_[index]}; }

    // What node i computes: the op's name ("tanh", "+", "matmul", "leaf").
    const char* op_name(std::uint32_t i) const noexcept;

    // Whether `h` names a live node of this tape.
    bool alive(const NodeId& h) const noexcept { return h.index < size_ && key_[h.index] == h.key; }
    // Throws std::logic_error, naming `what`, unless `h` names a live node.
    void check(const NodeId& h, const char* what) const {
        if (!alive(h)) [[unlikely]]
            throw_stale(h, what);
    }

    // Names given to Values (for pictures and printing).
    void set_name(std::uint32_t index, std::string name);
    const std::string* name(std::uint32_t index) const;

    bool anomaly() const noexcept { return anomaly_depth_ > 0; }
    bool grad_enabled() const noexcept { return no_grad_depth_ == 0; }

private:
    friend struct detail::TapeHolder;
    friend struct detail::TapeAccess;
    template <int Which>
    friend class detail::DepthGuard;

    // Constant initialization: memory and a generation come with the first node.
    constexpr Tape() noexcept = default;

    // --- recording (through detail::TapeAccess) ---
    // Appends a node and returns its id; under NoGrad, records a leaf.
    NodeId record(Op o, std::uint32_t a, std::uint32_t b, double y) {
        // One test on the hot path: limit_ is 0 while a guard is active.
        if (size_ >= limit_) [[unlikely]]
            return record_slow(o, a, b, y);
        return append(o, a, b, y);
    }
    // Appends a node whatever the guards (the tensor module's stubs).
    NodeId push(Op o, std::uint32_t a, std::uint32_t b, double y) {
        if (size_ == capacity_) [[unlikely]]
            grow();
        return append(o, a, b, y);
    }
    // Index of constant c in `constants`. A loop that adds the same
    // constant (x + 0.5, ...) reuses its slot.
    std::uint32_t add_constant(double c) {
        if (constant_count_ > 0 &&
            std::bit_cast<std::uint64_t>(constants_[constant_count_ - 1]) == std::bit_cast<std::uint64_t>(c)) [[likely]]
            return constant_count_ - 1;
        return push_constant(c);
    }
    // Index of a new slot holding c.
    std::uint32_t append_constant(double c) {
        if (constant_count_ == constant_capacity_) [[unlikely]]
            return push_constant(c);
        constants_[constant_count_] = c;
        return constant_count_++;
    }

    // Reverse sweep from `root` (already seeded) down to node 0.
    void sweep(std::uint32_t root, const detail::Sweep& s);
    // The sweep backward() runs: into the tape's own adjoints.
    detail::Sweep own_sweep() noexcept { return {adjoint_, false, anomaly()}; }
    // Seeds `root` with one: its adjoint, or through its extension.
    void seed(std::uint32_t root, const detail::Sweep& s);
    // backward(): clears stale intermediate adjoints, seeds, then sweeps into
    // the tape's own adjoints, so leaf gradients accumulate as in PyTorch.
    void backward(std::uint32_t root);
    // Ensures non-leaf adjoints up to `root` are zero before a new sweep, and
    // notes that a sweep will write up to `root`.
    void prepare_backward(std::uint32_t root);

    void update_flags() noexcept { limit_ = (no_grad_depth_ > 0 || anomaly_depth_ > 0) ? 0 : capacity_; }

    NodeId append(Op o, std::uint32_t a, std::uint32_t b, double y) {
        const std::uint32_t i = size_++;
        const std::uint64_t key = generation_key_ | static_cast<std::uint64_t>(o);
        value_[i] = y;
        adjoint_[i] = 0.0;
        operands_[i] = Operands{a, b};
        key_[i] = key;
        return NodeId{i, key};
    }
    NodeId record_slow(Op o, std::uint32_t a, std::uint32_t b, double y);
    std::uint32_t push_constant(double c);
    void grow();
    void new_generation();
    [[noreturn]] void throw_stale(const NodeId& h, const char* what) const;
    // Called before the tape first allocates: frees its memory at thread exit.
    void own_memory();
    friend struct TapeRelease;
    void release() noexcept;

    // The arrays (see the layout above). Valid for indices < size()
    // (constants: < constant_count()).
    double* value_ = nullptr;
    double* adjoint_ = nullptr;
    Operands* operands_ = nullptr;
    std::uint64_t* key_ = nullptr;
    double* constants_ = nullptr;

    std::uint32_t size_ = 0, capacity_ = 0;
    std::uint32_t limit_ = 0;  // capacity_, or 0 while NoGrad or DetectAnomaly is active
    std::uint32_t constant_count_ = 0, constant_capacity_ = 0;
    std::uint64_t generation_key_ = 0;  // the current generation << 8 (0: none yet)
    int no_grad_depth_ = 0;             // guards (NoGrad, DetectAnomaly) nest
    int anomaly_depth_ = 0;
    // Highest index whose adjoint a sweep may have written since it was last
    // zeroed; lets backward() skip clearing intermediates in the common case.
    std::int64_t dirty_until_ = -1;
    detail::GrowableRegion regions_[4];  // where value_, adjoint_, operands_, key_ live (tape.cpp)
    std::unordered_map<std::uint32_t, std::string>* names_ = nullptr;  // created by the first set_name
    // Kinds of nodes with their own backward (the tensor module), owned by
    // the tape; each registers itself on first use.
    static constexpr std::uint32_t max_extensions = 4;
    detail::Extension* extensions_[max_extensions] = {};
};

namespace detail {
struct TapeHolder {
    static inline constinit thread_local Tape tape{};
};

// The engine's access to the tape's internals (value.hpp, the tensor module,
// the sweep). Not for users: the public Tape API keeps its invariants.
struct TapeAccess {
    static NodeId record(Tape& t, Op o, std::uint32_t a, std::uint32_t b, double y) { return t.record(o, a, b, y); }
    static NodeId push(Tape& t, Op o, std::uint32_t a, std::uint32_t b, double y) { return t.push(o, a, b, y); }
    static std::uint32_t add_constant(Tape& t, double c) { return t.add_constant(c); }
    // A ternary node's second and third operands, kept in `constants`.
    static std::uint32_t add_operands(Tape& t, std::uint32_t b, std::uint32_t c) {
        return t.append_constant(std::bit_cast<double>(Operands{b, c}));
    }
    static double* value(Tape& t) noexcept { return t.value_; }
    static double* adjoint(Tape& t) noexcept { return t.adjoint_; }
    static void sweep(Tape& t, std::uint32_t root, const Sweep& s) { t.sweep(root, s); }
    static void seed(Tape& t, std::uint32_t root, const Sweep& s) { t.seed(root, s); }
    static Sweep own_sweep(Tape& t) noexcept { return t.own_sweep(); }
    static void backward(Tape& t, std::uint32_t root) { t.backward(root); }
    static void prepare_backward(Tape& t, std::uint32_t root) { t.prepare_backward(root); }
    static Extension* extension_at(Tape& t, std::uint32_t slot) noexcept { return t.extensions_[slot]; }
    static constexpr std::uint32_t max_extensions = Tape::max_extensions;
    // A sweep into scratch adjoints (`adjoint`, root + 1 zeros): nothing on
    // the tape or in any .grad() changes.
    static Sweep scratch_sweep(Tape& t, double* adjoint) {
        for (Extension* e : t.extensions_)
            if (e) e->begin_scratch();
        return {adjoint, true, t.anomaly()};
    }
    // The extension in `slot`, made by make() and given to the tape on first use.
    template <class E>
    static E& extension(Tape& t, std::uint32_t slot) {
        if (!t.extensions_[slot]) [[unlikely]] {
            t.own_memory();  // the tape deletes it at thread exit
            t.extensions_[slot] = new E;
        }
        return static_cast<E&>(*t.extensions_[slot]);
    }
    // Moves the process's generation counter (tests of the 2^32 wrap).
    static void set_next_generation(std::uint64_t g);
};

// Extension slots (one per kind of extension node).
inline constexpr std::uint32_t tensor_extension = 0;
}  // namespace detail

static_assert(std::is_trivially_destructible_v<Tape>, "a thread_local Tape must need no initialization guard");
static_assert(!std::is_default_constructible_v<Tape> && !std::is_copy_constructible_v<Tape>,
              "the only Tape of a thread is ag::tape()");

// The current thread's tape.
inline Tape& tape() { return detail::TapeHolder::tape; }

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
// Which: 0 for NoGrad, 1 for DetectAnomaly.
template <int Which>
class DepthGuard {
public:
    DepthGuard() : tape_(&tape()) {
        ++depth();
        tape_->update_flags();
    }
    ~DepthGuard() {
        --depth();
        tape_->update_flags();
    }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

private:
    int& depth() { return Which == 0 ? tape_->no_grad_depth_ : tape_->anomaly_depth_; }
    Tape* tape_;
};
}  // namespace detail

// While alive, operations compute values but record no history: results are
// new leaves and backward() does not reach their inputs (torch.no_grad()).
class NoGrad : detail::DepthGuard<0> {};

// While alive, the first operation whose result is NaN or Inf, in the forward
// pass or in a backward sweep, throws ag::AnomalyError naming the operation
// and its inputs (torch.autograd.detect_anomaly()). Slower; for debugging.
class DetectAnomaly : detail::DepthGuard<1> {};

}  // namespace ag
