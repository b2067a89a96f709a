/*
 * migrations_postgres.c - PostgreSQL schema, one numbered step at a time.
 *
 * The same logical schema as migrations_sqlite.c, version for version, so
 * that both backends answer alike. Append only: a shipped migration is never
 * edited, because databases in the field have already run it. Each entry
 * runs in its own transaction under an advisory lock and is recorded in
 * schema_migrations (see postgres.c).
 */
#include "store/migrations_postgres.h"

/* clang-format off */
static const char v1[] =
    "CREATE TABLE realm ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  name TEXT UNIQUE NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE realm_key ("
    "  realm_id BIGINT NOT NULL REFERENCES realm(id),"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  wrapped BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (realm_id, version));"
    /* seq is the insertion order, the tie-break of "newest first". */
    "CREATE TABLE object ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  uid TEXT NOT NULL UNIQUE,"
    "  realm_id BIGINT NOT NULL REFERENCES realm(id),"
    "  owner TEXT NOT NULL,"
    "  object_type INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  algorithm INTEGER NOT NULL DEFAULT 0,"
    "  length INTEGER NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  revision BIGINT NOT NULL,"
    "  attrs BYTEA,"
    "  material BYTEA,"
    "  material_key_version INTEGER);"
    "CREATE INDEX object_owner ON object(owner, created_at, seq);"
    "CREATE INDEX object_type ON object(object_type, created_at, seq);"
    "CREATE INDEX object_state ON object(state, created_at, seq);"
    "CREATE INDEX object_newest ON object(created_at, seq);"
    "CREATE TABLE object_name ("
    "  uid TEXT NOT NULL REFERENCES object(uid) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY (name, uid));"
    "CREATE INDEX object_name_uid ON object_name(uid);";

/* The audit log (docs/audit.md); see migrations_sqlite.c v2. */
static const char v2[] =
    "CREATE TABLE audit ("
    "  id BIGINT PRIMARY KEY,"
    "  time_us BIGINT NOT NULL,"
    "  principal TEXT NOT NULL,"
    "  client_addr TEXT NOT NULL,"
    "  operation TEXT NOT NULL,"
    "  object_uid TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  hash BYTEA NOT NULL);"
    "CREATE TABLE audit_head ("
    "  one INTEGER PRIMARY KEY CHECK (one = 1),"
    "  last_id BIGINT NOT NULL,"
    "  last_hash BYTEA NOT NULL);"
    "INSERT INTO audit_head(one, last_id, last_hash)"
    "  VALUES (1, 0, decode(repeat('00', 32), 'hex'));";

/* Grants (docs/authorization.md); see migrations_sqlite.c v3. */
static const char v3[] =
    "CREATE TABLE access_grant ("
    "  owner TEXT NOT NULL,"
    "  object_uid TEXT NOT NULL,"
    "  grantee TEXT NOT NULL,"
    "  permissions INTEGER NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (owner, object_uid, grantee));"
    "CREATE INDEX access_grant_grantee ON access_grant(grantee, owner);";

/* Organizations, users, identities and API keys; see migrations_sqlite.c
 * v4. */
static const char v4[] =
    "CREATE TABLE organization ("
    "  id TEXT PRIMARY KEY,"
    "  created_at BIGINT NOT NULL);"
    "INSERT INTO organization(id, created_at)"
    "  VALUES ('default', CAST(EXTRACT(EPOCH FROM now()) AS BIGINT));"
    "CREATE TABLE app_user ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  organization TEXT NOT NULL REFERENCES organization(id),"
    "  created_at BIGINT NOT NULL,"
    "  revision BIGINT NOT NULL DEFAULT 1);"
    "CREATE TABLE user_history ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES app_user(id),"
    "  at BIGINT NOT NULL,"
    "  change TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  email TEXT NOT NULL,"
    "  profile TEXT NOT NULL CHECK (profile IN ('ADMIN', 'STANDARD', 'OUTSIDER')),"
    "  revoked_at BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX user_history_user ON user_history(user_id, seq);"
    "CREATE TABLE identity ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  identity TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES app_user(id),"
    "  created_at BIGINT NOT NULL,"
    "  removed_at BIGINT);"
    "CREATE UNIQUE INDEX identity_active ON identity(identity) WHERE removed_at IS NULL;"
    "CREATE INDEX identity_user ON identity(user_id, seq);"
    "CREATE TABLE api_key ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES app_user(id),"
    "  label TEXT NOT NULL,"
    "  secret_sha256 TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  revoked_at BIGINT);"
    "CREATE INDEX api_key_user ON api_key(user_id);";
