// interpose/flusher.h — the process's one deadline-flush thread: a batch waits at most
// RGPU_FLUSH_US (default 200 µs) for its next synchronizing call (interpose/lane.h).
//
// Contract: flusher_add(set) has the thread tick every lane of `set` from then on (sets live for
// the process). The thread ticks every RGPU_FLUSH_US while any lane has records pending and
// sleeps longer once all have been quiet for 50 ticks; flusher_wake() (a batch just got its
// first record) ends such a sleep. The thread starts on first use and is never joined.
#pragma once

namespace rgpu {

class LaneSet;

void flusher_add(LaneSet* set);
void flusher_wake();

}  // namespace rgpu
