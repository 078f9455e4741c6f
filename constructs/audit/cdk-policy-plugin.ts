import { readFileSync } from 'fs';
import {
  IPolicyValidationContextBeta1,
  IPolicyValidationPlugin,
  IPolicyValidationPluginBeta1,
  PolicyValidationPluginReportBeta1,
  PolicyViolationBeta1,
} from 'aws-cdk-lib';
import { DEFAULT_STANDARD, RuleId, Standard, ruleById } from '../standard';
import { checkTemplate, isCloudFormationTemplate } from './cfn-rules';

/** The rules the plugin reports. */
export const PLUGIN_RULES: readonly RuleId[] = ['NODE-1', 'NODE-4', 'W-4', 'HW-1'];

/** Properties of a {@link CompliancePolicyPlugin}. */
export interface CompliancePolicyPluginProps {
  /** The standard templates are judged against. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
  /**
   * The rules to report.
   * @default NODE-1, NODE-4, W-4 and HW-1
   */
  readonly rules?: readonly RuleId[];
}

/**
 * A CDK policy-validation plugin that reports NODE-1, NODE-4, W-4 and HW-1 on every stack
 * of an app, whether or not it uses this library's constructs. It runs the same template
 * checks as the `audit` command. It implements both the Beta1 interface and the stable
 * one (its report carries every field either requires).
 *
 * @example
 * new App({ policyValidationBeta1: [new CompliancePolicyPlugin()] });
 * // or, with the stable API:
 * Validations.of(app).addPlugins(new CompliancePolicyPlugin());
 */
export class CompliancePolicyPlugin
  implements IPolicyValidationPluginBeta1, IPolicyValidationPlugin
{
  /** The plugin's name in CDK's validation report. */
  public readonly name = 'compliant-inference';
  /** The plugin's version. */
  public readonly version = '0.1.0';
  /** The rules it reports. */
  public readonly ruleIds: string[];
  private readonly standard: Standard;

  constructor(props: CompliancePolicyPluginProps = {}) {
    this.standard = props.standard ?? DEFAULT_STANDARD;
    this.ruleIds = [...(props.rules ?? PLUGIN_RULES)];
  }

  /** Runs the template checks on every template of the app and reports the violations. */
  public validate(context: IPolicyValidationContextBeta1): PolicyValidationPluginReportBeta1 {
    const byKey = new Map<string, PolicyViolationBeta1>();
    for (const templatePath of context.templatePaths) {
      const template: unknown = JSON.parse(readFileSync(templatePath, 'utf8'));
      if (!isCloudFormationTemplate(template)) continue;
      for (const f of checkTemplate(template, this.standard)) {
        if (!this.ruleIds.includes(f.rule)) continue;
        const key = `${f.rule}|${f.message}`;
        const violation = byKey.get(key) ?? {
          ruleName: f.rule,
          description: `${ruleById(f.rule).statement}`,
          fix: f.message,
          severity: 'error',
          violatingResources: [],
        };
        violation.violatingResources.push({
          resourceLogicalId: f.logicalId,
          templatePath,
          locations: [f.field.split('.').slice(2).join('/') || 'Properties'],
        });
        byKey.set(key, violation);
      }
    }
    const violations = [...byKey.values()];
    return { success: violations.length === 0, violations, pluginVersion: this.version };
  }
}
