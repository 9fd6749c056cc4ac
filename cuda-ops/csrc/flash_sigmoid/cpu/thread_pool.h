// The threads of the CPU kernels. parallel_for runs fn(item, worker) for every item in [0, n),
// worker in [0, threads()), on the OpenMP runtime that libtorch already loaded when there is one
// (sharing ATen's threads instead of competing with them), else on a small pool of our own, where a
// second caller that finds the pool busy runs its items on its own thread. Concurrent calls never
// wait for each other.
#pragma once

#include <cstdint>
#include <functional>

namespace flash_sigmoid {

class ThreadPool {
public:
    static ThreadPool& instance();

    void parallel_for(int64_t n, const std::function<void(int64_t item, int worker)>& fn);

    // Number of workers, the calling thread included: the value of set_threads or
    // FLASH_SIGMOID_NUM_THREADS if given, else the OpenMP runtime's (or the CPU count).
    int threads() const;
    void set_threads(int threads);
    // Whether regions run on libtorch's OpenMP runtime (FLASH_SIGMOID_OWN_THREADS=1 disables it).
    bool uses_openmp() const;

    // The largest worker index parallel_for can pass, plus one.
    static constexpr int kMaxThreads = 256;

private:
    int threads_for(int64_t n) const;
    ThreadPool();
    ~ThreadPool();
    struct State;
    State* state_;
};

}  // namespace flash_sigmoid
