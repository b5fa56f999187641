#pragma once
// ag::nn::MpiDistributed: data-parallel training (nn/distributed.hpp) over
// MPI. In the library tapegrad::nn_mpi, built when CMake finds MPI
// (-DTAPEGRAD_MPI=ON, the default then); includes <mpi.h>.
//
//     int main(int argc, char** argv) {
//         ag::nn::MpiDistributed dist(argc, argv);   // MPI_Init_thread; MPI_Finalize at the end
//         ...
//         trainer.fit(...);                          // TrainOptions::distributed = &dist
//     }
//     $ mpirun -np 4 ./program                       # one machine (add --oversubscribe past its cores)
//     $ mpirun -np 64 --hostfile hosts ./program     # a cluster
//
// Failures (see nn/distributed.hpp for a rank whose step throws):
//   - a collective call that waits longer than MpiOptions::timeout_seconds
//     for the other ranks (one hangs, or its node was lost and the launcher
//     has not noticed) prints which call and rank waited, and ends the job
//     (MPI_Abort when MPI runs with MPI_THREAD_MULTIPLE, else the process
//     exits with status 1, which makes mpirun end the others);
//   - an MpiDistributed that initialized MPI and is destroyed while an
//     exception unwinds the stack calls MPI_Abort rather than MPI_Finalize,
//     which would wait for ranks that may be waiting for this one.
#include <nn/distributed.hpp>

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ag::nn {

struct MpiOptions {
    DistributedOptions distributed = {};
    // Longest wait in one collective call before the job is ended; 0 waits
    // forever. Long enough for rank 0 to write a checkpoint while the
    // others wait.
    double timeout_seconds = 300;
};

class MpiDistributed final : public Distributed {
public:
    // Initializes MPI unless it already is (and then finalizes it when
    // destroyed); works on a duplicate of MPI_COMM_WORLD.
    MpiDistributed(int& argc, char**& argv, const MpiOptions& options = {});
    explicit MpiDistributed(const MpiOptions& options = {});
    // On a duplicate of `comm`; MPI was initialized by the caller, who
    // finalizes it after this object is gone.
    explicit MpiDistributed(MPI_Comm comm, const MpiOptions& options = {});
    ~MpiDistributed() override;

    MPI_Comm communicator() const noexcept { return comm_; }
    const MpiOptions& mpi_options() const noexcept { return mpi_options_; }
    // Prints `message` on stderr (with this rank) and ends the whole job.
    [[noreturn]] void abort(const std::string& message, int code = 1);

protected:
    void start_sum(std::span<double> data) override;
    void start_sum(std::span<float> data) override;
    void wait_all() override;
    void broadcast(std::span<std::byte> data, int root) override;

private:
    struct Setup {
        MPI_Comm comm;
        int rank, size;
        bool owns_mpi;
    };
    static Setup setup(int* argc, char*** argv, MPI_Comm base, bool may_init);
    MpiDistributed(const Setup& s, const MpiOptions& options);

    // The watchdog: `since` is the steady-clock time (ns) when the current
    // collective call began waiting, 0 when none is.
    class Waiting;
    void watch();

    MPI_Comm comm_;
    bool owns_mpi_;
    int thread_level_ = MPI_THREAD_SINGLE;
    MpiOptions mpi_options_;
    std::vector<MPI_Request> requests_;
    std::atomic<std::int64_t> waiting_since_{0};
    std::atomic<const char*> waiting_in_{""};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread watchdog_;
};

}  // namespace ag::nn
