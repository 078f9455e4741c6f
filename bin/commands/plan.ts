import { readFileSync } from 'fs';
import { Command, Option } from 'commander';
import {
  CATALOGUE_NAMES,
  ComplianceError,
  DEFAULT_STANDARD,
  MemoryPlan,
  ModelArchitecture,
  WeightFormatName,
  catalogueModel,
  planMemory,
  planRefusal,
} from '../../constructs';
import { Output } from '../private/output';
import { RegisterCommand } from '.';

const GiB = 1024 ** 3;
const BAR_WIDTH = 60;

interface PlanFlags {
  readonly model?: string;
  readonly architecture?: string;
  readonly weights: string;
  readonly groupSize?: string;
  readonly tensorParallel?: string;
  readonly tokenBudget?: string;
  readonly concurrency?: string;
  readonly json?: boolean;
}

/** A number flag as the planner sees it: `abc` becomes NaN and is refused there, with its rule. */
function num(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function loadArchitecture(path: string): ModelArchitecture {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ComplianceError({
      rule: 'MEM-2',
      field: '--architecture',
      limit: 'a readable JSON file',
      received: `'${path}'`,
      message: `cannot read the architecture file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    });
  }
  try {
    return JSON.parse(text) as ModelArchitecture;
  } catch (e) {
    throw new ComplianceError({
      rule: 'MEM-2',
      field: '--architecture',
      limit: 'a JSON object with the fields of a model architecture',
      received: `'${path}'`,
      message: `the architecture file is not JSON: ${(e as Error).message}`,
    });
  }
}

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

/** One GPU as a bar: W weights, K KV cache, O overhead, . free; `|` marks the engine's share. */
export function memoryBar(plan: MemoryPlan, width = BAR_WIDTH): string {
  // Clamped to the bar: a plan may ask for many times the GPU (a huge concurrency, say).
  const cells = (bytes: number) =>
    Math.min(width + 1, Math.round((bytes / plan.gpuMemoryBytes) * width));
  const w = cells(plan.weightBytes);
  const k = cells(plan.kvCacheBytes);
  const o = cells(plan.overheadBytes);
  const used = Math.min(width, w + k + o);
  const chars = ('W'.repeat(w) + 'K'.repeat(k) + 'O'.repeat(o)).slice(0, width).split('');
  while (chars.length < width) chars.push('.');
  const line = Math.round(plan.memoryFraction * width);
  const overflow = w + k + o > width ? '!' : '';
  return `[${chars.slice(0, line).join('')}|${chars.slice(line).join('')}]${overflow} ${Math.round((used / width) * 100)}%`;
}

/** The human-readable plan. */
export function renderPlan(plan: MemoryPlan): string[] {
  const pct = Math.round(plan.memoryFraction * 100);
  const rows: [string, string][] = [
    ['model', plan.model],
    [
      'weights',
      `${plan.weights}${plan.groupSize ? ` (group size ${plan.groupSize})` : ''}, ${gib(plan.totalWeightBytes)} in all`,
    ],
    ['GPU', `${plan.gpu.name}, ${gib(plan.gpuMemoryBytes)}`],
    ['tensor-parallel', `${plan.tensorParallelSize} (GPUs per pod: ${plan.gpusPerPod})`],
    ['token budget', `${plan.tokenBudget} tokens x ${plan.concurrency} concurrent sequences`],
    ['per GPU: weights', gib(plan.weightBytes)],
    ['per GPU: KV cache', `${gib(plan.kvCacheBytes)} (${plan.kvBytesPerToken} bytes per token)`],
    ['per GPU: overhead', gib(plan.overheadBytes)],
    ['per GPU: total', gib(plan.totalBytes)],
    [`budget (${pct}%)`, gib(plan.budgetBytes)],
    ['headroom', gib(plan.headroomBytes)],
    ['KV pool', gib(plan.kvPoolBytes)],
    ['max concurrency', String(plan.maxConcurrency)],
  ];
  const pad = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(pad)}  ${v}`);
  lines.push('', `GPU memory (W weights, K KV cache, O overhead, . free, | ${pct}% line):`);
  for (let g = 0; g < plan.gpusPerPod; g++) lines.push(`GPU ${g}  ${memoryBar(plan)}`);
  lines.push('');
  lines.push(
    plan.fits
      ? `FITS: ${plan.model} in ${plan.weights} at tensor-parallel ${plan.tensorParallelSize}`
      : `DOES NOT FIT: ${planRefusal(plan).message}`,
  );
  if (!DEFAULT_STANDARD.quantization.approvedFormats.includes(plan.weights)) {
    lines.push(
      `note: Q-1: ${plan.weights} weights need a waiver in production; quantize to int8, awq or gptq`,
    );
  }
  return lines;
}

function runPlan(flags: PlanFlags, output: Output): number {
  if (flags.model && flags.architecture) {
    output.err('plan: give either --model or --architecture, not both');
    return 2;
  }
  if (!flags.model && !flags.architecture) {
    output.err('plan: give --model NAME (see the catalogue in --help) or --architecture FILE');
    return 2;
  }
  try {
    const model = flags.architecture
      ? loadArchitecture(flags.architecture)
      : catalogueModel(flags.model as string, '--model');
    const plan = planMemory({
      model,
      weights: flags.weights as WeightFormatName,
      groupSize: num(flags.groupSize),
      tensorParallelSize: num(flags.tensorParallel),
      tokenBudget: num(flags.tokenBudget),
      concurrency: num(flags.concurrency),
    });
    if (flags.json) output.out(JSON.stringify(plan, null, 2));
    else for (const line of renderPlan(plan)) output.out(line);
    if (!plan.fits && flags.json) output.err(planRefusal(plan).message);
    return plan.fits ? 0 : 1;
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) {
      output.err(e.message);
      return 2;
    }
    throw e;
  }
}

/** `plan`: whether a model fits its GPUs under the standard, with the numbers. */
export const registerPlan: RegisterCommand = (program: Command, output, setExitCode) => {
  program
    .command('plan')
    .description(
      'Plan the GPU memory of a model under the standard; exit 0 when it fits, 1 when it does not, 2 on bad input.',
    )
    .option('--model <name>', `a catalogue model: ${CATALOGUE_NAMES.join(', ')}`)
    .option(
      '--architecture <file>',
      'a custom architecture as JSON (the fields of ModelArchitecture)',
    )
    .addOption(
      new Option('--weights <format>', 'weight format')
        .choices(['fp16', 'bf16', 'int8', 'awq', 'gptq'])
        .default('awq'),
    )
    .option('--group-size <n>', 'quantization group size for awq and gptq (default 128)')
    .option('--tensor-parallel <n>', 'GPUs per pod (default: the smallest that fits)')
    .option(
      '--token-budget <n>',
      `tokens per sequence (default ${DEFAULT_STANDARD.traffic.tokenBudget})`,
    )
    .option('--concurrency <n>', 'concurrent sequences at the full budget (default 8)')
    .option('--json', 'print the plan as JSON')
    .action((flags: PlanFlags) => setExitCode(runPlan(flags, output)));
};
