#include "thread_pool.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace flash_sigmoid {

namespace {

int env_threads() {
    if (const char* env = std::getenv("FLASH_SIGMOID_NUM_THREADS")) {
        int n = std::atoi(env);
        if (n > 0) return n;
    }
    return 0;
}

int available_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? static_cast<int>(n) : 1;
}

// The GNU OpenMP entry points of the OpenMP runtime libtorch already loaded (libgomp, or a
// runtime with the GOMP compatibility layer). Running our parallel regions on the same threads
// as ATen's matters: a separate pool would compete with ATen's workers, which spin for
// milliseconds after each of ATen's own parallel regions.
struct OpenMp {
    void (*parallel)(void (*fn)(void*), void* data, unsigned threads, unsigned flags) = nullptr;
    int (*thread_num)() = nullptr;
    int (*max_threads)() = nullptr;
    bool usable() const { return parallel && thread_num && max_threads; }
};

int find_openmp(struct dl_phdr_info* info, size_t, void* out) {
    const char* name = info->dlpi_name;
    if (!name || !*name || (!std::strstr(name, "gomp") && !std::strstr(name, "iomp"))) return 0;
    void* lib = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (!lib) return 0;
    OpenMp* omp = static_cast<OpenMp*>(out);
    omp->parallel = reinterpret_cast<decltype(omp->parallel)>(dlsym(lib, "GOMP_parallel"));
    omp->thread_num = reinterpret_cast<int (*)()>(dlsym(lib, "omp_get_thread_num"));
    omp->max_threads = reinterpret_cast<int (*)()>(dlsym(lib, "omp_get_max_threads"));
    // The handle stays open: the runtime must outlive every region started through it.
    return omp->usable() ? 1 : 0;
}

OpenMp locate_openmp() {
    OpenMp omp;
    if (const char* env = std::getenv("FLASH_SIGMOID_OWN_THREADS")) {
        if (std::strcmp(env, "0") != 0) return omp;  // explicitly asked for our own pool
    }
    dl_iterate_phdr(&find_openmp, &omp);
    if (!omp.usable()) omp = OpenMp();
    return omp;
}

// The body of one OpenMP region: workers take items from a shared counter.
struct Region {
    const std::function<void(int64_t, int)>* fn;
    int64_t n;
    std::atomic<int64_t> next{0};
    std::mutex m;
    std::exception_ptr error;
    int (*thread_num)();
};

void run_region(void* data) {
    Region* r = static_cast<Region*>(data);
    int worker = r->thread_num();
    try {
        for (int64_t i = r->next.fetch_add(1); i < r->n; i = r->next.fetch_add(1))
            (*r->fn)(i, worker);
    } catch (...) {
        std::lock_guard<std::mutex> lock(r->m);
        if (!r->error) r->error = std::current_exception();
        r->next.store(r->n);
    }
}

}  // namespace

struct ThreadPool::State {
    OpenMp omp;
    std::atomic<int> requested{0};  // threads set by the user; 0 follows the OpenMP runtime

    // Our own pool, used when no OpenMP runtime is loaded.
    std::mutex busy;  // held by the caller whose job the pool runs
    std::mutex m;
    std::condition_variable wake;
    std::condition_variable done;
    std::vector<std::thread> workers;
    int wanted = 1;
    bool stopping = false;
    const std::function<void(int64_t, int)>* fn = nullptr;
    int64_t n = 0;
    std::atomic<int64_t> next{0};
    int active = 0;
    uint64_t epoch = 0;
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
            lock.unlock();
            run_items(worker);
            lock.lock();
            if (--active == 0) done.notify_all();
        }
    }

    // Called with `busy` held and no job running.
    void resize(int threads) {
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
    state_->omp = locate_openmp();
    state_->requested = env_threads();
    if (!state_->omp.usable()) {
        std::lock_guard<std::mutex> lock(state_->busy);
        int n = state_->requested > 0 ? state_->requested.load() : available_cpus();
        state_->resize(n < kMaxThreads ? n : kMaxThreads);
    }
}

ThreadPool::~ThreadPool() {
    // The pool lives until process exit; joining threads during static destruction can hang
    // when the runtime has already torn them down, so the threads are left to the OS.
}

ThreadPool& ThreadPool::instance() {
    static ThreadPool* pool = new ThreadPool();
    return *pool;
}

bool ThreadPool::uses_openmp() const {
    return state_->omp.usable();
}

int ThreadPool::threads() const {
    if (state_->omp.usable()) {
        int r = state_->requested.load();
        return r > 0 ? r : state_->omp.max_threads();
    }
    std::lock_guard<std::mutex> lock(state_->m);
    return state_->wanted;
}

void ThreadPool::set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > kMaxThreads) threads = kMaxThreads;
    state_->requested = threads;
    if (!state_->omp.usable()) {
        std::lock_guard<std::mutex> busy(state_->busy);
        if (threads != state_->wanted) state_->resize(threads);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
    if (n <= 0) return;
    State& s = *state_;
    if (s.omp.usable()) {
        int threads = threads_for(n);
        if (threads <= 1) {
            for (int64_t i = 0; i < n; ++i) fn(i, 0);
            return;
        }
        Region region;
        region.fn = &fn;
        region.n = n;
        region.thread_num = s.omp.thread_num;
        s.omp.parallel(&run_region, &region, static_cast<unsigned>(threads), 0);
        if (region.error) std::rethrow_exception(region.error);
        return;
    }
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

int ThreadPool::threads_for(int64_t n) const {
    int t = threads();
    return n < t ? static_cast<int>(n) : t;
}

}  // namespace flash_sigmoid
