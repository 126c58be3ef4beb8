// flowscope's TCP iterator: one pass over the TCP sockets of the reader's network namespace,
// in the kernel, giving for each what a sock_diag TCP dump asking for INET_DIAG_INFO alone
// gives (inet_diag_msg, the attributes the kernel always adds, and the tcp_info fields
// flowscope keeps), at about half the kernel's cost: no netlink message is built, and only
// these fields are read.
//
// Each socket is one 176-byte record (struct flowscope_tcp_socket, host byte order), parsed by
// Sources/BPFOwners/TCPSocketRecords.swift. The values follow the kernel's own code:
// inet_diag_msg_common_fill, inet_sk_diag_fill, tcp_diag_get_info and tcp_get_info for a full
// socket, inet_twsk_diag_fill for a TIME_WAIT one, inet_req_diag_fill for a request socket.
//
// Compiled at build time by Plugins/BPFProgramPlugin and relocated at load time against the
// kernel's BTF (CO-RE), like socket_owners.bpf.c: only the fields read here are declared.

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

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define FLOWSCOPE_CORE __attribute__((preserve_access_index))

struct in6_addr {
  __u8 s6_addr[16];
} FLOWSCOPE_CORE;

struct sock_common {
  __be32 skc_daddr;
  __be32 skc_rcv_saddr;
  __be16 skc_dport;
  __u16 skc_num;
  unsigned short skc_family;
  volatile unsigned char skc_state;
  int skc_bound_dev_if;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
} FLOWSCOPE_CORE;

struct inode {
  unsigned long i_ino;
} FLOWSCOPE_CORE;

struct socket {
  struct file *file;
} FLOWSCOPE_CORE;

// SOCK_INODE(): a struct socket is the first member of its socket_alloc, its inode the next.
struct socket_alloc {
  struct socket socket;
  struct inode vfs_inode;
} FLOWSCOPE_CORE;

struct kernfs_node {
  __u64 id;
} FLOWSCOPE_CORE;

struct cgroup {
  struct kernfs_node *kn;
} FLOWSCOPE_CORE;

struct sock_cgroup_data {
  struct cgroup *cgroup;
} FLOWSCOPE_CORE;

struct sock {
  struct sock_common __sk_common;
  struct socket *sk_socket;
  __u32 sk_mark;
  __u8 sk_shutdown;
  __u32 sk_ack_backlog;
  __u32 sk_max_ack_backlog;
  struct sock_cgroup_data sk_cgrp_data;
} FLOWSCOPE_CORE;

struct inet_sock {
  struct sock sk;
} FLOWSCOPE_CORE;

struct inet_connection_sock {
  struct inet_sock icsk_inet;
  __u8 icsk_retransmits;
  __u8 icsk_backoff;
  __u8 icsk_probes_out;
  struct {
    __u32 lrcvtime;
  } icsk_ack;
} FLOWSCOPE_CORE;

struct minmax_sample {
  __u32 t;
  __u32 v;
} FLOWSCOPE_CORE;

struct minmax {
  struct minmax_sample s[3];
} FLOWSCOPE_CORE;

struct tcp_sock {
  struct inet_connection_sock inet_conn;
  __u64 bytes_acked;
  __u64 bytes_received;
  __u64 bytes_retrans;
  __u32 segs_in;
  __u32 segs_out;
  __u32 total_retrans;
  __u32 srtt_us;
  __u32 mdev_us;
  struct minmax rtt_min;
  __u32 snd_cwnd;
  __u32 lost_out;
  __u32 packets_out;
  __u32 lsndtime;
  __u32 rcv_tstamp;
  __u32 rate_delivered;
  __u32 rate_interval_us;
  __u32 mss_cache;
  __u32 snd_wnd;
  __u32 rcv_nxt;
  __u32 copied_seq;
  __u32 write_seq;
  __u32 snd_una;
} FLOWSCOPE_CORE;

