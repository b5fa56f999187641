// The tape's storage, recording slow paths and rewind.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

namespace ag {

namespace {
// Generations are unique across all tapes of the process, so a handle from
// another thread's tape, or from before a rewind, never matches a live node.
std::atomic<std::uint32_t> next_generation{1};
std::uint32_t new_generation() { return next_generation.fetch_add(1, std::memory_order_relaxed); }

template <class T>
void grow_array(T*& a, std::uint32_t used, std::uint32_t cap) {
    T* b = new T[cap];
    if (used > 0) std::memcpy(b, a, sizeof(T) * used);
    delete[] a;
    a = b;
}

// The node arrays share one block, each starting at a different offset
// within a 4 KiB page. With equal offsets, adjoint[a], value[i] and
// operands[i] of nearby nodes agree in their low 12 address bits, which is
// all the CPU compares before letting a load pass an earlier store ("4K
// aliasing"): loads wait for unrelated stores, and recording and the sweep
// ran about 8% slower (measured on the scalar benchmark).
constexpr std::size_t kPage = 4096, kStagger = 11 * 64;

struct NodeLayout {
    std::size_t value, adjoint, operands, generation, op, bytes;
    explicit NodeLayout(std::uint32_t n) {
        std::size_t end = 0, k = 0;
        auto place = [&](std::size_t bytes) {
            const std::size_t at = (end + kPage - 1) / kPage * kPage + kStagger * k++;
            end = at + bytes;
            return at;
        };
        value = place(sizeof(double) * n);
        adjoint = place(sizeof(double) * n);
        operands = place(sizeof(Operands) * n);
        generation = place(sizeof(std::uint32_t) * n);
        op = place(sizeof(Op) * n);
        bytes = end;
    }
};

template <class T>
T* carve(std::byte* block, std::size_t at, const T* old, std::uint32_t used) {
    T* a = reinterpret_cast<T*>(block + at);
    if (used > 0) std::memcpy(a, old, sizeof(T) * used);
    return a;
}
}  // namespace

const char* op_name(Op op) noexcept {
    switch (op) {
        case Op::Leaf: return "leaf";
        case Op::Tensor: return "tensor";
#define AG_NAME_CASE(Name) \
    case Op::Name: return ops::Name::name;
            AG_UNARY_OPS(AG_NAME_CASE) AG_BINARY_OPS(AG_NAME_CASE) AG_CONST_OPS(AG_NAME_CASE)
#undef AG_NAME_CASE
    }
    return "?";
}

Arity op_arity(Op op) noexcept {
    switch (op) {
        case Op::Leaf: return Arity::Leaf;
        case Op::Tensor: return Arity::Tensor;
#define AG_ARITY_CASE(Name, A) \
    case Op::Name: return Arity::A;
#define AG_U(Name) AG_ARITY_CASE(Name, Unary)
#define AG_B(Name) AG_ARITY_CASE(Name, Binary)
#define AG_C(Name) AG_ARITY_CASE(Name, WithConstant)
            AG_UNARY_OPS(AG_U) AG_BINARY_OPS(AG_B) AG_CONST_OPS(AG_C)
#undef AG_U
#undef AG_B
#undef AG_C
#undef AG_ARITY_CASE
    }
    return Arity::Leaf;
}

// The thread's tape is trivially destructible (see tape.hpp), so this
// object's destructor frees its memory when the thread exits. It is created
// by the tape's first allocation.
struct TapeRelease {
    ~TapeRelease() { detail::thread_tape.release(); }
};

void Tape::own_memory() {
    thread_local TapeRelease release_at_exit;
    (void)release_at_exit;
    if (generation_now_ == 0) generation_now_ = new_generation();
}

void Tape::release() noexcept {
    if (nodes_block_) ::operator delete(nodes_block_, std::align_val_t{kPage});
    delete[] constants;
    detail::delete_tensor_store(tensors);
    delete names_;
    // Back to the constant-initialized state: a late use allocates afresh.
    std::destroy_at(this);
    std::construct_at(this);
}

void Tape::reserve(std::uint32_t n) {
    if (n <= capacity_) return;
    own_memory();
    const NodeLayout at(n);
    auto* block = static_cast<std::byte*>(::operator new(at.bytes, std::align_val_t{kPage}));
    value = carve(block, at.value, value, size_);
    adjoint = carve(block, at.adjoint, adjoint, size_);
    operands = carve(block, at.operands, operands, size_);
    generation = carve(block, at.generation, generation, size_);
    op = carve(block, at.op, op, size_);
    if (nodes_block_) ::operator delete(nodes_block_, std::align_val_t{kPage});
    nodes_block_ = block;
    nodes_block_bytes_ = at.bytes;
    capacity_ = n;
    update_flags();
}

void Tape::grow() {
    constexpr std::uint32_t max_nodes = std::numeric_limits<std::uint32_t>::max();
    if (capacity_ == max_nodes)
        throw std::length_error(fmt::format("ag::Tape: more than {} nodes on one tape", max_nodes));
    const std::uint64_t want = std::max<std::uint64_t>(1024, std::uint64_t{capacity_} * 2);
    reserve(static_cast<std::uint32_t>(std::min<std::uint64_t>(want, max_nodes)));
}

std::uint32_t Tape::push_constant(double c) {
    if (constant_count_ == constant_capacity_) {
        own_memory();
        const std::uint32_t cap = std::max<std::uint32_t>(64, constant_capacity_ * 2);
        if (cap <= constant_capacity_)
            throw std::length_error(fmt::format("ag::Tape: more than {} constants on one tape", constant_capacity_));
        grow_array(constants, constant_count_, cap);
        constant_capacity_ = cap;
    }
    constants[constant_count_] = c;
    return constant_count_++;
}

void Tape::adopt_tensor_store(detail::TensorStore* s) {
    own_memory();
    tensors = s;
}

std::uint32_t Tape::record_slow(Op o, std::uint32_t a, std::uint32_t b, double y) {
    if (size_ == capacity_) grow();
    if (anomaly() && !std::isfinite(y) && o != Op::Leaf) {
        const Arity ar = op_arity(o);
        std::string inputs;
        if (ar == Arity::Unary) inputs = fmt::format("input {}", value[a]);
        if (ar == Arity::Binary) inputs = fmt::format("inputs {} and {}", value[a], value[b]);
        if (ar == Arity::WithConstant) inputs = fmt::format("input {} and constant {}", value[a], constants[b]);
        throw AnomalyError(fmt::format("anomaly in forward pass: {} produced {} from {} (node #{})", op_name(o), y,
                                       inputs, size_));
    }
    if (!grad_enabled()) return append(Op::Leaf, 0, 0, y);
    return append(o, a, b, y);
}

void Tape::throw_stale(std::uint32_t index, std::uint32_t gen, const char* what) const {
    if (gen == 0) throw std::logic_error(fmt::format("{}: empty handle (default-constructed, it holds no node)", what));
    throw std::logic_error(fmt::format(
        "{}: stale handle to node #{} (generation {}): the node was freed when the tape was rewound "
        "(a Scope ended, or Tape::rewind/clear ran), or it belongs to another thread's tape; "
        "create parameters before the Scope so they outlive it",
        what, index, gen));
}

void Tape::rewind(Mark m) {
    if (m.nodes > size_ || m.constants > constant_count_)
        throw std::logic_error(fmt::format("Tape::rewind: mark ({} nodes) is beyond the tape ({} nodes)", m.nodes,
                                           size_));
    if (tensors) detail::tensor_rewind(*this, m.nodes);
    size_ = m.nodes;
    constant_count_ = m.constants;
    dirty_until_ = std::min<std::int64_t>(dirty_until_, std::int64_t{size_} - 1);
    if (names_) std::erase_if(*names_, [&](const auto& kv) { return kv.first >= size_; });
    // New nodes get a new generation: handles to the freed ones now fail.
    generation_now_ = new_generation();
}

void Tape::zero_grad() noexcept {
    std::fill_n(adjoint, size_, 0.0);
    if (tensors)
        for (std::uint32_t i = 0; i < size_; ++i)
            if (op[i] == Op::Tensor) detail::tensor_zero_grad(*this, operands[i].lhs);
    dirty_until_ = -1;
}

std::size_t Tape::bytes_reserved() const noexcept {
    return nodes_block_bytes_ + std::size_t{constant_capacity_} * sizeof(double) +
           (tensors ? detail::tensor_bytes(*this) : 0);
}

const std::string* Tape::name(std::uint32_t index) const {
    if (!names_) return nullptr;
    auto it = names_->find(index);
    return it == names_->end() ? nullptr : &it->second;
}

void Tape::set_name(std::uint32_t index, std::string name) {
    if (!names_) {
        own_memory();
        names_ = new std::unordered_map<std::uint32_t, std::string>;
    }
    (*names_)[index] = std::move(name);
}

}  // namespace ag
