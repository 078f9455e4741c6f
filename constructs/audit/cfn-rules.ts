/**
 * Checks of CloudFormation templates, as `cdk synth` writes them (JSON) or as people write
 * them (YAML, short-form tags read as their long form by the loader): NODE-1, NODE-4,
 * W-4, HW-1 and SEC-3. The `audit` command and the CDK validation plugin both call
 * {@link checkTemplate}; there is one implementation.
 */
import { DEFAULT_STANDARD, RuleId, Standard } from '../standard';

/** One rule broken by one resource of a template. */
export interface TemplateFinding {
  /** The rule broken. */
  readonly rule: RuleId;
  /** The resource's logical id. */
  readonly logicalId: string;
  /** The resource type, such as `AWS::EC2::LaunchTemplate`. */
  readonly type: string;
  /** The path of the offending property, from the template root. */
  readonly field: string;
  /** One line saying what to change, starting with the rule id. */
  readonly message: string;
}

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** True when a parsed document is a CloudFormation template (it has a Resources map). */
export function isCloudFormationTemplate(value: unknown): value is Json {
  return isObj(value) && isObj(value.Resources) && !('apiVersion' in value && 'kind' in value);
}

/** The rules {@link checkTemplate} reports. */
export const TEMPLATE_RULES: readonly RuleId[] = [
  'NODE-1',
  'NODE-4',
  'W-4',
  'HW-1',
  'HW-4',
  'SEC-3',
];

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
const ACCELERATED = /^(p\d|g\d|gr\d|dl\d|inf\d|trn\d)[a-z0-9-]*\./;

/** Why an image reference floats, or undefined when it is pinned. */
function floatingImage(value: unknown, parameters: Json): string | undefined {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  if (/resolve:ssm/.test(text)) return 'an SSM parameter resolved at deploy time';
  if (typeof value === 'string') {
    if (/latest|recommended/i.test(value)) return `'${value}'`;
    return AMI_ID.test(value) ? undefined : `'${value}', which is not an AMI id`;
  }
  if (isObj(value) && typeof value.Ref === 'string') {
    const param = parameters[value.Ref];
    if (
      isObj(param) &&
      typeof param.Type === 'string' &&
      /^AWS::SSM::Parameter::Value/.test(param.Type)
    ) {
      return `parameter ${value.Ref} of type ${param.Type}, which follows an SSM path`;
    }
  }
  return undefined;
}

function ref(value: unknown): string | undefined {
  if (isObj(value) && typeof value.Ref === 'string') return value.Ref;
  return undefined;
}

function asList(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === 'True';
}

/** True when a bucket holds model weights: its id, path, name or tags say weights, not logs. */
export function isWeightsBucket(logicalId: string, resource: Json): boolean {
  const props = isObj(resource.Properties) ? resource.Properties : {};
  const meta = isObj(resource.Metadata) ? resource.Metadata : {};
  const tags = asList(props.Tags).filter(isObj);
  if (tags.some((t) => t.Key === 'compliance.inference/weights' && isTrue(t.Value))) return true;
  const names = [
    logicalId,
    typeof meta['aws:cdk:path'] === 'string' ? meta['aws:cdk:path'] : '',
    typeof props.BucketName === 'string' ? props.BucketName : '',
    ...tags.map((t) => (typeof t.Value === 'string' ? t.Value : '')),
  ].join(' ');
  return /weight/i.test(names) && !/log/i.test(names);
}

/**
 * Every NODE-1, NODE-4, W-4, HW-1 and SEC-3 finding of one template. Values the template
 * only knows at deploy time (a `Ref` to a plain parameter, `Fn::FindInMap`) are accepted as
 * pinned; anything that resolves an SSM path is floating.
 */
