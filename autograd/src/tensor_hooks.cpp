// Placeholder until the tensor module lands: no tensor record exists yet
// (Tape::tensors stays null), so the tape never calls these.
#include <autograd/tape.hpp>

namespace ag::detail {
struct TensorStore {};
void TensorStoreDeleter::operator()(TensorStore* s) const noexcept { delete s; }
void tensor_backward(Tape&, std::uint32_t, bool) {}
void tensor_seed(Tape&, std::uint32_t) {}
void tensor_zero_grad(Tape&, std::uint32_t) {}
bool tensor_is_leaf(const Tape&, std::uint32_t) { return true; }
void tensor_rewind(Tape&, std::uint32_t) {}
std::size_t tensor_bytes(const Tape&) { return 0; }
}  // namespace ag::detail
