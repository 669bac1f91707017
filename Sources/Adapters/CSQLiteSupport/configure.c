#if defined(__linux__)
#define _GNU_SOURCE  // PTHREAD_MUTEX_ADAPTIVE_NP
#endif

#include "user_domain_sqlite_support.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>

#if defined(__GLIBC__)

// A SQLite mutex: a pthread mutex, adaptive for SQLITE_MUTEX_FAST and the static mutexes (non-recursive, as
// in SQLite's own pthread implementation), recursive for SQLITE_MUTEX_RECURSIVE.
typedef struct adaptive_mutex {
    pthread_mutex_t mutex;
} adaptive_mutex;

// SQLITE_MUTEX_STATIC_MAIN (2) to SQLITE_MUTEX_STATIC_VFS3 (13).
enum { first_static = 2, static_count = 12 };
static adaptive_mutex static_mutexes[static_count];

static void initialize_mutex(pthread_mutex_t *mutex, int recursive) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_settype(&attributes, recursive ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(mutex, &attributes);
    pthread_mutexattr_destroy(&attributes);
}

// Called by sqlite3_initialize (again after a sqlite3_shutdown, which called mutex_end first).
static int mutex_init(void) {
    for (int index = 0; index < static_count; index++) initialize_mutex(&static_mutexes[index].mutex, 0);
    return SQLITE_OK;
}

static int mutex_end(void) {
    for (int index = 0; index < static_count; index++) pthread_mutex_destroy(&static_mutexes[index].mutex);
    return SQLITE_OK;
}

static sqlite3_mutex *mutex_alloc(int kind) {
    if (kind == SQLITE_MUTEX_FAST || kind == SQLITE_MUTEX_RECURSIVE) {
        adaptive_mutex *mutex = malloc(sizeof(adaptive_mutex));
        if (mutex == NULL) return NULL;
        initialize_mutex(&mutex->mutex, kind == SQLITE_MUTEX_RECURSIVE);
        return (sqlite3_mutex *)mutex;
    }
    if (kind < first_static || kind >= first_static + static_count) return NULL;
    return (sqlite3_mutex *)&static_mutexes[kind - first_static];
}

// Only ever called with a mutex of kind FAST or RECURSIVE (SQLite's contract).
static void mutex_free(sqlite3_mutex *mutex) {
    pthread_mutex_destroy(&((adaptive_mutex *)mutex)->mutex);
    free(mutex);
}

static void mutex_enter(sqlite3_mutex *mutex) { pthread_mutex_lock(&((adaptive_mutex *)mutex)->mutex); }

static int mutex_try(sqlite3_mutex *mutex) {
    return pthread_mutex_trylock(&((adaptive_mutex *)mutex)->mutex) == 0 ? SQLITE_OK : SQLITE_BUSY;
}

static void mutex_leave(sqlite3_mutex *mutex) { pthread_mutex_unlock(&((adaptive_mutex *)mutex)->mutex); }

// sqlite3_mutex_held and _notheld serve assertions in SQLite's debug builds only; a release build of
// SQLite leaves them out of its own implementation too. Answering "yes" never fails an assertion.
static int mutex_held(sqlite3_mutex *mutex) {
    (void)mutex;
    return 1;
}

static const sqlite3_mutex_methods adaptive_methods = {
    mutex_init, mutex_end, mutex_alloc, mutex_free, mutex_enter, mutex_try, mutex_leave, mutex_held, mutex_held,
};

#endif

int user_domain_sqlite_configure_process(void) {
    int result = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
#if defined(__GLIBC__)
    // A SQLite built single-threaded has no mutexes to replace.
    if (result == SQLITE_OK && sqlite3_threadsafe() != 0) {
        result = sqlite3_config(SQLITE_CONFIG_MUTEX, &adaptive_methods);
    }
#endif
    return result;
}
