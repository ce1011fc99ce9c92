/** A small HTTP client for the tests: JSON in, { status, body, headers } out. */
export interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Options {
  token?: string;
  idempotencyKey?: string;
  headers?: Record<string, string>;
  rawBody?: string;
}

export function client(base: string) {
  const call = async <T>(method: string, path: string, body?: unknown, opts: Options = {}): Promise<Reply<T>> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined || opts.rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
        ...opts.headers,
      },
      body: opts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  };
  return {
    post: <T = Record<string, unknown>>(path: string, body?: unknown, opts?: Options) =>
      call<T>('POST', path, body, opts),
    patch: <T = Record<string, unknown>>(path: string, body?: unknown, opts?: Options) =>
      call<T>('PATCH', path, body, opts),
    del: <T = Record<string, unknown>>(path: string, opts?: Options) => call<T>('DELETE', path, undefined, opts),
    get: <T = Record<string, unknown>>(path: string, opts?: Options) => call<T>('GET', path, undefined, opts),
  };
}

export type Api = ReturnType<typeof client>;

let n = 0;
/** Signs up a fresh user; returns its id and token. */
export async function signUp(api: Api, name = 'User'): Promise<{ id: string; token: string; email: string }> {
  const email = `${name.toLowerCase()}.${Date.now()}.${n++}@example.com`;
  const r = await api.post<{ user: { id: string }; token: string }>('/v1/auth/signup', {
    email,
    password: 'correct horse battery staple',
    name,
  });
  if (r.status !== 201) throw new Error(`sign-up failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.user.id, token: r.body.token, email };
}