export function checkTemplate(
  template: Json,
  standard: Standard = DEFAULT_STANDARD,
): TemplateFinding[] {
  const resources = isObj(template.Resources) ? template.Resources : {};
  const parameters = isObj(template.Parameters) ? template.Parameters : {};
  const findings: TemplateFinding[] = [];
  const instanceType = standard.hardware.instanceType;
  const add = (rule: RuleId, logicalId: string, type: string, field: string, message: string) =>
    findings.push({ rule, logicalId, type, field: `Resources.${logicalId}.${field}`, message });

  const launchTemplates = new Map<string, Json>();
  for (const [id, r] of Object.entries(resources)) {
    if (isObj(r) && r.Type === 'AWS::EC2::LaunchTemplate') {
      const props = isObj(r.Properties) ? r.Properties : {};
      launchTemplates.set(id, isObj(props.LaunchTemplateData) ? props.LaunchTemplateData : {});
    }
  }

  const weightsBuckets = new Set(
    Object.entries(resources)
      .filter(([id, r]) => isObj(r) && r.Type === 'AWS::S3::Bucket' && isWeightsBucket(id, r))
      .map(([id]) => id),
  );

  for (const [id, r] of Object.entries(resources)) {
    if (!isObj(r) || typeof r.Type !== 'string') continue;
    const type = r.Type;
    const props = isObj(r.Properties) ? r.Properties : {};

    if (type === 'AWS::EC2::LaunchTemplate') {
      const data = launchTemplates.get(id) ?? {};
      const floating = floatingImage(data.ImageId, parameters);
      if (floating) {
        add(
          'NODE-1',
          id,
          type,
          'Properties.LaunchTemplateData.ImageId',
          `NODE-1: pin the AMI to a fixed ami- id; the image is ${floating}`,
        );
      }
      const metadata = isObj(data.MetadataOptions) ? data.MetadataOptions : {};
      if (metadata.HttpTokens !== 'required') {
        add(
          'NODE-4',
          id,
          type,
          'Properties.LaunchTemplateData.MetadataOptions.HttpTokens',
          'NODE-4: set MetadataOptions.HttpTokens to required (IMDSv2 only)',
        );
      }
      const mappings = asList(data.BlockDeviceMappings).filter(isObj);
      const ebs = mappings.filter((m) => isObj(m.Ebs));
      if (ebs.length === 0 || !ebs.every((m) => isTrue((m.Ebs as Json).Encrypted))) {
        add(
          'NODE-4',
          id,
          type,
          'Properties.LaunchTemplateData.BlockDeviceMappings',
          'NODE-4: declare the root volume in BlockDeviceMappings with Ebs.Encrypted: true',
        );
      }
      if (
        typeof data.InstanceType === 'string' &&
        ACCELERATED.test(data.InstanceType) &&
        data.InstanceType !== instanceType
      ) {
        add(
          'HW-1',
          id,
          type,
          'Properties.LaunchTemplateData.InstanceType',
          `HW-1: use ${instanceType} for GPU nodes, not ${data.InstanceType}`,
        );
      }
    }

    if (type === 'AWS::EKS::Nodegroup') {
      const ltRef = isObj(props.LaunchTemplate) ? props.LaunchTemplate : undefined;
      const ltId = ltRef ? (ref(ltRef.Id) ?? ref(ltRef.LaunchTemplateId)) : undefined;
      const lt = ltId ? launchTemplates.get(ltId) : undefined;
      const amiFromTemplate = lt !== undefined && lt.ImageId !== undefined;
      if (!amiFromTemplate) {
        const release = props.ReleaseVersion;
        if (props.AmiType === 'CUSTOM' && ltRef && !lt) {
          // The launch template is outside this template: its ImageId is checked where it is.
        } else if (release === undefined) {
          add(
            'NODE-1',
            id,
            type,
            'Properties.ReleaseVersion',
            'NODE-1: pin ReleaseVersion to a fixed EKS-optimized AMI release (or an ImageId in the launch template); without it the node group takes the latest',
          );
        } else {
          const floating = floatingImage(release, parameters);
          if (floating && !/which is not an AMI id/.test(floating)) {
            add(
              'NODE-1',
              id,
              type,
              'Properties.ReleaseVersion',
              `NODE-1: pin ReleaseVersion to a fixed release; it is ${floating}`,
            );
          }
        }
      }
      if (!ltRef) {
        add(
          'NODE-4',
          id,
          type,
          'Properties.LaunchTemplate',
          'NODE-4: give the node group a launch template with HttpTokens required and an encrypted root volume',
        );
      }
      const types = asList(props.InstanceTypes).filter((t): t is string => typeof t === 'string');
      const ltType = typeof lt?.InstanceType === 'string' ? lt.InstanceType : undefined;
      const all = [...types, ...(ltType ? [ltType] : [])];
      const labels = JSON.stringify([props.Labels ?? {}, props.Taints ?? []]);
      const gpu =
        (typeof props.AmiType === 'string' && /GPU|NVIDIA/i.test(props.AmiType)) ||
        all.some((t) => ACCELERATED.test(t)) ||
        /nvidia\.com\/gpu/.test(labels);
      if (gpu && (all.length === 0 || all.some((t) => t !== instanceType))) {
        add(
          'HW-1',
          id,
          type,
          types.length > 0 ? 'Properties.InstanceTypes' : 'Properties.LaunchTemplate',
          `HW-1: GPU node groups run only ${instanceType}; found ${all.length ? all.join(', ') : 'no instance type (the default)'}`,
        );
      }
      // HW-4: a GPU node group keeps other workloads off with the GPU taint.
      const taint = standard.hardware.gpuTaint;
      const tainted = asList(props.Taints).some(
        (t) =>
          isObj(t) && t.Key === taint.key && t.Value === taint.value && t.Effect === 'NO_SCHEDULE',
      );
      if (gpu && !tainted) {
        add(
          'HW-4',
          id,
          type,
          'Properties.Taints',
          `HW-4: taint the GPU node group ${taint.key}=${taint.value}:NO_SCHEDULE so that only inference pods, which tolerate it, land there`,
        );
      }
    }

    if (type === 'AWS::EC2::Instance' || type === 'AWS::AutoScaling::LaunchConfiguration') {
      const floating = floatingImage(props.ImageId, parameters);
      if (floating)
        add(
          'NODE-1',
          id,
          type,
          'Properties.ImageId',
          `NODE-1: pin the AMI to a fixed ami- id; the image is ${floating}`,
        );
      if (
        typeof props.InstanceType === 'string' &&
        ACCELERATED.test(props.InstanceType) &&
        props.InstanceType !== instanceType
      ) {
        add(
          'HW-1',
          id,
          type,
          'Properties.InstanceType',
          `HW-1: use ${instanceType} for GPU nodes, not ${props.InstanceType}`,
        );
      }
    }

    if (type === 'AWS::S3::Bucket' && isWeightsBucket(id, r)) {
      checkWeightsBucket(id, props, resources, add);
    }

    for (const [path, document] of policyDocuments(type, props)) {
      for (const [i, statement] of asList(
        isObj(document) ? document.Statement : undefined,
      ).entries()) {
        if (!isObj(statement) || statement.Effect !== 'Allow') continue;
        // W-4: nodes read only their models' prefixes, never the whole weights bucket.
        const reads = asList(statement.Action).some(
          (a) => typeof a === 'string' && /^s3:(GetObject|Get\*|\*)$|^\*$/.test(a),
        );
        const whole = asList(statement.Resource).some((res) =>
          wholeBucketObjects(res, weightsBuckets),
        );
        if (reads && whole) {
          add(
            'W-4',
            id,
            type,
            `${path}.Statement[${i}].Resource`,
            'W-4: grant reads of the weights bucket under the model prefixes only (bucket-arn/<model>/<revision>/*), never bucket-arn/*',
          );
        }
        const wild = asList(statement.Action).filter((a) => a === '*' || a === 's3:*');
        if (wild.length > 0) {
          add(
            'SEC-3',
            id,
            type,
            `${path}.Statement[${i}].Action`,
            `SEC-3: replace the wildcard action ${wild.map(String).join(', ')} with the actions the role needs (least privilege)`,
          );
        }
      }
    }
  }
  return findings;
}