struct inet_timewait_sock {
  struct sock_common __tw_common;
  __u32 tw_mark;
  unsigned char tw_substate;
} FLOWSCOPE_CORE;

struct tcp_timewait_sock {
  struct inet_timewait_sock tw_sk;
} FLOWSCOPE_CORE;

struct inet_request_sock {
  __u32 ir_mark;
} FLOWSCOPE_CORE;

struct tcp_request_sock {
  struct inet_request_sock req;
} FLOWSCOPE_CORE;

struct seq_file;

struct bpf_iter_meta {
  struct seq_file *seq;
} FLOWSCOPE_CORE;

struct bpf_iter__tcp {
  struct bpf_iter_meta *meta;
  struct sock_common *sk_common;
  __u32 uid;
} FLOWSCOPE_CORE;

// The record userspace parses (BPFOwners/TCPSocketRecords.swift). Addresses in network byte
// order, as sock_diag gives them; every other field in host order.
struct flowscope_tcp_socket {
  __u64 cookie;
  __u64 inode;
  __u64 cgroup_id;
  __u64 bytes_acked;
  __u64 bytes_received;
  __u64 bytes_retrans;
  __u64 delivery_rate;
  __u8 source_address[16];
  __u8 destination_address[16];
  __u32 uid;
  __u32 interface_index;
  __u32 receive_queue;
  __u32 send_queue;
  __u32 mark;
  __u32 segs_in;
  __u32 segs_out;
  __u32 total_retrans;
  __u32 rtt;
  __u32 rttvar;
  __u32 min_rtt;
  __u32 snd_cwnd;
  __u32 lost;
  __u32 unacked;
  __u32 last_data_sent;
  __u32 last_data_recv;
  __u32 last_ack_recv;
  __u32 snd_wnd;
  __u16 source_port;
  __u16 destination_port;
  __u8 family;
  __u8 state;
  __u8 kind;
  __u8 shutdown;
  __u8 retransmits;
  __u8 probes;
  __u8 backoff;
  __u8 pad[5];
};

// What `kind` says of the record, and so which fields the kernel's dump would have filled.
#define FLOWSCOPE_FULL_SOCKET 0
#define FLOWSCOPE_TIME_WAIT 1
#define FLOWSCOPE_REQUEST 2

#define FLOWSCOPE_AF_INET 2
#define FLOWSCOPE_TCP_SYN_RECV 3
#define FLOWSCOPE_TCP_TIME_WAIT 6
#define FLOWSCOPE_TCP_LISTEN 10
#define FLOWSCOPE_TCP_NEW_SYN_RECV 12

// jiffies_to_msecs: the kernel's HZ, from its configuration (libbpf reads it at load time).
extern unsigned int CONFIG_HZ __kconfig;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u32 jiffies_to_msecs(__u32 delta) {
  __u32 hz = CONFIG_HZ;
  if (hz == 0 || hz > 1000) return delta;
  return (1000 / hz) * delta;
}

