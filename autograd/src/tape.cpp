// The tape's storage, recording slow paths, generations and rewind.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
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
// The node arrays live in one reservation of address space sized for the
// largest tape (2^32 nodes, 128 GiB of addresses, no memory), each
// array at its own 2 MiB-aligned slot. Growing commits more of each slot in
// place: nothing is copied, unlike doubling into a new block, which copied
// the whole tape at every growth. Committed memory is asked for in huge
// pages where the system allows (MADV_HUGEPAGE) and populated in one call
// (MADV_POPULATE_WRITE), so a first big graph does not pay a page fault for
// every 4 KiB it touches: cold recording was about 30x slower than warm.
// If the address space cannot be had (a ulimit -v), a smaller reservation
// is taken, and a tape that outgrows it moves to a larger one (a copy, the
// only case that copies).
//
// Each array starts at a different offset within a 4 KiB page. With equal
// offsets, adjoint[a], value[i] and operands[i] of nearby nodes agree in
// their low 12 address bits, which is all the CPU compares before letting a
// load pass an earlier store ("4K aliasing"): loads wait for unrelated
// stores, and recording and the sweep ran about 8% slower (measured on the
// scalar benchmark).
constexpr std::size_t kPage = 4096, kHuge = std::size_t{2} << 20, kStagger = 11 * 64;
constexpr int kArrays = 4;  // value, adjoint, operands, key
constexpr std::size_t kElemSize[kArrays] = {sizeof(double), sizeof(double), sizeof(Operands), sizeof(std::uint64_t)};
constexpr std::uint32_t kMaxNodes = std::numeric_limits<std::uint32_t>::max();

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Bytes of one array's slot in a reservation for n nodes (room for the
// stagger, whole huge pages).
std::size_t slot_bytes(std::uint32_t n, int k) { return round_up(kStagger * k + kElemSize[k] * n, kHuge); }
std::size_t region_bytes(std::uint32_t n) {
    std::size_t total = 0;
    for (int k = 0; k < kArrays; ++k) total += slot_bytes(n, k);
    return total;
}
std::size_t slot_offset(std::uint32_t n, int k) {
    std::size_t at = 0;
    for (int j = 0; j < k; ++j) at += slot_bytes(n, j);
    return at + kStagger * k;
}

// Reserves address space (no memory) for a region for n nodes, aligned to a
// huge page; nullptr if the system refuses.
std::byte* reserve_region(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    auto* raw = static_cast<std::byte*>(p);
    auto* base = reinterpret_cast<std::byte*>(round_up(reinterpret_cast<std::uintptr_t>(raw), kHuge));
    // Give back the unaligned ends.
    if (base > raw) ::munmap(raw, static_cast<std::size_t>(base - raw));
    const std::size_t tail = static_cast<std::size_t>((raw + bytes + kHuge) - (base + bytes));
    if (tail > 0) ::munmap(base + bytes, tail);
    return base;
}

