#include "thread_pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace flash_sigmoid {

namespace {

int default_threads() {
    if (const char* env = std::getenv("FLASH_SIGMOID_NUM_THREADS")) {
        int n = std::atoi(env);
        if (n > 0) return n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace

struct ThreadPool::State {
    std::mutex busy;  // held by the caller whose job the pool runs
    std::mutex m;
    std::condition_variable wake;
    std::condition_variable done;
    std::vector<std::thread> workers;
    int wanted = 1;
    bool stopping = false;

    // The current job.
    const std::function<void(int64_t, int)>* fn = nullptr;
    int64_t n = 0;
    std::atomic<int64_t> next{0};
    int active = 0;       // workers still inside the job
    uint64_t epoch = 0;   // bumped for every job
    std::exception_ptr error;

    void run_items(int worker) {
        try {
            for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) (*fn)(i, worker);
        } catch (...) {
            std::lock_guard<std::mutex> lock(m);
            if (!error) error = std::current_exception();
            next.store(n);
        }
    }

    void worker_loop(int worker) {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> lock(m);
        while (true) {
            wake.wait(lock, [&] { return stopping || epoch != seen; });
            if (stopping) return;
            seen = epoch;
            if (worker >= wanted) continue;
            lock.unlock();
            run_items(worker);
            lock.lock();
            if (--active == 0) done.notify_all();
        }
    }

    void resize(int threads) {
        // Called with `busy` held and no job running.
        {
            std::lock_guard<std::mutex> lock(m);
            stopping = true;
        }
        wake.notify_all();
        for (std::thread& t : workers) t.join();
        workers.clear();
        stopping = false;
        wanted = threads;
        for (int w = 1; w < threads; ++w) workers.emplace_back([this, w] { worker_loop(w); });
    }
};

ThreadPool::ThreadPool() : state_(new State) {
    std::lock_guard<std::mutex> lock(state_->busy);
    int n = default_threads();
    state_->resize(n < kMaxThreads ? n : kMaxThreads);
}

ThreadPool::~ThreadPool() {
    // The pool lives until process exit; joining threads during static destruction can hang
    // when the runtime has already torn them down, so the threads are left to the OS.
}

ThreadPool& ThreadPool::instance() {
    static ThreadPool* pool = new ThreadPool();
    return *pool;
}

int ThreadPool::threads() const {
    std::lock_guard<std::mutex> lock(state_->m);
    return state_->wanted;
}

void ThreadPool::set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > kMaxThreads) threads = kMaxThreads;
    std::lock_guard<std::mutex> busy(state_->busy);
    if (threads != state_->wanted) state_->resize(threads);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
    if (n <= 0) return;
    State& s = *state_;
    std::unique_lock<std::mutex> busy(s.busy, std::try_to_lock);
    if (!busy.owns_lock() || s.wanted == 1 || n == 1) {
        for (int64_t i = 0; i < n; ++i) fn(i, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(s.m);
        s.fn = &fn;
        s.n = n;
        s.next.store(0);
        s.error = nullptr;
        s.active = s.wanted - 1;
        ++s.epoch;
    }
    s.wake.notify_all();
    s.run_items(0);
    std::unique_lock<std::mutex> lock(s.m);
    s.done.wait(lock, [&] { return s.active == 0; });
    s.fn = nullptr;
    if (s.error) std::rethrow_exception(s.error);
}

}  // namespace flash_sigmoid
