// flowscope's task-file iterator: one pass over every process's open files, in the kernel.
//
// For each descriptor of a thread-group leader it writes one 16-byte record to the iterator's
// output: the pid, the descriptor number and, for a socket, its inode (0 for any other file).
// Userspace (Sources/BPFOwners) reads these records in place of a readlinkat of every
// /proc/<pid>/fd/<n>, and counts each process's descriptors from them.
//
// Compiled at build time by Plugins/BPFProgramPlugin (clang -target bpf -O2 -g) and relocated
// at load time by libbpf against the kernel's BTF (CO-RE): no vmlinux.h, only the fields read
// here, each struct marked preserve_access_index so its offsets come from the running kernel.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>

#define FLOWSCOPE_CORE __attribute__((preserve_access_index))

struct super_block {
  unsigned long s_magic;
} FLOWSCOPE_CORE;

struct inode {
  unsigned short i_mode;
  unsigned long i_ino;
  struct super_block *i_sb;
} FLOWSCOPE_CORE;

struct file {
  struct inode *f_inode;
} FLOWSCOPE_CORE;

struct task_struct {
  int pid;
  int tgid;
} FLOWSCOPE_CORE;

struct seq_file;

struct bpf_iter_meta {
  struct seq_file *seq;
} FLOWSCOPE_CORE;

struct bpf_iter__task_file {
  struct bpf_iter_meta *meta;
  struct task_struct *task;
  __u32 fd;
  struct file *file;
} FLOWSCOPE_CORE;

// The record userspace parses (BPFOwners/DescriptorRecords.swift): host byte order.
struct flowscope_descriptor {
  __u32 pid;
  __u32 fd;
  __u64 socket_inode;
};

// S_IFMT and S_IFSOCK of <sys/stat.h>; SOCKFS_MAGIC of <linux/magic.h>. A socket file has both:
// `socket_file_ops` is not in every kernel's BTF, and a path opened with O_PATH on a UNIX
// socket's name has the socket type in i_mode but lives on another file system (and /proc
// shows it as a path, not as `socket:[N]`).
#define FLOWSCOPE_S_IFMT 0170000
#define FLOWSCOPE_S_IFSOCK 0140000
#define FLOWSCOPE_SOCKFS_MAGIC 0x534F434B

// The kernel lends bpf_seq_write only to programs that declare a GPL-compatible license.
char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("iter/task_file")
int flowscope_descriptors(struct bpf_iter__task_file *ctx) {
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  // The last call of a pass has neither.
  if (!task || !file) return 0;
  // /proc/<pid>/fd is the group leader's table: a thread that unshared its own is not in it.
  if (task->pid != task->tgid) return 0;
  struct flowscope_descriptor record = {.pid = task->tgid, .fd = ctx->fd, .socket_inode = 0};
  struct inode *inode = file->f_inode;
  if (inode && (inode->i_mode & FLOWSCOPE_S_IFMT) == FLOWSCOPE_S_IFSOCK && inode->i_sb &&
      inode->i_sb->s_magic == FLOWSCOPE_SOCKFS_MAGIC)
    record.socket_inode = inode->i_ino;
  bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
  return 0;
}
