/* The users-v1 workload in plain C over libpq with prepared statements (text parameters, binary results):
 * the practical limit that users-bench is compared with. Writes the user row alone (no event), one
 * connection per thread. The database must be empty.
 *
 *   postgres-baseline CONNINFO [N] [L] [events]
 *
 * With `events`: only insert and update, each with its event row in the same statement (peer "c+events").
 */
#include <arpa/inet.h>
#include <endian.h>
#include <libpq-fe.h>
#include <pthread.h>

#include "common.h"

static PGconn *connect_db(const char *conninfo) {
    PGconn *connection = PQconnectdb(conninfo);
    if (PQstatus(connection) != CONNECTION_OK) {
        fprintf(stderr, "postgres-baseline: %s", PQerrorMessage(connection));
        exit(1);
    }
    return connection;
}

static void command(PGconn *connection, const char *sql) {
    PGresult *result = PQexec(connection, sql);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
        fprintf(stderr, "postgres-baseline: %s: %s", sql, PQerrorMessage(connection));
        exit(1);
    }
    PQclear(result);
}

static void prepare(PGconn *connection, const char *name, const char *sql, int parameters) {
    PGresult *result = PQprepare(connection, name, sql, parameters, 0);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        fprintf(stderr, "postgres-baseline: prepare %s: %s", name, PQerrorMessage(connection));
        exit(1);
    }
    PQclear(result);
}

static PGresult *run(PGconn *connection, const char *name, int count, const char *const *values, int binary) {
    PGresult *result = PQexecPrepared(connection, name, count, values, 0, 0, binary);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        fprintf(stderr, "postgres-baseline: %s: %s", name, PQerrorMessage(connection));
        exit(1);
    }
    return result;
}

static int64_t be64(const char *bytes) {
    int64_t value;
    memcpy(&value, bytes, 8);
    return (int64_t)be64toh((uint64_t)value);
}

static int32_t be32(const char *bytes) {
    int32_t value;
    memcpy(&value, bytes, 4);
    return (int32_t)ntohl((uint32_t)value);
}

/* Decodes row `r` of a binary result of the seven columns. */
static void decode(PGresult *result, int r, user_row *row) {
    memcpy(row->id, PQgetvalue(result, r, 0), 16);
    copy_text(row->email, sizeof row->email, PQgetvalue(result, r, 1), (size_t)PQgetlength(result, r, 1));
    copy_text(row->display_name, sizeof row->display_name, PQgetvalue(result, r, 2), (size_t)PQgetlength(result, r, 2));
    copy_text(row->status, sizeof row->status, PQgetvalue(result, r, 3), (size_t)PQgetlength(result, r, 3));
    row->version = be32(PQgetvalue(result, r, 4));
    row->created_at = be64(PQgetvalue(result, r, 5));
    row->updated_at = be64(PQgetvalue(result, r, 6));
}

#define COLUMNS "id, email, display_name, status, version, created_at, updated_at"

static void prepare_all(PGconn *connection) {
    prepare(connection, "insert",
            "INSERT INTO users (" COLUMNS ") VALUES ($1::uuid, $2, $3, $4, $5::integer, to_timestamp($6::int8),"
            " to_timestamp($6::int8))",
            6);
    prepare(connection, "by_id", "SELECT " COLUMNS " FROM users WHERE id = $1::uuid", 1);
    prepare(connection, "by_email", "SELECT " COLUMNS " FROM users WHERE email = $1", 1);
    prepare(connection, "update",
            "UPDATE users SET display_name = $1, version = version + 1, updated_at = to_timestamp($2::int8)"
            " WHERE id = $3::uuid AND version = 1",
            3);
    prepare(connection, "first", "SELECT " COLUMNS " FROM users ORDER BY id LIMIT 100", 0);
    prepare(connection, "next", "SELECT " COLUMNS " FROM users WHERE id > $1::uuid ORDER BY id LIMIT 100", 1);
}

static void insert_user(PGconn *connection, long i) {
    char id[37], email[64], name[64], at[24];
    user_id_text(i, id);
    snprintf(email, sizeof email, "user%ld@example.com", i);
    snprintf(name, sizeof name, "User %ld", i);
    snprintf(at, sizeof at, "%lld", 1700000000LL + i);
    const char *values[6] = {id, email, name, "active", "1", at};
    PQclear(run(connection, "insert", 6, values, 0));
}