SEC("iter/tcp")
int flowscope_tcp_sockets(struct bpf_iter__tcp *ctx) {
  struct sock_common *common = ctx->sk_common;
  // The last call of a pass has no socket.
  if (!common) return 0;
  struct flowscope_tcp_socket record = {};
  record.family = common->skc_family;
  record.state = common->skc_state;
  record.source_port = common->skc_num;
  record.destination_port = bpf_ntohs(common->skc_dport);
  record.interface_index = common->skc_bound_dev_if;
  record.cookie = bpf_get_socket_cookie(common);
  if (record.family == FLOWSCOPE_AF_INET) {
    __builtin_memcpy(record.source_address, (const void *)&common->skc_rcv_saddr, 4);
    __builtin_memcpy(record.destination_address, (const void *)&common->skc_daddr, 4);
  } else {
    bpf_core_read(record.source_address, 16, &common->skc_v6_rcv_saddr);
    bpf_core_read(record.destination_address, 16, &common->skc_v6_daddr);
  }

  if (record.state == FLOWSCOPE_TCP_TIME_WAIT) {
    struct tcp_timewait_sock *timewait = bpf_skc_to_tcp_timewait_sock(common);
    if (!timewait) return 0;
    record.kind = FLOWSCOPE_TIME_WAIT;
    // A TIME_WAIT socket reports the state it stands for (TIME_WAIT or FIN_WAIT2).
    record.state = timewait->tw_sk.tw_substate;
    record.mark = timewait->tw_sk.tw_mark;
    bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
    return 0;
  }
  if (record.state == FLOWSCOPE_TCP_NEW_SYN_RECV) {
    struct tcp_request_sock *request = bpf_skc_to_tcp_request_sock(common);
    if (!request) return 0;
    record.kind = FLOWSCOPE_REQUEST;
    record.state = FLOWSCOPE_TCP_SYN_RECV;
    record.mark = request->req.ir_mark;
    bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
    return 0;
  }

  struct tcp_sock *tp = bpf_skc_to_tcp_sock(common);
  if (!tp) return 0;
  struct sock *sk = &tp->inet_conn.icsk_inet.sk;
  record.kind = FLOWSCOPE_FULL_SOCKET;
  record.uid = ctx->uid;
  record.mark = sk->sk_mark;
  record.shutdown = sk->sk_shutdown;
  struct socket *socket = sk->sk_socket;
  if (socket) {
    unsigned long inode = 0;
    bpf_core_read(&inode, sizeof(inode), &((struct socket_alloc *)socket)->vfs_inode.i_ino);
    record.inode = inode;
  }
  struct cgroup *cgroup = sk->sk_cgrp_data.cgroup;
  if (cgroup) record.cgroup_id = BPF_CORE_READ(cgroup, kn, id);

  record.snd_cwnd = tp->snd_cwnd;
  if (record.state == FLOWSCOPE_TCP_LISTEN) {
    // A listener's queues and tcp_info give its accept queue and backlog.
    record.receive_queue = sk->sk_ack_backlog;
    record.send_queue = sk->sk_max_ack_backlog;
    record.unacked = sk->sk_ack_backlog;
    bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
    return 0;
  }
  __s32 queued = (__s32)(tp->rcv_nxt - tp->copied_seq);
  record.receive_queue = queued > 0 ? queued : 0;
  record.send_queue = tp->write_seq - tp->snd_una;
  record.retransmits = tp->inet_conn.icsk_retransmits;
  record.probes = tp->inet_conn.icsk_probes_out;
  record.backoff = tp->inet_conn.icsk_backoff;
  record.rtt = tp->srtt_us >> 3;
  record.rttvar = tp->mdev_us >> 2;
  record.unacked = tp->packets_out;
  record.lost = tp->lost_out;
  __u32 now = (__u32)bpf_jiffies64();
  record.last_data_sent = jiffies_to_msecs(now - tp->lsndtime);
  record.last_data_recv = jiffies_to_msecs(now - tp->inet_conn.icsk_ack.lrcvtime);
  record.last_ack_recv = jiffies_to_msecs(now - tp->rcv_tstamp);
  record.total_retrans = tp->total_retrans;
  record.bytes_acked = tp->bytes_acked;
  record.bytes_received = tp->bytes_received;
  record.segs_out = tp->segs_out;
  record.segs_in = tp->segs_in;
  record.min_rtt = tp->rtt_min.s[0].v;
  __u32 delivered = tp->rate_delivered;
  __u32 interval = tp->rate_interval_us;
  if (delivered && interval)
    record.delivery_rate = (__u64)delivered * tp->mss_cache * 1000000ULL / interval;
  record.bytes_retrans = tp->bytes_retrans;
  record.snd_wnd = tp->snd_wnd;
  bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
  return 0;
}
