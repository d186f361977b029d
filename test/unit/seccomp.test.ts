/**
 * The machines' seccomp filter, without a kernel: the generated program runs in a tiny classic-BPF
 * interpreter on synthetic `struct seccomp_data`, and the syscall tables are checked against the
 * kernel's own uapi headers (Debian linux-libc-dev). That the kernel installs it is the sandbox
 * integration tests' part (Seccomp: 2 inside a machine).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AUDIT_ARCH,
  DENIED,
  ENOSYS,
  EPERM,
  hostSeccompArch,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompProgram,
  type SeccompArch,
} from '../../src/runtime/drivers/seccomp.js';
import { syscallNumber, syscallTable } from '../../src/runtime/drivers/seccomp-syscalls.js';
import { isStarlingError } from '../../src/shared/index.js';

/** Runs a classic BPF program (only the opcodes a seccomp filter needs) over `data`. */
function runBpf(program: Buffer, data: Buffer, endian: 'LE' | 'BE'): number {
  const u16 = (o: number): number => (endian === 'LE' ? program.readUInt16LE(o) : program.readUInt16BE(o));
  const u32 = (buf: Buffer, o: number): number => (endian === 'LE' ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const count = program.length / 8;
  assert.ok(Number.isInteger(count) && count > 0, 'whole 8-byte records');
  let a = 0;
  for (let pc = 0, steps = 0; pc < count; steps++) {
    assert.ok(steps <= count, 'no loops (classic BPF only jumps forward)');
    const o = pc * 8;
    const [code, jt, jf, k] = [u16(o), program.readUInt8(o + 2), program.readUInt8(o + 3), u32(program, o + 4)];
    const jump = (cond: boolean): number => pc + 1 + (cond ? jt : jf);
    switch (code) {
      case 0x20: // ld [k]
        assert.ok(k % 4 === 0 && k + 4 <= data.length, `aligned load inside seccomp_data (${k})`);
        a = u32(data, k);
        pc++;
        break;
      case 0x15: pc = jump(a === k); break;
      case 0x25: pc = jump(a > k); break;
      case 0x35: pc = jump(a >= k); break;
      case 0x45: pc = jump((a & k) !== 0); break;
      case 0x06:
        return k;
      default:
        assert.fail(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  return assert.fail('fell off the end of the program');
}

/** `struct seccomp_data`: int nr; u32 arch; u64 ip; u64 args[6]. */
function seccompData(nr: number, arch: number, args: number[], endian: 'LE' | 'BE'): Buffer {
  const b = Buffer.alloc(64);
  const w32 = (v: number, o: number): number => (endian === 'LE' ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  w32(nr, 0);
  w32(arch, 4);
  args.forEach((v, i) => {
    const big = BigInt(v);
    if (endian === 'LE') b.writeBigUInt64LE(big, 16 + 8 * i);
    else b.writeBigUInt64BE(big, 16 + 8 * i);
  });
  return b;
}

const ERRNO = (e: number): number => (SECCOMP_RET_ERRNO | e) >>> 0;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes to clone
const SIGCHLD = 17;

for (const arch of ['x86_64', 'aarch64'] as const satisfies readonly SeccompArch[]) {
  for (const endian of ['LE', 'BE'] as const) {
    if (arch === 'x86_64' && endian === 'BE') continue; // no such machine
    describe(`seccomp filter on ${arch} (${endian})`, () => {
      const program = seccompProgram(arch, endian);
      const call = (name: string, args: number[] = [], archValue = AUDIT_ARCH[arch]): number => {
        const nr = syscallNumber(arch, name);
        assert.ok(nr !== undefined, `${name} on ${arch}`);
        return runBpf(program, seccompData(nr, archValue, args, endian), endian);
      };

      it('allows ordinary calls (write)', () => {
        assert.equal(call('write', [1, 0, 5]), SECCOMP_RET_ALLOW);
      });

      it('denies mount and every other listed call with EPERM', () => {
        assert.equal(call('mount'), ERRNO(EPERM));
        for (const name of DENIED) if (syscallNumber(arch, name) !== undefined) assert.equal(call(name), ERRNO(EPERM), name);
      });

      it('clone: a thread or a fork passes, any CLONE_NEW* flag is denied', () => {
        assert.equal(call('clone', [CLONE_THREAD_FLAGS]), SECCOMP_RET_ALLOW);
        assert.equal(call('clone', [SIGCHLD]), SECCOMP_RET_ALLOW);
        for (const flag of [0x10000000, 0x20000000, 0x40000000, 0x00020000, 0x04000000, 0x08000000, 0x02000000]) {
          assert.equal(call('clone', [SIGCHLD | flag]), ERRNO(EPERM), `flag 0x${flag.toString(16)}`);
        }
        assert.equal(call('clone', [0x10000000 + 2 ** 32]), ERRNO(EPERM), 'high bits do not hide CLONE_NEWUSER');
      });

      it('clone3 answers ENOSYS, so libc falls back to clone', () => {
        assert.equal(call('clone3', [0, 88]), ERRNO(ENOSYS));
      });

      it("personality: Docker's values pass, others are denied", () => {
        for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.equal(call('personality', [v]), SECCOMP_RET_ALLOW, `0x${v.toString(16)}`);
        for (const v of [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x400000 /* READ_IMPLIES_EXEC */, 1]) {
          assert.equal(call('personality', [v]), ERRNO(EPERM), `0x${v.toString(16)}`);
        }
      });

      it('kills a process that calls in through another ABI (32-bit compat)', () => {
        const compat = arch === 'x86_64' ? 0x40000003 /* AUDIT_ARCH_I386 */ : 0x40000028; /* AUDIT_ARCH_ARM */
        assert.equal(runBpf(program, seccompData(1, compat, [], endian), endian), SECCOMP_RET_KILL_PROCESS);
        assert.equal(call('write', [], compat), SECCOMP_RET_KILL_PROCESS);
      });

      it('calls newer than the reviewed table answer ENOSYS', () => {
        assert.equal(runBpf(program, seccompData(467 /* open_tree_attr, 6.15 */, AUDIT_ARCH[arch], [], endian), endian), ERRNO(ENOSYS));
      });

      if (arch === 'x86_64') {
        it('kills x32 calls (the 0x40000000 bit)', () => {
          assert.equal(runBpf(program, seccompData(0x40000000 + 1, AUDIT_ARCH.x86_64, [], endian), endian), SECCOMP_RET_KILL_PROCESS);
          assert.equal(runBpf(program, seccompData(0x40000000 + 165, AUDIT_ARCH.x86_64, [], endian), endian), SECCOMP_RET_KILL_PROCESS);
        });
      }
    });
  }
}

describe('seccomp: the host', () => {
  it('knows x86_64 and aarch64 and refuses any other architecture clearly', () => {
    assert.equal(hostSeccompArch('x64'), 'x86_64');
    assert.equal(hostSeccompArch('arm64'), 'aarch64');
    assert.throws(() => hostSeccompArch('riscv64'), (e: unknown) => isStarlingError(e) && e.code === 'ERR_SANDBOX_ARCH' && /riscv64/.test(e.message));
  });
});

/** `#define __NR_name 123` (and the generic table's `__NR3264_name`) from a uapi header. */
function headerNumbers(path: string): Map<string, number> {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the kernel's uapi headers (apt-get install linux-libc-dev)`);
  const out = new Map<string, number>();
  for (const m of readFileSync(path, 'utf8').matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('seccomp: the syscall tables match the kernel headers', () => {
  const check = (arch: SeccompArch, header: string): void => {
    const kernel = headerNumbers(header);
    const newest = Math.max(...kernel.values());
    for (const [name, nr] of syscallTable(arch)) {
      const want = kernel.get(name);
      // A call newer than the installed headers (mseal with 6.1's) can only be checked against
      // the upstream table; it must at least not collide with a call the headers know.
      if (want === undefined) assert.ok(nr > newest, `${name} (${nr}) is not in ${header} and not newer than it`);
      else assert.equal(nr, want, `${arch} ${name}`);
    }
    for (const name of DENIED) {
      if (syscallNumber(arch, name) === undefined) assert.ok(!kernel.has(name), `${name} exists on ${arch} but the table lacks it`);
    }
  };
  it('x86_64: asm/unistd_64.h', () => check('x86_64', '/usr/include/x86_64-linux-gnu/asm/unistd_64.h'));
  it('aarch64: asm-generic/unistd.h', () => check('aarch64', '/usr/include/asm-generic/unistd.h'));
});
