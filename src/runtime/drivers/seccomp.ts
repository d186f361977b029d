/**
 * The machines' seccomp filter, generated here as a classic BPF program (seccomp(2), "SECCOMP_RET_*";
 * Documentation/userspace-api/seccomp_filter.rst) and handed to bwrap with `--seccomp FD`: bwrap
 * reads `struct sock_filter` records (u16 code, u8 jt, u8 jf, u32 k; native byte order) until EOF and
 * installs them right before it execs the app, after no_new_privs.
 *
 * Policy: a deny-list at least as strict as Docker's default profile for what an app without
 * capabilities could still reach — mounts (old and new API), namespaces, modules, kexec, BPF,
 * ptrace and cross-process memory, keyrings, file handles, perf, userfaultfd, io_uring, NUMA
 * placement, clock setting, swap, reboot… — each answered EPERM, as a kernel without the
 * capability would. Three calls are decided by their arguments or differently:
 *   - clone: denied (EPERM) when its flags (arg 0; the kernel reads only the low 32 bits for
 *     clone(2)) ask for any new namespace; threads and fork pass.
 *   - clone3: ENOSYS. Its flags are in memory, out of a filter's reach; glibc (2.34+) and others
 *     fall back to clone on ENOSYS, where the flags are checked.
 *   - personality: only the values Docker allows (0, PER_LINUX32 8, UNAME26 0x20000, both, and
 *     0xffffffff, the query).
 * Calls newer than the table was reviewed for (NEWEST_REVIEWED) answer ENOSYS, as an older kernel
 * would: Docker's profile is an allow-list, so new kernel calls are closed there until someone
 * adds them, and so they are here. A syscall of another ABI (i386 or arm32 compat: another audit
 * arch; x32: the 0x40000000 bit on x86_64) kills the process: nothing here is written for it.
 */
import { endianness } from 'node:os';
import { StarlingError } from '../../shared/index.js';
import { syscallNumber, type SeccompArch } from './seccomp-syscalls.js';

export type { SeccompArch } from './seccomp-syscalls.js';

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const EPERM = 1;
export const ENOSYS = 38;

/** include/uapi/linux/audit.h: AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64. */
export const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
/** x32 syscalls enter with AUDIT_ARCH_X86_64 and this bit in the number. */
export const X32_SYSCALL_BIT = 0x40000000;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME exists only for clone3/unshare). */
export const CLONE_NEW_MASK = 0x7e020000;
export const PERSONALITY_ALLOWED: readonly number[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
/** Calls numbered above this one get ENOSYS (see the top). */
export const NEWEST_REVIEWED = 'mseal';

/** Answered EPERM, whatever the arguments. A name the architecture lacks is skipped. */
export const DENIED: readonly string[] = [
  'mount', 'umount2', 'pivot_root', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  'unshare', 'setns',
  'init_module', 'finit_module', 'delete_module', 'create_module', 'get_kernel_syms', 'query_module',
  'kexec_load', 'kexec_file_load', 'bpf', 'reboot', 'swapon', 'swapoff', 'acct', 'syslog',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'quotactl', 'quotactl_fd', 'nfsservctl', '_sysctl',
  'iopl', 'ioperm', 'vhangup', 'uselib', 'ustat', 'sysfs', 'lookup_dcookie',
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp',
  'add_key', 'request_key', 'keyctl',
  'name_to_handle_at', 'open_by_handle_at',
  'perf_event_open', 'fanotify_init', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'mbind', 'set_mempolicy', 'get_mempolicy', 'migrate_pages', 'move_pages', 'set_mempolicy_home_node',
];

/** The seccomp architecture of this host, or a clear error (the filter must never be guessed). */
export function hostSeccompArch(nodeArch: string = process.arch): SeccompArch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  throw new StarlingError('ERR_SANDBOX_ARCH', `the sandbox has no seccomp filter for this host's architecture (${nodeArch})`, {
    hint: 'machines run on x86_64 and aarch64 hosts; add the architecture to src/runtime/drivers/seccomp-syscalls.ts',
  });
}

// Classic BPF opcodes (include/uapi/linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

/** One instruction; jt/jf name a label (or are omitted: the next instruction). */
interface Insn {
  code: number;
  k: number;
  jt?: string;
  jf?: string;
}
type Line = Insn | { label: string };

