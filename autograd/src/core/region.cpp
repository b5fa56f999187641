// Reserved address space committed as it fills (memory.hpp).
#include <autograd/detail/region.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace ag::detail {

namespace {
constexpr std::size_t kPage = 4096, kHuge = std::size_t{2} << 20;
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

bool GrowableRegion::reserve(std::size_t max_bytes, std::size_t min_bytes) noexcept {
    release();
    for (std::size_t bytes = round_up(max_bytes, kHuge); bytes >= min_bytes && bytes >= kHuge; bytes /= 2) {
        // No memory, only addresses: PROT_NONE is not counted against the
        // commit limit, and MAP_NORESERVE says so where it would be.
        void* p = ::mmap(nullptr, bytes + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) continue;
        auto* raw = static_cast<std::byte*>(p);
        auto* base = reinterpret_cast<std::byte*>(round_up(reinterpret_cast<std::uintptr_t>(raw), kHuge));
        // Give back the unaligned ends.
        if (base > raw) ::munmap(raw, static_cast<std::size_t>(base - raw));
        const std::size_t tail = static_cast<std::size_t>((raw + bytes + kHuge) - (base + bytes));
        if (tail > 0) ::munmap(base + bytes, tail);
        base_ = base;
        reserved_ = bytes;
        return true;
    }
    return false;
}

void GrowableRegion::commit(std::size_t bytes) {
    if (bytes <= committed_) return;
    if (bytes > reserved_) throw std::bad_alloc();
    const std::size_t to = std::min(reserved_, bytes <= kHuge ? round_up(bytes, kPage) : round_up(bytes, kHuge));
    std::byte* from = base_ + committed_;
    const std::size_t n = to - committed_;
    if (::mprotect(from, n, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Huge pages where the system allows ("madvise" mode): 512 times fewer
    // faults. Only advice: fine if refused.
    ::madvise(from, n, MADV_HUGEPAGE);
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels say EINVAL and fault pages in as usual
#endif
    ::madvise(from, n, MADV_POPULATE_WRITE);
    committed_ = to;
}

void GrowableRegion::release() noexcept {
    if (base_) ::munmap(base_, reserved_);
    *this = GrowableRegion{};
}

}  // namespace ag::detail
