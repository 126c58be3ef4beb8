// Bytes captured from this machine's /proc (Debian 12, kernel 6.18) with
// `cp /bin/sleep "/tmp/a) (b c"; "/tmp/a) (b c" 300 &`, and from kthreadd (pid 2).

enum Fixtures {
  /// /proc/<pid>/stat of "/tmp/a) (b c" 300: comm "a) (b c", ppid 1, starttime (field 22) 49792.
  static let weirdStat = Array(
    "6686 (a) (b c) S 1 6682 2142 0 -1 4194304 144 0 0 0 0 0 0 0 20 0 1 0 49792 2990080 411 18446744073709551615 94074659598336 94074659616265 140731324379872 0 0 0 0 6 0 1 0 0 17 1 0 0 0 0 0 94074659630352 94074659631616 94074746023936 140731324381727 140731324381744 140731324381744 140731324383211 0\n"
      .utf8)

  /// /proc/<pid>/status of the same process.
  static let weirdStatus = Array(
    """
    Name:\ta) (b c
    Umask:\t0022
    State:\tS (sleeping)
    Tgid:\t6686
    Ngid:\t0
    Pid:\t6686
    PPid:\t1
    TracerPid:\t0
    Uid:\t0\t0\t0\t0
    Gid:\t0\t0\t0\t0
    FDSize:\t256
    Groups:\t 
    NStgid:\t6686
    NSpid:\t6686
    NSpgid:\t6682
    NSsid:\t2142
    Kthread:\t0
    VmPeak:\t    2920 kB
    VmSize:\t    2920 kB
    VmLck:\t       0 kB
    VmPin:\t       0 kB
    VmHWM:\t    1816 kB
    VmRSS:\t    1816 kB
    RssAnon:\t     108 kB
    RssFile:\t    1708 kB
    RssShmem:\t       0 kB
    VmData:\t     224 kB
    VmStk:\t     132 kB
    VmExe:\t      20 kB
    VmLib:\t    1528 kB
    VmPTE:\t      40 kB
    VmSwap:\t       0 kB
    HugetlbPages:\t       0 kB
    CoreDumping:\t0
    THP_enabled:\t1
    untag_mask:\t0xffffffffffffffff
    Threads:\t1
    SigQ:\t0/96343
    SigPnd:\t0000000000000000
    ShdPnd:\t0000000000000000
    SigBlk:\t0000000000000000
    SigIgn:\t0000000000000006
    SigCgt:\t0000000000000000
    CapInh:\t0000000000000000
    CapPrm:\t000001fffeffffff
    CapEff:\t000001fffeffffff
    CapBnd:\t000001fffeffffff
    CapAmb:\t0000000000000000
    NoNewPrivs:\t0
    Seccomp:\t0
    Seccomp_filters:\t0
    Speculation_Store_Bypass:\tthread vulnerable
    SpeculationIndirectBranch:\tconditional enabled
    Cpus_allowed:\t3
    Cpus_allowed_list:\t0-1
    Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001
    Mems_allowed_list:\t0
    voluntary_ctxt_switches:\t1
    nonvoluntary_ctxt_switches:\t1
    """.utf8)

  /// /proc/<pid>/limits of the same process (Max open files 20000 20000).
  static let weirdLimits = Array(
    """
    Limit                     Soft Limit           Hard Limit           Units     
    Max cpu time              unlimited            unlimited            seconds   
    Max file size             unlimited            unlimited            bytes     
    Max data size             unlimited            unlimited            bytes     
    Max stack size            8388608              unlimited            bytes     
    Max core file size        0                    unlimited            bytes     
    Max resident set          unlimited            unlimited            bytes     
    Max processes             96343                96343                processes 
    Max open files            20000                20000                files     
    Max locked memory         8388608              8388608              bytes     
    Max address space         unlimited            unlimited            bytes     
    Max file locks            unlimited            unlimited            locks     
    Max pending signals       96343                96343                signals   
    Max msgqueue size         819200               819200               bytes     
    Max nice priority         0                    0                    
    Max realtime priority     0                    0                    
    Max realtime timeout      unlimited            unlimited            us        
    """.utf8)

  /// /proc/<pid>/cmdline of the same process.
  static let weirdCmdline = Array("/tmp/a) (b c\0300\0".utf8)

  /// /proc/2/stat (kthreadd): ppid 0.
  static let kthreaddStat = Array(
    "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 10 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
      .utf8)

  /// /proc/2/limits (kthreadd): Max open files 1024 4096.
  static let kthreaddLimits = Array(
    """
    Limit                     Soft Limit           Hard Limit           Units     
    Max cpu time              unlimited            unlimited            seconds   
    Max file size             unlimited            unlimited            bytes     
    Max data size             unlimited            unlimited            bytes     
    Max stack size            8388608              unlimited            bytes     
    Max core file size        0                    unlimited            bytes     
    Max resident set          unlimited            unlimited            bytes     
    Max processes             96343                96343                processes 
    Max open files            1024                 4096                 files     
    Max locked memory         8388608              8388608              bytes     
    Max address space         unlimited            unlimited            bytes     
    Max file locks            unlimited            unlimited            locks     
    Max pending signals       96343                96343                signals   
    Max msgqueue size         819200               819200               bytes     
    Max nice priority         0                    0                    
    Max realtime priority     0                    0                    
    Max realtime timeout      unlimited            unlimited            us        
    """.utf8)
}