// Makes [from, to) of a slot usable; throws std::bad_alloc if the system has
// no memory for it.
void commit(std::byte* slot, std::size_t from, std::size_t to) {
    if (to <= from) return;
    if (::mprotect(slot + from, to - from, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(slot + from, to - from, MADV_HUGEPAGE);  // advice: fine if refused
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels say EINVAL and fault pages in as usual
#endif
    ::madvise(slot + from, to - from, MADV_POPULATE_WRITE);
}

// Committed bytes of a slot holding n nodes of array k: whole pages while
// small, whole huge pages past one.
std::size_t committed_bytes(std::uint32_t n, int k) {
    const std::size_t need = kStagger * k + kElemSize[k] * std::size_t{n};
    return need <= kHuge ? round_up(need, kPage) : round_up(need, kHuge);
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
    if (nodes_.base) ::munmap(nodes_.base, nodes_.reserved);
    delete[] constants_;
    detail::delete_tensor_store(tensors_);
    delete names_;
    // Back to the constant-initialized state: a late use allocates afresh.
    std::destroy_at(this);
    ::new (static_cast<void*>(this)) Tape();
}

void Tape::reserve(std::uint32_t n) {
    if (n <= capacity_) return;
    own_memory();
    if (n > reserved_nodes_) {
        // A new reservation: the first, or a move when a small one is full.
        std::uint32_t room = kMaxNodes;
        std::byte* base = nullptr;
        while (!(base = reserve_region(region_bytes(room)))) {
            if (room / 2 < std::max<std::uint32_t>(n, 1u << 16)) throw std::bad_alloc();
            room /= 2;
        }
        detail::Region fresh{base, region_bytes(room), 0};
        void* arrays[kArrays] = {value_, adjoint_, operands_, key_};
        std::byte* moved[kArrays];
        try {
            for (int k = 0; k < kArrays; ++k) {
                moved[k] = base + slot_offset(room, k);
                std::byte* slot = moved[k] - kStagger * k;
                commit(slot, 0, committed_bytes(n, k));
                if (size_ > 0) std::memcpy(moved[k], arrays[k], kElemSize[k] * size_);
            }
        } catch (...) {
            ::munmap(base, fresh.reserved);
            throw;
        }
        if (nodes_.base) ::munmap(nodes_.base, nodes_.reserved);
        nodes_ = fresh;
        reserved_nodes_ = room;
        value_ = reinterpret_cast<double*>(moved[0]);
        adjoint_ = reinterpret_cast<double*>(moved[1]);
        operands_ = reinterpret_cast<Operands*>(moved[2]);
        key_ = reinterpret_cast<std::uint64_t*>(moved[3]);
    } else {
        void* arrays[kArrays] = {value_, adjoint_, operands_, key_};
        for (int k = 0; k < kArrays; ++k) {
            std::byte* slot = static_cast<std::byte*>(arrays[k]) - kStagger * k;
            commit(slot, committed_bytes(capacity_, k), committed_bytes(n, k));
        }
    }
    std::size_t committed = 0;
    for (int k = 0; k < kArrays; ++k) committed += committed_bytes(n, k);
    nodes_.committed = committed;
    capacity_ = n;
    update_flags();
}

void Tape::grow() {
    if (capacity_ == kMaxNodes)
        throw std::length_error(fmt::format("ag::Tape: more than {} nodes on one tape", kMaxNodes));
    const std::uint64_t want = std::max<std::uint64_t>(1024, std::uint64_t{capacity_} * 2);
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

NodeId Tape::record_slow(Op o, std::uint32_t a, std::uint32_t b, double y) {
    if (size_ == capacity_) grow();
    if (anomaly() && !std::isfinite(y) && o != Op::Leaf) {
        const Arity ar = op_arity(o);
        std::string inputs;
        if (ar == Arity::Unary) inputs = fmt::format("input {}", value_[a]);
        if (ar == Arity::Binary) inputs = fmt::format("inputs {} and {}", value_[a], value_[b]);
        if (ar == Arity::WithConstant) inputs = fmt::format("input {} and constant {}", value_[a], constants_[b]);
        throw AnomalyError(fmt::format("anomaly in forward pass: {} produced {} from {} (node #{})", op_name(o), y,
                                       inputs, size_));
    }
    if (!grad_enabled()) return append(Op::Leaf, 0, 0, y);
    return append(o, a, b, y);
}

void Tape::throw_stale(const NodeId& h, const char* what) const {
    if (h.empty()) throw std::logic_error(fmt::format("{}: empty handle (default-constructed, it holds no node)", what));
    throw std::logic_error(fmt::format(
        "{}: stale handle to node #{} (generation {}): the node was freed when the tape was rewound "
        "(a Scope ended, or Tape::rewind/clear ran), or it belongs to another thread's tape; "
        "create parameters before the Scope so they outlive it",
        what, h.index, h.generation()));
}

void Tape::rewind(Mark m) {
    if (m.nodes > size_ || m.constants > constant_count_)
        throw std::logic_error(fmt::format("Tape::rewind: mark ({} nodes) is beyond the tape ({} nodes)", m.nodes,
                                           size_));
    // New nodes get a new generation, so handles to the freed ones fail.
    // Taken first: if none is left, nothing is freed.
    new_generation();
    if (tensors_) detail::tensor_rewind(*this, m.nodes);
    size_ = m.nodes;
    constant_count_ = m.constants;
    dirty_until_ = std::min<std::int64_t>(dirty_until_, std::int64_t{size_} - 1);
    if (names_) std::erase_if(*names_, [&](const auto& kv) { return kv.first >= size_; });
}

void Tape::zero_grad() noexcept {
    std::fill_n(adjoint_, size_, 0.0);
    if (tensors_)
        for (std::uint32_t i = 0; i < size_; ++i)
            if (op(i) == Op::Tensor) detail::tensor_zero_grad(*this, operands_[i].lhs);
    dirty_until_ = -1;
}

std::size_t Tape::bytes_reserved() const noexcept {
    return nodes_.committed + std::size_t{constant_capacity_} * sizeof(double) +
           (tensors_ ? detail::tensor_bytes(*this) : 0);
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
