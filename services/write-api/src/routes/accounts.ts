/** Sign-up, sign-in, sign-out, and a user's own account and profile. */
import { z } from 'zod';
import { ApiError } from '@bgc/http-api/api-error';
import { tokenHash } from '@bgc/http-api/bearer-auth';
import { hashPassword, newToken, passwordMatches } from '../auth.ts';
import type { AnyRoute, Settings } from '../http.ts';
import { route } from '../http.ts';
import type { Tx } from '../write-tx.ts';
import { presentProfile, presentUser } from '../present.ts';

const email = z.email({ error: 'email must be an email address' }).max(320).toLowerCase();
const password = z.string().min(10, { error: 'password must have at least 10 characters' }).max(200);
const name = z.string().trim().min(1).max(100);
const image = z.url({ protocol: /^https$/, error: 'image must be an https URL' }).max(2000);
async function issueToken(ctx: { tx: Tx; settings: Settings }, userId: string) {
  const token = newToken();
  const expiresAt = new Date(Date.now() + ctx.settings.tokenTtlHours * 3_600_000);
  const { tx } = ctx;
  await tx.authToken.create({ data: { tokenHash: tokenHash(token), userId, expiresAt } });
  return { token, expiresAt };
}

export const accountRoutes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/v1/auth/signup',
    summary: 'Create an account (and its empty profile); answers with a bearer token',
    auth: false,
    body: z.strictObject({ email, password, name }),
    responses: { 201: 'created', 409: 'EMAIL_TAKEN' },
    handler: async (ctx) => {
      const { body, tx } = ctx;
      const user = await tx.user.create({
        data: { email: body.email, name: body.name, passwordHash: await hashPassword(body.password) },
      });
      await tx.profile.create({ data: { userId: user.id } });
      ctx.writeThrough({ table: 'users', id: user.id });
      ctx.writeThrough({ table: 'profiles', userId: user.id });
      // the row the users trigger made: the new document is whole at once, not refilled by the first read
      ctx.writeThrough({ table: 'user_counts', userId: user.id });
      return { status: 201, body: { user: presentUser(user), ...(await issueToken(ctx, user.id)) } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/login',
    summary: 'Exchange email and password for a bearer token',
    auth: false,
    body: z.strictObject({ email, password: z.string().min(1).max(200) }),
    responses: { 200: 'signed in', 401: 'BAD_CREDENTIALS' },
    handler: async (ctx) => {
      const { body, tx } = ctx;
      // lower(email) = lower($1) is what users_email_lower_key indexes (ILIKE would scan the table)
      const [found] = await tx.$queryRaw<{ id: string; password_hash: string; is_active: boolean }[]>`
        SELECT id, password_hash, is_active FROM users WHERE lower(email) = lower(${body.email})`;
      const ok = await passwordMatches(found?.is_active ? found.password_hash : undefined, body.password);
      if (!found || !ok) throw new ApiError(401, 'BAD_CREDENTIALS', 'unknown email or wrong password');
      const user = await tx.user.update({ where: { id: found.id }, data: { lastActiveAt: new Date() } });
      return { status: 200, body: { user: presentUser(user), ...(await issueToken(ctx, user.id)) } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/logout',
    summary: 'Revoke the bearer token of this request',
    auth: true,
    responses: { 204: 'signed out' },
    handler: async ({ req, tx, forgetToken }) => {
      const token = (req.get('authorization') ?? '').slice('Bearer '.length);
      await tx.authToken.deleteMany({ where: { tokenHash: tokenHash(token) } });
      forgetToken(token);
      return { status: 204, body: null };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/me',
    summary: 'Change your name or image',
    auth: true,
    body: z.strictObject({ name: name.optional(), image: image.nullable().optional() }),
    responses: { 200: 'updated' },
    handler: async ({ body, userId, tx, writeThrough }) => {
      const user = await tx.user.update({ where: { id: userId }, data: body });
      writeThrough({ table: 'users', id: userId });
      return { status: 200, body: presentUser(user) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/me/profile',
    summary: 'Change your profile (fields you leave out stay as they are)',
    auth: true,
    body: z.strictObject({
      bio: z.string().max(5000).nullable().optional(),
      image: image.nullable().optional(),
      locationCity: z.string().trim().min(1).max(100).nullable().optional(),
      locationState: z.string().trim().min(1).max(100).nullable().optional(),
      interests: z.array(z.string().trim().toLowerCase().min(1).max(50)).max(50).optional(),
      // `roles` is not yours to edit: it grants rights (forum administration)
    }),
    responses: { 200: 'updated' },
    handler: async ({ body, userId, tx, writeThrough }) => {
      const data = { ...body, ...(body.interests ? { interests: [...new Set(body.interests)] } : {}) };
      const profile = await tx.profile.upsert({ where: { userId }, update: data, create: { userId, ...data } });
      writeThrough({ table: 'profiles', userId });
      return { status: 200, body: presentProfile(profile) };
    },
  }),
];
