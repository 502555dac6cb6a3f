// server/gpu_probe.h — what GPU this server lends, learned without touching a driver here.
//
// Contract: the supervisor never initialises a GPU driver (its workers are fresh execs, never
// forks of a process that did). To tell the pool which GPU it lends it runs its own binary once
// with --describe-gpu: run_describe_gpu() (in that child) opens the configured backend for the
// whole device (the --vram cap, or the card's memory) and writes the raw DeviceProps to stdout;
// describe_gpu() (in the supervisor) spawns that child and reads them back. Failure (no driver,
// the child crashed, short output) returns false with *error saying why.
#pragma once

#include <string>
#include <vector>

#include "protocol/device_props.h"
#include "server/config.h"

namespace rgpu::server {

int run_describe_gpu(const ServerOptions& options);
bool describe_gpu(const std::vector<std::string>& argv, DeviceProps* out, std::string* error);

}  // namespace rgpu::server
