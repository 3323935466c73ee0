// `npm run infra:synth`: reads the environment's configuration and writes the
// Terraform JSON of every stack. No cloud credentials are needed; deploy the
// result with terraform/OpenTofu (docs/infrastructure.md).

import { loadConfig, outdir } from './config.js';
import { synthesize } from './app.js';
import { InfraConfigError } from './config-schema.js';

try {
  const config = loadConfig();
  const dir = outdir();
  for (const stack of synthesize(config, dir)) console.log(`${dir}/stacks/${stack}/cdk.tf.json`);
} catch (error) {
  if (!(error instanceof InfraConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