/** `struct seccomp_data` offsets: nr, arch, then args[6] as u64 from byte 16. */
const OFF_NR = 0;
const OFF_ARCH = 4;

/** The filter for `arch` as bwrap reads it: 8-byte `struct sock_filter` records, `endian` order. */
export function seccompProgram(arch: SeccompArch, endian: 'LE' | 'BE' = endianness()): Buffer {
  // The low 32 bits of args[0]: clone's flags and personality's value live there.
  const arg0 = 16 + (endian === 'LE' ? 0 : 4);
  const nr = (name: string): number => {
    const n = syscallNumber(arch, name);
    if (n === undefined) throw new StarlingError('ERR_SANDBOX_SECCOMP', `no ${name} in the ${arch} syscall table`);
    return n;
  };
  const ld = (k: number): Insn => ({ code: LD_W_ABS, k });
  const ret = (k: number): Insn => ({ code: RET_K, k });
  const lines: Line[] = [ld(OFF_ARCH), { code: JEQ_K, k: AUDIT_ARCH[arch], jf: 'kill' }, ld(OFF_NR)];
  if (arch === 'x86_64') lines.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' });
  lines.push({ code: JGT_K, k: nr(NEWEST_REVIEWED), jt: 'enosys' });
  lines.push({ code: JEQ_K, k: nr('clone3'), jt: 'enosys' });
  lines.push({ code: JEQ_K, k: nr('clone'), jt: 'clone' });
  lines.push({ code: JEQ_K, k: nr('personality'), jt: 'personality' });
  for (const name of DENIED) {
    const n = syscallNumber(arch, name);
    if (n !== undefined) lines.push({ code: JEQ_K, k: n, jt: 'eperm' });
  }
  lines.push(ret(SECCOMP_RET_ALLOW));
  lines.push({ label: 'clone' }, ld(arg0), { code: JSET_K, k: CLONE_NEW_MASK, jt: 'eperm', jf: 'allow' });
  lines.push({ label: 'personality' }, ld(arg0));
  PERSONALITY_ALLOWED.forEach((v, i) => lines.push({ code: JEQ_K, k: v, jt: 'allow', ...(i === PERSONALITY_ALLOWED.length - 1 ? { jf: 'eperm' } : {}) }));
  lines.push({ label: 'allow' }, ret(SECCOMP_RET_ALLOW));
  lines.push({ label: 'eperm' }, ret(SECCOMP_RET_ERRNO | EPERM));
  lines.push({ label: 'enosys' }, ret(SECCOMP_RET_ERRNO | ENOSYS));
  lines.push({ label: 'kill' }, ret(SECCOMP_RET_KILL_PROCESS));
  return assemble(lines, endian);
}

/** Resolves labels to the 8-bit forward offsets classic BPF has, and encodes the records. */
function assemble(lines: Line[], endian: 'LE' | 'BE'): Buffer {
  const labels = new Map<string, number>();
  const insns: Insn[] = [];
  for (const l of lines) {
    if ('label' in l) labels.set(l.label, insns.length);
    else insns.push(l);
  }
  const out = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    const offset = (label: string | undefined): number => {
      if (label === undefined) return 0;
      const at = labels.get(label);
      const d = at === undefined ? -1 : at - (i + 1);
      if (d < 0 || d > 255) throw new StarlingError('ERR_SANDBOX_SECCOMP', `seccomp jump to ${label} from ${i} does not fit (offset ${d})`);
      return d;
    };
    const o = i * 8;
    if (endian === 'LE') out.writeUInt16LE(insn.code, o);
    else out.writeUInt16BE(insn.code, o);
    out.writeUInt8(offset(insn.jt), o + 2);
    out.writeUInt8(offset(insn.jf), o + 3);
    if (endian === 'LE') out.writeUInt32LE(insn.k >>> 0, o + 4);
    else out.writeUInt32BE(insn.k >>> 0, o + 4);
  });
  if (insns.length > 4096) throw new StarlingError('ERR_SANDBOX_SECCOMP', `seccomp program of ${insns.length} instructions exceeds BPF_MAXINSNS`);
  return out;
}
