#pragma once
// Data-parallel training: each process (rank) holds a full copy of the
// model, computes the gradients of its shard of every global mini-batch,
// and the gradients are averaged across ranks before the optimizer steps,
// so that every rank holds the same parameters after every step
// (PyTorch's DistributedDataParallel, on MPI).
//
//     #include <nn/mpi.hpp>                          // tapegrad::nn_mpi, built with -DTAPEGRAD_MPI=ON
//     ag::nn::MpiDistributed dist(argc, argv);       // MPI_Init ... MPI_Finalize
//     ag::nn::Trainer trainer({.epochs = 20, .batch_size = 64, .distributed = &dist});
//     trainer.fit(model, adam, X, y);                // run with: mpirun -np 4 ./program
//
// or, in a loop of one's own:
//     loss_of_my_shard.backward();
//     dist.average_gradients(adam.parameters(), /*weight=*/my_rows);
//     adam.step();
//
// This header needs no MPI: Distributed is the algorithm (packing the
// gradients into buckets, weighting, agreeing on failures) over a few
// transport calls that MpiDistributed (nn/mpi.hpp) implements with
// MPI_Iallreduce and MPI_Bcast; a test may implement them with threads.
//
// Choices:
//   - Averaging: average_gradients(params, w) sets every gradient to
//     sum_r w_r g_r / sum_r w_r over the ranks r. With w = the rows of the
//     rank's shard and g_r the gradient of the mean loss over them, that is
//     the gradient of the mean loss over the whole global batch, exactly as
//     one process computes it (up to the order of the sum), whether or not
//     the number of ranks divides the batch. With w = 1 on every rank it is
//     the plain mean (DDP's). A rank with w = 0 (an empty shard) still takes
//     part and adds nothing; its gradients are not read.
//   - Shards: rank r of R takes rows [floor(r n / R), floor((r + 1) n / R))
//     of each global batch of n rows (shard()): sizes differ by at most one,
//     and a batch smaller than R leaves some ranks without rows.
//   - Buckets: the gradients are copied into contiguous buckets of at most
//     DistributedOptions::bucket_bytes (25 MiB by default, DDP's) and each
//     bucket is one reduction, in float64 for Values and float64 tensors and
//     in float32 for float32 tensors. A tensor's gradient lives in the arena
//     beside its values, so the gradients of different parameters are never
//     adjacent there: one packed reduction per bucket is fewer and larger
//     messages than one per parameter. The next bucket is packed while the
//     previous one is in flight.
//   - Failures: a rank whose step threw passes the exception to the next
//     collective call (average_gradients, sum); every rank still takes part,
//     so none waits for it. Then that rank rethrows its own error and every
//     other rank throws DistributedError naming the rank and its message.
//     A rank that dies (a crash, a lost node) ends the job through the MPI
//     launcher; a rank that hangs is caught by MpiDistributed's timeout.
//   - Results are reduced so that every rank receives the same bits (the
//     MPI implementation's reduction is the same on every rank; agree()
//     checks parameters across ranks when in doubt).
#include <nn/parameters.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ag::nn {

// Thrown on every rank but the failing one when a rank's step fails.
class DistributedError : public std::runtime_error {
public:
    DistributedError(int failed_rank, const std::string& message)
        : std::runtime_error(message), failed_rank_(failed_rank) {}
    int failed_rank() const noexcept { return failed_rank_; }

private:
    int failed_rank_;
};

struct DistributedOptions {
    std::size_t bucket_bytes = std::size_t{25} << 20;  // largest single reduction
};

// Rows [begin, end) of a batch that one rank takes.
struct Shard {
    std::size_t begin = 0, end = 0;
    std::size_t size() const noexcept { return end - begin; }
};

class Distributed {
public:
    virtual ~Distributed() = default;
    Distributed(const Distributed&) = delete;
    Distributed& operator=(const Distributed&) = delete;

    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }
    bool is_root() const noexcept { return rank_ == 0; }  // rank 0 prints and saves
    const DistributedOptions& options() const noexcept { return options_; }

    // This rank's rows of a batch of n rows (see Shards above).
    Shard shard(std::size_t n) const noexcept { return shard(n, rank_); }
    Shard shard(std::size_t n, int rank) const noexcept;

    // Every gradient of `parameters` becomes sum_r w_r g_r / sum_r w_r
    // (see Averaging above); `weight` is this rank's w_r (>= 0, finite).
    // `local_error`: this rank's step failed (see Failures above). Throws
    // std::invalid_argument when every weight is 0, or when the ranks'
    // parameter lists differ in size. Allocates nothing after the first
    // call for a given parameter list.
    void average_gradients(const ParameterList& parameters, double weight = 1.0,
                           std::exception_ptr local_error = nullptr);
    // values ← the sum of `values` over the ranks (metrics: loss sums, counts).
    void sum(std::span<double> values, std::exception_ptr local_error = nullptr);
    // Rank `root`'s parameter values on every rank (a common start).
    void broadcast_parameters(const ParameterList& parameters, int root = 0);
    // Whether every rank holds the same bits in `parameters` (a hash of
    // them from each rank, compared on every rank). Two collective calls.
    bool agree(const ParameterList& parameters);
    // Whether every rank passed the same numbers (checks that ranks run the
    // same configuration); one collective call.
    bool agree(std::span<const double> values);

    // Seconds spent in the transport's collective calls (waiting included),
    // and their count, since construction (benchmarks).
    double communication_seconds() const noexcept { return comm_seconds_; }
    std::uint64_t collective_calls() const noexcept { return comm_calls_; }

protected:
    Distributed(int rank, int size, DistributedOptions options);

    // --- the transport (MpiDistributed, or a test's) ---
    // Starts an in-place sum over the ranks of `data` (the same length on
    // every rank); the buffer is not touched until wait_all() returns.
    virtual void start_sum(std::span<double> data) = 0;
    virtual void start_sum(std::span<float> data) = 0;
    // Completes every started sum.
    virtual void wait_all() = 0;
    // Rank `root`'s bytes into `data` on every rank.
    virtual void broadcast(std::span<std::byte> data, int root) = 0;

private:
    // Some rank's step failed: names it on every rank and throws.
    [[noreturn]] void fail(const char* who, int failed, double failed_rank_sum, std::exception_ptr local_error);
    void sum_timed(std::span<double> data);

    int rank_, size_;
    DistributedOptions options_;
    std::vector<double> packed64_;
    std::vector<float> packed32_;
    double comm_seconds_ = 0;
    std::uint64_t comm_calls_ = 0;
};

}  // namespace ag::nn
