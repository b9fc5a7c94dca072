#include "lib/log.hpp"

#include "lib/spinlock.hpp"

namespace sv::log {
namespace {
Level current_level = Level::Info;
SpinLock console_lock; // one line at a time from all CPUs

const char* level_name(Level l) {
    switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info ";
    case Level::Warn: return "WARN ";
    case Level::Error: return "ERROR";
    }
    return "?";
}
} // namespace

// Provided by the platform: serial console (hypervisor) or stderr (host).
void write_console(const char* text);

void set_level(Level l) { current_level = l; }
Level level() { return current_level; }

void emit(Level l, const char* text) {
    LockGuard guard(console_lock);
    write_console("[sv] ");
    write_console(level_name(l));
    write_console(" ");
    write_console(text);
    write_console("\n");
}

} // namespace sv::log
