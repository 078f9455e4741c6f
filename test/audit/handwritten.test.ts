import { join } from 'path';
import { AuditReport, auditPaths } from '../../constructs';
import { CLOCK } from './fixture';

const DIR = join(__dirname, '..', 'fixtures', 'handwritten');

function auditFixture(name: string): AuditReport {
  return auditPaths([join(DIR, name)], { clock: CLOCK });
}

/** The findings of one rule, as `field: message` lines. */
function of(report: AuditReport, rule: string): string[] {
  return report.findings.filter((f) => f.rule === rule).map((f) => `${f.field}: ${f.message}`);
}

describe('hand-written manifests in the style of public examples', () => {
  describe('a vLLM Deployment that pulls a hub model with a moving tag and no probes', () => {
    const report = auditFixture('vllm-hub-model.yaml');

    test('is audited without input problems, the Service too', () => {
      expect(report.problems).toEqual([]);
      expect(report.audited).toBe(2);
    });

    test('the hub model id is reported under W-3, with the hub switches', () => {
      expect(of(report, 'W-3')).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/args\[--model\]: W-3: pass the model as a local path/),
          expect.stringMatching(/env: W-3: switch hub downloads off/),
        ]),
      );
    });

    test('the tag instead of a digest is reported under SW-2 on the image field', () => {
      expect(of(report, 'SW-2')).toEqual([
        'spec.template.spec.containers[*].image: SW-2: pin every image by digest (repository@sha256:<64 hex>), never a moving tag',
      ]);
    });

    test('no probes and no drain are reported under OPS-3, with the missing PodDisruptionBudget', () => {
      expect(of(report, 'OPS-3')).toHaveLength(2);
      expect(of(report, 'OPS-3').join('\n')).toMatch(/readiness and liveness probes/);
      expect(of(report, 'OPS-3').join('\n')).toMatch(/PodDisruptionBudget/);
    });

    test('bf16 weights without quantization, burstable resources, an unbounded /dev/shm, root: each has its rule', () => {
      const rules = new Set(report.findings.map((f) => f.rule));
      for (const r of [
        'Q-1',
        'HW-3',
        'SEC-1',
        'SEC-3',
        'HW-1',
        'HW-4',
        'MEM-2',
        'MEM-4',
        'OBS-1',
      ]) {
        expect(rules).toContain(r);
      }
      expect(of(report, 'HW-3').join('\n')).toMatch(/emptyDir volume a sizeLimit/);
    });
  });

  test('a Deployment without a GPU limit is reported under HW-2', () => {
    const report = auditFixture('vllm-no-gpu-limit.yaml');
    expect(report.problems).toEqual([]);
    expect(of(report, 'HW-2')).toEqual([
      expect.stringMatching(
        /limits\['nvidia\.com\/gpu'\]: HW-2: give the engine container a nvidia\.com\/gpu limit/,
      ),
    ]);
    // Locked down and pinned: none of those rules fire.
    const rules = report.findings.map((f) => f.rule);
    for (const r of ['SW-2', 'SEC-1', 'SEC-3', 'HW-1', 'HW-3', 'Q-1'])
      expect(rules).not.toContain(r);
    expect(of(report, 'OPS-3').join('\n')).toMatch(/probes/);
  });

  test('a StatefulSet in a List whose init container downloads the weights into a hostPath', () => {
    const report = auditFixture('vllm-download-init.yaml');
    expect(report.problems).toEqual([]);
    expect(report.findings[0]).toMatchObject({
      kind: 'StatefulSet',
      name: 'inference/coder',
      document: 0,
    });
    expect(of(report, 'W-1')).toEqual([
      expect.stringMatching(/volumes\[\*\]\.hostPath: W-1/),
      expect.stringMatching(
        /initContainers\[\*\]\.command: W-1: remove the init container that downloads/,
      ),
    ]);
    expect(of(report, 'HW-2').join('\n')).toMatch(
      /--tensor-parallel-size x --pipeline-parallel-size/,
    );
  });

  test('a hand-written CloudFormation YAML template with short-form tags', () => {
    const report = auditFixture('gpu-nodes.template.yaml');
    expect(report.problems).toEqual([]);
    const byRule = (r: string) => report.findings.filter((f) => f.rule === r).map((f) => f.name);
    expect(byRule('NODE-1')).toEqual(['GpuLaunchTemplate']);
    expect(of(report, 'NODE-1')[0]).toMatch(/parameter GpuAmi of type AWS::SSM::Parameter::Value/);
    expect(byRule('NODE-4')).toEqual(['GpuLaunchTemplate', 'GpuLaunchTemplate']);
    expect(byRule('HW-1')).toEqual(['GpuLaunchTemplate', 'GpuNodes']);
    expect(byRule('W-4')).toEqual(Array(4).fill('ModelWeightsBucket'));
    expect(byRule('SEC-3')).toEqual(['NodeRole']);
  });

  describe('a Deployment that asks for a time-sliced GPU (nvidia.com/gpu.shared)', () => {
    const report = auditFixture('time-sliced-gpu.yaml');

    test('is in scope although it never names nvidia.com/gpu, and the shared GPU is HW-2', () => {
      expect(report.problems).toEqual([]);
      expect(of(report, 'HW-2').join('\n')).toMatch(/shared \(time-sliced, MPS\) or MIG/);
    });

    test('its tag and its model download are reported too', () => {
      const rules = new Set(report.findings.map((f) => f.rule));
      for (const r of ['SW-2', 'W-3', 'HW-1']) expect(rules).toContain(r);
    });
  });
});
