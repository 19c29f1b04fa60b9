/*
 * Chat server: the chat page at http://ADDR/ and its socket at /ws on the
 * same port, one room per ?room= (a broadcast group), join and leave
 * notices. The same page and protocol as the Rust and Python chat examples
 * (see examples/chat.rs). One thread serves everything through the poll API.
 *
 *   chat_server [ADDR] [PAGE] [--tls-cert cert.pem --tls-key key.pem]   (https and wss://)
 *
 * ADDR defaults to 127.0.0.1:8080 (port 0 picks a free one); PAGE to
 * examples/chat/index.html (it is read at each request, so run from the
 * repository root or give the path).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsengine.h"

#define MAX_NAME 32
#define MAX_MESSAGE 4096

/* Who a connection is. A linear table keeps the example short; a server
 * with thousands of members would hash on the id. */
typedef struct {
    uint64_t id;
    char name[MAX_NAME + 1];
    char room[MAX_NAME + 1];
} member;

static member *members;
static size_t n_members, cap_members;

static void die(const char *what, wse_result rc) {
    char detail[256];
    size_t n;
    if (wse_last_error_message(detail, sizeof detail, &n) != WSE_RESULT_OK) detail[0] = '\0';
    fprintf(stderr, "chat_server: %s: %s (%s)\n", what, wse_result_str((uint32_t)rc), detail);
    exit(1);
}

static member *find_member(uint64_t id) {
    for (size_t i = 0; i < n_members; i++)
        if (members[i].id == id) return &members[i];
    return NULL;
}

static member *add_member(void) {
    if (n_members == cap_members) {
        size_t cap = cap_members ? cap_members * 2 : 16;
        member *grown = realloc(members, cap * sizeof *members);
        if (!grown) return NULL;
        members = grown;
        cap_members = cap;
    }
    return &members[n_members++];
}

static void remove_member(member *m) {
    *m = members[--n_members];
}

static int hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The sanitized value of `key` in `query` into `out` (MAX_NAME + 1 bytes):
 * percent-decoded, only ASCII letters, digits, space, '_', '-', '.' kept,
 * trimmed. Returns whether anything is left. */
static int query_param(const char *query, const char *key, char *out) {
    size_t klen = strlen(key), n = 0;
    const char *p = query;
    while (p && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            for (p += klen + 1; *p && *p != '&' && n < MAX_NAME; p++) {
                int c = (unsigned char)*p;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0) {
                    c = hex(p[1]) * 16 + hex(p[2]);
                    p += 2;
                }
                if (isalnum(c) || c == ' ' || c == '_' || c == '-' || c == '.') out[n++] = (char)c;
            }
            break;
        }
        p = strchr(p, '&');
        if (p) p++;
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    size_t start = 0;
    while (start < n && out[start] == ' ') start++;
    memmove(out, out + start, n - start);
    out[n - start] = '\0';
    return n > start;
}

/* Append `s` (`len` bytes of UTF-8) to `out` as a JSON string literal;
 * `out` must have room for 6 * len + 3 bytes. Returns the new end. */
static char *json_string(char *out, const char *s, size_t len) {
    *out++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            out += sprintf(out, "\\u%04x", c);
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    *out = '\0';
    return out;
}

/* Tell a member's room that they joined or left. */
static void notice(const wse_server *server, const char *kind, const member *m) {
    char json[64 + 6 * MAX_NAME + 32];
    char *end = json + sprintf(json, "{\"type\":\"%s\",\"user\":", kind);
    end = json_string(end, m->name, strlen(m->name));
    end += sprintf(end, ",\"members\":%zu}", wse_server_member_count(server, m->room));
    wse_server_broadcast_text(server, m->room, NULL, json, (size_t)(end - json), NULL);
}

