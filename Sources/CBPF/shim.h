// The C surface of libbpf that flowscope's BPF owner source uses (Sources/BPFOwners).
#ifndef FLOWSCOPE_CBPF_SHIM_H
#define FLOWSCOPE_CBPF_SHIM_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#endif
