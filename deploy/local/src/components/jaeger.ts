/**
 * Jaeger v2 built from its Go module, in-memory storage. v1.76.0 carries a replace directive, so it is built inside
 * a copy of the module rather than with `go install`. Built from source its UI is a placeholder; the JSON API is whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { StackError } from '../errors.ts';
import { buildOnce, goBinary } from '../install.ts';
import { exec, render } from '../proc.ts';
import { withProgress } from '../progress.ts';
import { CACHE_DIR, CONFIG_DIR, STATE_DIR } from '../settings.ts';
import { JAEGER_MODULE_VERSION } from '../versions.ts';
import { DaemonComponent } from './daemon.ts';

const dir = path.join(STATE_DIR, 'jaeger');
const buildDir = path.join(CACHE_DIR, `jaeger-${JAEGER_MODULE_VERSION}`);
const binary = path.join(buildDir, 'jaeger');

export class Jaeger extends DaemonComponent {
  readonly name = 'jaeger';
  readonly port = LOCAL_PORTS.jaegerQuery;
  readonly after = [];
  readonly apt = [];

  async prepare(): Promise<void> {
    if (fs.existsSync(path.join(buildDir, '.complete'))) return;
    const go = goBinary();
    if (!go) {
      throw new StackError({
        code: 'GO_MISSING',
        component: this.name,
        message: 'building Jaeger needs Go >= 1.24.6, and none was found',
        fix: 'install Go 1.24 or newer and put it on PATH (Debian bookworm’s golang is too old)',
      });
    }
    await withProgress(
      `jaeger-build-${JAEGER_MODULE_VERSION}`,
      `Jaeger ${JAEGER_MODULE_VERSION} (go build)`,
      300_000,
      () =>
        buildOnce(buildDir, async (partial) => {
          const fail = (what: string, out: string) =>
            new StackError({
              code: 'JAEGER_BUILD_FAILED',
              component: this.name,
              message: `${what}: ${out.trim().split('\n').slice(-5).join(' | ')}`,
              fix: 'check that the Go module proxy is reachable (go env GOPROXY) and retry ./bgc stack up',
            });
          const dl = await exec(go, [
            'mod',
            'download',
            '-json',
            `github.com/jaegertracing/jaeger@${JAEGER_MODULE_VERSION}`,
          ]);
          if (dl.code !== 0) throw fail('go mod download failed', dl.stdout + dl.stderr);
          const moduleDir = (JSON.parse(dl.stdout) as { Dir: string }).Dir;
          const src = path.join(partial, 'src');
          fs.cpSync(moduleDir, src, { recursive: true });
          await exec('chmod', ['-R', 'u+w', src]);
          const build = await exec(go, ['build', '-trimpath', '-o', path.join(partial, 'jaeger'), './cmd/jaeger'], {
            cwd: src,
            timeoutMs: 40 * 60_000,
          });
          if (build.code !== 0) throw fail('go build failed', build.stderr);
          fs.rmSync(src, { recursive: true, force: true });
        }),
    );
  }

  protected program() {
    return { cmd: binary, args: ['--config', path.join(dir, 'config.yaml')], match: binary };
  }

  protected configure(): void {
    fs.mkdirSync(dir, { recursive: true });
    const template = fs.readFileSync(path.join(CONFIG_DIR, 'jaeger', 'config.yaml'), 'utf8');
    fs.writeFileSync(
      path.join(dir, 'config.yaml'),
      render(template, {
        METRICS_PORT: LOCAL_PORTS.jaegerMetrics,
        HEALTH_PORT: LOCAL_PORTS.jaegerHealth,
        QUERY_PORT: LOCAL_PORTS.jaegerQuery,
        QUERY_GRPC_PORT: LOCAL_PORTS.jaegerQueryGrpc,
        OTLP_GRPC_PORT: LOCAL_PORTS.jaegerOtlpGrpc,
        OTLP_HTTP_PORT: LOCAL_PORTS.jaegerOtlpHttp,
      }),
    );
  }

  async health(): Promise<Health> {
    try {
      const [status, services] = await Promise.all([
        fetch(`http://127.0.0.1:${LOCAL_PORTS.jaegerHealth}/status`, { signal: AbortSignal.timeout(2000) }),
        fetch(`http://127.0.0.1:${this.port}/api/services`, { signal: AbortSignal.timeout(2000) }),
      ]);
      return {
        ok: status.ok && services.ok,
        detail: `Jaeger ${JAEGER_MODULE_VERSION}, OTLP grpc :${LOCAL_PORTS.jaegerOtlpGrpc} http :${LOCAL_PORTS.jaegerOtlpHttp}`,
      };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}
