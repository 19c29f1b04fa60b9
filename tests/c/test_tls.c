/* TLS from C: a wss:// echo, each failed check's own result code, client
 * certificates, reload, and the application's say before the 101 (an
 * upgrade callback, and upgrade events in poll mode). Certificates come
 * from scripts/make-test-certs.sh (WSE_TEST_CERTS, default target/certs). */
#include "common.h"

#include <pthread.h>

static char certs[512];

static const char *cert(const char *name) {
    static char paths[8][600];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

/* A TLS server config: certificate `leaf` (a name in the certs directory),
 * optionally asking for client certificates. */
static const wse_config *server_config(const char *leaf, int client_ca, bool poll, bool events) {
    wse_config_builder *b = wse_config_builder_new();
    char c[64], k[64];
    snprintf(c, sizeof c, "%s.pem", leaf);
    snprintf(k, sizeof k, "%s.key", leaf);
    CHECK_RC(wse_config_builder_set_tls_cert_files(b, cert(c), cert(k)), WSE_RESULT_OK);
    if (client_ca) CHECK_RC(wse_config_builder_set_tls_client_ca_file(b, cert("ca.pem"), client_ca == 2), WSE_RESULT_OK);
    wse_config_builder_set_close_timeout_ms(b, 500);
    wse_config_builder_set_poll_events(b, poll);
    wse_config_builder_set_upgrade_events(b, events);
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);
    return config;
}

/* A client config trusting only `ca`, with a client certificate if given. */
static const wse_config *client_config(const char *ca, const char *client) {
    wse_config_builder *b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_tls_system_trust(b, false), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_add_tls_ca_file(b, cert(ca)), WSE_RESULT_OK);
    if (client) {
        char c[64], k[64];
        snprintf(c, sizeof c, "%s.pem", client);
        snprintf(k, sizeof k, "%s.key", client);
        CHECK_RC(wse_config_builder_set_tls_client_cert_files(b, cert(c), cert(k)), WSE_RESULT_OK);
    }
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);
    return config;
}

static wse_server *bind_tls(const wse_config *config, char *url, size_t len, const char *path) {
    wse_server *server = NULL;
    CHECK_RC(wse_server_bind("127.0.0.1:0", config, &server), WSE_RESULT_OK);
    snprintf(url, len, "wss://localhost:%u%s", (unsigned)wse_server_local_port(server), path);
    return server;
}

static wse_result try_connect(const char *url, const wse_config *config) {
    wse_conn *conn = NULL;
    wse_result rc = wse_client_connect(url, config, 5000, &conn);
    wse_conn_free(conn);
    return rc;
}

static void echo_over_wss(void) {
    const wse_config *sc = server_config("server", 0, false, false);
    const wse_config *cc = client_config("ca.pem", NULL);
    char url[128];
    wse_server *server = bind_tls(sc, url, sizeof url, "/");
    wse_conn *client = NULL, *accepted = NULL;
    CHECK_RC(wse_client_connect(url, cc, 5000, &client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, &accepted), WSE_RESULT_OK);
    if (client && accepted) {
        CHECK_RC(wse_conn_send_text(client, "over tls", 8), WSE_RESULT_OK);
        test_echo_back(accepted, 1);
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
        CHECK(msg && wse_message_len(msg) == 8 && memcmp(wse_message_data(msg), "over tls", 8) == 0);
        wse_message_free(msg);
        size_t n = 0;
        CHECK_RC(wse_conn_peer_certificate(client, NULL, 0, &n), WSE_RESULT_BUFFER_TOO_SMALL);
        CHECK(n > 100);
        unsigned char der[4096];
        CHECK_RC(wse_conn_peer_certificate(client, der, sizeof der, &n), WSE_RESULT_OK);
        CHECK(der[0] == 0x30); /* a DER SEQUENCE */
        CHECK_RC(wse_conn_peer_certificate(accepted, der, sizeof der, &n), WSE_RESULT_NOT_FOUND);
        CHECK_RC(wse_conn_close(client, 1000, "bye"), WSE_RESULT_OK);
    }
    wse_conn_free(accepted);
    wse_conn_free(client);
    wse_server_free(server);
    wse_config_free(cc);
    wse_config_free(sc);
}

