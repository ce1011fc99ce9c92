-- Up Migration
-- The domain. Every table here is new and empty, so its indexes are built in this same transaction; an index
-- added later to an existing table is built CONCURRENTLY in a migration of its own (see prisma/README.md).
-- Every mutable row carries `version`, raised by a trigger on each UPDATE: caches refuse writes older than what
-- they hold. The history tables (messages, status_updates, forum_posts) are partitioned by time; each has a
-- DEFAULT partition so that a write into a period with no partition yet lands there instead of failing, and
-- maintenance.ensure_partitions() moves such rows into their period when it creates it.

CREATE TYPE relationship_type AS ENUM ('FRIEND', 'FOLLOW', 'BLOCK');
CREATE TYPE relationship_status AS ENUM ('PENDING', 'ACCEPTED', 'DECLINED');
CREATE TYPE room_role AS ENUM ('OWNER', 'MODERATOR', 'MEMBER');
CREATE TYPE message_type AS ENUM ('TEXT', 'IMAGE', 'SYSTEM');
CREATE TYPE visibility AS ENUM ('PUBLIC', 'FRIENDS');

CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE TABLE users (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  password_hash  text NOT NULL,
  image          text,
  is_active      boolean NOT NULL DEFAULT true,
  last_active_at timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  version        bigint NOT NULL DEFAULT 1
);
-- login and sign-up: case-insensitive unique email (the expression index is also the constraint)
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
-- user search by name prefix, case-insensitive: lower(name) LIKE 'ann%'
CREATE INDEX users_name_lower_prefix_idx ON users (lower(name) text_pattern_ops);
-- "active users": the spec's partial index (recently joined, still active)
CREATE INDEX users_active_created_idx ON users (created_at) WHERE is_active;

CREATE TABLE profiles (
  user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  bio            text CHECK (length(bio) <= 5000),
  image          text,
  location_city  text,
  location_state text,
  interests      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(interests) = 'array'),
  roles          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(roles) = 'array'),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  version        bigint NOT NULL DEFAULT 1
);
-- search by interest / role: interests @> '["chess"]' (jsonb_path_ops: smaller and faster for @>)
CREATE INDEX profiles_interests_gin ON profiles USING gin (interests jsonb_path_ops);
CREATE INDEX profiles_roles_gin ON profiles USING gin (roles jsonb_path_ops);
-- search by state, or state and city
CREATE INDEX profiles_location_idx ON profiles (location_state, location_city);

CREATE TABLE relationships (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  from_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  to_user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  type         relationship_type NOT NULL,
  status       relationship_status NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  version      bigint NOT NULL DEFAULT 1,
  CHECK (from_user_id <> to_user_id),
  -- one edge of each type per ordered pair; also serves "friends/follows of X" (from_user_id leads)
  UNIQUE (from_user_id, type, to_user_id)
);
-- followers of X, friends-of (incoming edges), block checks from the other side
CREATE INDEX relationships_to_user_idx ON relationships (to_user_id, type, status);
-- the inbox of pending friend requests, newest first
CREATE INDEX relationships_pending_idx ON relationships (to_user_id, created_at DESC) WHERE status = 'PENDING';

CREATE TABLE chat_rooms (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description text CHECK (length(description) <= 2000),
  is_private  boolean NOT NULL DEFAULT false,
  created_by  uuid NOT NULL REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL DEFAULT 1
);
CREATE INDEX chat_rooms_created_by_idx ON chat_rooms (created_by);

CREATE TABLE room_members (
  room_id    uuid NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       room_role NOT NULL DEFAULT 'MEMBER',
  joined_at  timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (room_id, user_id)
);
-- the rooms a user is in
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE conversations (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_by      uuid NOT NULL REFERENCES users (id),
  last_message_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  version         bigint NOT NULL DEFAULT 1
);
CREATE INDEX conversations_created_by_idx ON conversations (created_by);

CREATE TABLE conversation_participants (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  joined_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);
-- a user's conversations
CREATE INDEX conversation_participants_user_idx ON conversation_participants (user_id);

