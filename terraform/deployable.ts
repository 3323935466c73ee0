// What must be true of a configuration before anything is applied with it.
// Synthesis accepts the committed example environment (CI synthesizes it with
// an example project and no credentials); applying it would create a
// certificate for a domain nobody owns and page an address nobody reads, so
// the commands that apply (`infra:deploy`, `infra:roll --apply`) refuse it.

import type { InfraConfig } from './config-schema.js';

/** RFC 2606 / 6761 names: documentation and test domains that no deployment owns. */
const RESERVED = /(^|\.)(example\.(com|net|org)|example|invalid|test|localhost)$/;

export function deployProblems(config: InfraConfig): string[] {
  const problems: string[] = [];
  for (const domain of [config.domain, ...config.edge.additionalDomains])
    if (RESERVED.test(domain)) problems.push(`domain ${domain} is a placeholder: set INFRA_DOMAIN`);
  const emailDomain = config.alertEmail.split('@')[1] ?? '';
  if (RESERVED.test(emailDomain))
    problems.push(`alertEmail ${config.alertEmail} is a placeholder: set INFRA_ALERT_EMAIL`);
  for (const operator of config.operators)
    if (RESERVED.test(operator.split('@')[1] ?? ''))
      problems.push(`operator ${operator} is a placeholder: edit "operators" in the environment file`);
  return problems;
}

export function assertDeployable(config: InfraConfig): void {
  const problems = deployProblems(config);
  if (problems.length > 0) throw new Error(`Refusing to apply:\n  - ${problems.join('\n  - ')}`);
}
