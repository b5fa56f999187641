// Shape and the rules tensor operations share for shapes (shape.hpp).
#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace ag {

Shape::Shape(std::span<const std::int64_t> sizes) {
    if (sizes.size() > static_cast<std::size_t>(max_rank))
        throw std::invalid_argument(
            fmt::format("Shape: {} axes given, at most {} are supported", sizes.size(), max_rank));
    rank_ = static_cast<int>(sizes.size());
    std::copy(sizes.begin(), sizes.end(), dims_.begin());
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(begin(), end(), ", ")); }

void Shape::throw_numel_overflow() const {
    throw std::length_error(fmt::format("numel: the sizes of shape {} multiply past the int64 range (max {})", str(),
                                        std::numeric_limits<std::int64_t>::max()));
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
    const int r = std::max(a.rank(), b.rank());
    std::int64_t dims[Shape::max_rank];
    for (int k = 0; k < r; ++k) {
        // Axis k counted from the end.
        const std::int64_t da = k < a.rank() ? a[a.rank() - 1 - k] : 1;
        const std::int64_t db = k < b.rank() ? b[b.rank() - 1 - k] : 1;
        if (da != db && da != 1 && db != 1)
            throw std::invalid_argument(
                fmt::format("{}: {} and {}: shapes cannot be broadcast (axis sizes {} and {} differ)", op, a.str(),
                            b.str(), da, db));
        dims[r - 1 - k] = da == 1 ? db : da;
    }
    return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r)));
}

int normalize_axis(int axis, int rank, const char* op, const Shape& shape) {
    if (axis < -rank || axis >= rank)
        throw std::invalid_argument(
            fmt::format("{}: axis {} is out of range for shape {} (rank {})", op, axis, shape.str(), rank));
    return axis < 0 ? axis + rank : axis;
}

AxisView axis_view(const Shape& shape, int axis) {
    AxisView v{1, shape[axis], 1};
    for (int a = 0; a < axis; ++a) v.outer *= shape[a];
    for (int a = axis + 1; a < shape.rank(); ++a) v.inner *= shape[a];
    return v;
}

Shape reduced_shape(const Shape& shape, int axis, bool keepdim) {
    std::int64_t dims[Shape::max_rank];
    int r = 0;
    for (int a = 0; a < shape.rank(); ++a) {
        if (a != axis)
            dims[r++] = shape[a];
        else if (keepdim)
            dims[r++] = 1;
    }
    return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r)));
}

std::int64_t detail::broadcast_source(const Shape& from, const Shape& to, std::int64_t k) {
    // Digits of k in `to`'s axes, read back in `from`'s (axes aligned at the
    // end; a stretched axis of size 1 contributes 0).
    std::int64_t index = 0, stride = 1;
    for (int a = to.rank() - 1, f = from.rank() - 1; a >= 0; --a, --f) {
        const std::int64_t digit = k % to[a];
        k /= to[a];
        if (f >= 0) {
            if (from[f] != 1) index += digit * stride;
            stride *= from[f];
        }
    }
    return index;
}

}  // namespace ag
