// Console log with levels. Freestanding the sink is the COM1 serial port;
// hosted it is stderr. Every line starts with "[sv] LEVEL" so tests and users
// can tell hypervisor lines from guest console output on the same stream.
#pragma once

#include "lib/format.hpp"

namespace sv::log {

enum class Level : unsigned char { Debug, Info, Warn, Error };

// Lines below this level are dropped (set from the command line `loglevel=`).
void set_level(Level level);
Level level();
// Writes one finished line (with prefix, without newline) to the sink.
void emit(Level level, const char* text);

template <class... Args> void write(Level lvl, const char* fmt, const Args&... args) {
    if (lvl < level()) return;
    char storage[256];
    TextBuffer line(storage, sizeof storage);
    format_to(line, fmt, args...);
    emit(lvl, line.c_str());
}

template <class... A> void debug(const char* f, const A&... a) { write(Level::Debug, f, a...); }
template <class... A> void info(const char* f, const A&... a) { write(Level::Info, f, a...); }
template <class... A> void warn(const char* f, const A&... a) { write(Level::Warn, f, a...); }
template <class... A> void error(const char* f, const A&... a) { write(Level::Error, f, a...); }

} // namespace sv::log