/* KES names (docs/kes.md): who holds each name of an owner's namespace,
 * so that nodes sharing the database cannot both create one. holder is the
 * key's uid, or a creator's "pending:<unix seconds>:<nonce>" while it
 * makes the key. */
static const char v5[] =
    "CREATE TABLE kes_name ("
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  holder TEXT NOT NULL,"
    "  claimed_at BIGINT NOT NULL,"
    "  PRIMARY KEY (owner, name));";
/* KES policies and identity assignments set through the admin API
 * (docs/kes.md, "Policies in the database"): every node of a shared
 * database reloads them when kes_policy_version.version moves, which each
 * change increments in its own transaction. allow_rules and deny_rules
 * hold one rule a line (rules contain no whitespace). */
static const char v6[] =
    "CREATE TABLE kes_policy ("
    "  name TEXT PRIMARY KEY,"
    "  allow_rules TEXT NOT NULL,"
    "  deny_rules TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  created_by TEXT NOT NULL);"
    "CREATE TABLE kes_assignment ("
    "  identity TEXT PRIMARY KEY,"
    "  policy TEXT NOT NULL REFERENCES kes_policy(name),"
    "  assigned_at BIGINT NOT NULL,"
    "  assigned_by TEXT NOT NULL);"
    "CREATE INDEX kes_assignment_policy ON kes_assignment(policy);"
    "CREATE TABLE kes_policy_version ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version BIGINT NOT NULL);"
    "INSERT INTO kes_policy_version(id, version) VALUES (1, 0);";

/* Realm members; see migrations_sqlite.c v5. */
static const char v7[] =
    "CREATE TABLE realm_member ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  realm_id BIGINT NOT NULL REFERENCES realm(id),"
    "  member TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('OWNER', 'MANAGER', 'CONTRIBUTOR', 'READER',"
    "                                   'GRANT')),"
    "  permissions INTEGER NOT NULL,"
    "  granted_at BIGINT NOT NULL,"
    "  granted_by TEXT NOT NULL,"
    "  removed_at BIGINT,"
    "  removed_by TEXT);"
    "CREATE UNIQUE INDEX realm_member_active ON realm_member(realm_id, member)"
    "  WHERE removed_at IS NULL;"
    "CREATE INDEX realm_member_of ON realm_member(member, realm_id) WHERE removed_at IS NULL;"
    "CREATE INDEX realm_member_history ON realm_member(realm_id, seq);"
    "CREATE INDEX object_realm ON object(realm_id, created_at, seq);"
    /* every user has a personal realm it owns (ops/realm.h) */
    "INSERT INTO realm(name, created_at) SELECT 'user-' || id, created_at FROM app_user;"
    "INSERT INTO realm_member(realm_id, member, role, permissions, granted_at, granted_by)"
    "  SELECT r.id, u.id, 'OWNER', 32767, u.created_at, 'migration'"
    "  FROM app_user u JOIN realm r ON r.name = 'user-' || u.id;";
/* clang-format on */

const char *const kh_postgres_migrations[] = {v1, v2, v3, v4, v5, v6, v7};
const size_t kh_postgres_n_migrations =
    sizeof(kh_postgres_migrations) / sizeof(kh_postgres_migrations[0]);
