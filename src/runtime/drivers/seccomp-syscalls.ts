/**
 * Numbers of the system calls the machines' seccomp filter (seccomp.ts) names, per architecture:
 * x86_64 from arch/x86/entry/syscalls/syscall_64.tbl, aarch64 from the generic table
 * (include/uapi/asm-generic/unistd.h), both as the kernel's uapi headers print them. A name missing
 * from an architecture's table has no such call there (aarch64 never had iopl, uselib, ustat…).
 *
 * test/unit/seccomp.test.ts checks both tables against the installed headers (linux-libc-dev):
 * a wrong number here would leave a call open while the filter looks right.
 */

export type SeccompArch = 'x86_64' | 'aarch64';

/** [x86_64, aarch64]; undefined where the architecture has no such call. */
const TABLE: Record<string, readonly [number | undefined, number | undefined]> = {
  // mounts, old and new API (fsopen … mount_setattr, Linux 5.2+)
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  open_tree: [428, 428],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  // namespaces
  unshare: [272, 97],
  setns: [308, 268],
  clone: [56, 220],
  clone3: [435, 435],
  // the kernel itself: modules, kexec, BPF, reboot, swap, accounting, logs, time
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  create_module: [174, undefined],
  get_kernel_syms: [177, undefined],
  query_module: [178, undefined],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  bpf: [321, 280],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  acct: [163, 89],
  syslog: [103, 116],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  clock_adjtime: [305, 266],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  nfsservctl: [180, 42],
  _sysctl: [156, undefined],
  iopl: [172, undefined],
  ioperm: [173, undefined],
  vhangup: [153, 58],
  uselib: [134, undefined],
  ustat: [136, undefined],
  sysfs: [139, undefined],
  lookup_dcookie: [212, 18],
  // other processes' memory and the kernel's object identity
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  kcmp: [312, 272],
  // keyrings (not namespaced)
  add_key: [248, 217],
  request_key: [249, 218],
  keyctl: [250, 219],
  // file handles bypass the mount view (the "shocker" escape)
  name_to_handle_at: [303, 264],
  open_by_handle_at: [304, 265],
  // large kernel attack surface, seldom needed by apps
  perf_event_open: [298, 241],
  fanotify_init: [300, 262],
  userfaultfd: [323, 282],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  // NUMA placement (CAP_SYS_NICE in Docker's profile)
  mbind: [237, 235],
  set_mempolicy: [238, 237],
  get_mempolicy: [239, 236],
  migrate_pages: [256, 238],
  move_pages: [279, 239],
  set_mempolicy_home_node: [450, 450],
  personality: [135, 92],
  // the newest call this table was reviewed against (Linux 6.10); see NEWEST_REVIEWED in seccomp.ts
  mseal: [462, 462],
  // not filtered; here so tests can name an ordinary call
  write: [1, 64],
};

const INDEX: Record<SeccompArch, 0 | 1> = { x86_64: 0, aarch64: 1 };

/** The number of `name` on `arch`, or undefined when that architecture has no such call. */
export function syscallNumber(arch: SeccompArch, name: string): number | undefined {
  return TABLE[name]?.[INDEX[arch]];
}

/** Every name in the table with its number on `arch` (for the header check). */
export function syscallTable(arch: SeccompArch): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, nrs] of Object.entries(TABLE)) {
    const nr = nrs[INDEX[arch]];
    if (nr !== undefined) out.set(name, nr);
  }
  return out;
}