static void each_failed_check_has_its_code(void) {
    char url[128], message[512];
    size_t n = 0;
    const wse_config *cc = client_config("ca.pem", NULL);
    const wse_config *stranger = client_config("stranger-ca.pem", NULL);

    const wse_config *sc = server_config("server", 0, false, false);
    wse_server *server = bind_tls(sc, url, sizeof url, "/");
    CHECK_RC(try_connect(url, stranger), WSE_RESULT_TLS_UNKNOWN_ISSUER);
    CHECK_RC(wse_last_error_message(message, sizeof message, &n), WSE_RESULT_OK);
    CHECK(strstr(message, "issuer") != NULL);
    /* TLS to a plain port, plain HTTP to a TLS port. */
    wse_server *plain = NULL;
    CHECK_RC(wse_server_bind("127.0.0.1:0", NULL, &plain), WSE_RESULT_OK);
    char plain_url[128];
    snprintf(plain_url, sizeof plain_url, "wss://localhost:%u/", (unsigned)wse_server_local_port(plain));
    CHECK_RC(try_connect(plain_url, cc), WSE_RESULT_TLS_NOT_TLS);
    snprintf(plain_url, sizeof plain_url, "ws://localhost:%u/", (unsigned)wse_server_local_port(server));
    CHECK_RC(try_connect(plain_url, cc), WSE_RESULT_HANDSHAKE);
    CHECK(wse_last_error_http_status() == 400);
    wse_server_free(plain);
    wse_server_free(server);
    wse_config_free(sc);

    sc = server_config("other", 0, false, false);
    server = bind_tls(sc, url, sizeof url, "/");
    CHECK_RC(try_connect(url, cc), WSE_RESULT_TLS_NAME_MISMATCH);
    wse_server_free(server);
    wse_config_free(sc);

    /* Required client certificates. */
    sc = server_config("server", 2, false, false);
    server = bind_tls(sc, url, sizeof url, "/");
    CHECK_RC(try_connect(url, cc), WSE_RESULT_TLS_CLIENT_CERTIFICATE_REJECTED);
    const wse_config *mallory = client_config("ca.pem", "stranger-client");
    CHECK_RC(try_connect(url, mallory), WSE_RESULT_TLS_CLIENT_CERTIFICATE_REJECTED);
    const wse_config *alice = client_config("ca.pem", "client");
    wse_conn *client = NULL, *accepted = NULL;
    CHECK_RC(wse_client_connect(url, alice, 5000, &client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, &accepted), WSE_RESULT_OK);
    unsigned char der[4096];
    CHECK_RC(wse_conn_peer_certificate(accepted, der, sizeof der, &n), WSE_RESULT_OK);
    char subject[256];
    CHECK_RC(wse_conn_peer_certificate_subject(accepted, subject, sizeof subject, &n), WSE_RESULT_OK);
    CHECK(strcmp(subject, "CN=alice") == 0);
    wse_conn_free(accepted);
    wse_conn_free(client);
    wse_server_free(server);
    wse_config_free(sc);
    wse_config_free(alice);
    wse_config_free(mallory);

    /* Bad settings fail where they are given. */
    wse_config_builder *b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_tls_cert_files(b, cert("server.pem"), cert("client.key")), WSE_RESULT_TLS_CONFIG);
    CHECK_RC(wse_config_builder_set_tls_cert_files(b, "/nonexistent.pem", cert("server.key")), WSE_RESULT_TLS_CONFIG);
    CHECK_RC(wse_config_builder_set_tls_client_ca_file(b, cert("ca.pem"), true), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_config_builder_add_tls_ca_pem(b, (const unsigned char *)"junk", 4), WSE_RESULT_TLS_CONFIG);
    wse_config_builder_free(b);

    wse_config_free(stranger);
    wse_config_free(cc);
}

static void reload_keeps_bad_files_out(void) {
    char url[128];
    const wse_config *sc = server_config("server", 0, false, false);
    wse_server *server = bind_tls(sc, url, sizeof url, "/");
    CHECK_RC(wse_server_reload_tls(server), WSE_RESULT_OK);
    wse_server *plain = NULL;
    CHECK_RC(wse_server_bind("127.0.0.1:0", NULL, &plain), WSE_RESULT_OK);
    CHECK_RC(wse_server_reload_tls(plain), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_server_reload_tls(NULL), WSE_RESULT_NULL_PARAMETER);
    wse_server_free(plain);
    wse_server_free(server);
    wse_config_free(sc);
}

static int marker;

/* Lets in `?token=ok` (attaching &marker), refuses the rest with 401. */
static void decide(void *user_data, wse_upgrade *up) {
    CHECK(user_data == &marker);
    char token[64];
    size_t n = 0;
    if (wse_upgrade_query_param(up, "token", token, sizeof token, &n) == WSE_RESULT_OK && strcmp(token, "ok") == 0) {
        CHECK_RC(wse_upgrade_add_header(up, "X-Welcome", "yes"), WSE_RESULT_OK);
        CHECK_RC(wse_upgrade_accept(up, "not-offered", NULL), WSE_RESULT_INVALID_ARGUMENT);
        CHECK_RC(wse_upgrade_accept(up, NULL, &marker), WSE_RESULT_OK);
        CHECK_RC(wse_upgrade_accept(up, NULL, &marker), WSE_RESULT_INVALID_ARGUMENT);
        return;
    }
    CHECK_RC(wse_upgrade_add_header(up, "WWW-Authenticate", "Bearer"), WSE_RESULT_OK);
    CHECK_RC(wse_upgrade_refuse(up, 200, NULL, 0), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_upgrade_refuse(up, 401, (const unsigned char *)"token required", 14), WSE_RESULT_OK);
}

