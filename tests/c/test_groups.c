/* Broadcast groups and plain HTTP routes from C: routes, health, 404/405,
 * upgrades only on the allowed path; join/leave/broadcast with the report,
 * exceptions, leaving on close, and argument errors. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Send `request` to 127.0.0.1:port and read the whole answer into `out`. */
static void http_exchange(unsigned port, const char *request, char *out, size_t out_len) {
    out[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        CHECK(!"connect for HTTP failed");
        if (fd >= 0) close(fd);
        return;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
    size_t n = 0;
    ssize_t got;
    while (n + 1 < out_len && (got = read(fd, out + n, out_len - 1 - n)) > 0) n += (size_t)got;
    out[n] = '\0';
    close(fd);
}

static void get(unsigned port, const char *method, const char *path, char *out, size_t out_len) {
    char request[256];
    snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n", method, path);
    http_exchange(port, request, out, out_len);
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Receive one text message and compare it with `want`. */
static void expect_text(const wse_conn *conn, const char *want) {
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(conn, 5000, &msg), WSE_RESULT_OK);
    if (!msg) return;
    CHECK(wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT);
    CHECK(wse_message_len(msg) == strlen(want) && memcmp(wse_message_data(msg), want, strlen(want)) == 0);
    wse_message_free(msg);
}

static void expect_nothing(const wse_conn *conn) {
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(conn, 100, &msg), WSE_RESULT_TIMEOUT);
    CHECK(msg == NULL);
}

int main(void) {
    static const char page[] = "<h1>chat</h1>";
    wse_config_builder *b = wse_config_builder_new();
    wse_config_builder_set_close_timeout_ms(b, 500);
    wse_config_builder_set_ping_interval_ms(b, 0);
    CHECK_RC(wse_config_builder_add_route(b, "/", "text/html; charset=utf-8", (const uint8_t *)page,
                                          strlen(page)),
             WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_add_file_route(b, "/missing.js", "/nonexistent/missing.js"), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_health_path(b, "/health"), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_add_websocket_path(b, "/ws"), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_add_route(b, NULL, "text/plain", NULL, 0), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_config_builder_add_route(b, "/x", "text/plain", NULL, 3), WSE_RESULT_NULL_PARAMETER);
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);

    /* A relative route path is refused when the config is built. */
    wse_config_builder *bad = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_health_path(bad, "health"), WSE_RESULT_OK);
    const wse_config *none = NULL;
    CHECK_RC(wse_config_builder_build(bad, &none), WSE_RESULT_INVALID_ARGUMENT);

    char url[64];
    wse_server *server = test_server(config, url, sizeof url);
    wse_config_free(config);
    unsigned port = wse_server_local_port(server);
    char resp[2048];

    /* Plain HTTP on the WebSocket port. */
    get(port, "GET", "/", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 200 OK\r\n") && ends_with(resp, "\r\n\r\n<h1>chat</h1>"));
    get(port, "HEAD", "/", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 200 OK\r\n") && ends_with(resp, "\r\n\r\n"));
    get(port, "GET", "/health", resp, sizeof resp);
    /* The count includes this request (and earlier ones still closing). */
    const char *count = strstr(resp, "{\"status\":\"ok\",\"connections\":");
    CHECK(count && atoi(count + strlen("{\"status\":\"ok\",\"connections\":")) >= 1 && ends_with(resp, "}"));
    get(port, "GET", "/missing.js", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 404 "));
    get(port, "GET", "/nothing", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 404 "));
    get(port, "DELETE", "/", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 405 "));
    get(port, "GET", "/ws", resp, sizeof resp);
    CHECK(starts_with(resp, "HTTP/1.1 426 "));

    /* Upgrades only on /ws. */
    wse_conn *refused = NULL;
    CHECK_RC(wse_client_connect(url, NULL, 5000, &refused), WSE_RESULT_HANDSHAKE);
    CHECK(wse_last_error_http_status() == 404);
    char ws_url[80];
    snprintf(ws_url, sizeof ws_url, "%sws?room=a", url);

    enum { N = 3 };
    wse_conn *client[N], *conn[N];
    for (int i = 0; i < N; i++) test_pair(server, ws_url, &client[i], &conn[i]);
    CHECK(wse_conn_id(conn[0]) != 0 && wse_conn_id(conn[0]) != wse_conn_id(conn[1]));
    CHECK(wse_conn_id(NULL) == 0);

    /* Join and broadcast to a group, all but the sender. */
    CHECK_RC(wse_server_join(server, conn[0], "room"), WSE_RESULT_OK);
    CHECK_RC(wse_server_join(server, conn[1], "room"), WSE_RESULT_OK);
    CHECK_RC(wse_server_join(server, conn[1], "room"), WSE_RESULT_OK); /* twice is once */
    CHECK(wse_server_member_count(server, "room") == 2);
    wse_broadcast_report report;
    memset(&report, 0xff, sizeof report);
    CHECK_RC(wse_server_broadcast_text(server, "room", conn[0], "from 0", 6, &report), WSE_RESULT_OK);
    CHECK(report.queued == 1 && report.dropped == 0 && report.disconnected == 0 && report.closed == 0);
    expect_text(client[1], "from 0");
    expect_nothing(client[0]);
    expect_nothing(client[2]);

    /* Everyone (NULL group), binary, without a report. */
    static const uint8_t blob[] = {0, 1, 2, 255};
    CHECK_RC(wse_server_broadcast_binary(server, NULL, NULL, blob, sizeof blob, NULL), WSE_RESULT_OK);
    for (int i = 0; i < N; i++) {
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(client[i], 5000, &msg), WSE_RESULT_OK);
        CHECK(msg && wse_message_get_kind(msg) == WSE_MESSAGE_KIND_BINARY && wse_message_len(msg) == 4 &&
              memcmp(wse_message_data(msg), blob, 4) == 0);
        wse_message_free(msg);
    }
    CHECK_RC(wse_server_broadcast_text(server, "nobody", NULL, "x", 1, &report), WSE_RESULT_OK);
    CHECK(report.queued + report.dropped + report.disconnected + report.closed == 0);

    /* Errors. */
    CHECK_RC(wse_server_broadcast_text(server, NULL, NULL, "\xff", 1, NULL), WSE_RESULT_INVALID_UTF8);
    CHECK_RC(wse_server_broadcast_text(NULL, NULL, NULL, "x", 1, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_join(server, conn[2], NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_join(server, NULL, "room"), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_join(server, conn[2], ""), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_server_join(server, client[2], "room"), WSE_RESULT_INVALID_ARGUMENT);
    CHECK(wse_server_member_count(NULL, "room") == 0 && wse_server_member_count(server, NULL) == 0);

    /* Leave, and leaving on close. */
    CHECK_RC(wse_server_leave(server, conn[1], "room"), WSE_RESULT_OK);
    CHECK_RC(wse_server_leave(server, conn[1], "room"), WSE_RESULT_NOT_FOUND);
    CHECK(wse_server_member_count(server, "room") == 1);
    CHECK_RC(wse_server_join(server, conn[2], "other"), WSE_RESULT_OK);
    CHECK_RC(wse_conn_close(client[0], 1000, "bye"), WSE_RESULT_OK);
    for (int i = 0; i < 500 && wse_server_member_count(server, "room") != 0; i++) {
        struct timespec ms = {0, 10 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    CHECK(wse_server_member_count(server, "room") == 0);
    CHECK(wse_server_member_count(server, "other") == 1);

    for (int i = 0; i < N; i++) {
        wse_conn_free(client[i]);
        wse_conn_free(conn[i]);
    }
    wse_server_free(server);
    return finish("test_groups");
}
