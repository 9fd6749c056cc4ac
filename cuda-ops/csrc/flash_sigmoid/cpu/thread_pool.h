// A small persistent pool for the CPU kernels. parallel_for runs fn(item, worker) for every item
// in [0, n) on the pool's threads and the calling thread; worker is in [0, threads()). A second
// caller that finds the pool busy runs its items on its own thread, so concurrent calls never wait
// for each other and never deadlock.
#pragma once

#include <cstdint>
#include <functional>

namespace flash_sigmoid {

class ThreadPool {
public:
    static ThreadPool& instance();

    void parallel_for(int64_t n, const std::function<void(int64_t item, int worker)>& fn);

    // Number of workers, the calling thread included.
    int threads() const;
    void set_threads(int threads);

    // The largest worker index parallel_for can pass, plus one.
    static constexpr int kMaxThreads = 256;

private:
    ThreadPool();
    ~ThreadPool();
    struct State;
    State* state_;
};

}  // namespace flash_sigmoid
