import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CompliancePolicyPlugin, PLUGIN_RULES, checkTemplate } from '../../constructs';
import { synthGroup } from '../aws/gpu-node-fixture';
import { compliantTemplate } from './rule-proofs';

/** A plain stack that uses none of this library's constructs, and breaks four rules. */
function plainStack(scope: Construct): Stack {
  const stack = new Stack(scope, 'Plain', {
    env: { account: '111122223333', region: 'eu-west-1' },
  });
  new ec2.CfnLaunchTemplate(stack, 'GpuTemplate', {
    launchTemplateData: {
      imageId: ec2.MachineImage.latestAmazonLinux2023().getImage(stack).imageId,
      instanceType: 'g5.2xlarge',
    },
  });
  new s3.Bucket(stack, 'ModelWeights');
  return stack;
}

function templatePath(app: App, stack: Stack): string {
  return join(app.synth().directory, stack.templateFile);
}

function validateWith(plugin: CompliancePolicyPlugin, paths: string[], app: App) {
  return plugin.validate({ templatePaths: paths, appConstruct: app });
}

describe('CompliancePolicyPlugin', () => {
  test('reports NODE-1, NODE-4, W-4 and HW-1 on a plain CDK stack', () => {
    const app = new App();
    const stack = plainStack(app);
    const path = templatePath(app, stack);
    const report = validateWith(new CompliancePolicyPlugin(), [path], app);
    expect(report.success).toBe(false);
    expect([...new Set(report.violations.map((v) => v.ruleName))].sort()).toEqual(
      ['HW-1', 'NODE-1', 'NODE-4', 'W-4'].sort(),
    );
    const node1 = report.violations.find((v) => v.ruleName === 'NODE-1');
    expect(node1?.violatingResources).toEqual([
      {
        resourceLogicalId: 'GpuTemplate',
        templatePath: path,
        locations: ['Properties/LaunchTemplateData/ImageId'],
      },
    ]);
    expect(node1?.fix).toMatch(/^NODE-1: pin the AMI/);
    const w4 = report.violations.filter((v) => v.ruleName === 'W-4');
    expect(w4.flatMap((v) => v.violatingResources.map((r) => r.resourceLogicalId))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ModelWeights/)]),
    );
  });

  test('fails the synth of an app that registers it', () => {
    const app = new App({ policyValidationBeta1: [new CompliancePolicyPlugin()] });
    plainStack(app);
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = (e as Error).message;
    }
    for (const rule of ['NODE-1', 'NODE-4', 'W-4', 'HW-1']) {
      expect(message).toContain(`Acknowledge with 'compliant-inference::${rule}'`);
    }
  });

  test('also plugs into the stable Validations API', () => {
    const app = new App();
    Validations.of(app).addPlugins(new CompliancePolicyPlugin({ rules: ['HW-1'] }));
    plainStack(app);
    expect(() => app.synth()).toThrow(/HW-1: use p4d\.24xlarge for GPU nodes, not g5\.2xlarge/);
  });

  test('reports nothing on a compliant template', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plugin-'));
    const path = join(dir, 'Compliant.template.json');
    writeFileSync(path, JSON.stringify(compliantTemplate()));
    const report = validateWith(new CompliancePolicyPlugin(), [path], new App());
    expect(report).toEqual({ success: true, violations: [], pluginVersion: '0.1.0' });
  });

  test("reports nothing on this library's GpuNodeGroup and WeightsBucket", () => {
    const { template } = synthGroup();
    const json = template.toJSON();
    const findings = checkTemplate(json).filter((f) => PLUGIN_RULES.includes(f.rule));
    expect(findings).toEqual([]);
    // The WeightsBucket is recognized as a weights bucket: switching its versioning off is W-4.
    const buckets = Object.entries(
      json.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    ).filter(([, r]) => r.Type === 'AWS::S3::Bucket' && 'VersioningConfiguration' in r.Properties);
    for (const [, r] of buckets) r.Properties.VersioningConfiguration = { Status: 'Suspended' };
    expect(
      checkTemplate(json)
        .filter((f) => f.rule === 'W-4')
        .map((f) => f.logicalId),
    ).toEqual([expect.stringMatching(/^WeightsBucket/)]);
  });

  test('declares its rules and can be narrowed to some', () => {
    expect(new CompliancePolicyPlugin().ruleIds).toEqual(['NODE-1', 'NODE-4', 'W-4', 'HW-1']);
    const app = new App();
    const stack = plainStack(app);
    const report = validateWith(
      new CompliancePolicyPlugin({ rules: ['W-4'] }),
      [templatePath(app, stack)],
      app,
    );
    expect([...new Set(report.violations.map((v) => v.ruleName))]).toEqual(['W-4']);
  });
});
