// A test-and-test-and-set spinlock and its RAII guard, for the few pieces of
// state all vCPUs share (mediators, the console). Exits are short, so
// spinning is cheaper than anything smarter.
#pragma once

namespace sv {

class SpinLock {
  public:
    void lock() {
        while (__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE)) {
            while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
        }
    }
    void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }

  private:
    bool locked_ = false;
};

class LockGuard {
  public:
    explicit LockGuard(SpinLock& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    SpinLock& lock_;
};

} // namespace sv