-- Messages: in a room or in a conversation, never both; partitioned by month of created_at.
CREATE TABLE messages (
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  room_id         uuid REFERENCES chat_rooms (id) ON DELETE CASCADE,
  conversation_id uuid REFERENCES conversations (id) ON DELETE CASCADE,
  sender_id       uuid NOT NULL REFERENCES users (id),
  type            message_type NOT NULL DEFAULT 'TEXT',
  content         text NOT NULL CHECK (length(content) BETWEEN 1 AND 10000),
  edited_at       timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  version         bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (id, created_at),
  CHECK ((room_id IS NULL) <> (conversation_id IS NULL))
) PARTITION BY RANGE (created_at);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;
-- chat history page by keyset: WHERE room_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC
CREATE INDEX messages_room_keyset_idx ON messages (room_id, created_at DESC, id DESC) WHERE room_id IS NOT NULL;
-- DM history page by keyset, the same shape for conversations
CREATE INDEX messages_conversation_keyset_idx ON messages (conversation_id, created_at DESC, id DESC)
  WHERE conversation_id IS NOT NULL;
-- foreign key to users: a user's messages, and deleting a user
CREATE INDEX messages_sender_idx ON messages (sender_id, created_at DESC);

-- Status updates: partitioned by ISO week of created_at.
CREATE TABLE status_updates (
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  author_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  content    text NOT NULL CHECK (length(content) BETWEEN 1 AND 5000),
  visibility visibility NOT NULL DEFAULT 'PUBLIC',
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE status_updates_default PARTITION OF status_updates DEFAULT;
-- home feed (the spec's CTE) and profile timelines: an author's updates, newest first, by keyset
CREATE INDEX status_updates_author_keyset_idx ON status_updates (author_id, created_at DESC, id DESC);

CREATE TABLE forum_categories (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{1,64}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description text CHECK (length(description) <= 2000),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL DEFAULT 1
);

CREATE TABLE forum_threads (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  category_id  uuid NOT NULL REFERENCES forum_categories (id),
  author_id    uuid NOT NULL REFERENCES users (id),
  title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  post_count   integer NOT NULL DEFAULT 0,
  last_post_at timestamptz NOT NULL DEFAULT now(),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  version      bigint NOT NULL DEFAULT 1
);
-- forum category page by keyset: most recently active threads first
CREATE INDEX forum_threads_category_keyset_idx ON forum_threads (category_id, last_post_at DESC, id DESC);
CREATE INDEX forum_threads_author_idx ON forum_threads (author_id);

-- Forum posts: LIST by category, then RANGE by month inside each category (created by the maintainer).
CREATE TABLE forum_posts (
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  category_id uuid NOT NULL REFERENCES forum_categories (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  thread_id   uuid NOT NULL REFERENCES forum_threads (id) ON DELETE CASCADE,
  author_id   uuid NOT NULL REFERENCES users (id),
  content     text NOT NULL CHECK (length(content) BETWEEN 1 AND 20000),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (id, category_id, created_at)
) PARTITION BY LIST (category_id);
CREATE TABLE forum_posts_default PARTITION OF forum_posts DEFAULT;
-- a thread's posts in order, by keyset
CREATE INDEX forum_posts_thread_keyset_idx ON forum_posts (thread_id, created_at, id);
CREATE INDEX forum_posts_author_idx ON forum_posts (author_id, created_at DESC);

-- Platform tables: sign-in tokens and idempotency keys (not published to CDC).
CREATE TABLE auth_tokens (
  token_hash bytea PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id);
CREATE INDEX auth_tokens_expires_idx ON auth_tokens (expires_at);

CREATE TABLE idempotency_keys (
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash text NOT NULL,
  status_code  integer,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'profiles', 'relationships', 'chat_rooms', 'room_members', 'conversations',
                           'messages', 'status_updates', 'forum_categories', 'forum_threads', 'forum_posts'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION bump_version()',
                   t || '_bump_version', t);
  END LOOP;
END $$;

-- Down Migration
DROP TABLE idempotency_keys, auth_tokens, forum_posts, forum_threads, forum_categories, status_updates, messages,
  conversation_participants, conversations, room_members, chat_rooms, relationships, profiles, users;
DROP FUNCTION bump_version();
DROP TYPE visibility, message_type, room_role, relationship_status, relationship_type;
