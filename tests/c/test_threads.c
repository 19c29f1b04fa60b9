/* Send from 4 threads while another closes: every send either succeeds or
 * reports CLOSED, exactly one close call wins, nothing hangs or leaks. */
#include "common.h" /* first: it sets _POSIX_C_SOURCE */

#include <pthread.h>

static wse_conn *shared_conn;
static pthread_barrier_t start;
static int sent[4], refused[4], other[4];

static void *sender(void *arg) {
    int id = *(int *)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < 5000; i++) {
        wse_result rc = wse_conn_send_text(shared_conn, "payload", 7);
        if (rc == WSE_RESULT_OK) sent[id]++;
        else if (rc == WSE_RESULT_CLOSED) refused[id]++;
        else other[id]++;
        if (rc == WSE_RESULT_CLOSED) break;
    }
    return NULL;
}

static int close_wins;

static void *closer(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < 3; i++)
        if (wse_conn_close(shared_conn, 1000, "closing") == WSE_RESULT_OK) close_wins++;
    return NULL;
}

static void *drainer(void *arg) {
    wse_conn *peer = arg;
    wse_message *msg = NULL;
    while (wse_conn_recv(peer, 5000, &msg) == WSE_RESULT_OK) wse_message_free(msg);
    return NULL;
}

int main(void) {
    const wse_config *config = test_config(false);
    char url[64];
    wse_server *server = test_server(config, url, sizeof url);
    for (int round = 0; round < 5; round++) {
        wse_conn *client, *conn;
        test_pair(server, url, &client, &conn);
        shared_conn = client;
        close_wins = 0;
        pthread_barrier_init(&start, NULL, 6);
        pthread_t threads[6];
        int ids[4] = {0, 1, 2, 3};
        for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, sender, &ids[i]);
        pthread_create(&threads[4], NULL, closer, NULL);
        pthread_create(&threads[5], NULL, drainer, conn);
        pthread_barrier_wait(&start);
        for (int i = 0; i < 6; i++) pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&start);
        CHECK(close_wins == 1);
        for (int i = 0; i < 4; i++) CHECK(other[i] == 0);
        wse_close_info info;
        CHECK_RC(wse_conn_close_info(client, &info), WSE_RESULT_OK);
        CHECK(info.code == 1000);
        wse_conn_free(client);
        wse_conn_free(conn);
    }
    wse_server_free(server);
    wse_config_free(config);
    return finish("test_threads");
}
