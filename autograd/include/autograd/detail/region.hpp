#pragma once
// Memory that grows in place: address space reserved once, committed as it
// fills. An array in it never moves, so growing copies nothing, and the
// committed part is asked for in huge pages and populated in one call, so a
// first big graph does not pay a page fault for every 4 KiB it touches.
// Used by the tape's node arrays and the tensor arena. Not public API: it
// is here because the Tape object holds some.
#include <cstddef>

namespace ag::detail {

// Trivially destructible (it lives in the thread_local tape): release() frees.
class GrowableRegion {
public:
    // Reserves up to `max_bytes` of address space, halving down to
    // `min_bytes` if the system refuses more (a ulimit -v); false if even
    // that fails. The base is aligned to a huge page.
    bool reserve(std::size_t max_bytes, std::size_t min_bytes) noexcept;
    // Makes the first `bytes` usable (whole pages; whole huge pages past the
    // first). Throws std::bad_alloc beyond the reservation or if the system
    // has no memory for it.
    void commit(std::size_t bytes);
    void release() noexcept;

    std::byte* data() const noexcept { return base_; }
    std::size_t reserved() const noexcept { return reserved_; }
    std::size_t committed() const noexcept { return committed_; }

private:
    std::byte* base_ = nullptr;
    std::size_t reserved_ = 0;
    std::size_t committed_ = 0;
};

}  // namespace ag::detail