/**
 * True when an IAM resource is every object of one of the weights buckets: `bucket-arn/*`
 * written as `Fn::Join` over the bucket's `Fn::GetAtt Arn` (or `Fn::Sub`), as CDK and hand
 * templates write it.
 */
function wholeBucketObjects(res: unknown, buckets: ReadonlySet<string>): boolean {
  if (res === '*') return buckets.size > 0;
  if (!isObj(res)) return false;
  const join = res['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1])) {
    const parts = join[1] as unknown[];
    const refersToBucket = parts.some((p) => {
      if (!isObj(p)) return false;
      const att = p['Fn::GetAtt'];
      const ref = p.Ref;
      return (
        (Array.isArray(att) && buckets.has(String(att[0]))) ||
        (typeof att === 'string' && buckets.has(att.split('.')[0])) ||
        (typeof ref === 'string' && buckets.has(ref))
      );
    });
    const literal = parts.filter((p): p is string => typeof p === 'string').join(join[0] ?? '');
    return refersToBucket && /^:?\/?\*$/.test(literal.replace(/^arn:aws[a-z-]*:s3:::/, ''));
  }
  const sub = res['Fn::Sub'];
  if (typeof sub === 'string') {
    return [...buckets].some((b) => new RegExp(`^\\$\\{${b}\\.Arn\\}/\\*$`).test(sub));
  }
  return false;
}

