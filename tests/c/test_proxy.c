/* A client through an HTTP proxy: the proxy here (a thread) asks for
 * alice:s3cret and relays once it has them. Without them the client gets
 * WSE_RESULT_PROXY with the proxy's 407 in wse_last_error_http_status;
 * with them, echo through the tunnel. Bad proxy URLs are refused by the
 * builder, with the password kept out of the message. */
#include "common.h" /* first: it sets _POSIX_C_SOURCE */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static int proxy_listener;

/* Read up to the blank line ending the request head. */
static int read_head(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t got = read(fd, buf + n, 1);
        if (got <= 0) return -1;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) return 0;
    }
    return -1;
}

/* Copy both ways until either side ends. */
static void relay(int a, int b) {
    char buf[65536];
    struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, 10000) <= 0) return;
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) return;
            int to = i == 0 ? b : a;
            for (ssize_t off = 0; off < got;) {
                ssize_t put = write(to, buf + off, (size_t)(got - off));
                if (put <= 0) return;
                off += put;
            }
        }
    }
}

/* Serve two proxy clients: the first (no credentials) is refused, the
 * second tunnelled to the port named in its CONNECT line. */
static void *proxy_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) {
        int client = accept(proxy_listener, NULL, NULL);
        if (client < 0) return NULL;
        char head[2048];
        if (read_head(client, head, sizeof head) != 0) {
            close(client);
            continue;
        }
        /* "alice:s3cret" in base64. */
        if (strstr(head, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n") == NULL) {
            const char *refusal =
                "HTTP/1.1 407 Proxy Authentication Required\r\n"
                "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n";
            if (write(client, refusal, strlen(refusal)) < 0) perror("write");
            close(client);
            continue;
        }
        unsigned port = 0;
        if (sscanf(head, "CONNECT 127.0.0.1:%u HTTP/1.1", &port) != 1) {
            close(client);
            continue;
        }
        int server = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {0};
        addr.sin_family = AF_INET;
        addr.sin_port = htons((unsigned short)port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(server, (struct sockaddr *)&addr, sizeof addr) == 0) {
            const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
            if (write(client, ok, strlen(ok)) > 0) relay(client, server);
        }
        close(server);
        close(client);
    }
    return NULL;
}

static const wse_config *client_config(const char *proxy) {
    wse_config_builder *b = wse_config_builder_new();
    wse_config_builder_set_ping_interval_ms(b, 0);
    CHECK_RC(wse_config_builder_set_proxy(b, proxy), WSE_RESULT_OK);
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);
    return config;
}

int main(void) {
    /* Bad proxy URLs: refused at once, the reason readable, no password. */
    wse_config_builder *b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_proxy(b, "https://alice:hunter2@proxy:443"), WSE_RESULT_INVALID_ARGUMENT);
    char message[256];
    size_t n = 0;
    CHECK_RC(wse_last_error_message(message, sizeof message, &n), WSE_RESULT_OK);
    CHECK(strstr(message, "https://") != NULL && strstr(message, "hunter2") == NULL);
    CHECK_RC(wse_config_builder_set_proxy(b, "socks5://proxy:99999"), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_config_builder_set_proxy(b, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_config_builder_set_proxy_direct(b), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_proxy_from_environment(b), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_proxy_direct(NULL), WSE_RESULT_NULL_PARAMETER);
    wse_config_builder_free(b);

    proxy_listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    CHECK(bind(proxy_listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(proxy_listener, 4) == 0);
    CHECK(getsockname(proxy_listener, (struct sockaddr *)&addr, &len) == 0);
    unsigned proxy_port = ntohs(addr.sin_port);
    pthread_t proxy;
    pthread_create(&proxy, NULL, proxy_thread, NULL);

    const wse_config *server_config = test_config(false);
    char url[64];
    wse_server *server = test_server(server_config, url, sizeof url);

    /* No credentials: the proxy's 407, as its own result code. */
    char proxy_url[96];
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%u", proxy_port);
    const wse_config *anonymous = client_config(proxy_url);
    wse_conn *client = NULL;
    CHECK_RC(wse_client_connect(url, anonymous, 5000, &client), WSE_RESULT_PROXY);
    CHECK(client == NULL);
    CHECK(wse_last_error_http_status() == 407);
    CHECK_RC(wse_last_error_message(message, sizeof message, &n), WSE_RESULT_OK);
    CHECK(strstr(message, "407") != NULL);
    wse_config_free(anonymous);

    /* With them: through the tunnel. */
    snprintf(proxy_url, sizeof proxy_url, "http://alice:s3cret@127.0.0.1:%u", proxy_port);
    const wse_config *alice = client_config(proxy_url);
    CHECK_RC(wse_client_connect(url, alice, 5000, &client), WSE_RESULT_OK);
    wse_conn *conn = NULL;
    CHECK_RC(wse_server_accept(server, 5000, &conn), WSE_RESULT_OK);
    if (client && conn) {
        CHECK_RC(wse_conn_send_text(client, "via the proxy", 13), WSE_RESULT_OK);
        test_echo_back(conn, 1);
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
        CHECK(msg && wse_message_len(msg) == 13 && memcmp(wse_message_data(msg), "via the proxy", 13) == 0);
        wse_message_free(msg);
        CHECK_RC(wse_conn_close(client, 1000, "done"), WSE_RESULT_OK);
    }
    wse_conn_free(client);
    wse_conn_free(conn);
    pthread_join(proxy, NULL);
    close(proxy_listener);
    wse_config_free(alice);
    wse_server_free(server);
    wse_config_free(server_config);
    return finish("test_proxy");
}