static void on_open(const wse_server *server, const wse_conn *conn) {
    char query[1024] = "";
    size_t n;
    if (wse_conn_query(conn, query, sizeof query, &n) != WSE_RESULT_OK) query[0] = '\0';
    member *m = add_member();
    if (!m) return; /* out of memory: the connection just gets no chat */
    m->id = wse_conn_id(conn);
    if (!query_param(query, "name", m->name))
        snprintf(m->name, sizeof m->name, "guest-%llu", (unsigned long long)m->id);
    if (!query_param(query, "room", m->room)) strcpy(m->room, "lobby");
    /* Fails only if the connection is already gone; its close event follows. */
    if (wse_server_join(server, conn, m->room) != WSE_RESULT_OK) {
        remove_member(m);
        return;
    }
    notice(server, "join", m);
}

static void on_message(const wse_server *server, const wse_conn *conn, const wse_message *msg) {
    const member *m = find_member(wse_conn_id(conn));
    if (!m || wse_message_get_kind(msg) != WSE_MESSAGE_KIND_TEXT) return;
    size_t len = wse_message_len(msg);
    char *json = malloc(64 + 6 * MAX_NAME + 6 * len);
    if (!json) return;
    char *end = json + sprintf(json, "{\"type\":\"message\",\"user\":");
    end = json_string(end, m->name, strlen(m->name));
    end += sprintf(end, ",\"text\":");
    end = json_string(end, (const char *)wse_message_data(msg), len);
    *end++ = '}';
    wse_server_broadcast_text(server, m->room, NULL, json, (size_t)(end - json), NULL);
    free(json);
}

static void on_close(const wse_server *server, const wse_conn *conn) {
    member *m = find_member(wse_conn_id(conn));
    if (!m) return;
    /* The connection has already left its room. */
    notice(server, "leave", m);
    remove_member(m);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:8080", *page = "examples/chat/index.html";
    const char *cert = NULL, *key = NULL;
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
            cert = argv[++i];
        else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (positional++ == 0)
            addr = argv[i];
        else
            page = argv[i];
    }
    wse_config_builder *b = wse_config_builder_new();
    if (cert || key) {
        wse_result tls = wse_config_builder_set_tls_cert_files(b, cert ? cert : "", key ? key : "");
        if (tls != WSE_RESULT_OK) die("TLS certificate", tls);
    }
    wse_config_builder_add_file_route(b, "/", page);
    wse_config_builder_set_health_path(b, "/health");
    wse_config_builder_add_websocket_path(b, "/ws");
    wse_config_builder_set_poll_events(b, true);
    wse_config_builder_set_max_message_size(b, MAX_MESSAGE);
    wse_config_builder_set_max_frame_size(b, MAX_MESSAGE);
    /* A tab that stops reading is dropped (it reconnects), not waited for. */
    wse_config_builder_set_overflow_policy(b, WSE_OVERFLOW_POLICY_DISCONNECT, 0);
    const wse_config *config = NULL;
    wse_result rc = wse_config_builder_build(b, &config);
    if (rc != WSE_RESULT_OK) die("config", rc);

    wse_server *server = NULL;
    rc = wse_server_bind(addr, config, &server);
    wse_config_free(config);
    if (rc != WSE_RESULT_OK) die(addr, rc);
    const char *colon = strrchr(addr, ':');
    int host_len = colon ? (int)(colon - addr) : (int)strlen(addr);
    printf("chat on %s://%.*s:%u/ (open it in two tabs; Ctrl-C stops)\n", cert ? "https" : "http", host_len, addr,
           (unsigned)wse_server_local_port(server));
    fflush(stdout);

    for (;;) {
        wse_event *event = NULL;
        rc = wse_server_poll(server, WSE_TIMEOUT_INFINITE, &event);
        if (rc == WSE_RESULT_SERVER_SHUTDOWN) break;
        if (rc != WSE_RESULT_OK) continue;
        const wse_conn *conn = wse_event_conn(event);
        switch (wse_event_get_kind(event)) {
        case WSE_EVENT_KIND_OPEN: on_open(server, conn); break;
        case WSE_EVENT_KIND_MESSAGE: on_message(server, conn, wse_event_message(event)); break;
        case WSE_EVENT_KIND_CLOSED: on_close(server, conn); break;
        default: break;
        }
        wse_event_free(event);
    }
    wse_server_free(server);
    free(members);
    return 0;
}
