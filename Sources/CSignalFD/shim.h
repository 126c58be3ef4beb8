// signalfd(2), which Swift's Glibc module leaves out: SIGINT/SIGTERM as a pollable descriptor
// (FlowSignals).
#include <sys/signalfd.h>