static void upgrade_callback(void) {
    wse_config_builder *b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_tls_cert_files(b, cert("server.pem"), cert("server.key")), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_upgrade_callback(b, decide, &marker), WSE_RESULT_OK);
    const wse_config *sc = NULL;
    CHECK_RC(wse_config_builder_build(b, &sc), WSE_RESULT_OK);
    const wse_config *cc = client_config("ca.pem", NULL);
    char url[128], message[512];
    size_t n = 0;
    wse_server *server = bind_tls(sc, url, sizeof url, "/chat");
    CHECK_RC(try_connect(url, cc), WSE_RESULT_HANDSHAKE);
    CHECK(wse_last_error_http_status() == 401);
    CHECK_RC(wse_last_error_message(message, sizeof message, &n), WSE_RESULT_OK);
    CHECK(strstr(message, "token required") != NULL);

    strcat(url, "?token=ok");
    wse_conn *client = NULL, *accepted = NULL;
    CHECK_RC(wse_client_connect(url, cc, 5000, &client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, &accepted), WSE_RESULT_OK);
    CHECK(wse_conn_user_data(accepted) == &marker);
    CHECK(wse_conn_user_data(client) == NULL);
    char value[16];
    CHECK_RC(wse_conn_header(client, "x-welcome", value, sizeof value, &n), WSE_RESULT_OK);
    wse_conn_free(accepted);
    wse_conn_free(client);
    wse_server_free(server);
    wse_config_free(cc);
    wse_config_free(sc);
}

struct attempt {
    char url[160];
    const wse_config *config;
    wse_result rc;
};

static void *connect_thread(void *arg) {
    struct attempt *a = arg;
    a->rc = try_connect(a->url, a->config);
    return NULL;
}

static void upgrade_events(void) {
    const wse_config *sc = server_config("server", 0, true, true);
    const wse_config *cc = client_config("ca.pem", NULL);
    char url[128];
    wse_server *server = bind_tls(sc, url, sizeof url, "/");
    struct attempt refused = {.config = cc}, admitted = {.config = cc};
    snprintf(refused.url, sizeof refused.url, "%s?token=no", url);
    snprintf(admitted.url, sizeof admitted.url, "%s?token=ok", url);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, connect_thread, &refused);
    pthread_create(&t2, NULL, connect_thread, &admitted);
    int asked = 0, opened = 0;
    for (int i = 0; i < 200 && (asked < 2 || opened < 1); i++) {
        wse_event *ev = NULL;
        if (wse_server_poll(server, 50, &ev) != WSE_RESULT_OK) continue;
        if (wse_event_get_kind(ev) == WSE_EVENT_KIND_UPGRADE_REQUEST) {
            asked++;
            CHECK(wse_event_conn(ev) == NULL);
            wse_upgrade *up = wse_event_upgrade(ev);
            char token[16];
            size_t n = 0;
            if (wse_upgrade_query_param(up, "token", token, sizeof token, &n) == WSE_RESULT_OK &&
                strcmp(token, "ok") == 0)
                CHECK_RC(wse_upgrade_accept(up, NULL, &marker), WSE_RESULT_OK);
            else
                CHECK_RC(wse_upgrade_refuse(up, 403, (const unsigned char *)"no", 2), WSE_RESULT_OK);
        } else if (wse_event_get_kind(ev) == WSE_EVENT_KIND_OPEN) {
            opened++;
            CHECK(wse_conn_user_data(wse_event_conn(ev)) == &marker);
        }
        wse_event_free(ev);
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(asked == 2 && opened == 1);
    CHECK_RC(refused.rc, WSE_RESULT_HANDSHAKE);
    CHECK_RC(admitted.rc, WSE_RESULT_OK);
    wse_server_free(server);
    wse_config_free(cc);
    wse_config_free(sc);
}

int main(void) {
    const char *dir = getenv("WSE_TEST_CERTS");
    snprintf(certs, sizeof certs, "%s", dir ? dir : "target/certs");
    echo_over_wss();
    each_failed_check_has_its_code();
    reload_keeps_bad_files_out();
    upgrade_callback();
    upgrade_events();
    return finish("test_tls");
}