function policyDocuments(type: string, props: Json): [string, unknown][] {
  if (type === 'AWS::IAM::Policy' || type === 'AWS::IAM::ManagedPolicy') {
    return [['Properties.PolicyDocument', props.PolicyDocument]];
  }
  if (type === 'AWS::IAM::Role' || type === 'AWS::IAM::User' || type === 'AWS::IAM::Group') {
    return asList(props.Policies)
      .filter(isObj)
      .map((p, i) => [`Properties.Policies[${i}].PolicyDocument`, p.PolicyDocument]);
  }
  return [];
}

function checkWeightsBucket(
  id: string,
  props: Json,
  resources: Json,
  add: (rule: RuleId, logicalId: string, type: string, field: string, message: string) => void,
): void {
  const type = 'AWS::S3::Bucket';
  const block = isObj(props.PublicAccessBlockConfiguration)
    ? props.PublicAccessBlockConfiguration
    : {};
  const flags = [
    'BlockPublicAcls',
    'BlockPublicPolicy',
    'IgnorePublicAcls',
    'RestrictPublicBuckets',
  ];
  const open = flags.filter((f) => !isTrue(block[f]));
  if (open.length > 0) {
    add(
      'W-4',
      id,
      type,
      'Properties.PublicAccessBlockConfiguration',
      `W-4: block all public access on the weights bucket (${open.join(', ')} not true)`,
    );
  }
  const encryption = isObj(props.BucketEncryption) ? props.BucketEncryption : {};
  const kms = asList(encryption.ServerSideEncryptionConfiguration)
    .filter(isObj)
    .some(
      (c) =>
        isObj(c.ServerSideEncryptionByDefault) &&
        /^aws:kms/.test(String(c.ServerSideEncryptionByDefault.SSEAlgorithm)),
    );
  if (!kms) {
    add(
      'W-4',
      id,
      type,
      'Properties.BucketEncryption',
      'W-4: encrypt the weights bucket with a KMS key (SSEAlgorithm aws:kms)',
    );
  }
  const versioning = isObj(props.VersioningConfiguration) ? props.VersioningConfiguration : {};
  if (versioning.Status !== 'Enabled') {
    add(
      'W-4',
      id,
      type,
      'Properties.VersioningConfiguration.Status',
      'W-4: turn versioning on for the weights bucket (Status: Enabled)',
    );
  }
  const tlsOnly = Object.values(resources).some((p) => {
    if (!isObj(p) || p.Type !== 'AWS::S3::BucketPolicy' || !isObj(p.Properties)) return false;
    if (ref(p.Properties.Bucket) !== id) return false;
    const doc = isObj(p.Properties.PolicyDocument) ? p.Properties.PolicyDocument : {};
    return asList(doc.Statement).some((s) => {
      if (!isObj(s) || s.Effect !== 'Deny' || !isObj(s.Condition)) return false;
      const bool = s.Condition.Bool;
      return (
        isObj(bool) &&
        (bool['aws:SecureTransport'] === false || bool['aws:SecureTransport'] === 'false')
      );
    });
  });
  if (!tlsOnly) {
    add(
      'W-4',
      id,
      type,
      'Properties',
      'W-4: add a bucket policy that denies requests without TLS (aws:SecureTransport false)',
    );
  }
}