static long get_by_id(PGconn *connection, long i, user_row *row) {
    char id[37];
    user_id_text(i, id);
    const char *values[1] = {id};
    PGresult *result = run(connection, "by_id", 1, values, 1);
    long found = PQntuples(result);
    if (found) decode(result, 0, row);
    PQclear(result);
    return found;
}

typedef struct {
    const char *conninfo;
    long n, lookups;
    uint64_t seed;
    long found;
} lookup_task;

static void *lookup_thread(void *argument) {
    lookup_task *task = argument;
    PGconn *connection = connect_db(task->conninfo);
    prepare_all(connection);
    uint64_t state = task->seed;
    user_row row;
    for (long k = 0; k < task->lookups; k++)
        task->found += get_by_id(connection, (long)(splitmix64(&state) % (uint64_t)task->n), &row);
    PQfinish(connection);
    return 0;
}

/* The c+events peer: insert and update as swift-user-domain's store writes them: one statement that changes
 * the user row and appends the event row (its JSON as jsonb) under the shared append lock and sends the
 * NOTIFY, on the store's tables and indexes. */
#define EVENT_APPEND                                                                                             \
    "), appended AS (INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)"      \
    " SELECT $5::uuid, changed.id, $6::integer, $7, $8::jsonb, to_timestamp($4::int8 / 1000.0)"                \
    " FROM changed, (SELECT pg_advisory_xact_lock_shared(8463219666992326006)) AS append_lock"                 \
    " RETURNING position)"                                                                                     \
    " SELECT (SELECT count(*) FROM changed), (SELECT max(position) FROM appended),"                            \
    " CASE WHEN EXISTS (SELECT 1 FROM appended) THEN pg_notify('user_events', '') END"

