#pragma once
// Replaces the global operator new and delete (every form) with ones that
// count, for a test program that checks a hot path makes no heap
// allocation, or that memory is given back. Include it from exactly one
// source file of that program.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> allocations{0}, deallocations{0};
std::atomic<long long> allocated_bytes{0};  // requested, summed over every allocation

void release(void* p) noexcept {
    if (p != nullptr) ++deallocations;
    std::free(p);
}

void* counted(std::size_t n, std::size_t align) {
    ++allocations;
    allocated_bytes += static_cast<long long>(n);
    if (n == 0) n = 1;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n)
                                                 : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }

namespace {
// Allocations made while running f.
template <class F>
long count_allocations(F&& f) {
    const long before = allocations.load();
    f();
    return allocations.load() - before;
}

// Bytes requested from operator new while running f (freed or not).
template <class F>
long long count_allocated_bytes(F&& f) {
    const long long before = allocated_bytes.load();
    f();
    return allocated_bytes.load() - before;
}

// Allocations made while running f that were not freed by the time it
// returned.
template <class F>
long live_allocations_after(F&& f) {
    const long before = allocations.load() - deallocations.load();
    f();
    return allocations.load() - deallocations.load() - before;
}

}  // namespace
