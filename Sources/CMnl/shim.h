// The C surface flowscope uses: libmnl and the netlink socket constants.
// Macros Swift cannot import become `static inline` functions with the `fs_` prefix.
#ifndef FLOWSCOPE_CMNL_SHIM_H
#define FLOWSCOPE_CMNL_SHIM_H

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <errno.h>

// MNL_SOCKET_BUFFER_SIZE is a function-like macro (and only 4096 here); dumps want more.
static inline size_t fs_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
static inline size_t fs_mnl_nlmsg_hdrlen(void) { return MNL_NLMSG_HDRLEN; }
static inline int fs_errno(void) { return errno; }

// setns(2) is declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
extern int setns(int fd, int nstype);
static inline int fs_setns(int fd, int nstype) { return setns(fd, nstype); }
static inline int fs_clone_newnet(void) { return 0x40000000; /* CLONE_NEWNET */ }

#endif
