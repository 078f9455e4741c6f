import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { parse } from 'yaml';
import { weightsPvDirectory } from '../../constructs';
import { ClusterServices } from '../../lib/cluster-services';
import { ReferenceWorkloads } from '../../lib/reference-workloads';
import { validateK8sObject } from '../support/k8s-schema';
import { CLOCK, K8sObject } from './fixture';

describe('WeightsVolumes (W-3)', () => {
  const objects = Testing.synth(new ClusterServices(Testing.app(), 'svc')) as K8sObject[];
  const workloads = Testing.synth(
    new ReferenceWorkloads(Testing.app(), 'ref', { clock: CLOCK }),
  ) as K8sObject[];

  test('every object validates against the Kubernetes schema', () => {
    expect(objects.flatMap((o) => validateK8sObject(o).map((e) => `${o.kind}: ${e}`))).toEqual([]);
  });

  test('each storage class a reference pod claims exists, retains released volumes and binds on the pod node', () => {
    const classes = objects.filter((o) => o.kind === 'StorageClass');
    const claimed = workloads
      .filter((o) => o.kind === 'Deployment')
      .map(
        (d) =>
          d.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'weights').ephemeral
            .volumeClaimTemplate.spec.storageClassName,
      );
    expect(claimed).toHaveLength(2);
    for (const name of claimed) {
      expect(classes.find((c) => c.metadata.name === name)).toMatchObject({
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Retain',
      });
    }
  });

  test('the provisioner discovers exactly the directories the boot script bind-mounts', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap') as K8sObject;
    const map = parse(config.data.storageClassMap);
    expect(map['weights-llama-2-70b-awq-r1']).toEqual({
      hostDir: weightsPvDirectory('llama-2-70b-awq', 'r1'),
      mountDir: weightsPvDirectory('llama-2-70b-awq', 'r1'),
      volumeMode: 'Filesystem',
    });
    const ds = objects.find((o) => o.kind === 'DaemonSet') as K8sObject;
    const mount = ds.spec.template.spec.containers[0].volumeMounts.find(
      (m: K8sObject) => m.name === 'discovery',
    );
    expect(mount).toEqual({
      name: 'discovery',
      mountPath: '/mnt/weights-pv',
      mountPropagation: 'HostToContainer',
    });
    expect(ds.spec.template.spec.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]);
  });

  test('the recycler deletes only released volumes of the weights classes', () => {
    const cron = objects.find((o) => o.kind === 'CronJob') as K8sObject;
    const script: string = cron.spec.jobTemplate.spec.template.spec.containers[0].command[2];
    expect(script).toContain('-l compliance.inference/weights-volume=true');
    expect(script).toContain('select(.status.phase == "Released")');
    const role = objects.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'weights-volume-recycler',
    ) as K8sObject;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['list', 'delete'] },
    ]);
  });

  test('the recycler script passes shellcheck', () => {
    const cron = objects.find((o) => o.kind === 'CronJob') as K8sObject;
    const file = join(mkdtempSync(join(tmpdir(), 'recycler-')), 'recycle.sh');
    const script = cron.spec.jobTemplate.spec.template.spec.containers[0].command[2];
    writeFileSync(file, `#!/bin/bash\n${script}\n`);
    const run = spawnSync('shellcheck', [file], { encoding: 'utf8' });
    expect(run.error).toBeUndefined();
    expect(`${run.stdout}${run.stderr}`).toBe('');
    expect(run.status).toBe(0);
  });

  test('the recycler deletes exactly the released volumes, when run for real against a fake kubectl', () => {
    const cron = objects.find((o) => o.kind === 'CronJob') as K8sObject;
    const script: string = cron.spec.jobTemplate.spec.template.spec.containers[0].command[2];
    const dir = mkdtempSync(join(tmpdir(), 'recycler-run-'));
    const log = join(dir, 'calls.log');
    const pvs = {
      items: [
        { metadata: { name: 'pv-a' }, status: { phase: 'Released' } },
        { metadata: { name: 'pv-b' }, status: { phase: 'Bound' } },
        { metadata: { name: 'pv-c' }, status: { phase: 'Released' } },
        { metadata: { name: 'pv-d' }, status: { phase: 'Available' } },
      ],
    };
    writeFileSync(join(dir, 'pvs.json'), JSON.stringify(pvs));
    writeFileSync(
      join(dir, 'kubectl'),
      `#!/bin/bash\necho "$*" >> "${log}"\nif [ "$1" = get ]; then cat "${join(dir, 'pvs.json')}"; fi\n`,
      { mode: 0o755 },
    );
    // stdin not a socket: Debian's bash would otherwise read ~/.bashrc, as if run by sshd.
    const run = spawnSync('bash', ['-c', script], {
      env: { PATH: `${dir}:${process.env.PATH}`, HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'get pv -l compliance.inference/weights-volume=true -o json',
      'delete pv pv-a pv-c',
    ]);
  });
});
