import { cpuSnapshot, cpuBetweenSnapshots, perUnit } from './src/process-cpu.ts';
import { execFileSync } from 'node:child_process';
const before = cpuSnapshot();
execFileSync('bash', ['-c', process.argv[2]!], { stdio: 'inherit' });
const after = cpuSnapshot();
console.log(perUnit(cpuBetweenSnapshots(before, after), Number(process.argv[3]), 14));