static int run_with_events(const char *conninfo, long n) {
    PGconn *connection = connect_db(conninfo);
    command(connection, "SET plan_cache_mode = force_generic_plan");
    command(connection, "DROP TABLE IF EXISTS users, user_events");
    command(connection,
            "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL, email_canonical text NOT NULL UNIQUE,"
            " display_name text NOT NULL, status text NOT NULL, version integer NOT NULL,"
            " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)");
    command(connection,
            "CREATE TABLE user_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " event_id uuid NOT NULL, user_id uuid NOT NULL, user_version integer NOT NULL, type text NOT NULL,"
            " payload jsonb NOT NULL, occurred_at timestamptz NOT NULL, published_at timestamptz,"
            " attempts integer NOT NULL DEFAULT 0, last_error text, retry_at timestamptz,"
            " dead boolean NOT NULL DEFAULT false)");
    command(connection, "CREATE INDEX ON user_events (position) WHERE published_at IS NULL");
    command(connection, "CREATE INDEX ON user_events (position) WHERE published_at IS NULL AND dead");
    command(connection, "CREATE INDEX ON user_events (occurred_at) WHERE published_at IS NOT NULL");
    command(connection,
            "CREATE INDEX ON user_events (user_id, position) WHERE published_at IS NULL AND (dead OR retry_at IS NOT NULL)");
    prepare(connection, "insert",
            "WITH changed AS (INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at,"
            " updated_at) VALUES ($1::uuid, $2, $2, $3, 'active', 1, to_timestamp($4::int8 / 1000.0),"
            " to_timestamp($4::int8 / 1000.0)) RETURNING id" EVENT_APPEND,
            8);
    prepare(connection, "update",
            "WITH changed AS (UPDATE users SET display_name = $3, version = version + 1,"
            " updated_at = to_timestamp($4::int8 / 1000.0) WHERE id = $1::uuid AND version = 1 AND $2::text IS NOT NULL"
            " RETURNING id" EVENT_APPEND,
            8);
    uint64_t state = 7;
    for (int renamed = 0; renamed <= 1; renamed++) {
        double start = now_seconds();
        for (long i = 0; i < n; i++) {
            char id[37], email[64], name[64], at[24], event_id[37], version[4], json[512];
            user_id_text(i, id);
            snprintf(email, sizeof email, "user%ld@example.com", i);
            snprintf(name, sizeof name, renamed ? "Renamed %ld" : "User %ld", i);
            snprintf(at, sizeof at, "%lld", (1700000000LL + i) * 1000);
            snprintf(version, sizeof version, "%d", renamed ? 2 : 1);
            event_id_text(&state, event_id);
            event_json(json, sizeof json, i, event_id, renamed);
            const char *values[8] = {id, email, name, at, event_id, version,
                                     renamed ? "user.renamed" : "user.registered", json};
            PGresult *result = run(connection, renamed ? "update" : "insert", 8, values, 0);
            if (strcmp(PQgetvalue(result, 0, 0), "1") != 0) return fprintf(stderr, "the change changed nothing\n"), 1;
            PQclear(result);
        }
        report_peer("c+events", "postgres", renamed ? "update" : "insert", n, now_seconds() - start);
    }
    PQfinish(connection);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: postgres-baseline CONNINFO [N] [L]\n");
        return 64;
    }
    const char *conninfo = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 20000, l = argc > 3 ? atol(argv[3]) : 100000;
    if (argc > 4 && strcmp(argv[4], "events") == 0) return run_with_events(conninfo, n);
    PGconn *connection = connect_db(conninfo);
    command(connection, "DROP TABLE IF EXISTS users");
    command(connection,
            "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, display_name text NOT NULL,"
            " status text NOT NULL, version integer NOT NULL, created_at timestamptz NOT NULL,"
            " updated_at timestamptz NOT NULL)");
    prepare_all(connection);
    user_row row;

    double start = now_seconds();
    for (long i = 0; i < n; i++) insert_user(connection, i);
    report("postgres", "insert", n, now_seconds() - start);

    command(connection, "TRUNCATE users");
    start = now_seconds();
    for (long i = 0; i < n; i += 1000) {
        command(connection, "BEGIN");
        for (long j = i; j < i + 1000 && j < n; j++) insert_user(connection, j);
        command(connection, "COMMIT");
    }
    report("postgres", "insertBatch", n, now_seconds() - start);
    command(connection, "VACUUM ANALYZE users");

    uint64_t state = 42;
    long found = 0;
    start = now_seconds();
    for (long k = 0; k < l; k++) found += get_by_id(connection, (long)(splitmix64(&state) % (uint64_t)n), &row);
    report("postgres", "getById", l, now_seconds() - start);
    if (found != l) return fprintf(stderr, "getById found %ld\n", found), 1;

    state = 42;
    found = 0;
    start = now_seconds();
    for (long k = 0; k < l; k++) {
        char email[64];
        snprintf(email, sizeof email, "user%ld@example.com", (long)(splitmix64(&state) % (uint64_t)n));
        const char *values[1] = {email};
        PGresult *result = run(connection, "by_email", 1, values, 1);
        if (PQntuples(result)) {
            decode(result, 0, &row);
            found++;
        }
        PQclear(result);
    }
    report("postgres", "getByEmail", l, now_seconds() - start);
    if (found != l) return fprintf(stderr, "getByEmail found %ld\n", found), 1;

    start = now_seconds();
    for (long i = 0; i < n; i++) {
        char name[64], id[37];
        snprintf(name, sizeof name, "Renamed %ld", i);
        user_id_text(i, id);
        const char *values[3] = {name, "1800000000", id};
        PGresult *result = run(connection, "update", 3, values, 0);
        if (strcmp(PQcmdTuples(result), "1") != 0) return fprintf(stderr, "update changed nothing\n"), 1;
        PQclear(result);
    }
    report("postgres", "update", n, now_seconds() - start);

    long listed = 0;
    char last[37];
    start = now_seconds();
    PGresult *page = run(connection, "first", 0, 0, 1);
    for (;;) {
        int rows = PQntuples(page);
        for (int r = 0; r < rows; r++) decode(page, r, &row);
        listed += rows;
        if (rows > 0) {
            const unsigned char *b = row.id;
            snprintf(last, sizeof last, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        }
        PQclear(page);
        if (rows < 100) break;
        const char *values[1] = {last};
        page = run(connection, "next", 1, values, 1);
    }
    report("postgres", "listAll", listed, now_seconds() - start);
    if (listed != n) return fprintf(stderr, "listAll read %ld\n", listed), 1;

    pthread_t threads[8];
    lookup_task tasks[8];
    start = now_seconds();
    for (int t = 0; t < 8; t++) {
        tasks[t] = (lookup_task){conninfo, n, l / 8, 42 + (uint64_t)t, 0};
        pthread_create(&threads[t], 0, lookup_thread, &tasks[t]);
    }
    long total = 0;
    for (int t = 0; t < 8; t++) {
        pthread_join(threads[t], 0);
        total += tasks[t].found;
    }
    report("postgres", "concurrentGet", total, now_seconds() - start);
    if (total != l / 8 * 8) return fprintf(stderr, "concurrentGet found %ld\n", total), 1;
    PQfinish(connection);
    return 0;
}
