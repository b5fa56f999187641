// The tape's storage, recording slow paths, generations and rewind.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

namespace ag {

namespace {

// Generations are unique across all tapes of the process, so a handle from
// another thread's tape, or from before a rewind, never matches a live node.
// 56 bits of them fit in a node's key (tape.hpp); past that, rewind throws.
std::atomic<std::uint64_t> next_generation{1};
constexpr std::uint64_t kGenerations = std::uint64_t{1} << 56;

// ---------------------------------------------------------------- memory ---
//
// Each node array has its own reservation of address space sized for the
// largest tape (2^32 nodes: 32 GiB of addresses each, no memory), committed
// as the tape grows: nothing is copied, unlike doubling into a new block,
// which copied the whole tape at every growth, and committed memory comes
// in huge pages where the system allows (detail/region.hpp). Together that
// made a first big graph about 30x slower to record than the same graph
// again. If the address space cannot be had (a ulimit -v), a smaller
// reservation is taken, and a tape that outgrows it moves to a larger one
// (a copy: the only case that copies).
//
// Each array starts at a different offset within a 4 KiB page. With equal
// offsets, adjoint[a], value[i] and operands[i] of nearby nodes agree in
// their low 12 address bits, which is all the CPU compares before letting a
// load pass an earlier store ("4K aliasing"): loads wait for unrelated
// stores, and recording and the sweep ran about 8% slower (measured on the
// scalar benchmark).
constexpr std::size_t kStagger = 11 * 64;
constexpr int kArrays = 4;  // value, adjoint, operands, key
constexpr std::size_t kElemSize[kArrays] = {sizeof(double), sizeof(double), sizeof(Operands), sizeof(std::uint64_t)};
constexpr std::uint32_t kMaxNodes = std::numeric_limits<std::uint32_t>::max();

std::size_t array_bytes(int k, std::uint64_t nodes) { return kStagger * k + kElemSize[k] * nodes; }
// Nodes that region k has address space for.
std::uint64_t room(const detail::GrowableRegion& r, int k) {
    return r.reserved() < kStagger * k ? 0 : (r.reserved() - kStagger * k) / kElemSize[k];
}

template <class T>
void grow_array(T*& a, std::uint32_t used, std::uint32_t cap) {
    T* b = new T[cap];
    if (used > 0) std::memcpy(b, a, sizeof(T) * used);
    delete[] a;
    a = b;
}

}  // namespace

const char* op_name(Op op) noexcept {
    switch (op) {
        case Op::Leaf: return "leaf";
        case Op::Custom: return "custom";
        case Op::CustomLeaf:
            return "custom leaf";
// clang-format off
#define AG_NAME_CASE(Name) \
    case Op::Name: return ops::Name::name;
            AG_UNARY_OPS(AG_NAME_CASE) AG_BINARY_OPS(AG_NAME_CASE) AG_CONST_OPS(AG_NAME_CASE)
            AG_TERNARY_OPS(AG_NAME_CASE)
#undef AG_NAME_CASE
            // clang-format on
    }
    return "?";
}

const char* op_derivative_text(Op op, int operand) noexcept {
    switch (op) {
// clang-format off
#define AG_UNARY_TEXT(Name) \
    case Op::Name: return ops::Name::d_text;
#define AG_BINARY_TEXT(Name) \
    case Op::Name: return operand == 0 ? ops::Name::da_text : ops::Name::db_text;
#define AG_TERNARY_TEXT(Name) \
    case Op::Name: return operand == 0 ? ops::Name::da_text : operand == 1 ? ops::Name::db_text : ops::Name::dc_text;
        AG_UNARY_OPS(AG_UNARY_TEXT) AG_CONST_OPS(AG_UNARY_TEXT) AG_BINARY_OPS(AG_BINARY_TEXT)
        AG_TERNARY_OPS(AG_TERNARY_TEXT)
#undef AG_UNARY_TEXT
#undef AG_BINARY_TEXT
#undef AG_TERNARY_TEXT
            // clang-format on
            case Op::Leaf : case Op::Custom : case Op::CustomLeaf : return "";
    }
    return "";
}

Arity op_arity(Op op) noexcept {
    switch (op) {
        case Op::Leaf: return Arity::Leaf;
        case Op::Custom:
        case Op::CustomLeaf:
            return Arity::Custom;
// clang-format off
#define AG_ARITY_CASE(Name, A) \
    case Op::Name: return Arity::A;
#define AG_U(Name) AG_ARITY_CASE(Name, Unary)
#define AG_B(Name) AG_ARITY_CASE(Name, Binary)
#define AG_C(Name) AG_ARITY_CASE(Name, WithConstant)
#define AG_T(Name) AG_ARITY_CASE(Name, Ternary)
            AG_UNARY_OPS(AG_U) AG_BINARY_OPS(AG_B) AG_CONST_OPS(AG_C) AG_TERNARY_OPS(AG_T)
#undef AG_U
#undef AG_B
#undef AG_C
#undef AG_T
#undef AG_ARITY_CASE
            // clang-format on
    }
    return Arity::Leaf;
}

int input_count(Arity a) noexcept {
    switch (a) {
        case Arity::Leaf:
        case Arity::Custom: return 0;
        case Arity::Unary:
        case Arity::WithConstant: return 1;
        case Arity::Binary: return 2;
        case Arity::Ternary: return 3;
    }
    return 0;
}

// The thread's tape is trivially destructible (see tape.hpp), so this
// object's destructor frees its memory when the thread exits. It is created
// by the tape's first allocation.
struct TapeRelease {
    ~TapeRelease() { tape().release(); }
};

void detail::TapeAccess::set_next_generation(std::uint64_t g) { next_generation.store(g); }

void Tape::own_memory() {
    thread_local TapeRelease release_at_exit;
    (void)release_at_exit;
    if (generation_key_ == 0) new_generation();
}

void Tape::new_generation() {
    const std::uint64_t g = next_generation.fetch_add(1, std::memory_order_relaxed);
    if (g >= kGenerations) {
        next_generation.store(kGenerations);  // stays used up: no later rewind may reuse one
        throw std::overflow_error(fmt::format(
            "ag::Tape: the process has used all {} generations (one per rewind); a new one could make a stale "
            "handle look live, so the tape cannot be rewound again",
            kGenerations - 1));
    }
    generation_key_ = g << 8;
}

void Tape::release() noexcept {
    for (detail::GrowableRegion& r : regions_) r.release();
    delete[] constants_;
    for (detail::Extension* e : extensions_) delete e;
    delete names_;
    // Back to the constant-initialized state: a late use allocates afresh.
    std::destroy_at(this);
    ::new (static_cast<void*>(this)) Tape();
}

void Tape::reserve(std::uint32_t n) {
    if (n <= capacity_) return;
    own_memory();
    std::byte** arrays[kArrays] = {reinterpret_cast<std::byte**>(&value_), reinterpret_cast<std::byte**>(&adjoint_),
                                   reinterpret_cast<std::byte**>(&operands_), reinterpret_cast<std::byte**>(&key_)};
    for (int k = 0; k < kArrays; ++k) {
        detail::GrowableRegion& r = regions_[k];
        if (room(r, k) < n) {
            // The first reservation, or a move when a small one is full.
            detail::GrowableRegion bigger;
            if (!bigger.reserve(array_bytes(k, kMaxNodes), array_bytes(k, std::max<std::uint64_t>(n, 2 * room(r, k)))))
                throw std::bad_alloc();
            try {
                bigger.commit(array_bytes(k, n));
            } catch (...) {
                bigger.release();
                throw;
            }
            if (size_ > 0) std::memcpy(bigger.data() + kStagger * k, *arrays[k], kElemSize[k] * size_);
            r.release();
            r = bigger;
            *arrays[k] = r.data() + kStagger * k;
        } else {
            r.commit(array_bytes(k, n));
        }
    }
    capacity_ = n;
    update_flags();
}

void Tape::grow() {
    if (capacity_ == kMaxNodes)
        throw std::length_error(fmt::format("ag::Tape: more than {} nodes on one tape", kMaxNodes));
    // Grow by an eighth, and by at most 2^21 nodes (64 MiB), not double:
    // growing in place copies nothing, so small steps cost only a few
    // system calls, and committed memory is touched as it is committed
    // (region.hpp). Doubling left up to half of it unused: 4.3 GB for a
    // 3.5 GB graph, and a first touch of memory is slow on some virtual
    // machines (about 1.4 s/GB seen on the CI kind).
    constexpr std::uint64_t max_step = std::uint64_t{1} << 21;
    const std::uint64_t want =
        std::max<std::uint64_t>(1024, capacity_ + std::min<std::uint64_t>(capacity_ / 8, max_step));
    reserve(static_cast<std::uint32_t>(std::min<std::uint64_t>(want, kMaxNodes)));
}

std::uint32_t Tape::push_constant(double c) {
    if (constant_count_ == constant_capacity_) {
        own_memory();
        const std::uint32_t cap = std::max<std::uint32_t>(64, constant_capacity_ * 2);
        if (cap <= constant_capacity_)
            throw std::length_error(fmt::format("ag::Tape: more than {} constants on one tape", constant_capacity_));
        grow_array(constants_, constant_count_, cap);
        constant_capacity_ = cap;
    }
    constants_[constant_count_] = c;
    return constant_count_++;
}

const char* Tape::op_name(std::uint32_t i) const noexcept {
    const Op o = op(i);
    if (o == Op::Custom || o == Op::CustomLeaf) return extensions_[operands_[i].rhs]->name(operands_[i].lhs);
    return ag::op_name(o);
}

NodeId Tape::record_slow(Op o, std::uint32_t a, std::uint32_t b, double y) {
    if (size_ == capacity_) grow();
    if (anomaly() && !std::isfinite(y) && o != Op::Leaf) {
        const Arity ar = op_arity(o);
        std::string inputs;
        if (ar == Arity::Unary) inputs = fmt::format("input {}", value_[a]);
        if (ar == Arity::Binary) inputs = fmt::format("inputs {} and {}", value_[a], value_[b]);
        if (ar == Arity::WithConstant) inputs = fmt::format("input {} and constant {}", value_[a], constants_[b]);
        if (ar == Arity::Ternary) {
            const auto bc = std::bit_cast<Operands>(constants_[b]);
            inputs = fmt::format("inputs {}, {} and {}", value_[a], value_[bc.lhs], value_[bc.rhs]);
        }
        throw AnomalyError(fmt::format("anomaly in forward pass: {} produced {} from {} (node #{})", ag::op_name(o), y,
                                       inputs, size_));
    }
    if (!grad_enabled()) return append(Op::Leaf, 0, 0, y);
    return append(o, a, b, y);
}

void Tape::throw_stale(const NodeId& h, const char* what) const {
    if (h.is_constant())
        throw std::logic_error(fmt::format(
            "{}: the Value is a constant ({}, from ag::constant or computed from constants only): it has no node "
            "on the tape and no derivative; use a Value (a leaf) for a number to differentiate by",
            what, std::bit_cast<double>(h.key)));
    if (h.empty())
        throw std::logic_error(fmt::format("{}: empty handle (default-constructed, it holds no node)", what));
    throw std::logic_error(
        fmt::format("{}: stale handle to node #{} (generation {}): the node was freed when the tape was rewound "
                    "(a Scope ended, or Tape::rewind/clear ran), or it belongs to another thread's tape; "
                    "create parameters before the Scope so they outlive it",
                    what, h.index, h.generation()));
}

void Tape::rewind(Mark m) {
    if (m.nodes > size_ || m.constants > constant_count_)
        throw std::logic_error(
            fmt::format("Tape::rewind: mark ({} nodes) is beyond the tape ({} nodes)", m.nodes, size_));
    // New nodes get a new generation, so handles to the freed ones fail.
    // Taken first: if none is left, nothing is freed.
    new_generation();
    for (detail::Extension* e : extensions_)
        if (e) e->rewind(*this, m.nodes);
    size_ = m.nodes;
    constant_count_ = m.constants;
    dirty_until_ = std::min<std::int64_t>(dirty_until_, std::int64_t{size_} - 1);
    if (names_) std::erase_if(*names_, [&](const auto& kv) { return kv.first >= size_; });
}

void Tape::zero_grad() noexcept {
    // Extension nodes keep "has a gradient" in their adjoint: zeroed too.
    std::fill_n(adjoint_, size_, 0.0);
    dirty_until_ = -1;
}

std::size_t Tape::bytes_reserved() const noexcept {
    std::size_t bytes = std::size_t{constant_capacity_} * sizeof(double);
    for (const detail::GrowableRegion& r : regions_) bytes += r.committed();
    for (const detail::Extension* e : extensions_)
        if (e) bytes += e->bytes();
    return bytes;
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
