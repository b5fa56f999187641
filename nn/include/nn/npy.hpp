#pragma once
// A model's parameters as NumPy .npy files, one array per parameter, for
// moving weights to or from PyTorch, NumPy or JAX:
//
//     ag::nn::export_npy(model, "weights/");   // weights/0.weight.npy, weights/0.bias.npy, ...
//     ag::nn::import_npy(model, "weights/");   // and back, or from files NumPy wrote
//
// Layout: `directory`/<name>.npy for each entry of named_parameters(), the
// name as it is ("layers.0.weight", "0.bias", "standardizer.mean"); nothing
// else is written there. In Python:
//     state = {f[:-4]: torch.from_numpy(np.load(os.path.join(d, f))) for f in os.listdir(d)}
// Each file is NPY format version 1.0: the magic "\x93NUMPY", bytes 1 and
// 0, a little-endian u16 header length, then the header
// "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }" padded with
// spaces and ended by '\n' so that the data starts at a multiple of 64
// bytes, then the values row-major (C order), little-endian. The dtype is
// '<f4' for float32 tensors and '<f8' for everything else (float64 tensors,
// scalar Values, buffers), so every value is exact.
//
// Choices:
//   - shapes are tapegrad's: a Linear weight is [in, out], PyTorch's
//     nn.Linear weight [out, in], so transpose those two-axis weights
//     (w.T) on the way to or from PyTorch; Embedding and LayerNorm tables
//     have PyTorch's shapes;
//   - import_npy reads version 1.0, 2.0 and 3.0 files of dtype '<f8' or
//     '<f4' in C order (what np.save writes for float64 and float32 arrays
//     on a little-endian machine) and converts to the parameter's type
//     ('<f8' into a float32 tensor rounds to nearest). Shapes must match
//     exactly; a transposed two-axis shape is named as such in the error;
//   - import_npy reads and checks every file before it changes anything:
//     on an error (missing file, another dtype or shape, a damaged file) the
//     model is unchanged and a LoadError names the file and what is wrong;
//   - export_npy creates `directory` if needed and overwrites files of the
//     same names; a name that cannot be a file name (empty, with '/' or a
//     NUL, or "." / "..") is refused before anything is written.
#include <nn/parameters.hpp>
#include <nn/serialize.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace ag::nn {

void export_npy(const std::vector<NamedParameter>& parameters, const std::filesystem::path& directory);
void import_npy(const std::vector<NamedParameter>& parameters, const std::filesystem::path& directory);

template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void export_npy(const Model& model, const std::filesystem::path& directory) {
    export_npy(model.named_parameters(), directory);
}
template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void import_npy(const Model& model, const std::filesystem::path& directory) {
    import_npy(model.named_parameters(), directory);
}

// One .npy file's bytes for `values` of `shape` ('<f8'), and the same from
// float32 values ('<f4'): the format above.
std::string npy_bytes(const std::vector<std::size_t>& shape, std::span<const double> values);
std::string npy_bytes(const std::vector<std::size_t>& shape, std::span<const float> values);

}  // namespace ag::nn
