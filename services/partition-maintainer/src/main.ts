/** Entry point of the partition maintainer. */
import { loadEnvOrExit } from '@bgc/config/env';
import { runService } from '@bgc/runtime/service';
import { maintainerEnv, PartitionMaintainer } from './service.ts';

await runService(new PartitionMaintainer(loadEnvOrExit(maintainerEnv)));
