/**
 * User search, one mode per request: by interest (the GIN index), by state or state and city, or by
 * case-insensitive name prefix. First pages are cached (cache-aside, TTL only: no event says a result changed).
 */
import { z } from 'zod';
import type { Page } from '@bgc/queries/cursor';
import { peopleByInterest, peopleByNamePrefix, peopleByPlace } from '@bgc/queries/page';
import type { PersonRow } from '@bgc/queries/queries';
import { estimates } from '@bgc/queries/queries';
import type { Queryable } from '@bgc/queries/query';
import { ApiError } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { pageQuery, route } from '../http.ts';
import { checkCursor, estimated, firstPage, pageBody } from '../pages.ts';

const text = (max: number) => z.string().trim().min(1).max(max);

const searchQuery = z.strictObject({
  interest: text(50).toLowerCase().optional().openapi({ description: 'mode 1: people with this interest' }),
  state: text(100).optional().openapi({ description: 'mode 2: people in this state (and `city`, if given)' }),
  city: text(100).optional(),
  namePrefix: text(100).optional().openapi({ description: 'mode 3: names starting with this, any case' }),
  ...pageQuery,
});

type SearchQuery = z.output<typeof searchQuery>;

interface Mode {
  name: 'interest' | 'place' | 'name';
  /** what identifies the results (the cache key) */
  value: string;
  pageOf: (db: Queryable, cursor: string | null, limit: number) => Promise<Page<PersonRow>>;
  estimate: (services: Parameters<typeof estimated>[0], read: Parameters<typeof estimated>[1]) => Promise<number>;
}

function modeOf(q: SearchQuery): Mode {
  const given = (['interest', 'state', 'namePrefix'] as const).filter((k) => q[k] !== undefined);
  if (given.length !== 1) {
    throw new ApiError(400, 'SEARCH_MODE', 'give exactly one of interest, state (with city or not), namePrefix', {
      field: given[1] ?? 'interest',
    });
  }
  if (q.city !== undefined && q.state === undefined) {
    throw new ApiError(400, 'VALIDATION_FAILED', 'city needs state', { field: 'state' });
  }
  if (q.interest !== undefined) {
    const interest = q.interest;
    return {
      name: 'interest',
      value: interest,
      pageOf: (db, cursor, limit) => peopleByInterest(db, interest, { cursor, limit }),
      estimate: (s, r) => estimated(s, r, estimates.interestProfiles, [JSON.stringify([interest])] as [string]),
    };
  }
  if (q.state !== undefined) {
    const { state } = q;
    const city = q.city ?? null;
    return {
      name: 'place',
      value: JSON.stringify([state, city]),
      pageOf: (db, cursor, limit) => peopleByPlace(db, state, city, { cursor, limit }),
      estimate: (s, r) =>
        city === null
          ? estimated(s, r, estimates.stateProfiles, [state] as [string])
          : estimated(s, r, estimates.cityProfiles, [state, city] as [string, string]),
    };
  }
  const prefix = q.namePrefix ?? '';
  return {
    name: 'name',
    value: prefix.toLowerCase(),
    pageOf: (db, cursor, limit) => peopleByNamePrefix(db, prefix, { cursor, limit }),
    estimate: (s, r) => estimated(s, r, estimates.namePrefix, [prefix] as [string]),
  };
}

const presentPerson = (p: PersonRow) => ({
  id: p.id,
  name: p.name,
  image: p.image,
  locationCity: p.location_city,
  locationState: p.location_state,
});

export const searchRoutes: AnyRoute[] = [
  route({
    method: 'get',
    path: '/v1/search/users',
    summary: 'Find people: ?interest=… | ?state=…[&city=…] | ?namePrefix=… (exactly one), by keyset',
    query: searchQuery,
    responses: { 200: 'a page of people' },
    handler: async ({ query, read, services }) => {
      const mode = modeOf(query);
      checkCursor(query.cursor, 'text');
      const page = query.cursor
        ? await mode.pageOf(await read.db(), query.cursor, query.limit)
        : await firstPage(services, read, {
            keyspace: 'search',
            key: services.aside.search(mode.name, mode.value),
            enabled: services.flags.get('cache.search') === 'cache-aside',
            limit: query.limit,
            pageOf: (db, limit) => mode.pageOf(db, null, limit),
          });
      return { body: pageBody(page, presentPerson, await mode.estimate(services, read)) };
    },
  }),
];
