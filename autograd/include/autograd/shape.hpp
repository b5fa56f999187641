#pragma once
// ag::Shape, the sizes of a tensor's axes, and the rules tensor operations
// share for them: broadcasting, axis numbering, reduced shapes.
#include <fmt/format.h>

#include <array>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace ag {

// The size of each axis, at most max_rank of them, stored inline.
//     ag::Shape s{2, 3};   s.rank() == 2, s[1] == 3, s.numel() == 6
// A negative size is allowed only as reshape's "infer this axis" (-1).
class Shape {
public:
    static constexpr int max_rank = 4;

    constexpr Shape() noexcept = default;
    template <std::integral... I>
    requires(sizeof...(I) >= 1 &&
             sizeof...(I) <= max_rank) constexpr Shape(I... sizes) noexcept  // NOLINT: implicit, so {2, 3} is a Shape
        : dims_{static_cast<std::int64_t>(sizes)...}, rank_(static_cast<int>(sizeof...(I))) {}
    // From a run-time list; throws std::invalid_argument if longer than max_rank.
    explicit Shape(std::span<const std::int64_t> sizes);

    int rank() const noexcept { return rank_; }
    // The element count. Throws std::length_error when the nonzero sizes
    // multiply past int64, even if an axis is empty: every partial product
    // (a stride, the rows of a matrix view) then fits too.
    std::int64_t numel() const {
        std::int64_t n = 1;
        bool empty = false;
        for (int i = 0; i < rank_; ++i) {
            const std::int64_t d = dims_[static_cast<std::size_t>(i)];
            if (d == 0)
                empty = true;
            else if (__builtin_mul_overflow(n, d, &n)) [[unlikely]]
                throw_numel_overflow();
        }
        return empty ? 0 : n;
    }
    std::int64_t operator[](int axis) const noexcept { return dims_[static_cast<std::size_t>(axis)]; }
    std::int64_t& operator[](int axis) noexcept { return dims_[static_cast<std::size_t>(axis)]; }
    const std::int64_t* begin() const noexcept { return dims_.data(); }
    const std::int64_t* end() const noexcept { return dims_.data() + rank_; }
    bool operator==(const Shape& o) const noexcept {
        if (rank_ != o.rank_) return false;
        for (int i = 0; i < rank_; ++i)
            if ((*this)[i] != o[i]) return false;
        return true;
    }
    // "[2, 3]"; "[]" for rank 0.
    std::string str() const;

private:
    [[noreturn]] void throw_numel_overflow() const;
    std::array<std::int64_t, max_rank> dims_{};
    int rank_ = 0;
};

// NumPy broadcasting: shapes aligned at the last axis, an axis of size 1
// (or a missing leading one) stretching to match. Throws
// std::invalid_argument naming `op` and both shapes when they cannot be.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

// Axis numbering: negative counts from the end. Returns the axis in
// [0, rank); throws std::invalid_argument naming `op` and the shape if out
// of range.
int normalize_axis(int axis, int rank, const char* op, const Shape& shape);

// A shape seen as [outer, n, inner] around one axis (the rows a reduction
// or softmax runs along).
struct AxisView {
    std::int64_t outer, n, inner;
};
AxisView axis_view(const Shape& shape, int axis);

// `shape` with `axis` removed, or kept with size 1 (keepdim).
Shape reduced_shape(const Shape& shape, int axis, bool keepdim);

enum class DType : std::uint8_t { float32, float64 };
template <class T>
inline constexpr DType dtype_of = std::is_same_v<T, float> ? DType::float32 : DType::float64;
inline const char* dtype_name(DType d) noexcept { return d == DType::float32 ? "float32" : "float64"; }

}  // namespace ag

template <>
struct fmt::formatter<ag::Shape> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::Shape& s, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", s.str());
    }
};
